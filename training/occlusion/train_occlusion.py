"""Train the occlusion segmenter on synthesised occlusions of the training identities.

    /usr/bin/python3 training/occlusion/train_occlusion.py --data var/celeba-aligned --out var/runs/occlusion \
        --time-budget 2700

CPU or CUDA (`--device`), one CPU thread by default (the machine is shared). Resumes from
OUT/checkpoint.pt. Logs every loss to OUT/log.jsonl; every --eval-every steps measures IoU on a fixed
held-out set synthesised from the *validation* identities (OUT/heldout.npz, made once, seeded) and keeps
the best weights in OUT/best.pt. Batches are seeded by (seed, step): a resumed run draws what an
uninterrupted one would have drawn.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from idgan.data import FaceRecord, load_rgb, read_index  # noqa: E402
from occlusion.network import OcclusionNet, occlusion_loss  # noqa: E402
from occlusion.onnx_init import net_from_onnx  # noqa: E402
from occlusion.synth import SynthConfig, load_mask_templates, synthesize  # noqa: E402

HELDOUT_SEED = 20261128


def split_records(folder: Path | str, split: str) -> list[FaceRecord]:
    records = [r for r in read_index(folder) if r.split == split]
    if not records:
        raise ValueError(f'{folder}/index.csv has no {split} faces')
    return records


def make_batch(records: list[FaceRecord], rng: random.Random, templates, batch: int,
               config: SynthConfig = SynthConfig()) -> tuple[np.ndarray, np.ndarray]:
    """batch×128×128×3 uint8 images and batch×128×128 uint8 masks."""
    images, masks = [], []
    for _ in range(batch):
        face, donor = rng.choice(records), rng.choice(records)
        sample = synthesize(load_rgb(face.image), face.landmarks, load_rgb(donor.image), rng, templates, config)
        images.append(sample.image)
        masks.append(sample.mask)
    return np.stack(images), np.stack(masks)


def heldout_set(data: Path, path: Path, count: int, templates) -> tuple[np.ndarray, np.ndarray]:
    """The fixed held-out set of validation identities, made once and kept beside the run."""
    if path.is_file():
        saved = np.load(path)
        return saved['images'], saved['masks']
    images, masks = make_batch(split_records(data, 'val'), random.Random(HELDOUT_SEED), templates, count)
    np.savez_compressed(path, images=images, masks=masks)
    return images, masks


def to_input(images: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255).to(device)


@torch.no_grad()
def predict(net: OcclusionNet, images: np.ndarray, device: torch.device, batch: int = 50) -> np.ndarray:
    """Probabilities, N×128×128 float32."""
    was_training = net.training
    net.eval()
    out = [torch.sigmoid(net(to_input(images[i:i + batch], device)))[:, 0].cpu().numpy()
           for i in range(0, len(images), batch)]
    net.train(was_training)
    return np.concatenate(out)


def segmentation_scores(prob: np.ndarray, masks: np.ndarray, threshold: float = 0.5) -> dict:
    """IoU of the thresholded prediction: the mean over occluded samples (the headline figure), the
    pooled IoU over all samples, and the share of pixels flagged on the clean ones."""
    found = prob > threshold
    truth = masks.astype(bool)
    occluded = truth.reshape(len(truth), -1).any(axis=1)
    inter = (found & truth).reshape(len(truth), -1).sum(axis=1)
    union = (found | truth).reshape(len(truth), -1).sum(axis=1)
    per_image = inter[occluded] / np.maximum(union[occluded], 1)
    clean_flagged = found[~occluded].mean() if (~occluded).any() else float('nan')
    return {
        'iou_mean': float(per_image.mean()) if len(per_image) else float('nan'),
        'iou_pooled': float(inter.sum() / max(union.sum(), 1)),
        'clean_flagged': float(clean_flagged),
        'n_occluded': int(occluded.sum()), 'n_clean': int((~occluded).sum()),
    }


def learning_rate(base: float, progress: float, warmup: float = 0.02) -> float:
    """Linear warm-up, then cosine decay to 5 % over the run (progress in [0, 1])."""
    if progress < warmup:
        return base * max(progress / warmup, 0.05)
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - warmup) / (1 - warmup)))))


def initial_net(path: str, train: list[FaceRecord], templates, width: int) -> OcclusionNet:
    """The segmenter a new run starts from (--init)."""
    if path.endswith('.onnx'):
        images, _ = make_batch(train, random.Random('calibration'), templates, 96)
        net, info = net_from_onnx(path, to_input(images, torch.device('cpu')))
    else:
        state = torch.load(path, map_location='cpu')
        net, info = OcclusionNet(state['width']), state
        net.load_state_dict(state['net'])
    if info['width'] != width:
        raise SystemExit(f'{path} is a width-{info["width"]} segmenter, not --width {width}')
    return net


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', default='var/celeba-aligned', help='aligned set (index.csv with landmarks)')
    p.add_argument('--out', default='var/runs/occlusion')
    p.add_argument('--steps', type=int, default=100_000, help='at most this many steps')
    p.add_argument('--time-budget', type=float, default=2700, help='seconds of training (all resumed runs together)')
    p.add_argument('--batch', type=int, default=24)
    p.add_argument('--lr', type=float, default=3e-3)
    p.add_argument('--width', type=int, default=16)
    p.add_argument('--eval-every', type=int, default=100)
    p.add_argument('--heldout', type=int, default=400, help='held-out samples of validation identities')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--init', help='start a new run from this segmenter: a run\'s best.pt, or an exported ONNX file '
                   '(models/occlusion-seg.onnx) whose folded BatchNorms are rebuilt on a calibration batch')
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    device = torch.device(a.device)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    templates = load_mask_templates()
    train = split_records(a.data, 'train')
    held_images, held_masks = heldout_set(Path(a.data), out / 'heldout.npz', a.heldout, templates)

    net = OcclusionNet(a.width).to(device)
    optimiser = torch.optim.Adam(net.parameters(), lr=a.lr)
    step, elapsed, best_iou = 0, 0.0, -1.0
    checkpoint_path = out / 'checkpoint.pt'
    if checkpoint_path.is_file():
        state = torch.load(checkpoint_path, map_location=device)
        if state['width'] != a.width:
            raise SystemExit(f'{checkpoint_path} has width {state["width"]}, not --width {a.width}: use another --out')
        net.load_state_dict(state['net'])
        optimiser.load_state_dict(state['optimiser'])
        step, elapsed, best_iou = state['step'], state['elapsed'], state['best_iou']
        print(f'resumed at step {step} ({elapsed:.0f} s trained, best IoU {best_iou:.4f})', flush=True)
    elif a.init:
        net = initial_net(a.init, train, templates, a.width).to(device)
        optimiser = torch.optim.Adam(net.parameters(), lr=a.lr)
        print(f'initialised from {a.init}; its held-out IoU here: '
              f'{segmentation_scores(predict(net, held_images, device), held_masks)["iou_mean"]:.4f}', flush=True)

    def save() -> None:
        state = {'net': net.state_dict(), 'optimiser': optimiser.state_dict(), 'step': step, 'elapsed': elapsed,
                 'best_iou': best_iou, 'width': a.width}
        torch.save(state, checkpoint_path.with_suffix('.tmp'))
        checkpoint_path.with_suffix('.tmp').replace(checkpoint_path)

    log = (out / 'log.jsonl').open('a')
    net.train()
    started = time.time() - elapsed
    while step < a.steps and elapsed < a.time_budget:
        progress = max(step / a.steps, elapsed / a.time_budget)
        for group in optimiser.param_groups:
            group['lr'] = learning_rate(a.lr, progress)
        images, masks = make_batch(train, random.Random(f'{a.seed}:{step}'), templates, a.batch)
        x = to_input(images, device)
        y = torch.from_numpy(masks).float().unsqueeze(1).to(device)
        loss, parts = occlusion_loss(net(x), y)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        step += 1
        elapsed = time.time() - started
        if step % 10 == 0:
            log.write(json.dumps({'step': step, 'elapsed': round(elapsed, 1), 'lr': optimiser.param_groups[0]['lr'],
                                  'loss': float(loss), **parts}) + '\n')
            log.flush()
        if step % a.eval_every == 0 or step >= a.steps or elapsed >= a.time_budget:
            scores = segmentation_scores(predict(net, held_images, device), held_masks)
            improved = scores['iou_mean'] > best_iou
            if improved:
                best_iou = scores['iou_mean']
                torch.save({'net': net.state_dict(), 'step': step, 'width': a.width, 'scores': scores}, out / 'best.pt')
            save()
            record = {'step': step, 'elapsed': round(elapsed, 1), 'heldout': scores, 'best': improved}
            log.write(json.dumps(record) + '\n')
            log.flush()
            print(json.dumps(record), flush=True)
    save()
    print(f'stopped at step {step} after {elapsed:.0f} s; best held-out IoU {best_iou:.4f} in {out / "best.pt"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
