"""The PyTorch port of face-api's FaceRecognitionNet against face-api itself (tfjs, WASM backend)."""
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from idgan.recognizer import DEFAULT_MANIFEST, REPO_ROOT, load_recognizer, read_tfjs_weights, recognizer_input

REFERENCE_DIR = REPO_ROOT / 'var' / 'faceapi-reference'
LFW_DIR = REPO_ROOT.parent / 'shared' / 'data' / 'lfw-view1' / 'images_deepfunneled'


def reference() -> dict:
    """The tfjs descriptors of 20 real faces; made by training/tools/faceapi_reference.ts when missing."""
    path = REFERENCE_DIR / 'reference.json'
    if not path.is_file():
        if not LFW_DIR.is_dir():
            pytest.skip(f'no reference descriptors at {path} and no LFW images at {LFW_DIR} to make them from')
        if shutil.which('npx') is None:
            pytest.skip(f'no reference descriptors at {path}, and no node/npx to make them '
                        '(run `npx tsx training/tools/faceapi_reference.ts`)')
        result = subprocess.run(
            ['npx', 'tsx', 'training/tools/faceapi_reference.ts', '--lfw', str(LFW_DIR), '--out', str(REFERENCE_DIR)],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f'faceapi_reference.ts failed:\n{result.stdout}\n{result.stderr}'
    return json.loads(path.read_text())


def load_rgb(name: str) -> torch.Tensor:
    return torch.from_numpy(np.asarray(Image.open(REFERENCE_DIR / name).convert('RGB'), dtype=np.float32)).permute(2, 0, 1)


@pytest.fixture(scope='module')
def net():
    return load_recognizer()


def test_weights_are_dequantised_into_plausible_ranges():
    weights = read_tfjs_weights(DEFAULT_MANIFEST)
    assert weights['conv32_down/conv/filters'].shape == (7, 7, 3, 32)
    assert weights['fc'].shape == (256, 128)
    # uint8 tensors decode to min + q·scale: the first filter lies within the range the manifest gives.
    manifest = json.loads(Path(DEFAULT_MANIFEST).read_text())
    spec = next(w for w in manifest[0]['weights'] if w['name'] == 'conv32_down/conv/filters')
    low, high = spec['quantization']['min'], spec['quantization']['min'] + 255 * spec['quantization']['scale']
    filters = weights['conv32_down/conv/filters']
    assert low - 1e-6 <= filters.min() and filters.max() <= high + 1e-6
    assert len(np.unique(filters)) > 100  # dequantised, not a constant


def test_port_reproduces_faceapi_descriptors(net):
    ref = reference()
    chips = torch.stack([load_rgb(item['chip']) for item in ref['items']])
    expected = torch.tensor([item['descriptor'] for item in ref['items']])
    assert len(expected) == 20
    with torch.no_grad():
        got = net(chips)
    cosine = F.cosine_similarity(got, expected)
    assert cosine.min().item() >= 0.999, f'cosine per face: {cosine.tolist()}'
    # Euclidean distance is face-api's metric (0.6 = different people): the port must be far below it.
    assert (got - expected).norm(dim=1).max().item() < 0.01


def test_features_have_the_shapes_the_recognition_loss_uses(net):
    with torch.no_grad():
        features = net.features(torch.full((2, 3, 150, 150), 128.0))
    assert features.low.shape == (2, 32, 35, 35)
    assert features.descriptor.shape == (2, 128)


def test_inpainting_crop_resampled_to_the_chip_keeps_the_identity(net):
    """Training feeds R the 128 px inpainting crop resampled to the 150 px chip: close to the real chip."""
    ref = reference()
    crops = torch.stack([load_rgb(item['inpaint']) for item in ref['items']]) / 255.0
    expected = torch.tensor([item['descriptor'] for item in ref['items']])
    with torch.no_grad():
        got = net(recognizer_input(crops))
    distance = (got - expected).norm(dim=1)
    assert distance.max().item() < 0.1, f'distances: {distance.tolist()}'


def test_refuses_a_wrong_input_size(net):
    with pytest.raises(ValueError, match='expects N×3×150×150'):
        net(torch.zeros(1, 3, 128, 128))
