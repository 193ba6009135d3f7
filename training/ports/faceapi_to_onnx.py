#!/usr/bin/env python3
"""Ports face-api's FaceLandmark68Net and FaceRecognitionNet (npm @vladmandic/face-api 1.7.15, tfjs)
to ONNX for onnxruntime-node, into models/faceapi/:

    /usr/bin/python3 training/ports/faceapi_to_onnx.py [--package node_modules/@vladmandic/face-api] [--out models/faceapi] [--no-check]

landmark68.onnx   image N×3×112×112 → landmarks N×136   (training/ports/faceapi_landmarks.py)
recognizer.onnx   image N×3×150×150 → descriptor N×128  (training/idgan/recognizer.py)

Both take raw RGB, 0–255 float32, NCHW; face-api's normalisation, (v − mean RGB) / 255, is inside the
graph. Opset 17, free batch N. The landmark output is the net's raw output (x, y interleaved, fractions
of the 112×112 input); face-api's crop, pad-to-square, resize and the mapping back to the image are the
service's (src/models/faceapi/landmarks-onnx.ts). Each file records the sha256 of the tfjs weights it
was made from in its metadata (`unmask.source`).

Unless --no-check, each exported file is run in onnxruntime-node (training/ports/onnx_check.ts) on a
batch of 3 and compared with PyTorch. Copies the package's LICENSE and writes PROVENANCE.md.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

PORTS_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(PORTS_DIR))
sys.path.insert(0, str(PORTS_DIR.parent))

from faceapi_landmarks import FaceLandmark68Net  # noqa: E402
from idgan.recognizer import REPO_ROOT, FaceRecognitionNet  # noqa: E402

OPSET = 17
PACKAGE_NAME = '@vladmandic/face-api'
PACKAGE_VERSION = '1.7.15'
DEFAULT_PACKAGE = REPO_ROOT / 'node_modules' / '@vladmandic' / 'face-api'
DEFAULT_OUT = REPO_ROOT / 'models' / 'faceapi'
COMMAND = '/usr/bin/python3 training/ports/faceapi_to_onnx.py'
# onnxruntime against PyTorch on the same float32 input: both float32 convolutions, summed in other orders.
CHECK_TOLERANCE = {'landmark68': 1e-4, 'recognizer': 1e-4}


@dataclass(frozen=True)
class Port:
    name: str
    what: str
    weights: str  # the tfjs model name in the package's model/ folder
    size: int
    output: str
    outputs: int
    build: Callable[[], nn.Module]
    doc: str


PORTS = (
    Port('landmark68', "face-api's FaceLandmark68Net (68 points)", 'face_landmark_68_model', 112, 'landmarks', 136,
         FaceLandmark68Net,
         "face-api's FaceLandmark68Net. image: N×3×112×112 RGB 0–255 float32 (the face cut out of the image, "
         "zero-padded to a square, resized bilinearly as tf.image.resizeBilinear); landmarks: N×136, x, y of the "
         "68 points (iBUG order) interleaved, as fractions of the 112×112 input. Normalisation (v − mean RGB) / 255 inside."),
    Port('recognizer', "face-api's FaceRecognitionNet (128-D descriptor)", 'face_recognition_model', 150, 'descriptor', 128,
         FaceRecognitionNet,
         "face-api's FaceRecognitionNet (dlib ResNet-29). image: N×3×150×150 RGB 0–255 float32, a dlib chip "
         "(FACEAPI_RECOGNIZER_TEMPLATE dlib-150-p0.25); descriptor: N×128, not normalised (face-api's "
         "computeFaceDescriptor). Normalisation (v − mean RGB) / 255 inside."),
)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def source_files(package: Path, port: Port) -> dict[str, str]:
    """The tfjs manifest and every weights file it names, with their sha256."""
    manifest = package / 'model' / f'{port.weights}-weights_manifest.json'
    if not manifest.is_file():
        raise FileNotFoundError(f'no {manifest}: run `npm ci` in the repository root ({PACKAGE_NAME} brings the weights)')
    names = [manifest.name] + [p for group in json.loads(manifest.read_text()) for p in group['paths']]
    return {name: sha256(package / 'model' / name) for name in names}


def load_net(package: Path, port: Port) -> nn.Module:
    net = port.build().load_tfjs(package / 'model' / f'{port.weights}-weights_manifest.json').eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def export(net: nn.Module, port: Port, out: Path, metadata: dict[str, object]) -> Path:
    """Writes `net` as ONNX (opset 17, free batch N), with `metadata` in metadata_props, and checks the graph."""
    import onnx

    out.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    example = torch.full((1, 3, port.size, port.size), 128.0)
    with torch.no_grad(), warnings.catch_warnings():
        # The nets' shape checks are Python comparisons of static sides; the trace warns about them.
        warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)
        # torch 1.13 warns about shape inference of constants it then exports correctly; the check below is the proof.
        warnings.filterwarnings('ignore', category=UserWarning, module=r'torch\.onnx')
        torch.onnx.export(net, (example,), buffer, input_names=['image'], output_names=[port.output],
                          dynamic_axes={'image': {0: 'N'}, port.output: {0: 'N'}}, opset_version=OPSET,
                          do_constant_folding=True)
    model = onnx.load_from_string(buffer.getvalue())
    model.doc_string = port.doc
    model.producer_name = 'unmask training/ports/faceapi_to_onnx.py'
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    onnx.checker.check_model(model, full_check=True)
    tmp = out.with_name(out.name + '.tmp')
    onnx.save(model, str(tmp))
    os.replace(tmp, out)  # a file at the final name is always a whole model
    return out


def check_inputs(port: Port, batch: int = 3, seed: int = 0) -> torch.Tensor:
    """A batch on the byte grid: a smooth gradient (face-like ranges) and two noise images."""
    g = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(0, 255, port.size)
    smooth = torch.stack([ramp[None, :].expand(port.size, -1), ramp[:, None].expand(-1, port.size),
                          (ramp[None, :] + ramp[:, None]).expand(port.size, port.size) / 2]).round()
    noise = torch.randint(0, 256, (batch - 1, 3, port.size, port.size), generator=g).float()
    return torch.cat([smooth[None], noise])


def check_in_node(net: nn.Module, port: Port, model: Path) -> float:
    """Runs `model` in onnxruntime-node on a batch of 3 and returns the largest difference from PyTorch."""
    if shutil.which('npx') is None:
        raise RuntimeError('no npx to run onnxruntime-node: install Node 20 and `npm ci`, or pass --no-check')
    x = check_inputs(port)
    with torch.no_grad():
        expected = net(x).numpy().astype('<f4')
    with tempfile.TemporaryDirectory() as tmp:
        inp, exp = Path(tmp) / 'input.f32', Path(tmp) / 'expected.f32'
        x.numpy().astype('<f4').tofile(inp)
        expected.tofile(exp)
        result = subprocess.run(['npx', 'tsx', str(PORTS_DIR / 'onnx_check.ts'), str(model), str(inp),
                                 ','.join(map(str, x.shape)), str(exp)],
                                cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f'onnx_check.ts failed on {model}:\n{result.stdout}\n{result.stderr}')
    return float(json.loads(result.stdout.strip().splitlines()[-1])['maxAbsDiff'])


def write_provenance(out: Path, package: Path, rows: list[tuple[Port, dict[str, str], str]]) -> None:
    meta = json.loads((package / 'package.json').read_text())
    repo = meta.get('repository', {})
    lines = [
        '# Provenance of models/faceapi/',
        '',
        f'Ported from the npm package `{meta["name"]}` {meta["version"]} (licence: {meta["license"]}; `LICENSE` here is the',
        f"package's own; repository {repo.get('url', repo) if isinstance(repo, dict) else repo}): its tfjs weights",
        '(`model/*-weights_manifest.json` + `.bin`), rebuilt as PyTorch modules that follow face-api\'s source and exported',
        f'to ONNX (opset {OPSET}, free batch N, input raw RGB 0–255 float32 NCHW, face-api\'s (v − mean RGB) / 255 inside). Made by',
        '',
        f'    {COMMAND}',
        '',
        'with torch ' + torch.__version__ + '. `unmask.source` in each file\'s metadata holds the sha256 of the weights it was made from.',
        '',
        '| model | what | source (sha256) | file here sha256 |',
        '|---|---|---|---|',
    ]
    for port, sources, digest in rows:
        src = '<br>'.join(f'`{name}` `{h}`' for name, h in sources.items())
        lines.append(f'| `{port.name}.onnx` | {port.what} | {src} | `{digest}` |')
    lines += ['', 'The PyTorch modules: `training/ports/faceapi_landmarks.py` (FaceLandmark68Net) and',
              '`training/idgan/recognizer.py` (FaceRecognitionNet). Parity with face-api on tfjs:',
              '`npx vitest run test/integration/faceapi-onnx.test.ts`.', '']
    (out / 'PROVENANCE.md').write_text('\n'.join(lines))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--package', default=str(DEFAULT_PACKAGE), help=f'the installed {PACKAGE_NAME} folder')
    p.add_argument('--out', default=str(DEFAULT_OUT), help='where the ONNX files go (default models/faceapi)')
    p.add_argument('--only', choices=[port.name for port in PORTS], action='append',
                   help='export only this model (PROVENANCE.md is rewritten only when both are exported)')
    p.add_argument('--no-check', action='store_true', help='skip the onnxruntime-node check')
    a = p.parse_args(argv)
    package, out = Path(a.package), Path(a.out)
    meta = json.loads((package / 'package.json').read_text())
    if meta.get('name') != PACKAGE_NAME:
        print(f'{package} is not {PACKAGE_NAME}', file=sys.stderr)
        return 1
    if meta.get('version') != PACKAGE_VERSION:
        print(f'warning: {PACKAGE_NAME} is {meta.get("version")}, the port follows {PACKAGE_VERSION}\'s source', file=sys.stderr)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for port in PORTS:
        if a.only and port.name not in a.only:
            continue
        sources = source_files(package, port)
        net = load_net(package, port)
        model = export(net, port, out / f'{port.name}.onnx', {
            'unmask.source': {'package': meta['name'], 'version': meta['version'], 'sha256': sources},
            'unmask.input': f'image N×3×{port.size}×{port.size} RGB 0–255 float32 NCHW',
            'unmask.normalisation': '(v − [122.782, 117.001, 104.298]) / 255, in the graph',
            'unmask.made_by': COMMAND,
        })
        digest = sha256(model)
        line = f'wrote {model} ({model.stat().st_size / 1e6:.1f} MB, sha256 {digest})'
        if not a.no_check:
            diff = check_in_node(net, port, model)
            if not diff <= CHECK_TOLERANCE[port.name]:
                print(f'{model}: onnxruntime-node differs from PyTorch by {diff:g} (tolerance {CHECK_TOLERANCE[port.name]:g})', file=sys.stderr)
                return 1
            line += f'; onnxruntime-node vs PyTorch, batch 3: max |diff| {diff:.2e}'
        print(line)
        rows.append((port, sources, digest))
    shutil.copyfile(package / 'LICENSE', out / 'LICENSE')
    if not a.only:
        write_provenance(out, package, rows)
    return 0


if __name__ == '__main__':
    sys.exit(main())
