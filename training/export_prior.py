#!/usr/bin/env python3
"""Export the Gaussian face prior (training/fit_prior.py) to ONNX for the service.

    /usr/bin/python3 training/export_prior.py --prior ~/.cache/unmask/runs/prior/prior.pt --components 800 \\
        --noise 0.02 --out models/face-prior.onnx

The model has the generator's contract (image, mask → inpainted; src/repair/idgan.ts), so the
service loads it as `inpaint.model`. Its batch is fixed at 1: each face's hole picks its own columns
of the basis, and the service runs a batch face by face. The solve is unrolled conjugate gradient
(idgan/prior.py); before writing, the script measures on seeded holes over real-looking data how far
that is from the exact solve, and the parity fixture checks onnxruntime-node against PyTorch.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from export_onnx import NODE_PARITY_TOOL, OPSET, PARITY_TOLERANCE, load_checked_prior, write_parity_fixture  # noqa: E402
from idgan.holes import IMAGE_SIZE, hole_masks  # noqa: E402
from idgan.prior import FacePrior  # noqa: E402
from onnx_export import ExportError, round_to_half, store_large_weights_as_half, verify_in_node  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]


def export(prior: FacePrior, out: Path, metadata: dict) -> Path:
    import onnx

    out.parent.mkdir(parents=True, exist_ok=True)
    prior = prior.eval()
    prior.export_mode = True
    with torch.no_grad():
        round_to_half(prior.basis)  # stored at half precision below: PyTorch computes on the same values
    image = torch.rand(1, 3, IMAGE_SIZE, IMAGE_SIZE)
    mask = hole_masks(torch.tensor([[40, 40]]))
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings('ignore', category=UserWarning, module=r'torch\.onnx')
        warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)
        torch.onnx.export(prior, (image, mask), buffer, input_names=['image', 'mask'], output_names=['inpainted'],
                          opset_version=OPSET, do_constant_folding=True)
    model = onnx.load_from_string(buffer.getvalue())
    store_large_weights_as_half(model, {'basis'})
    model.doc_string = ('Gaussian face prior (unmask training/idgan/prior.py): the hole filled with the conditional mean of a '
                        'rank-n Gaussian of aligned faces at 64×64. image: 1×3×128×128 RGB in [0,1], crop aligned with '
                        'INPAINT_TEMPLATE dlib-128-p0.35; mask: 1×1×128×128, 1 = hole; inpainted: composited. One face a run.')
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)
    onnx.checker.check_model(model, full_check=True)
    tmp = out.with_name(out.name + '.tmp')
    onnx.save(model, str(tmp))
    os.replace(tmp, out)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--prior', required=True, help='a prior of training/fit_prior.py (.pt)')
    p.add_argument('--components', type=int, help='keep the first N components (default: all)')
    p.add_argument('--noise', type=float, help='σ² (default: the one it was fitted with)')
    p.add_argument('--cg-steps', type=int, help='conjugate-gradient steps unrolled into the graph')
    p.add_argument('--mirror-detail', type=float, default=0.0,
                   help='weight of the detail mirrored from the known side (idgan.prior.mirrored_detail; 0: none)')
    p.add_argument('--out', required=True)
    p.add_argument('--fixture', help='parity fixture folder (default var/onnx-parity/<name of --out>)')
    p.add_argument('--skip-node-check', action='store_true')
    a = p.parse_args(argv)
    torch.set_num_threads(2)
    try:
        prior, gap = load_checked_prior(a.prior, a.components, a.noise, a.cg_steps)
        print(f'unrolled solve ({prior.cg_steps} steps) vs exact: max abs difference {gap:.2g} on seeded holes')
        prior.mirror_detail = a.mirror_detail
        # A fit_prior.py file says how it was fitted; a generator's export holds no such record.
        info = {'from': str(a.prior)} if a.prior.endswith('.onnx') else torch.load(a.prior, map_location='cpu').get('info', {})
        out = export(prior, Path(a.out), {'unmask.template': 'dlib-128-p0.35', 'unmask.input_range': '0..1',
                                           'unmask.prior': {**info, 'components': prior.components, 'noise': prior.noise,
                                                            'cg_steps': prior.cg_steps, 'solver_gap': gap,
                                                            'mirror_detail': prior.mirror_detail, 'detail_sigma': prior.detail_sigma}})
        fixture = write_parity_fixture(prior, out, a.fixture or REPO_ROOT / 'var' / 'onnx-parity' / out.stem)
        print(f'wrote {out} (opset {OPSET}, {out.stat().st_size / 1e6:.1f} MB, {prior.components} components, '
              f'σ² {prior.noise}); parity fixture in {fixture}')
        verify_in_node(out, fixture, NODE_PARITY_TOOL, PARITY_TOLERANCE, a.skip_node_check)
    except ExportError as err:
        print(f'export_prior.py: {err}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
