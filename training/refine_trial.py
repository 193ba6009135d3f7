#!/usr/bin/env python3
"""A trial: can a small network, trained by regression alone, correct the face prior's fill?

    /usr/bin/python3 training/refine_trial.py --data ~/.cache/unmask/celeba-aligned \\
        --prior ~/.cache/unmask/runs/prior/prior-mirror.pt --minutes 12 --out results/idgan/refine-trial-r8.json

Rounds 4–7's generator keeps 95 % of the prior's fill and its training curve is flat; its steps cost
6–9 s on this CPU, with adversarial and identity terms beside the reconstruction. This trial asks the
question without them, at a hundredth of the cost per step: at the prior's 64×64, the training faces
(and their mirror images) get random 48×48 holes (24×24 there) and the prior's exact fill; a U-Net of
--width channels sees a 40×40 window around the hole (the prior-filled face, its mask, and both
mirrored) and draws a correction inside the hole, zero at the start, trained by L1 on the hole with
Adam (gradients clipped at norm 1). Every --eval-every steps the selection faces (the first 250 validation faces, their seeded
holes) are scored at 128×128 as eval_generators.py scores the prior, so the curve starts at the prior.
Holes are drawn --faces-per-hole faces at a time, so that one solve of the prior serves several faces.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fit_prior import read_faces  # noqa: E402
from idgan.data import AlignedFaces, fixed_holes, psnr, read_index  # noqa: E402
from idgan.holes import fill_white, hole_masks, random_holes  # noqa: E402
from idgan.prior import IMAGE_SIZE, PRIOR_SIZE, FacePrior, load_prior, shrink, shrink_hole  # noqa: E402
from idgan.refine import PriorCorrection  # noqa: E402

def prior_fills(prior: FacePrior, faces: torch.Tensor, holes: torch.Tensor) -> torch.Tensor:
    """The prior's conditional mean (N×3×64×64) of faces (N×3×64×64) that all share one hole (64×64 bool)."""
    hole = holes[None].expand(3, -1, -1).flatten()
    hole_basis = prior.basis[:, hole]
    centred = faces.flatten(1) - prior.mean
    rhs = centred @ prior.basis.T - centred[:, hole] @ hole_basis.T
    matrix = torch.eye(prior.components) - hole_basis @ hole_basis.T + torch.diag(prior.noise / prior.variance)
    coefficients = torch.linalg.solve(matrix, rhs.T).T
    return (prior.mean + coefficients @ prior.basis).view(-1, 3, PRIOR_SIZE, PRIOR_SIZE)


