"""One ID-GAN training run: the networks, their optimisers, the training step of eq. 7, validation
PSNR/SSIM on fixed holes, sample grids and resumable checkpoints. `training/train.py` is its CLI.
"""
from __future__ import annotations

import json
import math
import os
import random
import signal
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch
from skimage.metrics import structural_similarity
from torch.utils.data import DataLoader

from .centres import load_or_compute_centres
from .data import AlignedFaces, Augmentation, IdentityBatchSampler, fixed_holes, psnr
from .holes import crop_holes, fill_white, hole_masks, random_holes
from .occluder_holes import boxes_around
from .losses import (IdentityTerm, LossWeights, discount_weights, discriminator_loss, generator_adversarial_loss,
                     generator_loss, reconstruction_loss, recognition_loss, structure_loss)
from .networks import (Discriminator, InpaintNet, ParsingNet, composite, generator_config, load_generator_weights,
                       load_parser)
from .prior import load_prior
from .refine import PriorCorrection
from .recognizer import DEFAULT_MANIFEST
from .teacher import load_teacher

# torch.load: weights_only=False, said explicitly (PyTorch ≥ 2.6 defaults to True, and 1.13's
# weights-only loader cannot read floats, which optimiser states hold). Only files this code wrote
# are loaded: a run's own folder and the --parser given by its user.
CHECKPOINT = 'checkpoint.pt'
BEST_GENERATOR = 'generator-best.pt'


@dataclass
class TrainSettings:
    data: str
    out: str
    steps: int = 200_000
    batch_size: int = 16
    per_identity: int = 2
    width: int = 40
    lr: float = 1e-4
    g_beta1: float = 0.9     # paper §IV-A: β = 0.9 for the generator…
    d_beta1: float = 0.5     # …and 0.5 for the discriminators
    # Steps with L_I alone before the discriminators, S and R join, as GFC (which the paper follows)
    # trains in stages: the adversarial terms need a generator that already outputs faces.
    warmup_steps: int = 2_000
    seed: int = 0
    log_every: int = 10
    sample_every: int = 500
    eval_every: int = 2_000
    checkpoint_every: int = 500
    val_faces: int = 500
    parser: str | None = None        # a trained S (see networks.ParsingNet); without it L_S is off
    parser_classes: int | None = None  # checked against the parser file when given; else the file's
    weights: LossWeights = field(default_factory=LossWeights)
    device: str = 'auto'
    threads: int = 2
    workers: int = 0
    time_budget_s: float | None = None
    data_limit: int | None = None    # only the first N training faces (smoke tests)
    # A generator to start from (a run folder's checkpoint.pt or generator-best.pt): the ablations
    # branch from one shared L_I pre-training, so that CPU hours are spent once on what they share.
    init_generator: str | None = None
    centre_faces: int | None = None  # faces of each identity its centre is the mean of (None: all)
    # 'square': the paper's 48×48 holes (its benchmark); 'occluder': the shapes the service's segmenter
    # finds (idgan/occluder_holes.py), on training and validation faces alike.
    holes: str = 'square'
    # The training faces' random rotation (±degrees) and shift (fraction of the side), paper §IV-A. The
    # service's faces are aligned on landmarks, as the validation faces are: a prior-based generator
    # learns from faces moved this much a correction of fills it never makes on aligned faces.
    max_rotation_deg: float = 15.0
    max_shift: float = 0.06
    # Round 3. The generator's switches (networks.InpaintNet): the mirrored face and mask as extra input
    # channels, and U-Net skips; off, the architecture is the rounds 1–2 one.
    mirror: bool = False
    skips: bool = False
    # Round 4: a Gaussian face prior (idgan/prior.py, training/fit_prior.py) that fills the hole first,
    # the generator refining it (networks.InpaintNet); its first prior_components components, σ² prior_noise.
    prior: str | None = None
    prior_components: int | None = None
    prior_noise: float | None = None
    prior_residual: bool = False  # the network draws a correction of the prior's fill (networks.InpaintNet)
    # R of eq. 5–6 (idgan/teacher.py): 'faceapi' (128-D, rounds 1–2) or 'arcface' (faceplugin's 512-D).
    recognizer: str = 'faceapi'
    arcface_model: str | None = None  # default: models/faceplugin/fr_feature.onnx, else the npm package's
    # 'constant', or 'cosine' from lr down to lr·lr_min_factor at `steps` (counted over the whole run).
    lr_schedule: str = 'constant'
    lr_min_factor: float = 0.1
    # After the L_I warm-up, steps in which D_g and D_l learn but the generator does not yet feel them:
    # fresh discriminators first learn to tell, so that their first gradients into G are not noise.
    d_warmup_steps: int = 0
    # Linear lr ramp over the first N steps of a run that starts with fresh Adam moments (a branch, not
    # a resume): round 3's trials lost ~0.6 dB in the first 100 steps of every branch, adversarial or not.
    lr_warmup_steps: int = 0
    init_total_steps: int | None = None  # steps --init-generator has seen over all its runs, where its file does not say

    def to_json(self) -> dict:
        d = asdict(self)
        d['weights']['identity_term'] = IdentityTerm(self.weights.identity_term).value
        return d


