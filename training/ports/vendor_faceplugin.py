#!/usr/bin/env python3
"""Vendors the three ONNX models the service uses from npm `faceplugin-face-recognition-js` 0.0.1
into models/faceplugin/, so that the package (and the ~540 packages it pulls in) is not needed.

    /usr/bin/python3 training/ports/vendor_faceplugin.py --package node_modules/faceplugin-face-recognition-js

fr_detect.onnx and fr_landmark.onnx are copied byte for byte. fr_feature.onnx (the 512-D ArcFace-style
recognizer) was exported with a fixed batch of 1: its input and output get a free batch dimension N,
and its final Reshape to [1, -1] becomes [-1, 512], so that faces of several cameras run in one call.
Nothing else in the graph changes (test/integration/faceplugin-models.test.ts checks a batch against
single runs). Writes models/faceplugin/PROVENANCE.md with the sha256 of every source and output file.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

OUT = Path(__file__).resolve().parents[2] / 'models' / 'faceplugin'
COPIED = ('fr_detect', 'fr_landmark')
EMBEDDING_DIMS = 512


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def free_batch_recognizer(source: Path, target: Path) -> None:
    model = onnx.load(str(source))
    graph = model.graph
    if len(graph.input) != 1 or len(graph.output) != 1:
        raise ValueError(f'{source}: expected one input and one output')
    reshapes = [n for n in graph.node if n.op_type == 'Reshape']
    if len(reshapes) != 1 or reshapes[0].output[0] != graph.output[0].name:
        raise ValueError(f'{source}: expected a single final Reshape, the graph has {len(reshapes)}')
    shape_name = reshapes[0].input[1]
    for i, init in enumerate(graph.initializer):
        if init.name == shape_name:
            if numpy_helper.to_array(init).tolist() != [1, -1]:
                raise ValueError(f'{source}: the final Reshape is to {numpy_helper.to_array(init).tolist()}, expected [1, -1]')
            graph.initializer[i].CopyFrom(numpy_helper.from_array(np.array([-1, EMBEDDING_DIMS], dtype=np.int64), shape_name))
            break
    else:
        raise ValueError(f'{source}: the Reshape target shape {shape_name} is not an initializer')
    graph.input[0].type.tensor_type.shape.dim[0].dim_param = 'N'
    graph.output[0].type.tensor_type.shape.dim[0].dim_param = 'N'
    del graph.value_info[:]  # inferred shapes held batch 1; onnxruntime infers them again
    model.metadata_props.add(key='unmask.source', value=json.dumps({'file': 'fr_feature.onnx', 'sha256': sha256(source),
                                                                      'change': 'free batch dimension N'}))
    onnx.checker.check_model(model)
    onnx.save(model, str(target))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--package', required=True, help='the installed npm package folder')
    a = p.parse_args(argv)
    package = Path(a.package)
    meta = json.loads((package / 'package.json').read_text())
    if meta.get('name') != 'faceplugin-face-recognition-js':
        print(f'{package} is not faceplugin-face-recognition-js', file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in COPIED:
        source, target = package / 'model' / f'{name}.onnx', OUT / f'{name}.onnx'
        shutil.copyfile(source, target)
        rows.append((name, sha256(source), sha256(target), 'copied unchanged'))
    source, target = package / 'model' / 'fr_feature.onnx', OUT / 'fr_feature.onnx'
    free_batch_recognizer(source, target)
    rows.append(('fr_feature', sha256(source), sha256(target), 'free batch dimension N (final Reshape [1, -1] → [-1, 512])'))
    shutil.copyfile(package / 'LICENSE', OUT / 'LICENSE')
    lines = [
        '# Provenance of models/faceplugin/',
        '',
        f'From the npm package `{meta["name"]}` {meta["version"]} (licence: {meta["license"]}, `LICENSE` here is the',
        f'package\'s own; repository {meta["repository"]["url"]}). Made by',
        '`/usr/bin/python3 training/ports/vendor_faceplugin.py --package node_modules/faceplugin-face-recognition-js`.',
        '',
        '| model | what the service uses it for | source sha256 | file here sha256 | change |',
        '|---|---|---|---|---|',
    ]
    uses = {'fr_detect': 'face boxes (RFB-320) on camera frames and photos',
            'fr_landmark': '68 landmarks of masked faces (occlusion crop, upper-face eyes)',
            'fr_feature': 'the 512-D recognizer (ArcFace-style MobileFaceNet, 112×112)'}
    for name, src, dst, change in rows:
        lines.append(f'| `{name}.onnx` | {uses[name]} | `{src}` | `{dst}` | {change} |')
    (OUT / 'PROVENANCE.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))
    return 0


if __name__ == '__main__':
    sys.exit(main())
