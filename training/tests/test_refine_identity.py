"""The refiner trial's L_R arms (refine_trial.py --lambda-r): a mirrored face keeps its ArcFace chip, and a
run with R trains, scores the selection faces' identity and saves the step it was asked for; face-api's
net joins as a second R. And its
occluder-shaped holes (--occluder-faces): trained on beside the squares, cached, and selected on."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from idgan.arcface import arcface_chip_theta, arcface_input, default_model_path
from idgan.recognizer import DEFAULT_MANIFEST
from idgan.prior import FacePrior, fit_prior, save_prior, shrink
from occlusion.synth import MASKTHEFACE_DIR
from refine_trial import main, mirrored_landmarks
from synthetic import face_landmarks, mirrored, write_aligned_set


def smooth_image(seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).random((128, 128, 3)).astype(np.float32)
    return cv2.GaussianBlur(noise, (0, 0), 6)


def chip(image: np.ndarray, landmarks: torch.Tensor) -> torch.Tensor:
    batch = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None]
    return arcface_input(batch, arcface_chip_theta(landmarks.numpy()))


def test_mirrored_landmarks_cut_the_mirror_image_of_the_chip():
    image = smooth_image(0)
    landmarks = torch.from_numpy(face_landmarks(dx=3, rotation_deg=5)[None].astype(np.float32))
    assert torch.allclose(mirrored_landmarks(landmarks)[0], torch.from_numpy(mirrored(landmarks[0].numpy())))
    original = chip(image, landmarks)
    flipped = chip(image[:, ::-1], mirrored_landmarks(landmarks)).flip(-1)
    # Flipping the points without reordering them asks for a reflection, which the chip's fit cannot make.
    unordered = landmarks.clone()
    unordered[..., 0] = 128 - unordered[..., 0]
    wrong = chip(image[:, ::-1], unordered).flip(-1)
    difference = float((flipped - original).abs().mean())
    assert difference < 1.0  # of 255: the template is symmetric to a tenth of a pixel
    assert float((wrong - original).abs().mean()) > 5 * difference


def small_set(tmp_path):
    """12 training faces of two people, 2 validation faces, and a 4-component prior fitted on them."""
    faces = []
    for n, (identity, split) in enumerate([('a', 'train')] * 6 + [('b', 'train')] * 6 + [('c', 'val')] * 2):
        rgb = (np.clip(smooth_image(n) * 0.5 + 0.25, 0, 1) * 255).astype(np.uint8)
        faces.append((identity, split, rgb, face_landmarks(dx=n % 3, rotation_deg=n % 5)))
    data = tmp_path / 'aligned'
    write_aligned_set(data, faces)
    train = torch.stack([torch.from_numpy(f[2]).permute(2, 0, 1).float() / 255 for f in faces[:12]])
    fitted = fit_prior(shrink(train).permute(0, 2, 3, 1).contiguous().numpy(), components=4)
    prior = save_prior(FacePrior(fitted['mean'], fitted['basis'], fitted['variance'], noise=0.01), tmp_path / 'prior.pt')
    return ['--data', str(data), '--prior', str(prior), '--components', '4', '--holes', '2', '--faces-per-hole', '3',
            '--val-faces', '2', '--width', '4', '--batch-size', '2', '--threads', '1', '--whole']


@pytest.mark.skipif(not default_model_path().is_file(), reason='no ArcFace model (npm ci installs faceplugin-face-recognition-js)')
def test_a_run_with_the_identity_term_trains_scores_identity_and_saves_the_last_step(tmp_path):
    out, saved = tmp_path / 'trial.json', tmp_path / 'refiner.pt'
    assert main(small_set(tmp_path) + ['--steps', '3', '--eval-every', '2', '--lambda-r', '1e-4', '--identity-term', 'diversity',
                                       '--centre-faces', '2', '--save-last', '--save', str(saved), '--out', str(out)]) == 0
    report = json.loads(out.read_text())
    assert report['steps'] == 3 and report['lambda_r'] == 1e-4 and report['identity_term'] == 'diversity'
    assert report['minutes'] is None  # --steps alone: no time limit cuts the arm short
    assert [c['step'] for c in report['curve']] == [0, 2, 3]
    assert all(-1 <= c['selection_arcface_cosine'] <= 1 for c in report['curve'])
    assert {'L_R.instance_low', 'L_R.instance_high', 'L_R.identity'} <= set(report['curve'][1])
    state = torch.load(saved)
    assert state['step'] == 3 and state['lambda_r'] == 1e-4 and state['identity_term'] == 'diversity'
    assert float(state['network']['out.weight'].abs().max()) > 0  # it learnt: the correction starts at zero


def test_an_arm_trained_mirror_averaged_says_so_and_exports_averaged(tmp_path):
    from export_onnx import attach_refiner
    from idgan.networks import InpaintNet
    out, saved = tmp_path / 'trial.json', tmp_path / 'refiner.pt'
    args = small_set(tmp_path) + ['--steps', '2', '--eval-every', '2', '--save-last', '--save', str(saved), '--out', str(out)]
    assert main(args + ['--mirror-average']) == 0
    assert json.loads(out.read_text())['mirror_average'] is True and torch.load(saved)['mirror_average'] is True
    generator, info = InpaintNet(width=4, prior_components=4), {}
    attach_refiner(generator, info, str(saved))  # not asked for: the saved correction says it
    assert generator.prior.refiner.mirror_average and info['prior_refiner']['mirror_average'] is True
    with pytest.raises(SystemExit):  # windows are not mirror images of each other
        main([a for a in args if a != '--whole'] + ['--mirror-average'])


def test_an_arm_stopped_by_sigterm_ends_its_step_saves_and_reports(tmp_path):
    import signal
    import subprocess
    import sys
    import time
    out, saved = tmp_path / 'trial.json', tmp_path / 'refiner.pt'
    script = Path(__file__).resolve().parents[1] / 'refine_trial.py'
    arm = subprocess.Popen([sys.executable, str(script)] + small_set(tmp_path)
                           + ['--steps', '1000000', '--eval-every', '1000000', '--save-last', '--save', str(saved), '--out', str(out)],
                           stdout=subprocess.PIPE, text=True)
    lines = []
    for line in arm.stdout:  # the handler is in place once step 0 is scored
        lines.append(line)
        if line.startswith('step 0'):
            break
    time.sleep(1)
    arm.send_signal(signal.SIGTERM)
    rest, _ = arm.communicate(timeout=60)
    assert arm.returncode == 0, ''.join(lines) + rest
    report = json.loads(out.read_text())
    assert report['stopped_by'] == 'SIGTERM' and report['steps'] < 1000000
    assert f"stopped by SIGTERM after {report['steps']} steps" in rest
    assert torch.load(saved)['step'] == report['steps']  # the last step was saved


def test_an_arm_run_in_process_gives_the_callers_signal_handlers_back(tmp_path):
    import signal
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    assert main(small_set(tmp_path) + ['--steps', '1', '--out', str(tmp_path / 'trial.json')]) == 0
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_an_arm_cut_short_by_its_time_limit_says_so(tmp_path, capsys):
    out = tmp_path / 'trial.json'
    assert main(small_set(tmp_path) + ['--steps', '5', '--minutes', '0', '--out', str(out)]) == 0
    assert json.loads(out.read_text())['steps'] == 0
    assert 'stopped at --minutes 0 after 0 of the 5 steps' in capsys.readouterr().out


@pytest.mark.skipif(not default_model_path().is_file() or not Path(DEFAULT_MANIFEST).is_file(),
                    reason='no ArcFace model or face-api weights (npm ci installs them)')
def test_face_apis_net_joins_arcface_as_a_second_r(tmp_path):
    out = tmp_path / 'trial.json'
    assert main(small_set(tmp_path) + ['--steps', '2', '--eval-every', '2', '--lambda-r', '1e-4', '--lambda-r-faceapi', '5e-5',
                                       '--identity-term', 'diversity', '--centre-faces', '2', '--out', str(out)]) == 0
    report = json.loads(out.read_text())
    assert report['lambda_r_faceapi'] == 5e-5
    trained = report['curve'][1]
    assert {'L_R.identity', 'L_R.faceapi.identity', 'L_R.faceapi.instance_high'} <= set(trained)
    assert all(-1 <= c['selection_faceapi_cosine'] <= 1 and -1 <= c['selection_arcface_cosine'] <= 1 for c in report['curve'])
    with pytest.raises(SystemExit):  # face-api's net only joins ArcFace's
        main(small_set(tmp_path) + ['--lambda-r-faceapi', '5e-5', '--out', str(out)])


@pytest.mark.skipif(not MASKTHEFACE_DIR.is_dir(), reason=f'the MaskTheFace occluders are not at {MASKTHEFACE_DIR}')
def test_occluder_shaped_holes_join_the_squares_are_cached_and_selected_on(tmp_path):
    args = small_set(tmp_path) + ['--steps', '2', '--eval-every', '1', '--occluder-faces', '4',
                                  '--data-cache', str(tmp_path / 'data.pt'), '--save', str(tmp_path / 'best.pt')]
    assert main(args + ['--out', str(tmp_path / 'first.json')]) == 0
    cache = torch.load(tmp_path / 'data-occluder4.pt')
    assert cache['key']['holes'] == 'occluder' and cache['faces'].shape == (4, 3, 64, 64)
    share = cache['holes'].flatten(1).mean(1)
    assert bool(((share > 0) & (share <= 0.75)).all())  # each face has a hole of its own, not the whole face
    first = json.loads((tmp_path / 'first.json').read_text())
    for point in first['curve']:
        assert point['score'] == pytest.approx((point['selection_psnr'] + point['selection_occluder_psnr']) / 2, abs=1e-4)
    assert first['best']['score'] == max(c['score'] for c in first['curve'])
    # The second run reads the cached fills instead of solving again: the same data, the same curve.
    assert main(args + ['--out', str(tmp_path / 'second.json')]) == 0
    def untimed(report: dict) -> list[dict]:
        return [{k: v for k, v in point.items() if k != 'seconds'} for point in report['curve']]
    assert untimed(json.loads((tmp_path / 'second.json').read_text())) == untimed(first)
    with pytest.raises(SystemExit):
        main(args + ['--lambda-r', '1e-4', '--out', str(tmp_path / 'refused.json')])