# Settings a resumed run must share with the checkpoint: they change what the networks are. The
# parser S is frozen and not part of the checkpoint: a run may go on with another one (or gain one
# when it started without), and the log records the change.
_FIXED_ON_RESUME = ('width', 'seed', 'mirror', 'skips', 'recognizer', 'prior', 'prior_residual')
# What a checkpoint written before a setting existed had: the setting's default then.
_DEFAULT_BEFORE = {'mirror': False, 'skips': False, 'recognizer': 'faceapi', 'prior': None, 'prior_residual': False}


def resolve_device(name: str) -> torch.device:
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    device = torch.device(name)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise ValueError(f'device {name} asked for, but this PyTorch sees no CUDA GPU')
    return device


def generator_state_from_onnx(path: str | Path) -> dict:
    """{'generator': state dict, 'width', 'step'} of a generator that training/export_onnx.py wrote:
    the weights are the graph's initializers, the width and step its 'unmask.training' metadata."""
    import onnx
    from onnx import numpy_helper
    try:
        model = onnx.load(str(path))
    except Exception as err:  # onnx raises several kinds for a file that is not a model
        raise ValueError(f'{path} is not an ONNX model: {err}') from err
    meta = {p.key: p.value for p in model.metadata_props}
    if 'unmask.training' not in meta:
        raise ValueError(f'{path} has no unmask.training metadata: it was not exported by training/export_onnx.py')
    training = json.loads(meta['unmask.training'])
    weights = {}
    for init in model.graph.initializer:
        # A weight stored at half precision (onnx_export.store_large_weights_as_half) is NAME.float16.
        name = init.name.removesuffix('.float16')
        weights[name] = torch.from_numpy(numpy_helper.to_array(init).astype('float32'))
    return {'generator': weights, **generator_config({**training, 'generator': weights}), 'step': training.get('step', 0),
            'total_steps': training.get('total_steps')}