def training_set(data: str, prior: FacePrior, holes_count: int, per_hole: int, seed: int):
    records = [r for r in read_index(data) if r.split == 'train']
    faces = read_faces(records, every=5000)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(faces), holes_count * per_hole, replace=False)
    flip = rng.random(len(pick)) < 0.5
    chosen = np.stack([faces[j][:, ::-1] if f else faces[j] for j, f in zip(pick, flip)]).transpose(0, 3, 1, 2)
    faces_t = torch.from_numpy(np.ascontiguousarray(chosen))
    holes = shrink_hole(hole_masks(random_holes(holes_count, torch.Generator().manual_seed(seed))))[:, 0] > 0.5
    fills = torch.empty_like(faces_t)
    with torch.no_grad():
        for k in range(holes_count):
            part = slice(k * per_hole, (k + 1) * per_hole)
            fills[part] = prior_fills(prior, faces_t[part], holes[k])
    return faces_t, holes.repeat_interleave(per_hole, 0)[:, None].float(), fills


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', required=True)
    p.add_argument('--prior', required=True)
    p.add_argument('--components', type=int, default=1200)
    p.add_argument('--noise', type=float, default=0.01)
    p.add_argument('--holes', type=int, default=1500, help='training holes drawn')
    p.add_argument('--faces-per-hole', type=int, default=10)
    p.add_argument('--width', type=int, default=16)
    p.add_argument('--lr', type=float, default=5e-4)
    p.add_argument('--batch-size', type=int, default=16)
    p.add_argument('--minutes', type=float, default=12)
    p.add_argument('--eval-every', type=int, default=500)
    p.add_argument('--val-faces', type=int, default=250)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--whole', action='store_true',
                   help='train (and select) on the whole 64×64 face, as the exported graph runs it, not on windows')
    p.add_argument('--init', help='start from the weights of an earlier --save')
    p.add_argument('--data-cache', help='the training faces with their holes and fills (.pt): made once, read after')
    p.add_argument('--save', help="where the network's weights go (.pt), at the best selection step")
    p.add_argument('--out', required=True)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    started = time.time()
    prior = load_prior(a.prior, a.components, a.noise).eval()
    key = {'prior': str(a.prior), 'components': a.components, 'noise': a.noise, 'holes': a.holes,
           'faces_per_hole': a.faces_per_hole, 'seed': a.seed}
    cached = torch.load(a.data_cache) if a.data_cache and Path(a.data_cache).is_file() else None
    if cached is not None and cached['key'] == key:
        faces, holes, fills = cached['faces'], cached['holes'], cached['fills']
    else:
        faces, holes, fills = training_set(a.data, prior, a.holes, a.faces_per_hole, a.seed + 1)
        if a.data_cache:
            torch.save({'key': key, 'faces': faces, 'holes': holes, 'fills': fills}, a.data_cache)
    print(f'{len(faces)} training faces with the prior\'s fill ({time.time() - started:.0f} s)', flush=True)

    val = AlignedFaces(a.data, 'val', None, limit=a.val_faces)
    val_images = torch.stack([val[i]['image'] for i in range(len(val))])
    val_masks = hole_masks(fixed_holes(len(val)))
    occluded = fill_white(val_images, val_masks)
    val_faces, val_holes = shrink(occluded * (1 - val_masks)), shrink_hole(val_masks)
    val_holes_flat = val_holes.expand(-1, 3, -1, -1).flatten(1) > 0.5
    with torch.no_grad():
        val_fills = torch.stack([prior.mean + prior.coefficients(val_faces[i].flatten(), val_holes_flat[i]) @ prior.basis
                                 for i in range(len(val))]).view(-1, 3, PRIOR_SIZE, PRIOR_SIZE)

    net = PriorCorrection(a.width)
    if a.init:
        net.load_state_dict(torch.load(a.init, map_location='cpu')['network'])
    optimiser = torch.optim.Adam(net.parameters(), lr=a.lr)

    def selection_psnr(whole: bool = False) -> float:
        net.eval()
        with torch.no_grad():
            small = torch.cat([net(val_faces[i:i + 50], val_holes[i:i + 50], val_fills[i:i + 50], whole) for i in range(0, len(val), 50)])
        net.train()
        estimate = F.interpolate(small, size=(IMAGE_SIZE, IMAGE_SIZE), mode='bicubic', align_corners=False).clamp(0, 1)
        out = val_images * (1 - val_masks) + estimate * val_masks
        return float(np.mean([psnr(x, t) for x, t in zip(out.permute(0, 2, 3, 1).numpy(), val_images.permute(0, 2, 3, 1).numpy())]))

    curve = [{'step': 0, 'selection_psnr': round(selection_psnr(a.whole), 4)}]
    print(f'step 0: selection PSNR {curve[0]["selection_psnr"]} ' + (f'(from {a.init})' if a.init else '(the prior alone)'), flush=True)
    step, loss_sum, trained_from = 0, 0.0, time.time()
    while time.time() - trained_from < a.minutes * 60:
        pick = torch.randint(0, len(faces), (a.batch_size,))
        face, hole, fill = faces[pick], holes[pick], fills[pick]
        if step % 2:
            face, hole, fill = face.flip(-1), hole.flip(-1), fill.flip(-1)
        loss = ((net(face, hole, fill, a.whole) - face).abs() * hole).sum() / (3 * hole.sum())
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 1.0)  # at 2e-3 without it, a run blew up at step ~5,000
        optimiser.step()
        step += 1
        loss_sum += float(loss)
        if step % a.eval_every == 0:
            curve.append({'step': step, 'l1': round(loss_sum / a.eval_every, 5), 'selection_psnr': round(selection_psnr(a.whole), 4),
                          'seconds': round(time.time() - trained_from)})
            loss_sum = 0.0
            if a.save and curve[-1]['selection_psnr'] > max(c['selection_psnr'] for c in curve[:-1]):
                if not a.whole:  # what the exported graph, which runs on the whole face, would score
                    curve[-1]['whole_face_psnr'] = round(selection_psnr(whole=True), 4)
                Path(a.save).parent.mkdir(parents=True, exist_ok=True)
                torch.save({'width': a.width, 'step': step, 'whole': a.whole, 'init': a.init, 'network': net.state_dict(),
                            'curve_point': curve[-1]}, a.save)
            print(curve[-1], flush=True)
    report = {'prior': str(a.prior), 'whole': a.whole, 'init': a.init, 'components': a.components, 'noise': a.noise, 'training_faces': len(faces),
              'width': a.width, 'parameters': sum(p.numel() for p in net.parameters()), 'lr': a.lr,
              'batch_size': a.batch_size, 'minutes': a.minutes, 'steps': step, 'val_faces': len(val), 'curve': curve,
              'best': max(curve, key=lambda c: c['selection_psnr'])}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(report, indent=2) + '\n')
    print(f'best selection PSNR {report["best"]["selection_psnr"]} at step {report["best"]["step"]}; at step 0 {curve[0]["selection_psnr"]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
