#!/usr/bin/env python3
"""Train ID-GAN's inpainter on the aligned set made by `unmask dataset align`.

    /usr/bin/python3 training/train.py --data var/celeba-aligned --out var/runs/wid [--identity-term diversity]

CPU or CUDA (chosen at run time, `--device auto`). Resumes from OUT/checkpoint.pt when it is there;
seeds are fixed; every loss goes to OUT/log.jsonl; OUT/samples/step-N.png (ground truth / occluded /
inpainted) every --sample-every steps; validation PSNR/SSIM on fixed 48×48 holes every --eval-every
steps, the best generator kept in OUT/generator-best.pt. --time-budget stops cleanly after that many
seconds (with a checkpoint), for runs on a lent GPU.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from idgan.losses import IdentityTerm, LossWeights  # noqa: E402
from idgan.trainer import Trainer, TrainSettings  # noqa: E402


def parse_args(argv: list[str] | None = None) -> TrainSettings:
    defaults = TrainSettings(data='', out='')
    weights = LossWeights()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', required=True, help='aligned set folder (index.csv + PNGs)')
    p.add_argument('--out', required=True, help='run folder: checkpoint, log, samples (one per ablation)')
    p.add_argument('--identity-term', choices=[t.value for t in IdentityTerm], default=weights.identity_term.value,
                   help='L_R identity-wise term: none = w/oID, diversity = wID (the paper), triplet = tri, centre = cent')
    p.add_argument('--steps', type=int, default=defaults.steps)
    p.add_argument('--batch-size', type=int, default=defaults.batch_size)
    p.add_argument('--per-identity', type=int, default=defaults.per_identity, help='images of each identity in a batch')
    p.add_argument('--width', type=int, default=defaults.width, help='generator width (40: 2.26 M parameters)')
    p.add_argument('--lr', type=float, default=defaults.lr)
    p.add_argument('--warmup-steps', type=int, default=defaults.warmup_steps, help='steps with L_I alone first')
    p.add_argument('--parser', help='trained face parser S (state dict); without it L_S is off')
    p.add_argument('--parser-classes', type=int, help='classes the --parser must have (default: whatever the file holds)')
    p.add_argument('--identity-scale', type=float, default=weights.identity_scale,
                   help='multiplier of the descriptor-space terms of L_R (1 = the paper\'s constants as written)')
    p.add_argument('--lambda-adv', type=float, default=weights.global_adversarial, help='λ_Dg = λ_Dl')
    p.add_argument('--lambda-s', type=float, default=weights.structure)
    p.add_argument('--lambda-r', type=float, default=weights.recognition)
    p.add_argument('--seed', type=int, default=defaults.seed)
    p.add_argument('--device', default=defaults.device, help='auto, cpu, cuda or cuda:N')
    p.add_argument('--threads', type=int, default=defaults.threads, help='CPU threads for torch')
    p.add_argument('--workers', type=int, default=defaults.workers, help='data loader processes')
    p.add_argument('--log-every', type=int, default=defaults.log_every)
    p.add_argument('--sample-every', type=int, default=defaults.sample_every)
    p.add_argument('--eval-every', type=int, default=defaults.eval_every)
    p.add_argument('--checkpoint-every', type=int, default=defaults.checkpoint_every)
    p.add_argument('--val-faces', type=int, default=defaults.val_faces, help='validation faces for PSNR/SSIM')
    p.add_argument('--time-budget', type=float, help='seconds; stop with a checkpoint when spent')
    p.add_argument('--data-limit', type=int, help='only the first N training faces (smoke tests)')
    p.add_argument('--centre-faces', type=int, help='at most N faces of each identity make its centre (eq. 5); '
                   'default all (training/centres.py --faces-per-identity makes the same file ahead)')
    p.add_argument('--init-generator', help="start from this generator (another run's checkpoint.pt or "
                   'generator-best.pt): the ablations branch from one shared L_I pre-training')
    p.add_argument('--holes', choices=('square', 'occluder'), default=defaults.holes,
                   help="square: the paper's 48×48 holes; occluder: masks, hands, scarves, sunglasses and brims on "
                        "each face's landmarks, plus squares (what the service inpaints)")
    p.add_argument('--max-rotation-deg', type=float, default=defaults.max_rotation_deg,
                   help="training faces' random rotation, ± degrees (paper: 15; the service's faces are aligned)")
    p.add_argument('--max-shift', type=float, default=defaults.max_shift,
                   help="training faces' random shift, a fraction of the side (paper: 0.06)")
    p.add_argument('--mirror', action='store_true',
                   help='the mirrored face and mask as extra input channels (flipped inside the network; '
                        'the ONNX export keeps its inputs)')
    p.add_argument('--skips', action='store_true', help='U-Net skip connections at 128×128 and 64×64')
    p.add_argument('--prior', help='a face prior of training/fit_prior.py: it fills the hole first and the generator '
                                   'refines its fill (round 4; the export then takes one face a run)')
    p.add_argument('--prior-components', type=int, help="the prior's first N components (default: all)")
    p.add_argument('--prior-noise', type=float, help="the prior's σ² (default: the one it was fitted with)")
    p.add_argument('--prior-residual', action='store_true',
                   help="the generator also draws a correction on top of the prior's fill (zero at the start)")
    p.add_argument('--recognizer', choices=('faceapi', 'arcface'), default=defaults.recognizer,
                   help="R of eq. 5–6: face-api's 128-D net, or faceplugin's 512-D ArcFace (the service's)")
    p.add_argument('--arcface-model', help='fr_feature.onnx (default: models/faceplugin/, else the npm package\'s)')
    p.add_argument('--lr-schedule', choices=('constant', 'cosine'), default=defaults.lr_schedule,
                   help='cosine: from --lr down to --lr × --lr-min-factor at --steps')
    p.add_argument('--lr-min-factor', type=float, default=defaults.lr_min_factor)
    p.add_argument('--lr-warmup-steps', type=int, default=defaults.lr_warmup_steps,
                   help='linear lr ramp over the first N steps (for a branch whose Adam moments start at zero)')
    p.add_argument('--d-warmup-steps', type=int, default=defaults.d_warmup_steps,
                   help='after the L_I warm-up, steps in which D_g and D_l learn but the generator has no adversarial term')
    p.add_argument('--init-total-steps', type=int,
                   help="steps --init-generator has seen over all its runs, when its file does not say "
                        '(the committed round-2 generator: 2373); the model card\'s curve counts from it')
    a = p.parse_args(argv)
    for name in ('steps', 'batch_size', 'per_identity', 'width', 'log_every', 'sample_every', 'eval_every',
                 'checkpoint_every', 'val_faces', 'threads'):
        if getattr(a, name) < 1:
            p.error(f'--{name.replace("_", "-")} must be 1 or more')
    if a.d_warmup_steps < 0 or a.lr_warmup_steps < 0:
        p.error('--d-warmup-steps and --lr-warmup-steps must be 0 or more')
    if not 0 < a.lr_min_factor <= 1:
        p.error('--lr-min-factor must be in (0, 1]')
    if not (0 <= a.max_rotation_deg <= 45 and 0 <= a.max_shift <= 0.25):
        p.error('--max-rotation-deg must be in [0, 45] and --max-shift in [0, 0.25]')
    if a.centre_faces is not None and a.centre_faces < 1:
        p.error('--centre-faces must be 1 or more')
    return TrainSettings(
        data=a.data, out=a.out, steps=a.steps, batch_size=a.batch_size, per_identity=a.per_identity, width=a.width,
        lr=a.lr, warmup_steps=a.warmup_steps, seed=a.seed, log_every=a.log_every, sample_every=a.sample_every,
        eval_every=a.eval_every, checkpoint_every=a.checkpoint_every, val_faces=a.val_faces, parser=a.parser,
        parser_classes=a.parser_classes, device=a.device, threads=a.threads, workers=a.workers,
        time_budget_s=a.time_budget, data_limit=a.data_limit, init_generator=a.init_generator, centre_faces=a.centre_faces,
        holes=a.holes, max_rotation_deg=a.max_rotation_deg, max_shift=a.max_shift, mirror=a.mirror, skips=a.skips, prior=a.prior, prior_components=a.prior_components,
        prior_noise=a.prior_noise, prior_residual=a.prior_residual, recognizer=a.recognizer, arcface_model=a.arcface_model,
        lr_schedule=a.lr_schedule, lr_min_factor=a.lr_min_factor, d_warmup_steps=a.d_warmup_steps,
        lr_warmup_steps=a.lr_warmup_steps,
        init_total_steps=a.init_total_steps,
        weights=LossWeights(identity_term=IdentityTerm(a.identity_term), identity_scale=a.identity_scale,
                            local_adversarial=a.lambda_adv, global_adversarial=a.lambda_adv,
                            structure=a.lambda_s, recognition=a.lambda_r))


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    try:
        Trainer(settings).run()
    except (FileNotFoundError, ValueError) as err:
        print(f'train.py: {err}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
