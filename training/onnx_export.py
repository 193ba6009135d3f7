"""What the ONNX exports share (export_onnx.py: the ID-GAN generator; export_prior.py: the face prior;
occlusion/export_occlusion.py: the segmenter): the error a user can act on, the parity check of an
exported file through onnxruntime-node, the runtime the service loads it with, and storing large
weights at half precision.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


HALF_PRECISION_MIN_VALUES = 1_000_000


def store_large_weights_as_half(model, names: set[str]) -> list[str]:
    """Stores the named float initializers (those of a million values or more) as float16, each read
    back through a Cast to float32 that onnxruntime folds at load: the file is half the size, the
    graph computes as before on the rounded values. The caller rounds them the same way in PyTorch
    (round_to_half), so that the parity check compares like with like. Returns what was stored so."""
    from onnx import TensorProto, helper, numpy_helper
    stored = []
    for init in list(model.graph.initializer):
        count = 1
        for d in init.dims:
            count *= d
        if init.name not in names or init.data_type != TensorProto.FLOAT or count < HALF_PRECISION_MIN_VALUES:
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype('float16'), init.name + '.float16')
        model.graph.initializer.remove(init)
        model.graph.initializer.append(half)
        model.graph.node.insert(0, helper.make_node('Cast', [half.name], [init.name], to=TensorProto.FLOAT))
        stored.append(init.name)
    return stored


def round_to_half(tensor):
    """The values a float16 initializer gives back (see store_large_weights_as_half), in place."""
    return tensor.copy_(tensor.half().float())


class ExportError(Exception):
    """Something the user can fix: a wrong checkpoint, a failed parity check."""


def check_in_node(tool: str, fixture: Path) -> float:
    """Runs the fixture's model through onnxruntime-node with `tool` (a tsx script); the largest abs difference."""
    if shutil.which('npx') is None:
        raise ExportError('no node/npx on the PATH to run the parity check through onnxruntime-node '
                          '(install Node 20 and `npm ci`, or pass --skip-node-check)')
    result = subprocess.run(['npx', 'tsx', tool, str(fixture.resolve())], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise ExportError(f'{tool} failed:\n{result.stdout}{result.stderr}')
    try:
        return float(json.loads(result.stdout.strip().splitlines()[-1])['maxAbsDiff'])
    except (IndexError, ValueError, KeyError) as err:
        raise ExportError(f'{tool} printed no result ({err}):\n{result.stdout}{result.stderr}') from err


def verify_in_node(model: Path, fixture: Path, tool: str, tolerance: float, skip: bool) -> None:
    """The exported `model` checked against PyTorch's outputs in `fixture`; removed (and an error) when it differs."""
    if skip:
        print('parity through onnxruntime-node NOT checked (--skip-node-check)')
        return
    diff = check_in_node(tool, fixture)
    if not diff <= tolerance:
        model.unlink()
        raise ExportError(f'onnxruntime-node differs from PyTorch by up to {diff:.3g} (allowed {tolerance}): '
                          f'the export is wrong, {model} removed (the fixture in {fixture} shows the case)')
    print(f'onnxruntime-node matches PyTorch: max abs difference {diff:.3g} (allowed {tolerance})')
