#!/usr/bin/env python3
"""Validation PSNR/SSIM of trained generators next to OCC and a classical inpainting baseline.

    /usr/bin/python3 training/eval_generators.py --data var/celeba-aligned \\
        --generator wID=var/runs/wid/generator-best.pt --generator w/oID=var/runs/woid/generator-best.pt \\
        --out var/runs/val-comparison

Every method sees the same validation faces (identities never trained on) with the same seeded 48×48
holes that train.py validates on, and is scored over the full 128×128 image (PSNR in dB; SSIM with
scikit-image's Gaussian-free 7×7 default window, as train.py does). The baseline is OpenCV's Telea
fast-marching inpainting (radius 5) — an implementation independent of the project's own
(src/eval/telea.ts), so the model card's comparison does not rest on code of ours. Writes
OUT/comparison.json and OUT/grid.png (rows: ground truth, occluded, Telea, each generator).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
from skimage.metrics import structural_similarity

sys.path.insert(0, str(Path(__file__).resolve().parent))

from idgan.data import AlignedFaces, fixed_holes, psnr  # noqa: E402
from idgan.holes import fill_white, hole_masks  # noqa: E402
from idgan.networks import InpaintNet, generator_config  # noqa: E402
from idgan.prior import load_prior  # noqa: E402
from idgan.trainer import generator_state_from_onnx  # noqa: E402

TELEA_RADIUS = 5


def load_generator(path: str) -> tuple[InpaintNet, dict]:
    """A train.py checkpoint, or a generator exported to ONNX (models/idgan-*.onnx)."""
    state = generator_state_from_onnx(path) if path.endswith('.onnx') else torch.load(path, map_location='cpu', weights_only=False)
    config = generator_config(state)
    net = InpaintNet(**config)
    net.load_state_dict(state['generator'])
    net.eval()
    total = state.get('total_steps')
    if total is None and state.get('total_steps_before') is not None:
        total = state['total_steps_before'] + state['step']
    return net, {'path': path, 'step': state['step'], **config, 'total_steps': total}


def telea(occluded: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """OpenCV's Telea on one H×W×3 image in [0, 1] with an H×W 0/1 hole."""
    as_bytes = (occluded * 255).round().astype(np.uint8)
    filled = cv2.inpaint(as_bytes, mask.astype(np.uint8), TELEA_RADIUS, cv2.INPAINT_TELEA)
    return filled.astype(np.float32) / 255


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', required=True, help='aligned set folder (index.csv + PNGs)')
    p.add_argument('--generator', action='append', default=[], metavar='NAME=CHECKPOINT',
                   help="a train.py checkpoint.pt or generator-best.pt, or an exported .onnx, named; repeatable")
    p.add_argument('--prior', action='append', default=[], metavar='NAME=PRIOR',
                   help='a face prior of training/fit_prior.py (.pt), scored as a method of its own; repeatable')
    p.add_argument('--prior-components', type=int, help="use the priors' first N components (default: all)")
    p.add_argument('--prior-noise', type=float, help="the priors' σ² (default: the one they were fitted with)")
    p.add_argument('--val-faces', type=int, default=500)
    p.add_argument('--skip-faces', type=int, default=0,
                   help='leave out the first N validation faces: train.py picks generator-best.pt on its first '
                        '--val-faces, so scores on the faces after them are free of that choice')
    p.add_argument('--holes', choices=('square', 'occluder'), default='square',
                   help="square: the paper's seeded 48×48 holes; occluder: each face's own fixed occluder-shaped "
                        'hole, as train.py --holes occluder validates')
    p.add_argument('--grid-faces', type=int, default=8)
    p.add_argument('--identity', action='store_true',
                   help="also the identity kept: mean cosine between the service recognizer's (ArcFace, 512-D) embedding "
                        'of each method\'s face and of the ground truth, the chip cut from the crop by the landmarks')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--out', required=True)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)

    generators = {}
    for spec in a.generator:
        name, sep, path = spec.partition('=')
        if not sep or not name or not path:
            p.error(f'--generator takes NAME=CHECKPOINT, got {spec!r}')
        if not Path(path).is_file():
            p.error(f'--generator {name}: no file {path}')
        generators[name] = load_generator(path)
    priors = {}
    for spec in a.prior:
        name, sep, path = spec.partition('=')
        if not sep or not name or not path or name in generators:
            p.error(f'--prior takes NAME=PRIOR with a name of its own, got {spec!r}')
        if not Path(path).is_file():
            p.error(f'--prior {name}: no file {path}')
        priors[name] = load_prior(path, a.prior_components, a.prior_noise).eval()

    if a.skip_faces < 0 or a.val_faces < 1:
        p.error('--skip-faces must be 0 or more and --val-faces 1 or more')
    val = AlignedFaces(a.data, 'val', None, limit=a.skip_faces + a.val_faces, holes=a.holes)
    if a.skip_faces >= len(val):
        p.error(f'{a.data} has no validation faces after the first {a.skip_faces}')
    # The holes are drawn per face (its index and landmarks) before skipping, so a face keeps its hole.
    all_masks = (hole_masks(fixed_holes(len(val))) if a.holes == 'square'
                 else torch.stack([val[i]['hole'] for i in range(len(val))]))
    val_masks = all_masks[a.skip_faces:]
    val.records, val.labels = val.records[a.skip_faces:], val.labels[a.skip_faces:]
    methods = ['OCC', 'Telea'] + list(generators) + list(priors)
    scores = {m: {'psnr': [], 'ssim': []} | ({'arcface_cos': []} if a.identity else {}) for m in methods}
    arcface = None
    if a.identity:
        from idgan.teacher import load_teacher
        arcface = load_teacher('arcface')
    grid_rows: dict[str, list[np.ndarray]] = {m: [] for m in ['GT'] + methods}
    to_np = lambda t: t.clamp(0, 1).permute(0, 2, 3, 1).numpy()  # noqa: E731
    for start in range(0, len(val), 32):
        count = min(32, len(val) - start)
        images = torch.stack([val[i]['image'] for i in range(start, start + count)])
        masks = val_masks[start:start + count]
        occluded = fill_white(images, masks)
        outputs = {'OCC': to_np(occluded)}
        outputs['Telea'] = np.stack([telea(o, m[0]) for o, m in zip(outputs['OCC'], masks.numpy())])
        with torch.no_grad():
            for name, (net, _) in generators.items():
                outputs[name] = to_np(net(occluded, masks))
            for name, prior in priors.items():
                outputs[name] = to_np(prior(occluded, masks))
        truth = to_np(images)
        if arcface is not None:
            landmarks = torch.stack([torch.from_numpy(val.records[i].landmarks) for i in range(start, start + count)])
            with torch.no_grad():
                clean = arcface(images, landmarks)
                for name, result in outputs.items():
                    faces = torch.from_numpy(np.ascontiguousarray(result)).permute(0, 3, 1, 2).float()
                    scores[name]['arcface_cos'] += (arcface(faces, landmarks) * clean).sum(1).tolist()
        for name, result in outputs.items():
            for x, t in zip(result, truth):
                scores[name]['psnr'].append(psnr(x, t))
                scores[name]['ssim'].append(structural_similarity(x, t, channel_axis=2, data_range=1.0))
        for name, result in [('GT', truth)] + list(outputs.items()):
            taken = sum(len(b) for b in grid_rows[name])
            if taken < a.grid_faces:
                grid_rows[name].append(result[:a.grid_faces - taken])
        print(f'{start + count}/{len(val)} faces', flush=True)

    summary = {m: {k: float(np.mean(v)) for k, v in s.items()} for m, s in scores.items()}
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {'val_faces': len(val), 'skipped_faces': a.skip_faces, 'hole': ('48x48 seeded (idgan.data.fixed_holes)' if a.holes == 'square'
                                                                     else 'occluder-shaped, fixed per face (idgan.occluder_holes)'), 'telea_radius': TELEA_RADIUS,
              'metrics': summary, 'generators': {n: info for n, (_, info) in generators.items()},
              'priors': {n: {'components': pr.components, 'noise': pr.noise} for n, pr in priors.items()}}
    (out / 'comparison.json').write_text(json.dumps(report, indent=2) + '\n')
    rows = [np.concatenate(list(np.concatenate(grid_rows[name], axis=0)), axis=1) for name in ['GT'] + methods]
    grid = (np.concatenate(rows, axis=0) * 255).round().astype(np.uint8)
    cv2.imwrite(str(out / 'grid.png'), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    for name, values in summary.items():
        shown = f'  ArcFace cos {values["arcface_cos"]:.4f}' if 'arcface_cos' in values else ''
        print(f'{name:10s} PSNR {values["psnr"]:.2f} dB  SSIM {values["ssim"]:.4f}{shown}')
    print(f'rows of {out / "grid.png"}: GT, ' + ', '.join(methods))
    return 0


if __name__ == '__main__':
    sys.exit(main())
