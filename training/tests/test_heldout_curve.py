"""training/heldout_curve.py: one point of the model card's curve per call, appended to a json."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from idgan.networks import InpaintNet
from synthetic import face_landmarks, write_aligned_set

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import heldout_curve  # noqa: E402


@pytest.fixture()
def val_set(tmp_path):
    rng = np.random.default_rng(2)
    faces = [('1', 'train', rng.integers(0, 256, (128, 128, 3), dtype=np.uint8), face_landmarks())]
    faces += [('2', 'val', rng.integers(0, 256, (128, 128, 3), dtype=np.uint8), face_landmarks()) for _ in range(3)]
    write_aligned_set(tmp_path / 'aligned', faces)
    return tmp_path / 'aligned'


def test_points_accumulate_with_their_total_steps(val_set, tmp_path):
    torch.manual_seed(0)
    best = tmp_path / 'best.pt'
    torch.save({'step': 5, 'width': 8, 'mirror': True, 'total_steps': 2378,
                'generator': InpaintNet(8, mirror=True).state_dict()}, best)
    curve = tmp_path / 'curve.json'
    common = ['--data', str(val_set), '--generator', str(best), '--skip-faces', '1', '--val-faces', '2', '--no-identity',
              '--curve', str(curve)]
    assert heldout_curve.main(common + ['--run', 'a']) == 0
    assert heldout_curve.main(common + ['--run', 'b', '--note', 'again']) == 0
    points = json.loads(curve.read_text())['points']
    assert [p['run'] for p in points] == ['a', 'b'] and points[0]['total_steps'] == 2378 and points[0]['mirror']
    assert points[0]['heldout_faces'] == 2 and points[0]['metrics']['psnr'] > points[0]['occ']['psnr'] - 20
    # Fewer held-out faces than asked: no point (the aligned set is not there yet).
    assert heldout_curve.main(['--data', str(val_set), '--generator', str(best), '--skip-faces', '1', '--val-faces', '5',
                               '--no-identity', '--curve', str(curve), '--run', 'c']) == 1
    assert len(json.loads(curve.read_text())['points']) == 2
