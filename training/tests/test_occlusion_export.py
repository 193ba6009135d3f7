"""The occlusion segmenter's ONNX export: the graph's contract, and parity through onnxruntime-node.

`test_parity_fixture` leaves a tiny random model's fixture in var/occlusion-parity/tiny-random for
test/integration/occlusion-onnx.test.ts."""
import json
import shutil
from pathlib import Path

import onnx
import pytest
import torch

from occlusion.export_occlusion import PARITY_TOLERANCE, REPO_ROOT, check_in_node, export, write_parity_fixture
from occlusion.network import OcclusionNet

TINY = REPO_ROOT / 'var' / 'occlusion-parity' / 'tiny-random'


def tiny_net() -> OcclusionNet:
    torch.manual_seed(0)
    net = OcclusionNet(width=4)
    # Trained-looking batch statistics, so that BatchNorm folding is exercised, not the identity.
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    return net.eval()


def test_export_has_a_free_batch_and_the_service_names(tmp_path):
    model = export(tiny_net(), tmp_path / 'seg.onnx', {'unmask.template': 'dlib-128-p0.35'})
    graph = onnx.load(str(model)).graph
    (image,), (occlusion,) = graph.input, graph.output
    assert (image.name, occlusion.name) == ('image', 'occlusion')
    dims = lambda v: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]  # noqa: E731
    assert dims(image) == ['batch', 3, 128, 128] and dims(occlusion) == ['batch', 1, 128, 128]


def test_parity_fixture():
    TINY.mkdir(parents=True, exist_ok=True)
    net = tiny_net()
    model = export(net, TINY / 'model.onnx')
    fixture = write_parity_fixture(net, model, TINY)
    meta = json.loads((fixture / 'meta.json').read_text())
    assert meta['batch'] == 3 and meta['tolerance'] == PARITY_TOLERANCE
    if shutil.which('npx') is None:
        pytest.skip('no node here to run the fixture through onnxruntime-node')
    assert check_in_node(fixture) <= PARITY_TOLERANCE
