"""The PyTorch ports of face-api's FaceLandmark68Net and FaceRecognitionNet and their ONNX export
(training/ports/faceapi_to_onnx.py) against a small stored tfjs reference (training/ports/fixtures/faceapi/,
made by `npx tsx training/ports/faceapi_reference.ts`). The ONNX files against tfjs on real photos:
test/integration/faceapi-onnx.test.ts."""
import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from idgan.recognizer import REPO_ROOT, load_recognizer

PACKAGE = REPO_ROOT / 'node_modules' / '@vladmandic' / 'face-api'
if not (PACKAGE / 'model').is_dir():
    pytest.skip(f'no {PACKAGE}/model (face-api\'s tfjs weights): run `npm ci` in the repository root',
                allow_module_level=True)

PORTS_DIR = REPO_ROOT / 'training' / 'ports'
sys.path.insert(0, str(PORTS_DIR))
import faceapi_to_onnx  # noqa: E402
from faceapi_landmarks import DEFAULT_MANIFEST, load_landmark_net, tf_same_pad  # noqa: E402

FIXTURES = PORTS_DIR / 'fixtures' / 'faceapi'
MODELS = REPO_ROOT / 'models' / 'faceapi'


def reference() -> dict:
    return json.loads((FIXTURES / 'reference.json').read_text())


def load_rgb(name: str) -> torch.Tensor:
    return torch.from_numpy(np.asarray(Image.open(FIXTURES / name).convert('RGB'), dtype=np.float32)).permute(2, 0, 1)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope='module')
def landmark_net():
    return load_landmark_net()


def test_same_padding_puts_the_odd_pixel_after_as_tensorflow_does():
    x = torch.zeros(1, 1, 112, 112)
    # Stride 2, 3×3, even side: out = 56 needs 1 pixel, all of it after (PyTorch's padding=1 would put one on each side).
    assert tf_same_pad(x, 3, 2).shape == (1, 1, 113, 113)
    padded = tf_same_pad(torch.ones(1, 1, 4, 4), 3, 2)
    assert padded[0, 0, 0].sum() == 4 and padded[0, 0, -1].sum() == 0 and padded[0, 0, :, -1].sum() == 0
    assert tf_same_pad(torch.zeros(1, 1, 7, 7), 3, 2).shape == (1, 1, 9, 9)  # odd side: one each side


def test_landmark_port_reproduces_faceapi_on_its_stored_inputs(landmark_net):
    ref = reference()
    assert ref['weights']['landmark68'] == sha256(PACKAGE / 'model' / 'face_landmark_68_model.bin')[:12], \
        'face-api\'s weights changed: re-run `npx tsx training/ports/faceapi_reference.ts`'
    inputs = torch.stack([load_rgb(item['file']) for item in ref['landmarks']])
    expected = torch.tensor([item['output'] for item in ref['landmarks']])
    with torch.no_grad():
        got = landmark_net(inputs)
    # In pixels of the 112×112 input: far below the 0.5 px the ONNX port must keep to on real photos.
    assert (got - expected).abs().max().item() * 112 < 0.01
    assert got.shape == (3, 136) and -0.2 < got.min().item() and got.max().item() < 1.2  # a chin may leave the box


def test_recognizer_port_reproduces_faceapi_on_demo_chips():
    ref = reference()
    chips = torch.stack([load_rgb(item['file']) for item in ref['chips']])
    expected = torch.tensor([item['descriptor'] for item in ref['chips']])
    with torch.no_grad():
        got = load_recognizer()(chips)
    assert F.cosine_similarity(got, expected).min().item() >= 0.99999
    assert (got - expected).abs().max().item() < 1e-4


def test_landmark_net_refuses_a_wrong_input_size(landmark_net):
    with pytest.raises(ValueError, match='expects N×3×112×112'):
        landmark_net(torch.zeros(1, 3, 150, 150))


def graph_io(model) -> tuple[dict, dict]:
    def shape(value):
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    return ({v.name: shape(v) for v in model.graph.input}, {v.name: shape(v) for v in model.graph.output})


def test_export_round_trip(tmp_path):
    """The landmark net exported afresh: opset 17, free batch, the weights' sha256 in its metadata, the
    package's licence beside it, and — where Node is installed — onnxruntime-node's output on a batch
    of 3 equal to PyTorch's."""
    import onnx

    check = [] if shutil.which('npx') else ['--no-check']
    assert faceapi_to_onnx.main(['--out', str(tmp_path), '--only', 'landmark68', *check]) == 0
    model = onnx.load(str(tmp_path / 'landmark68.onnx'))
    assert [o.version for o in model.opset_import if o.domain in ('', 'ai.onnx')] == [17]
    assert graph_io(model) == ({'image': ['N', 3, 112, 112]}, {'landmarks': ['N', 136]})
    source = json.loads({p.key: p.value for p in model.metadata_props}['unmask.source'])
    assert source['package'] == '@vladmandic/face-api' and source['version'] == '1.7.15'
    assert source['sha256'] == {'face_landmark_68_model-weights_manifest.json': sha256(DEFAULT_MANIFEST),
                                'face_landmark_68_model.bin': sha256(PACKAGE / 'model' / 'face_landmark_68_model.bin')}
    assert (tmp_path / 'LICENSE').read_bytes() == (PACKAGE / 'LICENSE').read_bytes()


@pytest.mark.parametrize('name, size, output, dims', [('landmark68', 112, 'landmarks', 136), ('recognizer', 150, 'descriptor', 128)])
def test_committed_models_are_of_the_installed_weights(name, size, output, dims):
    """models/faceapi/ is what the export makes of the weights installed now, and PROVENANCE.md says so."""
    import onnx

    path = MODELS / f'{name}.onnx'
    if not path.is_file():
        pytest.fail(f'no {path}: run /usr/bin/python3 training/ports/faceapi_to_onnx.py')
    model = onnx.load(str(path))
    assert graph_io(model) == ({'image': ['N', 3, size, size]}, {output: ['N', dims]})
    source = json.loads({p.key: p.value for p in model.metadata_props}['unmask.source'])
    for file, digest in source['sha256'].items():
        assert sha256(PACKAGE / 'model' / file) == digest, f'{file} changed since {path} was made: re-run the export'
    provenance = (MODELS / 'PROVENANCE.md').read_text()
    assert sha256(path) in provenance and all(d in provenance for d in source['sha256'].values())
