#!/usr/bin/env python3
"""Fit the Gaussian face prior (training/idgan/prior.py) on the aligned set's training faces.

    /usr/bin/python3 training/fit_prior.py --data ~/.cache/unmask/celeba-aligned --out ~/.cache/unmask/runs/prior/prior.pt

Only the training split is read (the identities train.py trains on), so the validation faces that
eval_generators.py scores stay unseen. One truncated SVD: a few minutes on two cores. Export it for
the service with training/export_prior.py.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from idgan.data import read_index  # noqa: E402
from idgan.prior import DEFAULT_COMPONENTS, DEFAULT_NOISE, PRIOR_SIZE, FacePrior, fit_prior, save_prior, shrink  # noqa: E402


def read_faces(records, every: int = 1000) -> np.ndarray:
    """N×64×64×3 float faces in [0, 1], shrunk as the prior shrinks them."""
    out = np.empty((len(records), PRIOR_SIZE, PRIOR_SIZE, 3), np.float32)
    for i, record in enumerate(records):
        image = cv2.imread(str(record.image), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f'cannot read {record.image}')
        rgb = torch.from_numpy(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)).permute(2, 0, 1)[None].float() / 255
        out[i] = shrink(rgb)[0].permute(1, 2, 0).numpy()
        if (i + 1) % every == 0:
            print(f'{i + 1}/{len(records)} faces read', flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', required=True, help='aligned set folder (index.csv + PNGs)')
    p.add_argument('--out', required=True, help='where the prior goes (.pt)')
    p.add_argument('--components', type=int, default=DEFAULT_COMPONENTS)
    p.add_argument('--noise', type=float, default=DEFAULT_NOISE, help='σ² of the fit to the known pixels')
    p.add_argument('--mirror', action='store_true', help="fit on each face and its mirror image (idgan.prior.fit_prior)")
    p.add_argument('--threads', type=int, default=2)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    started = time.time()
    records = [r for r in read_index(a.data) if r.split == 'train']
    if len(records) <= a.components:
        p.error(f'{a.data} has {len(records)} training faces: too few for {a.components} components')
    faces = read_faces(records)
    fitted = fit_prior(faces, a.components, mirror=a.mirror)
    prior = FacePrior(fitted['mean'], fitted['basis'], fitted['variance'], noise=a.noise)
    explained = float(fitted['variance'].sum() / faces.reshape(len(faces), -1).var(0).sum())  # of the faces as read
    info = {'data': str(a.data), 'faces': fitted['faces'], 'identities': len({r.identity for r in records}),
            'components': a.components, 'mirror': a.mirror, 'explained_variance': explained, 'seconds': round(time.time() - started, 1)}
    save_prior(prior, a.out, info)
    print(f'face prior: {a.components} components of {fitted["faces"]} training faces, '
          f'{100 * explained:.1f} % of their variance, in {info["seconds"]} s → {a.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
