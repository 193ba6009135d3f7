"""training/eval_generators.py: every method scored on the same validation faces and holes."""
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from idgan.networks import InpaintNet
from synthetic import face_landmarks, write_aligned_set

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import eval_generators  # noqa: E402


def smooth_face(rng: np.random.Generator) -> np.ndarray:
    image = np.full((128, 128, 3), rng.integers(60, 100, 3), np.uint8)
    cv2.ellipse(image, (64, 64), (40, 52), 0, 0, 360, tuple(int(v) for v in rng.integers(140, 220, 3)), -1)
    return cv2.GaussianBlur(image, (21, 21), 0)


@pytest.fixture(scope='module')
def val_set(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp('aligned')
    rng = np.random.default_rng(1)
    write_aligned_set(folder, [('1', 'train', smooth_face(rng), face_landmarks())] +
                      [('2', 'val', smooth_face(rng), face_landmarks()) for _ in range(3)])
    return folder


def test_scores_occ_telea_and_each_generator_on_the_same_holes(val_set, tmp_path):
    torch.manual_seed(0)
    checkpoint = tmp_path / 'generator-best.pt'
    torch.save({'step': 7, 'width': 8, 'generator': InpaintNet(8).state_dict()}, checkpoint)
    out = tmp_path / 'out'
    assert eval_generators.main(['--data', str(val_set), '--generator', f'untrained={checkpoint}', '--grid-faces', '2',
                                 '--threads', '1', '--out', str(out)]) == 0

    report = json.loads((out / 'comparison.json').read_text())
    metrics = report['metrics']
    assert report['val_faces'] == 3 and set(metrics) == {'OCC', 'Telea', 'untrained'}
    assert report['generators']['untrained'] == {'path': str(checkpoint), 'step': 7, 'width': 8, 'mirror': False,
                                                'skips': False, 'total_steps': None}
    # A white block on a smooth face: Telea's fill is far closer to the truth than the block is.
    assert metrics['Telea']['psnr'] > metrics['OCC']['psnr'] + 5
    assert metrics['OCC']['ssim'] < metrics['Telea']['ssim'] <= 1
    grid = cv2.imread(str(out / 'grid.png'))
    assert grid.shape == (4 * 128, 2 * 128, 3)  # rows GT, OCC, Telea, untrained; 2 faces


def test_a_generator_without_a_file_is_refused(val_set, tmp_path, capsys):
    with pytest.raises(SystemExit):
        eval_generators.main(['--data', str(val_set), '--generator', f'wID={tmp_path}/none.pt', '--out', str(tmp_path)])
    assert 'no file' in capsys.readouterr().err


def test_skip_faces_scores_only_the_faces_after_the_first_n(val_set, tmp_path):
    out = tmp_path / 'held-out'
    assert eval_generators.main(['--data', str(val_set), '--skip-faces', '2', '--val-faces', '5', '--grid-faces', '1',
                                 '--threads', '1', '--out', str(out)]) == 0
    report = json.loads((out / 'comparison.json').read_text())
    assert (report['val_faces'], report['skipped_faces']) == (1, 2)  # 3 validation faces, 2 left out
    with pytest.raises(SystemExit):
        eval_generators.main(['--data', str(val_set), '--skip-faces', '3', '--out', str(tmp_path / 'none')])


def test_occluder_holes_are_each_faces_own_fixed_hole(val_set, tmp_path):
    from idgan.data import AlignedFaces
    from occlusion.synth import MASKTHEFACE_DIR
    if not (MASKTHEFACE_DIR / 'masks.cfg').is_file():
        pytest.skip(f'the MaskTheFace occluders are not at {MASKTHEFACE_DIR}')
    out = tmp_path / 'occluder'
    assert eval_generators.main(['--data', str(val_set), '--holes', 'occluder', '--skip-faces', '1', '--grid-faces', '1',
                                 '--threads', '1', '--out', str(out)]) == 0
    report = json.loads((out / 'comparison.json').read_text())
    assert report['hole'].startswith('occluder') and report['val_faces'] == 2
    # OCC's score is that of the faces' own holes (the ones train.py validates on), after the skipped face.
    val = AlignedFaces(val_set, 'val', None, holes='occluder')
    expected = []
    for i in (1, 2):
        image, hole = val[i]['image'], val[i]['hole']
        occluded = (image * (1 - hole) + hole).permute(1, 2, 0).numpy()
        expected.append(10 * np.log10(1 / np.mean((occluded - image.permute(1, 2, 0).numpy()) ** 2)))
    assert report['metrics']['OCC']['psnr'] == pytest.approx(np.mean(expected), abs=1e-3)


def test_identity_kept_is_the_arcface_cosine_to_the_ground_truth(val_set, tmp_path):
    from idgan.arcface import default_model_path
    if not default_model_path().is_file():
        pytest.skip(f'no ArcFace model at {default_model_path()}')
    out = tmp_path / 'identity'
    assert eval_generators.main(['--data', str(val_set), '--identity', '--grid-faces', '1', '--threads', '1',
                                 '--out', str(out)]) == 0
    metrics = json.loads((out / 'comparison.json').read_text())['metrics']
    for method in ('OCC', 'Telea'):
        assert -1 <= metrics[method]['arcface_cos'] < 1  # a hole moves the embedding
