#!/usr/bin/env python3
"""Export ID-GAN's generator I to ONNX for the TypeScript service (src/models/inpaint/onnx.ts).

    /usr/bin/python3 training/export_onnx.py --checkpoint var/runs/wid/generator-best.pt --out models/idgan-inpaint.onnx

--checkpoint takes OUT/generator-best.pt or OUT/checkpoint.pt of train.py. The model (opset 17,
free batch dimension) is:

    image      float32 N×3×128×128  RGB in [0, 1] (byte / 255), the 128×128 crop aligned with the
                                    service's INPAINT_TEMPLATE ('dlib-128-p0.35'), no other
                                    normalisation; the hole may hold anything: the generator fills it
                                    with white itself, as in training (X̃)
    mask       float32 N×1×128×128  1 inside the hole, 0 on known pixels
    inpainted  float32 N×3×128×128  RGB in [0, 1], composited X̃⊙(1−M) + I(X̃, M)⊙M: known pixels
                                    are the input's own

After the export the graph is checked (onnx.checker) and run through onnxruntime-node, the runtime
the service uses, on a parity fixture: seeded faces with 48×48 holes at batch 3 (the export traced
batch 1, so this also proves the batch is free). The largest absolute difference from PyTorch must
be at most 1e-4. The fixture stays in --fixture (default var/onnx-parity/<model name>/), where
test/integration/inpaint-onnx.test.ts checks it again.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from idgan.holes import HOLE_SIZE, IMAGE_SIZE, fill_white, hole_masks, random_holes  # noqa: E402
from idgan.networks import InpaintNet, generator_config  # noqa: E402
from idgan.prior import SOLVER_TOLERANCE, FacePrior, load_prior, solver_gap  # noqa: E402
from idgan.refine import load_refiner  # noqa: E402
from onnx_export import ExportError, round_to_half, store_large_weights_as_half, verify_in_node  # noqa: E402
from onnx_export import check_in_node as check_in_node_with  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
OPSET = 17
PARITY_TOLERANCE = 1e-4
INPUT_NAMES = ('image', 'mask')
OUTPUT_NAME = 'inpainted'
FIXTURE_BATCH = 3
NODE_PARITY_TOOL = 'training/tools/onnx_parity.ts'


def load_generator(path: str | Path) -> tuple[InpaintNet, dict]:
    """The generator of a train.py checkpoint (generator-best.pt or checkpoint.pt), in eval mode, and
    what is known of its training (step, width, identity term) for the model's metadata."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f'no checkpoint at {path}: train one with training/train.py (it writes OUT/generator-best.pt '
                          'and OUT/checkpoint.pt)')
    try:
        state = torch.load(path, map_location='cpu', weights_only=False)
    except Exception as err:  # torch raises many kinds for a file that is not a checkpoint
        raise ExportError(f'{path} is not a PyTorch checkpoint: {err}') from err
    if not isinstance(state, dict) or 'generator' not in state:
        keys = ', '.join(map(str, state)) if isinstance(state, dict) else type(state).__name__
        raise ExportError(f'{path} holds no generator (found {keys}): give OUT/generator-best.pt or OUT/checkpoint.pt '
                          'of training/train.py')
    settings = state.get('settings', {})
    width = state.get('width', settings.get('width'))
    if not isinstance(width, int):
        raise ExportError(f'{path} does not say the generator\'s width: it was not written by training/train.py')
    config = generator_config(state)
    generator = InpaintNet(**config)
    try:
        generator.load_state_dict(state['generator'])
    except RuntimeError as err:
        shown = ', '.join(f'{k}={v}' for k, v in config.items() if k == 'width' or v)
        raise ExportError(f'{path}: the generator weights do not fit InpaintNet({shown}): {err}') from err
    total = state.get('total_steps')
    if total is None and state.get('total_steps_before') is not None:
        total = state['total_steps_before'] + state['step']
    info = {'checkpoint': str(path), 'step': state.get('step'), **config,
            'identity_term': state.get('identity_term', settings.get('weights', {}).get('identity_term')),
            'recognizer': state.get('recognizer', settings.get('recognizer'))}
    if total is not None:
        info['total_steps'] = total
    if 'metrics' in state:
        info['metrics'] = state['metrics']
    return generator.eval(), info


