#!/usr/bin/env python3
"""Train the face parser S (networks.ParsingNet) on the aligned set's training faces and the part maps
drawn from their landmarks (idgan/parts.py), with flips, small rotations, shifts, scales and colour
changes; plain per-pixel cross-entropy.

    /usr/bin/python3 training/train_parser.py --data var/celeba-aligned --out var/runs/parser --time-budget 600

Resumes from OUT/checkpoint.pt when it is there (the same settings); every loss in OUT/log.jsonl, with
the agreement (pixel accuracy, per-class IoU) with the drawn maps of the first --val-faces
validation faces every --eval-every steps. At the end (steps done or time budget spent) it writes
OUT/parser.pt, what `train.py --parser` and `eval_parser.py` read.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent))

from idgan.data import read_index  # noqa: E402
from idgan.networks import ParsingNet, parameter_count  # noqa: E402
from idgan.parts import CLASSES, NUM_CLASSES, FacePartsDataset, PartsAugmentation, class_iou, confusion  # noqa: E402
from idgan.trainer import resolve_device  # noqa: E402

CHECKPOINT = 'checkpoint.pt'
PARSER = 'parser.pt'


@dataclass
class ParserSettings:
    data: str
    out: str
    steps: int = 20_000
    batch_size: int = 16
    # 16 (255 k parameters) trains about 1.5 s a step on one CPU thread; 24 takes about 4 s.
    width: int = 16
    lr: float = 1e-3
    seed: int = 0
    log_every: int = 10
    eval_every: int = 100
    checkpoint_every: int = 100
    val_faces: int = 200
    device: str = 'auto'
    threads: int = 1
    workers: int = 0
    time_budget_s: float | None = None


# A resumed run must match these: they change the network or the order it sees the data in.
_FIXED_ON_RESUME = ('width', 'seed', 'batch_size')


class ParserTrainer:
    def __init__(self, settings: ParserSettings):
        self.settings = settings
        self.device = resolve_device(settings.device)
        if self.device.type == 'cpu':
            torch.set_num_threads(settings.threads)
        self.out = Path(settings.out)
        self.out.mkdir(parents=True, exist_ok=True)
        random.seed(settings.seed)
        np.random.seed(settings.seed)
        torch.manual_seed(settings.seed)

        records = read_index(settings.data)
        train = [r for r in records if r.split == 'train']
        val = [r for r in records if r.split == 'val'][:settings.val_faces]
        if not train or not val:
            raise ValueError(f'{settings.data}/index.csv has {len(train)} training and {len(val)} validation faces; '
                             'S needs some of each')
        self.train_set = FacePartsDataset(train, PartsAugmentation(), seed=settings.seed)
        self.val_set = FacePartsDataset(val)
        self.model = ParsingNet(NUM_CLASSES, settings.width).to(self.device)
        self.optimiser = torch.optim.Adam(self.model.parameters(), lr=settings.lr)
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self._resume_if_possible()
        print(f'S: {parameter_count(self.model):,} parameters, {len(train)} training faces, {len(val)} validation faces, '
              f'on {self.device}')

    def _log(self, record: dict) -> None:
        with (self.out / 'log.jsonl').open('a') as log:
            log.write(json.dumps(record) + '\n')

    def _batches(self) -> list[list[int]]:
        """This epoch's batches: a seeded shuffle, the same on a resumed run."""
        order = list(range(len(self.train_set)))
        random.Random(f'{self.settings.seed}:{self.epoch}').shuffle(order)
        size = self.settings.batch_size
        return [order[i:i + size] for i in range(0, len(order) - size + 1, size)] or [order]

    def train_step(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        self.model.train()
        loss = F.cross_entropy(self.model(images.to(self.device)), labels.to(self.device))
        self.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        self.optimiser.step()
        return loss.item()

    @torch.no_grad()
    def evaluate(self) -> dict:
        """Agreement with the drawn maps on the validation faces (unaugmented)."""
        self.model.eval()
        counts = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
        for batch in DataLoader(self.val_set, batch_size=32, num_workers=self.settings.workers):
            predicted = self.model(batch['image'].to(self.device)).argmax(1).cpu().numpy()
            counts += confusion(batch['label'].numpy(), predicted, NUM_CLASSES)
        iou = class_iou(counts)
        return {'val_pixel_accuracy': float(np.trace(counts) / counts.sum()), 'val_mean_iou': float(np.nanmean(iou)),
                'val_iou': {name: round(float(v), 4) for name, v in zip(CLASSES, iou)}}

    def save_checkpoint(self) -> None:
        state = {'step': self.step, 'epoch': self.epoch, 'batch_in_epoch': self.batch_in_epoch,
                 'settings': asdict(self.settings), 'model': self.model.state_dict(),
                 'optimiser': self.optimiser.state_dict(), 'torch_rng': torch.get_rng_state()}
        _save_atomically(state, self.out / CHECKPOINT)

    def _resume_if_possible(self) -> None:
        path = self.out / CHECKPOINT
        if not path.is_file():
            return
        # Only this script's own checkpoint is loaded (weights_only=False: 1.13 cannot read floats otherwise).
        state = torch.load(path, map_location='cpu', weights_only=False)
        for key in _FIXED_ON_RESUME:
            if state['settings'][key] != getattr(self.settings, key):
                raise ValueError(f'{path} was trained with {key} = {state["settings"][key]!r}, this run has '
                                 f'{getattr(self.settings, key)!r}: use the same value, or another --out folder')
        self.model.load_state_dict(state['model'])
        self.optimiser.load_state_dict(state['optimiser'])
        torch.set_rng_state(state['torch_rng'])
        self.step, self.epoch, self.batch_in_epoch = state['step'], state['epoch'], state['batch_in_epoch']
        print(f'resumed from {path} at step {self.step}')

    def run(self) -> dict:
        s = self.settings
        started = time.monotonic()
        running: list[float] = []
        metrics: dict = {}
        while self.step < s.steps:
            self.train_set.epoch = self.epoch
            batches = self._batches()
            for indices in batches[self.batch_in_epoch:]:
                items = [self.train_set[i] for i in indices]
                running.append(self.train_step(torch.stack([it['image'] for it in items]),
                                               torch.stack([it['label'] for it in items])))
                self.step += 1
                self.batch_in_epoch += 1
                if self.step % s.log_every == 0:
                    self._log({'step': self.step, 'epoch': self.epoch, 'loss': float(np.mean(running)),
                               'elapsed_s': round(time.monotonic() - started, 1)})
                    running = []
                out_of_time = s.time_budget_s is not None and time.monotonic() - started > s.time_budget_s
                if self.step % s.eval_every == 0 and not out_of_time:
                    metrics = self.evaluate()
                    self._log({'step': self.step, **metrics})
                if self.step % s.checkpoint_every == 0:
                    self.save_checkpoint()
                if self.step >= s.steps or out_of_time:
                    if out_of_time:
                        self._log({'event': 'time budget spent', 'step': self.step})
                    return self.finish()
            self.epoch += 1
            self.batch_in_epoch = 0
        return self.finish()

    def finish(self) -> dict:
        metrics = self.evaluate()
        self._log({'step': self.step, **metrics})
        self.save_checkpoint()
        _save_atomically({'model': self.model.state_dict(), 'classes': list(CLASSES), 'step': self.step,
                          'data': self.settings.data, 'validation': metrics}, self.out / PARSER)
        print(f'step {self.step}: S agrees with the drawn parts on the validation faces at mean IoU '
              f'{metrics["val_mean_iou"]:.3f} (pixel accuracy {metrics["val_pixel_accuracy"]:.3f}); wrote {self.out / PARSER}')
        return metrics


def _save_atomically(state: dict, path: Path) -> None:
    tmp = path.with_name(path.name + '.tmp')
    torch.save(state, tmp)
    os.replace(tmp, path)  # a crash leaves the previous file whole


def parse_args(argv: list[str] | None = None) -> ParserSettings:
    d = ParserSettings(data='', out='')
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', required=True, help='aligned set folder (index.csv + PNGs), from `unmask dataset align`')
    p.add_argument('--out', required=True, help='run folder: checkpoint.pt, log.jsonl, parser.pt')
    p.add_argument('--steps', type=int, default=d.steps)
    p.add_argument('--batch-size', type=int, default=d.batch_size)
    p.add_argument('--width', type=int, default=d.width, help='channels of the first stage (16: 255 k parameters)')
    p.add_argument('--lr', type=float, default=d.lr)
    p.add_argument('--seed', type=int, default=d.seed)
    p.add_argument('--log-every', type=int, default=d.log_every)
    p.add_argument('--eval-every', type=int, default=d.eval_every)
    p.add_argument('--checkpoint-every', type=int, default=d.checkpoint_every)
    p.add_argument('--val-faces', type=int, default=d.val_faces)
    p.add_argument('--device', default=d.device, help='auto, cpu, cuda or cuda:N')
    p.add_argument('--threads', type=int, default=d.threads, help='CPU threads for torch')
    p.add_argument('--workers', type=int, default=d.workers, help='data loader processes for validation')
    p.add_argument('--time-budget', type=float, help='seconds; stop with a checkpoint and parser.pt when spent')
    a = p.parse_args(argv)
    for name in ('steps', 'batch_size', 'width', 'log_every', 'eval_every', 'checkpoint_every', 'val_faces', 'threads'):
        if getattr(a, name) < 1:
            p.error(f'--{name.replace("_", "-")} must be 1 or more')
    if a.time_budget is not None and not (a.time_budget > 0 and math.isfinite(a.time_budget)):
        p.error('--time-budget must be a positive number of seconds')
    return ParserSettings(data=a.data, out=a.out, steps=a.steps, batch_size=a.batch_size, width=a.width, lr=a.lr,
                          seed=a.seed, log_every=a.log_every, eval_every=a.eval_every,
                          checkpoint_every=a.checkpoint_every, val_faces=a.val_faces, device=a.device,
                          threads=a.threads, workers=a.workers, time_budget_s=a.time_budget)


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    try:
        ParserTrainer(settings).run()
    except (FileNotFoundError, ValueError) as err:
        print(f'train_parser.py: {err}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
