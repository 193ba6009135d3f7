"""The PyTorch port of faceplugin's ArcFace recognizer (idgan/arcface.py) against onnxruntime-node, the
service's runtime, on 20 real LFW faces; and the chip the trainer cuts from the inpainting crop."""
import json
import shutil
import subprocess

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from idgan.arcface import (ARCFACE_POINTS, arcface_chip_theta, arcface_input, arcface_source_points, default_model_path,
                           load_arcface, similarity_fit)
from idgan.recognizer import REPO_ROOT

from synthetic import face_landmarks

REFERENCE_DIR = REPO_ROOT / 'var' / 'arcface-reference'
LFW_DIR = REPO_ROOT.parent / 'shared' / 'data' / 'lfw-view1' / 'images_deepfunneled'


def reference() -> dict:
    """onnxruntime-node embeddings of 20 real faces; made by training/tools/arcface_reference.ts when missing."""
    path = REFERENCE_DIR / 'reference.json'
    if not path.is_file():
        if not LFW_DIR.is_dir():
            pytest.skip(f'no reference embeddings at {path} and no LFW images at {LFW_DIR} to make them from')
        if shutil.which('npx') is None:
            pytest.skip(f'no reference embeddings at {path}, and no node/npx to make them '
                        '(run `npx tsx training/tools/arcface_reference.ts`)')
        result = subprocess.run(
            ['npx', 'tsx', 'training/tools/arcface_reference.ts', '--lfw', str(LFW_DIR), '--out', str(REFERENCE_DIR)],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f'arcface_reference.ts failed:\n{result.stdout}\n{result.stderr}'
    return json.loads(path.read_text())


def load_rgb(name: str) -> torch.Tensor:
    return torch.from_numpy(np.asarray(Image.open(REFERENCE_DIR / name).convert('RGB'), dtype=np.float32)).permute(2, 0, 1)


@pytest.fixture(scope='module')
def net():
    if not default_model_path().is_file():
        pytest.skip(f'no ArcFace model at {default_model_path()} (npm ci installs faceplugin-face-recognition-js)')
    return load_arcface()


def test_port_reproduces_onnxruntime_embeddings(net):
    ref = reference()
    chips = torch.stack([load_rgb(item['chip']) for item in ref['items']])
    expected = torch.tensor([item['embedding'] for item in ref['items']])
    assert len(chips) == 20
    with torch.no_grad():
        got = net.embed_raw(chips)
    cosine = F.cosine_similarity(got, expected)
    assert cosine.min() >= 0.999, f'cosine to onnxruntime as low as {cosine.min():.5f}'
    # The embeddings tell the 20 people apart: no other person is as close as the face itself.
    unit = F.normalize(expected, dim=1)
    assert (unit @ unit.t() - 2 * torch.eye(len(unit))).max() < 0.6


def test_features_are_unit_embeddings_and_a_low_map_with_gradients(net):
    chips = (torch.rand(2, 3, 112, 112) * 255).requires_grad_()
    features = net.features(chips)
    assert features.descriptor.shape == (2, 512) and features.low.shape == (2, 64, 28, 28)
    assert torch.allclose(features.descriptor.norm(dim=1), torch.ones(2), atol=1e-5)
    features.descriptor[:, 0].sum().backward()
    assert chips.grad is not None and chips.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in net.parameters())
    with pytest.raises(ValueError, match='112'):
        net.features(torch.zeros(1, 3, 128, 128))


def test_similarity_fit_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 100, (1, 5, 2))
    a, b, tx, ty = 0.9 * np.cos(0.2), 0.9 * np.sin(0.2), 5.0, -3.0
    moved = np.stack([a * points[..., 0] - b * points[..., 1] + tx, b * points[..., 0] + a * points[..., 1] + ty], -1)
    assert np.allclose(similarity_fit(points, moved)[0], [[a, -b, tx], [b, a, ty]])


def test_chip_cut_puts_the_landmarks_on_the_template():
    # A crop whose only bright pixels are the five template points' sources: each must land on its
    # ARCFACE_POINTS place in the chip.
    landmarks = face_landmarks(dx=3, dy=-2, rotation_deg=8)[None]
    sources = arcface_source_points(landmarks)[0]
    crop = torch.zeros(1, 3, 128, 128)
    theta = arcface_chip_theta(landmarks)
    for (x, y), (u, v) in zip(sources, ARCFACE_POINTS):
        crop.zero_()
        crop[0, :, int(y), int(x)] = 1.0  # the pixel whose centre is (⌊x⌋ + ½, ⌊y⌋ + ½)
        chip = arcface_input(crop, theta)[0, 0]
        peak = np.unravel_index(int(chip.argmax()), chip.shape)
        # Where the pixel centre goes in the chip, up to the offset of the centre from (x, y).
        to_chip = similarity_fit(arcface_source_points(landmarks), np.array([ARCFACE_POINTS]))[0]
        cx, cy = int(x) + 0.5, int(y) + 0.5
        expected = (to_chip[0, 0] * cx + to_chip[0, 1] * cy + to_chip[0, 2], to_chip[1, 0] * cx + to_chip[1, 1] * cy + to_chip[1, 2])
        assert abs(peak[1] + 0.5 - expected[0]) <= 1.0 and abs(peak[0] + 0.5 - expected[1]) <= 1.0
        assert abs(expected[0] - u) < 6 and abs(expected[1] - v) < 6  # a face fits the template closely


def test_chip_cut_from_the_inpainting_crop_keeps_the_identity(net):
    # In training the chip comes from the 128 px inpainting crop (resampled twice, and its top rows lie
    # above the crop, where the crop's edge is repeated): close to the service's own chip, not equal.
    ref = reference()
    crops = torch.stack([load_rgb(item['inpaint']) for item in ref['items']]) / 255
    landmarks = np.array([item['landmarks'] for item in ref['items']]).reshape(-1, 68, 2)
    expected = torch.tensor([item['embedding'] for item in ref['items']])
    with torch.no_grad():
        got = net.embed_raw(arcface_input(crops, arcface_chip_theta(landmarks)))
    cosine = F.cosine_similarity(got, expected)
    assert cosine.mean() >= 0.93 and cosine.min() >= 0.8, cosine
    # …and still nearer its own face's embedding than any other person's.
    unit_got, unit_expected = F.normalize(got, dim=1), F.normalize(expected, dim=1)
    assert (unit_got @ unit_expected.t()).argmax(dim=1).tolist() == list(range(len(got)))