def export(generator: InpaintNet, out: str | Path, metadata: dict | None = None) -> Path:
    """Writes the generator as ONNX (image, mask → inpainted, free batch) and checks the graph."""
    import onnx

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    generator = generator.eval()
    image = torch.rand(1, 3, IMAGE_SIZE, IMAGE_SIZE)
    mask = hole_masks(torch.tensor([[40, 40]]))
    buffer = io.BytesIO()
    # A generator on the face prior solves one face at a time (each hole its own basis columns): its
    # graph takes one face a run, which the service runs face by face.
    if generator.prior is not None:
        generator.prior.export_mode = True
        with torch.no_grad():
            round_to_half(generator.prior.basis)  # stored at half precision below
    batch_free = {name: {0: 'batch'} for name in (*INPUT_NAMES, OUTPUT_NAME)} if generator.prior is None else None
    with torch.no_grad(), warnings.catch_warnings():
        # torch 1.13 warns about shape inference of constants it then exports correctly; parity below is the proof.
        warnings.filterwarnings('ignore', category=UserWarning, module=r'torch\.onnx')
        warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)
        torch.onnx.export(generator, (image, mask), buffer, input_names=list(INPUT_NAMES), output_names=[OUTPUT_NAME],
                          dynamic_axes=batch_free, opset_version=OPSET, do_constant_folding=True)
    model = onnx.load_from_string(buffer.getvalue())
    store_large_weights_as_half(model, {'prior.basis'})
    model.doc_string = ('ID-GAN inpainting generator. image: N×3×128×128 RGB in [0,1], crop aligned with '
                        'INPAINT_TEMPLATE dlib-128-p0.35; mask: N×1×128×128, 1 = hole; inpainted: N×3×128×128 in [0,1], '
                        'composited (known pixels unchanged).')
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)
    onnx.checker.check_model(model, full_check=True)
    tmp = out.with_name(out.name + '.tmp')
    onnx.save(model, str(tmp))
    os.replace(tmp, out)  # a file at the final name is always a whole model
    return out