class Trainer:
    def __init__(self, settings: TrainSettings):
        self.settings = settings
        self.device = resolve_device(settings.device)
        if self.device.type == 'cpu':
            torch.set_num_threads(settings.threads)
        self.out = Path(settings.out)
        self.out.mkdir(parents=True, exist_ok=True)
        random.seed(settings.seed)
        np.random.seed(settings.seed)
        torch.manual_seed(settings.seed)

        self.train_set = AlignedFaces(settings.data, 'train',
                                      Augmentation(max_rotation_deg=settings.max_rotation_deg, max_shift=settings.max_shift),
                                      seed=settings.seed, limit=settings.data_limit,
                                      holes=settings.holes)
        self.val_set = AlignedFaces(settings.data, 'val', None, limit=settings.val_faces, holes=settings.holes)
        # The same holes at every evaluation: seeded squares, or each validation face's own occluder.
        self.val_masks = (hole_masks(fixed_holes(len(self.val_set))) if settings.holes == 'square'
                          else torch.stack([self.val_set[i]['hole'] for i in range(len(self.val_set))]))

        if settings.recognizer not in ('faceapi', 'arcface'):
            raise ValueError(f'recognizer must be faceapi or arcface, got {settings.recognizer!r}')
        if settings.lr_schedule not in ('constant', 'cosine'):
            raise ValueError(f'lr_schedule must be constant or cosine, got {settings.lr_schedule!r}')
        self.generator = self._new_generator().to(self.device)
        self.global_d = Discriminator(128).to(self.device)
        self.local_d = Discriminator(48).to(self.device)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=settings.lr, betas=(settings.g_beta1, 0.999))
        self.opt_d = torch.optim.Adam(list(self.global_d.parameters()) + list(self.local_d.parameters()),
                                      lr=settings.lr, betas=(settings.d_beta1, 0.999))
        self.recognizer = load_teacher(settings.recognizer, self.device, settings.arcface_model)
        self.parser = self._load_parser()
        self.hole_rng = torch.Generator().manual_seed(settings.seed)
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.best_psnr = -math.inf
        self._evaluated_at = -1
        self.resumed_settings: dict | None = None
        self.total_steps_before: int | None = None  # the generator's steps before this run (all its ancestors)
        self.stop_requested: str | None = None  # set by SIGTERM / SIGINT: checkpoint and leave
        self._resume_if_possible()
        self.init_source = self._init_generator() if self.step == 0 else None
        self.centres = self._identity_centres()

    # --- set-up ------------------------------------------------------------------------------------

    def _new_generator(self) -> InpaintNet:
        s = self.settings
        if not s.prior:
            if s.prior_residual:
                raise ValueError('--prior-residual corrects the face prior\'s fill: give --prior too')
            return InpaintNet(s.width, mirror=s.mirror, skips=s.skips)
        prior = load_prior(s.prior, s.prior_components, s.prior_noise)
        generator = InpaintNet(s.width, mirror=s.mirror, skips=s.skips, prior_components=prior.components,
                               prior_noise=prior.noise, prior_residual=s.prior_residual)
        generator.use_prior(prior)
        print(f'face prior {s.prior}: {prior.components} components, σ² {prior.noise}')
        return generator

    def _load_parser(self) -> ParsingNet | None:
        if not self.settings.parser:
            print('L_S is off: no --parser given (train S first: training/train_parser.py)')
            return None
        parser = load_parser(self.settings.parser, self.device)
        expected = self.settings.parser_classes
        if expected is not None and parser.num_classes != expected:
            raise ValueError(f'{self.settings.parser} parses {parser.num_classes} classes, but --parser-classes '
                             f'says {expected}: leave --parser-classes out to take the file\'s')
        return parser

    def _attach_refiner_of(self, config: dict) -> None:
        """A generator exported with a correction of its prior (round 8, export_onnx.py --prior-refiner) goes on
        training over that corrected prior: the correction is built as its saved generator_config says (width, and
        mirror-averaged if it was exported so) before the weights are loaded, after the optimiser was made, so that
        it stays frozen as the prior is."""
        width = config.get('prior_refiner_width')
        if width and self.generator.prior is not None and self.generator.prior.refiner is None:
            refiner = PriorCorrection(width).with_mirror_average(config.get('prior_refiner_mirror_average', False))
            self.generator.prior.with_refiner(refiner.to(self.device))

    def _init_generator(self) -> dict | None:
        """Loads --init-generator's weights into a fresh run (a resumed run has its own): a run's
        checkpoint, or a generator exported to ONNX (models/idgan-*.onnx), whose initializers are
        the PyTorch parameters by name, so that training goes on from a committed model once the run
        that made it is gone."""
        path = self.settings.init_generator
        if not path:
            return None
        if str(path).endswith('.onnx'):
            state = generator_state_from_onnx(path)
        else:
            state = torch.load(path, map_location='cpu', weights_only=False)
        if 'generator' not in state:
            raise ValueError(f'{path} holds no generator: give a run\'s {CHECKPOINT} or {BEST_GENERATOR}')
        config = generator_config(state)
        if config['width'] != self.settings.width:
            raise ValueError(f'{path} is a width-{config["width"]} generator, this run has --width {self.settings.width}')
        self._attach_refiner_of(config)
        added = load_generator_weights(self.generator, state['generator'])
        print(f'generator initialised from {path} (its step {state["step"]})'
              + (f'; new parts at zero: {", ".join(added)}' if added else ''))
        source = {'path': str(path), 'step': state['step']}
        # Steps over every run the generator descends from (the model card's curve): what the file says
        # (a generator-best.pt or an export: 'total_steps'; a checkpoint: 'total_steps_before' + its
        # step), else --init-total-steps.
        total = state.get('total_steps')
        if total is None and state.get('total_steps_before') is not None:
            total = state['total_steps_before'] + state['step']
        if total is None:
            total = self.settings.init_total_steps
        self.total_steps_before = total
        if total is not None:
            source['total_steps'] = total
        if added:
            source['added'] = added
        return source

    def _identity_centres(self) -> torch.Tensor | None:
        """f_id (eq. 5) of every training identity, from R on the clean, unaugmented crops; cached in
        the data folder (idgan/centres.py; `training/centres.py` makes the file ahead of a run)."""
        if IdentityTerm(self.settings.weights.identity_term) not in (IdentityTerm.DIVERSITY, IdentityTerm.CENTRE):
            return None
        centres, path = load_or_compute_centres(self.settings.data, self.train_set.records, self.recognizer,
                                                self.device, DEFAULT_MANIFEST, per_identity=self.settings.centre_faces)
        print(f'identity centres of {len(centres)} training identities: {path}')
        return centres.to(self.device)

    # --- one step of eq. 7 -------------------------------------------------------------------------

    def inpaint(self, target: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The generator's raw output I(X̃, M) and the composited face X for the holes `masks`."""
        occluded = fill_white(target, masks)
        raw = self.generator.raw(occluded, masks)
        return raw, composite(occluded, raw, masks)

    def generator_objective(self, target: torch.Tensor, labels: torch.Tensor, boxes: torch.Tensor, masks: torch.Tensor,
                            raw: torch.Tensor, inpainted: torch.Tensor,
                            landmarks: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """Eq. 7 for the generator (L_I alone during the warm-up), with the discriminators as they are.
        `landmarks` (N×68×2, crop pixels) place the ArcFace recognizer's chip; face-api's needs none."""
        s = self.settings
        l_i = reconstruction_loss(raw, target, discount_weights(masks))
        if self.step < s.warmup_steps:
            total = s.weights.reconstruction * l_i
            return total, {'L_I': l_i.item(), 'total': total.item()}
        weights = s.weights
        if self.step < s.warmup_steps + s.d_warmup_steps:
            # The discriminators' warm-up: they learn (train_step), the generator does not feel them yet.
            weights = replace(weights, local_adversarial=0.0, global_adversarial=0.0)
        fake_global = self.global_d(inpainted)
        fake_local = self.local_d(crop_holes(inpainted, boxes))
        structure = structure_loss(self.parser, inpainted, target) if self.parser is not None else None
        with torch.no_grad():
            clean_features = self.recognizer.features(target, landmarks)
        centres = self.centres[labels] if self.centres is not None else None
        recognition = recognition_loss(self.recognizer.features(inpainted, landmarks), clean_features,
                                       centres, labels, weights)
        loss = generator_loss(reconstruction=l_i, local_adversarial=generator_adversarial_loss(fake_local),
                              global_adversarial=generator_adversarial_loss(fake_global),
                              structure=structure, recognition=recognition, weights=weights)
        return loss.total, loss.parts

    def learning_rate(self) -> float:
        """The generator's and discriminators' lr at this step (--lr-schedule)."""
        s = self.settings
        ramp = min(1.0, (self.step + 1) / s.lr_warmup_steps) if s.lr_warmup_steps > 0 else 1.0
        if s.lr_schedule == 'constant':
            return s.lr * ramp
        progress = min(1.0, self.step / max(1, s.steps))
        return ramp * s.lr * (s.lr_min_factor + (1 - s.lr_min_factor) * 0.5 * (1 + math.cos(math.pi * progress)))

    def train_step(self, images: torch.Tensor, labels: torch.Tensor, holes: torch.Tensor | None = None,
                   landmarks: torch.Tensor | None = None) -> dict[str, float]:
        """One step: the discriminators on this batch (after the warm-up), then the generator. `holes`
        (N×1×H×W) are the batch's occluder holes; without them, the paper's random 48×48 squares.
        `landmarks` (N×68×2) are the faces' own, moved with the augmentation (the ArcFace chip needs them)."""
        lr = self.learning_rate()
        for opt in (self.opt_g, self.opt_d):
            for group in opt.param_groups:
                group['lr'] = lr
        target = images.to(self.device)
        labels = labels.to(self.device)
        if holes is None:
            boxes = random_holes(len(target), self.hole_rng).to(self.device)
            masks = hole_masks(boxes)
        else:
            masks = holes.to(self.device)
            # D_l judges a 48×48 window over each hole (the paper's local region).
            boxes = torch.from_numpy(boxes_around(holes[:, 0].numpy())).to(self.device)
        raw, inpainted = self.inpaint(target, masks)
        log: dict[str, float] = {}
        if self.step >= self.settings.warmup_steps:
            log.update(self._discriminator_step(target, inpainted.detach(), boxes))
        total, parts = self.generator_objective(target, labels, boxes, masks, raw, inpainted, landmarks)
        log.update(parts)
        if self.settings.lr_schedule != 'constant' or self.step < self.settings.lr_warmup_steps:
            log['lr'] = lr
        self.opt_g.zero_grad(set_to_none=True)
        total.backward()
        self.opt_g.step()
        return log

    def _discriminator_step(self, real: torch.Tensor, fake: torch.Tensor, boxes: torch.Tensor) -> dict[str, float]:
        d_global = discriminator_loss(self.global_d(real), self.global_d(fake))
        d_local = discriminator_loss(self.local_d(crop_holes(real, boxes)), self.local_d(crop_holes(fake, boxes)))
        self.opt_d.zero_grad(set_to_none=True)
        (d_global + d_local).backward()
        self.opt_d.step()
        return {'D_g': d_global.item(), 'D_l': d_local.item()}

    # --- validation and samples --------------------------------------------------------------------

    @torch.no_grad()
    def _inpaint_val(self, start: int, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ground truth, occluded and inpainted validation faces [start, start+count), H×W×3 in [0, 1]."""
        images = torch.stack([self.val_set[i]['image'] for i in range(start, start + count)]).to(self.device)
        masks = self.val_masks[start:start + count].to(self.device)
        _, inpainted = self.inpaint(images, masks)
        occluded = fill_white(images, masks)
        as_np = lambda t: t.clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()  # noqa: E731
        return as_np(images), as_np(occluded), as_np(inpainted)

    def evaluate(self) -> dict[str, float]:
        """PSNR and SSIM over the full 128×128 image, on the validation faces with their fixed holes;
        OCC (the white block, no inpainting) alongside as the floor."""
        self.generator.eval()
        scores = {'psnr': [], 'ssim': [], 'occ_psnr': [], 'occ_ssim': []}
        for start in range(0, len(self.val_set), 32):
            truth, occluded, inpainted = self._inpaint_val(start, min(32, len(self.val_set) - start))
            for t, o, x in zip(truth, occluded, inpainted):
                scores['psnr'].append(psnr(x, t))
                scores['ssim'].append(structural_similarity(x, t, channel_axis=2, data_range=1.0))
                scores['occ_psnr'].append(psnr(o, t))
                scores['occ_ssim'].append(structural_similarity(o, t, channel_axis=2, data_range=1.0))
        self.generator.train()
        return {f'val_{k}': float(np.mean(v)) for k, v in scores.items()} | {'val_faces': len(self.val_set)}

    def write_samples(self, count: int = 8) -> Path:
        """A grid: ground truth, occluded and inpainted rows of the first validation faces."""
        self.generator.eval()
        truth, occluded, inpainted = self._inpaint_val(0, min(count, len(self.val_set)))
        self.generator.train()
        rows = [np.concatenate(list(batch), axis=1) for batch in (truth, occluded, inpainted)]
        grid = (np.concatenate(rows, axis=0) * 255).round().astype(np.uint8)
        path = self.out / 'samples' / f'step-{self.step:07d}.png'
        path.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
        return path

    # --- checkpoints -------------------------------------------------------------------------------

    def save_checkpoint(self) -> None:
        state = {
            'step': self.step, 'epoch': self.epoch, 'batch_in_epoch': self.batch_in_epoch,
            'best_psnr': self.best_psnr, 'settings': self.settings.to_json(),
            'generator': self.generator.state_dict(), 'global_d': self.global_d.state_dict(),
            'local_d': self.local_d.state_dict(), 'opt_g': self.opt_g.state_dict(), 'opt_d': self.opt_d.state_dict(),
            'hole_rng': self.hole_rng.get_state(), 'torch_rng': torch.get_rng_state(),
            'total_steps_before': self.total_steps_before, 'generator_config': self.generator.config,
        }
        tmp = self.out / f'{CHECKPOINT}.tmp'
        torch.save(state, tmp)
        os.replace(tmp, self.out / CHECKPOINT)  # atomic: a crash leaves the previous checkpoint whole

    def _resume_if_possible(self) -> None:
        path = self.out / CHECKPOINT
        if not path.is_file():
            return
        state = torch.load(path, map_location='cpu', weights_only=False)
        for key in _FIXED_ON_RESUME:
            saved = state['settings'].get(key, _DEFAULT_BEFORE.get(key))
            if saved != getattr(self.settings, key):
                raise ValueError(f'{path} was trained with {key} = {saved!r}, this run has '
                                 f'{getattr(self.settings, key)!r}: use the same value, or another --out folder')
        term = IdentityTerm(self.settings.weights.identity_term).value
        if state['settings']['weights']['identity_term'] != term:
            raise ValueError(f'{path} was trained with the identity term {state["settings"]["weights"]["identity_term"]!r}, '
                             f'this run has {term!r}: each ablation needs its own --out folder')
        self._attach_refiner_of(generator_config({'width': self.settings.width, **state.get('generator_config', {}),
                                                  'generator': state['generator']}))
        self.generator.load_state_dict(state['generator'])
        self.global_d.load_state_dict(state['global_d'])
        self.local_d.load_state_dict(state['local_d'])
        self.opt_g.load_state_dict(state['opt_g'])
        self.opt_d.load_state_dict(state['opt_d'])
        self.hole_rng.set_state(state['hole_rng'])
        torch.set_rng_state(state['torch_rng'])
        self.step, self.epoch, self.batch_in_epoch = state['step'], state['epoch'], state['batch_in_epoch']
        self.best_psnr = state['best_psnr']
        self.resumed_settings = state['settings']
        self.total_steps_before = state.get('total_steps_before')
        print(f'resumed from {path} at step {self.step}')

    # --- the loop ----------------------------------------------------------------------------------

    def _log(self, record: dict) -> None:
        with (self.out / 'log.jsonl').open('a') as log:
            log.write(json.dumps(record) + '\n')
        shown = ' '.join(f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}' for k, v in record.items())
        print(shown, flush=True)

    def total_steps(self) -> int | None:
        """Steps of batch_size over every run this generator descends from, when the chain is known."""
        base = self.total_steps_before
        return None if base is None else base + self.step

    def request_stop(self, reason: str) -> None:
        """Ask the loop to stop after the step in progress, with a checkpoint (what SIGTERM does)."""
        self.stop_requested = reason

    def _install_stop_signals(self) -> list:
        """SIGTERM and SIGINT finish the step in progress, checkpoint and return (the launcher's stop);
        a second signal while that checkpoint is written is ignored, so the file is never cut short."""
        previous = []

        def on_signal(signum, _frame):
            # Only a flag: the loop says so and checkpoints (no I/O here, the signal may land inside a write).
            if self.stop_requested is None:
                self.request_stop(signal.Signals(signum).name)

        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                previous.append((sig, signal.signal(sig, on_signal)))
            except ValueError:  # not the main thread (tests may run the loop elsewhere)
                pass
        return previous

    def run(self) -> None:
        previous = self._install_stop_signals()
        try:
            self._run()
        finally:
            for sig, handler in previous:
                signal.signal(sig, handler)

    def _run(self) -> None:
        s = self.settings
        sampler = IdentityBatchSampler(self.train_set.labels, s.batch_size, s.per_identity, seed=s.seed)
        started = time.monotonic()
        last_log = started
        if self.step == 0:
            self._log({'event': 'start', 'device': str(self.device), 'init_generator': self.init_source,
                       'train_faces': len(self.train_set),
                       'train_identities': len(self.train_set.identities), 'val_faces': len(self.val_set),
                       'settings': s.to_json()})
        else:
            # A resumed run says what it resumed on: the aligned set may have grown, settings changed.
            changed = {k: [self.resumed_settings.get(k), v] for k, v in s.to_json().items()
                       if self.resumed_settings is not None and self.resumed_settings.get(k) != v}
            self._log({'event': 'resume', 'step': self.step, 'train_faces': len(self.train_set),
                       'train_identities': len(self.train_set.identities), 'val_faces': len(self.val_set),
                       'changed': changed})
        while self.step < s.steps:
            sampler.epoch = self.train_set.epoch = self.epoch
            batches = list(sampler)[self.batch_in_epoch:]
            loader = DataLoader(self.train_set, batch_sampler=batches, num_workers=s.workers,
                                pin_memory=self.device.type == 'cuda')
            for batch in loader:
                parts = self.train_step(batch['image'], batch['label'], batch.get('hole'), batch.get('landmarks'))
                self.step += 1
                self.batch_in_epoch += 1
                if self.step % s.log_every == 0 or self.step == 1:
                    now = time.monotonic()
                    self._log({'step': self.step, 'epoch': self.epoch, **parts,
                               's_per_step': (now - last_log) / (s.log_every if self.step > 1 else 1)})
                    last_log = now
                if self.step % s.sample_every == 0:
                    self.write_samples()
                if self.step % s.eval_every == 0:
                    self._evaluate_and_keep_best()
                out_of_time = s.time_budget_s is not None and time.monotonic() - started > s.time_budget_s
                stopping = self.stop_requested is not None
                if stopping:
                    print(f'{self.stop_requested}: stopping after step {self.step}, with a checkpoint', flush=True)
                if self.step % s.checkpoint_every == 0 or self.step >= s.steps or out_of_time or stopping:
                    self.save_checkpoint()
                if stopping:
                    # No evaluation on the way out: a stop should take seconds, not a validation pass.
                    self._log({'event': 'stopped', 'signal': self.stop_requested, 'step': self.step})
                    return
                if self.step >= s.steps or out_of_time:
                    if out_of_time:
                        self._log({'event': 'time budget spent', 'step': self.step})
                    self._finish()
                    return
            self.epoch += 1
            self.batch_in_epoch = 0
        self._finish()

    def _evaluate_and_keep_best(self) -> None:
        if self._evaluated_at == self.step:
            return
        self._evaluated_at = self.step
        metrics = self.evaluate()
        self._log({'step': self.step, 'total_steps': self.total_steps(), **metrics})
        if metrics['val_psnr'] > self.best_psnr:
            self.best_psnr = metrics['val_psnr']
            torch.save({'step': self.step, **self.generator.config, 'metrics': metrics,
                        'total_steps': self.total_steps(), 'recognizer': self.settings.recognizer,
                        'identity_term': IdentityTerm(self.settings.weights.identity_term).value,
                        'generator': self.generator.state_dict()}, self.out / BEST_GENERATOR)

    def _finish(self) -> None:
        self.write_samples()
        self._evaluate_and_keep_best()
        self.save_checkpoint()

