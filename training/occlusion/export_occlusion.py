"""Export the occlusion segmenter to ONNX for the service, and prove it gives PyTorch's output.

    /usr/bin/python3 training/occlusion/export_occlusion.py --checkpoint var/runs/occlusion/best.pt \
        --out models/occlusion-seg.onnx

The model's contract (src/models/occlusion/onnx.ts checks it at load):
    image      float32 N×3×128×128  RGB bytes / 255, the face aligned with INPAINT_TEMPLATE
    occlusion  float32 N×1×128×128  probability that the pixel is covered (0…1)
The batch is free. Parity: a seeded fixture (held-out-like synthetic faces and noise, batch 3) is run
through PyTorch and through onnxruntime-node (training/occlusion/onnx_parity.ts, the service's own
loader); the largest absolute difference must be at most 1e-4, or the ONNX file is removed. The fixture
stays in --fixture (default var/occlusion-parity/<model name>/) for test/integration/occlusion-onnx.test.ts.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from occlusion.network import OcclusionNet, OcclusionProbability  # noqa: E402
from occlusion.onnx_init import net_from_onnx  # noqa: E402
from occlusion.synth import IMAGE_SIZE  # noqa: E402
from onnx_export import ExportError, verify_in_node  # noqa: E402
from onnx_export import check_in_node as check_in_node_with  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
OPSET = 13
PARITY_TOLERANCE = 1e-4
FIXTURE_BATCH = 3
NODE_PARITY_TOOL = 'training/occlusion/onnx_parity.ts'


def load_segmenter(path: str | Path) -> tuple[OcclusionNet, dict]:
    """A run's checkpoint (best.pt, checkpoint.pt) or an exported models/occlusion-seg.onnx."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f'no checkpoint at {path}: train first (training/occlusion/train_occlusion.py writes OUT/best.pt)')
    if path.suffix == '.onnx':
        # An exported segmenter (its run gone): exact in eval mode whatever the calibration batch.
        net, info = net_from_onnx(path, torch.rand(8, 3, IMAGE_SIZE, IMAGE_SIZE))
        return net.eval(), {'step': info.get('step'), 'width': info['width'], 'scores': info.get('scores')}
    state = torch.load(path, map_location='cpu')
    if not isinstance(state, dict) or 'net' not in state or 'width' not in state:
        raise ExportError(f'{path} is not a checkpoint of train_occlusion.py (no "net" and "width")')
    net = OcclusionNet(state['width'])
    net.load_state_dict(state['net'])
    info = {'step': state.get('step'), 'width': state['width'], 'scores': state.get('scores')}
    return net.eval(), info


def export(net: OcclusionNet, out: str | Path, metadata: dict | None = None) -> Path:
    """Writes the probability model with a free batch dimension, traced at batch 1."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model = OcclusionProbability(net).eval()
    tmp = out.with_suffix('.tmp.onnx')
    with warnings.catch_warnings():
        # torch 1.13 warns about shape inference of constants it then exports correctly; parity is the proof.
        warnings.simplefilter('ignore')
        torch.onnx.export(model, torch.rand(1, 3, IMAGE_SIZE, IMAGE_SIZE), str(tmp), input_names=['image'],
                          output_names=['occlusion'], opset_version=OPSET,
                          dynamic_axes={'image': {0: 'batch'}, 'occlusion': {0: 'batch'}})
    proto = onnx.load(str(tmp))
    for key, value in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(tmp))
    tmp.replace(out)
    return out


def parity_inputs(seed: int = 0, batch: int = FIXTURE_BATCH) -> torch.Tensor:
    """Seeded byte images / 255: smooth face-like blobs with a block on some, and plain noise."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (batch, IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.float32)
    ys, xs = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE]
    for n in range(1, batch):   # the first stays noise; the others get a skin-toned oval and a grey block
        face = ((xs - 64) / 40) ** 2 + ((ys - 64) / 52) ** 2 < 1
        images[n][face] = images[n][face] * 0.2 + np.array([200, 150, 120]) * 0.8
        top, left = rng.integers(20, 80, 2)
        images[n, top:top + 40, left:left + 40] = rng.integers(60, 200)
    # Whole bytes, as the service's crops are: the Node test feeds the same faces as bytes.
    return torch.from_numpy(np.round(images)).permute(0, 3, 1, 2).contiguous() / 255


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_parity_fixture(net: OcclusionNet, model: Path, fixture: str | Path, seed: int = 0) -> Path:
    """DIR/image.f32 and expected.f32 (little-endian float32, N×C×128×128) and meta.json."""
    fixture = Path(fixture)
    fixture.mkdir(parents=True, exist_ok=True)
    image = parity_inputs(seed)
    with torch.no_grad():
        expected = OcclusionProbability(net).eval()(image)
    image.numpy().astype('<f4').tofile(fixture / 'image.f32')
    expected.numpy().astype('<f4').tofile(fixture / 'expected.f32')
    meta = {
        'model': os.path.relpath(model.resolve(), fixture.resolve()),
        'model_sha256': sha256(model),
        'batch': image.shape[0], 'size': IMAGE_SIZE, 'seed': seed,
        'files': {'image': 'image.f32', 'expected': 'expected.f32'},
        'dtype': 'float32 little-endian, N×C×H×W', 'tolerance': PARITY_TOLERANCE, 'torch': torch.__version__,
    }
    (fixture / 'meta.json').write_text(json.dumps(meta, indent=1) + '\n')
    return fixture


def check_in_node(fixture: Path) -> float:
    """Runs the fixture's model through onnxruntime-node (the service's runtime); the largest abs difference."""
    return check_in_node_with(NODE_PARITY_TOOL, fixture)

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--checkpoint', default='var/runs/occlusion/best.pt')
    p.add_argument('--out', default='models/occlusion-seg.onnx')
    p.add_argument('--fixture', help='parity fixture folder (default var/occlusion-parity/<name of --out>)')
    p.add_argument('--skip-node-check', action='store_true', help='write the fixture but do not run it in Node')
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    torch.set_num_threads(1)
    try:
        net, info = load_segmenter(a.checkpoint)
        model = export(net, a.out, {'unmask.template': 'dlib-128-p0.35', 'unmask.input_range': '0..1',
                                    'unmask.output': 'occlusion probability', 'unmask.training': info})
        fixture = write_parity_fixture(net, model, a.fixture or REPO_ROOT / 'var' / 'occlusion-parity' / model.stem)
        print(f'wrote {model} (opset {OPSET}, {model.stat().st_size / 1e6:.2f} MB) from {a.checkpoint} '
              f'(step {info["step"]}, width {info["width"]}); parity fixture in {fixture}')
        verify_in_node(model, fixture, NODE_PARITY_TOOL, PARITY_TOLERANCE, a.skip_node_check)
    except ExportError as err:
        print(f'export_occlusion.py: {err}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