def parity_inputs(seed: int = 0, batch: int = FIXTURE_BATCH) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded inputs as the service makes them: bytes / 255 with the hole filled white, 48×48 holes."""
    rng = torch.Generator().manual_seed(seed)
    image = torch.randint(0, 256, (batch, 3, IMAGE_SIZE, IMAGE_SIZE), generator=rng).float() / 255
    masks = hole_masks(random_holes(batch, rng))
    return fill_white(image, masks), masks


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_parity_fixture(generator: InpaintNet, model: Path, fixture: str | Path, seed: int = 0) -> Path:
    """DIR/image.f32, mask.f32, expected.f32 (little-endian float32, N×C×128×128) and meta.json."""
    fixture = Path(fixture)
    fixture.mkdir(parents=True, exist_ok=True)
    image, mask = parity_inputs(seed)
    with torch.no_grad():
        expected = generator.eval()(image, mask)
    for name, tensor in (('image', image), ('mask', mask), ('expected', expected)):
        tensor.numpy().astype('<f4').tofile(fixture / f'{name}.f32')
    meta = {
        'model': os.path.relpath(model.resolve(), fixture.resolve()),  # relative: survives moving the checkout
        'model_sha256': sha256(model),
        'batch': image.shape[0], 'size': IMAGE_SIZE, 'hole_size': HOLE_SIZE, 'seed': seed,
        'files': {'image': 'image.f32', 'mask': 'mask.f32', 'expected': 'expected.f32'},
        'dtype': 'float32 little-endian, N×C×H×W', 'tolerance': PARITY_TOLERANCE, 'torch': torch.__version__,
    }
    (fixture / 'meta.json').write_text(json.dumps(meta, indent=1) + '\n')
    return fixture


def check_in_node(fixture: Path) -> float:
    """Runs the fixture's model through onnxruntime-node (the service's runtime); the largest abs difference."""
    return check_in_node_with(NODE_PARITY_TOOL, fixture)

def load_checked_prior(path: str | Path, components: int | None, noise: float | None,
                       cg_steps: int | None) -> tuple[FacePrior, float]:
    """The face prior at `path` (cut to `components`, with another σ² or number of solver steps) and the
    largest difference of its unrolled solve, the one an export runs, from the exact one; refused past
    SOLVER_TOLERANCE."""
    try:
        prior = load_prior(path, components, noise)
    except (FileNotFoundError, ValueError) as err:
        raise ExportError(str(err)) from err
    if cg_steps:
        prior.cg_steps = cg_steps
    gap = solver_gap(prior)
    if gap > SOLVER_TOLERANCE:
        raise ExportError(f'{prior.cg_steps} conjugate-gradient steps leave the fill {gap:.2g} from the exact solve '
                          f'(at most {SOLVER_TOLERANCE}): give more --cg-steps')
    return prior, gap


def swap_prior(generator: InpaintNet, info: dict, path: str, components: int | None, noise: float | None,
               cg_steps: int | None) -> None:
    """Replaces the generator's prior with the one at `path` (checked as load_checked_prior does) and records
    the swap in `info` (the model's metadata)."""
    if generator.prior is None:
        raise ExportError('this generator has no prior to replace (it was trained without --prior)')
    prior, gap = load_checked_prior(path, components, noise, cg_steps)
    trained_on = {'components': info.get('prior_components'), 'noise': info.get('prior_noise')}
    generator.replace_prior(prior)
    info.update(prior_components=prior.components, prior_noise=prior.noise,
                prior_swapped={'path': str(path), 'trained_on': trained_on, 'cg_steps': prior.cg_steps, 'solver_gap': gap})


def attach_refiner(generator: InpaintNet, info: dict, path: str, mirror_average: bool = False) -> None:
    """Puts the correction at `path` on the generator's prior and records it in `info`."""
    if generator.prior is None:
        raise ExportError('this generator has no prior for a refiner to correct (it was trained without --prior)')
    try:
        refiner, saved = load_refiner(path)
    except (FileNotFoundError, ValueError) as err:
        raise ExportError(str(err)) from err
    mirror_average = mirror_average or bool(saved.get('mirror_average'))  # a correction trained averaged runs so
    generator.prior.with_refiner(refiner.with_mirror_average(mirror_average))
    info.update(prior_refiner={'path': str(path), 'width': refiner.width, 'step': saved.get('step'),
                               'mirror_average': mirror_average,
                               'selection': saved.get('curve_point'),
                               **({'blend': saved['blend']} if saved.get('blend') else {})})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--checkpoint', required=True, help='OUT/generator-best.pt or OUT/checkpoint.pt of train.py')
    p.add_argument('--out', required=True, help='the ONNX file, e.g. models/idgan-inpaint.onnx')
    p.add_argument('--fixture', help='parity fixture folder (default var/onnx-parity/<name of --out>)')
    p.add_argument('--prior', help="another face prior (training/fit_prior.py) in place of the one the generator "
                                   "was trained on: the prior is not learnt, so one tuned on the selection faces may replace it")
    p.add_argument('--prior-components', type=int, help="--prior's first N components (default: all)")
    p.add_argument('--prior-noise', type=float, help="--prior's σ² (default: the one it was fitted with)")
    p.add_argument('--cg-steps', type=int, help='conjugate-gradient steps of the exported solve (default: the prior\'s)')
    p.add_argument('--prior-refiner', help="a correction of the prior's fill (training/refine_trial.py --save), "
                                           "trained on the prior the generator is exported with")
    p.add_argument('--refiner-mirror-average', action='store_true',
                   help="run the correction on the face and on its mirror image and average the two "
                        "(always for a correction trained so: refine_trial.py --mirror-average)")
    p.add_argument('--skip-node-check', action='store_true',
                   help='write the fixture but do not run it through onnxruntime-node (no node here)')
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    try:
        generator, info = load_generator(a.checkpoint)
        if a.prior:
            swap_prior(generator, info, a.prior, a.prior_components, a.prior_noise, a.cg_steps)
        if a.prior_refiner:
            attach_refiner(generator, info, a.prior_refiner, a.refiner_mirror_average)
        model = export(generator, a.out, {'unmask.template': 'dlib-128-p0.35', 'unmask.input_range': '0..1',
                                          'unmask.training': info})
        fixture = write_parity_fixture(generator, model, a.fixture or REPO_ROOT / 'var' / 'onnx-parity' / model.stem)
        print(f'wrote {model} (opset {OPSET}, {model.stat().st_size / 1e6:.1f} MB) from {a.checkpoint} '
              f'(step {info["step"]}, width {info["width"]}); parity fixture in {fixture}')
        verify_in_node(model, fixture, NODE_PARITY_TOOL, PARITY_TOLERANCE, a.skip_node_check)
    except ExportError as err:
        print(f'export_onnx.py: {err}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
