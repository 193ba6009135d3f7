#!/usr/bin/env python3
"""Two ways past the linear face prior's conditional mean, scored beside it on the selection faces.

    /usr/bin/python3 training/prior_variants.py --data ~/.cache/unmask/celeba-aligned \\
        --prior ~/.cache/unmask/runs/prior/prior-mirror.pt --out results/idgan/prior-variants-r8.json

- **A mixture of Gaussians** (`--mixtures 2,4`): the mirrored training faces are split by k-means on
  their first 100 coefficients under the prior, each part gets a prior of its own (as fit_prior fits
  one), and a face with a hole takes the parts' conditional means weighted by how likely each part
  makes its known pixels (the exact Gaussian marginal, with the parts' shares as weights). A linear
  prior draws the average face that fits the rest; a mixture may draw a sharper one per kind of face.
- **Detail from the mirror image** (`--mirror-weights 0.35,0.5`): where the mirrored pixel of a hole
  pixel is known, the known pixel's departure from the prior's face (its own eye's edges, say) is added
  there, in full or high-passed (σ 2 and 4 px), times the weight.

Scores: PSNR and SSIM of the composited face at 128×128, and with --identity the ArcFace cosine to the
uncovered face, on the seeded 48×48 holes of the first --val-faces validation faces (eval_generators.py's).
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
from skimage.metrics import structural_similarity

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fit_prior import read_faces  # noqa: E402
from idgan.data import AlignedFaces, fixed_holes, psnr, read_index  # noqa: E402
from idgan.holes import fill_white, hole_masks  # noqa: E402
from idgan.prior import IMAGE_SIZE, PRIOR_SIZE, FacePrior, fine_departure, fit_prior, load_prior, mirrored_detail, shrink, shrink_hole  # noqa: E402


def conditional(prior: FacePrior, face: torch.Tensor, hole: torch.Tensor) -> tuple[torch.Tensor, float]:
    """The prior's conditional mean (D) given the known pixels of `face`, and their log-likelihood under it.
    With A = I − B_H B_Hᵀ + σ²Λ⁻¹ (the solve's matrix) the known pixels' covariance Σ = σ²I + B_KᵀΛB_K has
    log|Σ| = (|K| − n) log σ² + Σ log λ + log|A| and r_KᵀΣ⁻¹r_K = (‖r_K‖² − rhsᵀc) / σ² (Woodbury)."""
    centred = (face - prior.mean).double()
    basis = prior.basis.double()
    hole_basis = basis[:, hole]
    rhs = basis @ centred - hole_basis @ centred[hole]
    matrix = torch.eye(prior.components, dtype=torch.float64) - hole_basis @ hole_basis.T \
        + torch.diag(prior.noise / prior.variance.double())
    c = torch.linalg.solve(matrix, rhs)
    known = int((~hole).sum())
    quadratic = (float((centred[~hole] ** 2).sum()) - float(rhs @ c)) / prior.noise
    log_det = (known - prior.components) * np.log(prior.noise) + float(torch.log(prior.variance.double()).sum()) \
        + float(torch.linalg.slogdet(matrix)[1])
    return (prior.mean.double() + c @ basis).float(), -0.5 * (quadratic + log_det)


class MixturePrior(torch.nn.Module):
    """Priors of parts of the faces, weighted per face by the likelihood of its known pixels."""

    def __init__(self, parts: list[FacePrior], shares: np.ndarray):
        super().__init__()
        self.parts = parts
        self.log_shares = torch.log(torch.tensor(shares, dtype=torch.float64))

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        faces = shrink(image * (1 - mask)).flatten(1)
        holes = shrink_hole(mask).expand(-1, 3, -1, -1).flatten(1) > 0.5
        rows = []
        for face, hole in zip(faces, holes):
            fills, likelihoods = zip(*(conditional(part, face, hole) for part in self.parts))
            weights = torch.softmax(torch.tensor(likelihoods, dtype=torch.float64) + self.log_shares, 0).float()
            rows.append(sum(w * f for w, f in zip(weights, fills)))
        small = torch.stack(rows).view(-1, 3, PRIOR_SIZE, PRIOR_SIZE)
        estimate = F.interpolate(small, size=(IMAGE_SIZE, IMAGE_SIZE), mode='bicubic', align_corners=False).clamp(0, 1)
        return image * (1 - mask) + estimate * mask


def fit_mixture(faces: np.ndarray, prior: FacePrior, parts: int, components: int, noise: float) -> MixturePrior:
    from sklearn.cluster import KMeans
    data = torch.from_numpy(np.ascontiguousarray(faces.transpose(0, 3, 1, 2).reshape(len(faces), -1)))
    features = ((data - prior.mean) @ prior.basis[:100].T).numpy()
    labels = KMeans(parts, n_init=3, random_state=0).fit(features).labels_
    priors = []
    for k in range(parts):
        fitted = fit_prior(faces[labels == k], min(components, int((labels == k).sum()) - 1))
        priors.append(FacePrior(fitted['mean'], fitted['basis'], fitted['variance'], noise).eval())
    return MixturePrior(priors, np.bincount(labels) / len(labels))


def mirror_detail(prior: FacePrior, weight: float, sigma: float | None):
    """The prior's fill plus `weight` × the mirrored known pixels' departure from the prior's face where the
    mirrored pixel is known: high-passed at `sigma` px as FacePrior(mirror_detail=…) draws it, or in full."""
    def fill(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        estimate = prior.estimate(image, mask)
        if sigma is not None:
            detail = mirrored_detail(image, mask, estimate, sigma)
        else:
            detail = ((image - estimate) * (1 - mask)).flip(-1) * mask * (1 - mask).flip(-1)
        return image * (1 - mask) + (estimate + weight * detail).clamp(0, 1) * mask
    return fill


def detail_symmetry(prior: FacePrior, image: torch.Tensor, mask: torch.Tensor, sigma: float = 2.0) -> torch.Tensor:
    """Per face, the cosine between the known pixels' fine departure from the prior's face (as mirrored_detail
    copies it) and its mirror image, over the pixels known on both sides: how much of what is copied across
    is this face's own detail (1) and how much is not (0)."""
    both = (1 - mask) * (1 - mask).flip(-1)
    fine = fine_departure(image, mask, prior.estimate(image, mask), sigma) * both
    mirrored = fine.flip(-1)
    return (fine * mirrored).sum((1, 2, 3)) / ((fine * fine).sum((1, 2, 3)) * (mirrored * mirrored).sum((1, 2, 3))).sqrt().clamp_min(1e-12)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', required=True, help='aligned set folder (index.csv + PNGs)')
    p.add_argument('--prior', required=True, help='the prior to start from (fit_prior.py --mirror)')
    p.add_argument('--components', type=int, default=1200)
    p.add_argument('--noise', type=float, default=0.01)
    p.add_argument('--mixtures', default='2,4', help='parts of each mixture tried ("" for none)')
    p.add_argument('--mirror-weights', default='0.35,0.5', help='weights of the mirror detail tried ("" for none)')
    p.add_argument('--val-faces', type=int, default=250)
    p.add_argument('--identity', action='store_true', help='also the ArcFace cosine to the uncovered face')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--out', required=True)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    started = time.time()
    prior = load_prior(a.prior, a.components, a.noise).eval()
    methods = {f'prior {a.components} / {a.noise}': prior}
    weights = [float(w) for w in a.mirror_weights.split(',') if w]
    for w in weights:
        for sigma in (None, 2.0, 4.0):
            methods[f'mirror detail ×{w}' + (f', high-passed σ {sigma:g}' if sigma else '')] = mirror_detail(prior, w, sigma)
    parts_tried = [int(k) for k in a.mixtures.split(',') if k]
    if parts_tried:
        records = [r for r in read_index(a.data) if r.split == 'train']
        faces = read_faces(records, every=5000)
        faces = np.concatenate([faces, faces[:, :, ::-1]])
        for parts in parts_tried:
            methods[f'mixture of {parts}, {a.components} components each'] = fit_mixture(faces, prior, parts, a.components, a.noise)
            print(f'mixture of {parts} fitted ({time.time() - started:.0f} s)', flush=True)

    val = AlignedFaces(a.data, 'val', None, limit=a.val_faces)
    masks = hole_masks(fixed_holes(len(val)))
    arcface = None
    if a.identity:
        from idgan.teacher import load_teacher
        arcface = load_teacher('arcface')
    scores = {m: {'psnr': [], 'ssim': []} | ({'arcface_cos': []} if arcface else {}) for m in methods}
    symmetry: list[float] = []
    for start in range(0, len(val), 25):
        idx = list(range(start, min(start + 25, len(val))))
        images = torch.stack([val[i]['image'] for i in idx])
        mask = masks[idx]
        occluded = fill_white(images, mask)
        landmarks = torch.stack([torch.from_numpy(val.records[i].landmarks) for i in idx])
        with torch.no_grad():
            symmetry += detail_symmetry(prior, occluded, mask).tolist()
            clean = arcface(images, landmarks) if arcface else None
            for name, method in methods.items():
                out = method(occluded, mask)
                if arcface:
                    scores[name]['arcface_cos'] += (arcface(out, landmarks) * clean).sum(1).tolist()
                for x, t in zip(out.permute(0, 2, 3, 1).numpy(), images.permute(0, 2, 3, 1).numpy()):
                    scores[name]['psnr'].append(psnr(x, t))
                    scores[name]['ssim'].append(structural_similarity(x, t, channel_axis=2, data_range=1.0))
        print(f'{idx[-1] + 1}/{len(val)} faces', flush=True)
    summary = {m: {k: round(float(np.mean(v)), 4) for k, v in s.items()} for m, s in scores.items()}
    report = {'prior': str(a.prior), 'val_faces': len(val), 'hole': '48x48 seeded (idgan.data.fixed_holes)',
              'seconds': round(time.time() - started), 'methods': summary,
              'fine_detail_symmetry': {'mean': round(float(np.mean(symmetry)), 4),
                                       'quartiles': [round(float(q), 4) for q in np.percentile(symmetry, [25, 50, 75])]}}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(report, indent=2) + '\n')
    for name, s in summary.items():
        print(f'{name:48s} ' + '  '.join(f'{k} {v}' for k, v in s.items()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
