"""Round 3 of the trainer: landmarks through the augmentation, the ArcFace teacher in the training
step, the generator's switches in a branch, the lr schedule, the discriminators' warm-up, and the
clean stop on SIGTERM."""
import json
import os
import random
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
import torch

from idgan.arcface import default_model_path
from idgan.data import Augmentation, augment, augment_all
from idgan.holes import hole_masks
from idgan.losses import IdentityTerm, LossWeights
from idgan.networks import InpaintNet
from idgan.trainer import BEST_GENERATOR, CHECKPOINT, Trainer, TrainSettings
from synthetic import face_landmarks, write_aligned_set

TRAINING_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def smooth_face(rng: np.random.Generator) -> np.ndarray:
    image = np.full((128, 128, 3), rng.integers(40, 90, 3), np.uint8)
    cv2.ellipse(image, (64, 70), (44, 56), 0, 0, 360, tuple(int(v) for v in rng.integers(120, 230, 3)), -1)
    for x in (42, 86):
        cv2.circle(image, (x, 43), 5, (30, 30, 30), -1)
    cv2.ellipse(image, (64, 87), (16, 6), 0, 0, 360, (120, 40, 50), -1)
    return cv2.GaussianBlur(image, (5, 5), 0)


@pytest.fixture(scope='module')
def faces(tmp_path_factory):
    """A small aligned set with plausible landmarks (the ArcFace chip is placed by them)."""
    folder = tmp_path_factory.mktemp('round3') / 'aligned'
    rng = np.random.default_rng(0)
    rows = []
    for identity, split, count in (('1', 'train', 2), ('2', 'train', 2), ('3', 'train', 2), ('9', 'val', 3)):
        for k in range(count):
            rows.append((identity, split, smooth_face(rng), face_landmarks(dx=k, dy=-k, rotation_deg=3 * k)))
    write_aligned_set(folder, rows)
    return folder


def test_landmarks_move_with_the_face():
    # Dots drawn at the landmarks land, after a flip, turn and shift, where the moved landmarks say.
    landmarks = face_landmarks(dx=2, dy=1)
    image = np.zeros((128, 128, 3), np.uint8)
    for i in (36, 45, 30, 48, 54):  # eye corners, nose tip, mouth corners: far apart, none on the midline twice
        x, y = landmarks[i] - 0.5  # the pixel whose centre is the landmark
        image[int(round(y)), int(round(x))] = 255
    for seed in range(6):
        moved, _, points = augment_all(image, random.Random(seed), Augmentation(), None, landmarks)
        assert np.array_equal(moved, augment(image, random.Random(seed), Augmentation())), 'the same draws as augment()'
        for i in (36, 45, 30, 48, 54):
            x, y = points[i] - 0.5
            y0, x0 = int(round(y)), int(round(x))
            window = moved[max(0, y0 - 2):y0 + 3, max(0, x0 - 2):x0 + 3, 0]
            assert window.max() > 40, f'seed {seed}: no dot near moved landmark {i}'
        # The mirror keeps iBUG order: landmark 36 (outer corner of the image-left eye) stays on the left.
        assert points[36, 0] < points[45, 0]


@pytest.mark.skipif(not default_model_path().is_file(), reason='no fr_feature.onnx (npm ci installs it)')
def test_a_step_with_the_arcface_teacher_uses_the_landmarks(faces, tmp_path):
    trainer = Trainer(TrainSettings(data=str(faces), out=str(tmp_path), warmup_steps=0, batch_size=4, width=8,
                                    val_faces=2, recognizer='arcface', centre_faces=2))
    assert trainer.centres.shape == (3, 512)
    items = [trainer.train_set[i] for i in range(4)]
    target = torch.stack([b['image'] for b in items])
    labels = torch.tensor([b['label'] for b in items])
    landmarks = torch.stack([b['landmarks'] for b in items])
    boxes = torch.tensor([[10, 20], [40, 40], [70, 30], [30, 70]])
    masks = hole_masks(boxes)
    raw, inpainted = trainer.inpaint(target, masks)
    total, parts = trainer.generator_objective(target, labels, boxes, masks, raw, inpainted, landmarks)
    assert parts['L_R.identity'] >= 0 and parts['L_R.instance_high'] > 0
    total.backward()
    assert all(p.grad is not None for p in trainer.generator.parameters())
    with pytest.raises(ValueError, match='landmarks'):
        trainer.generator_objective(target, labels, boxes, masks, raw.detach(), inpainted.detach(), None)
    # Its centres are cached under its own key, beside face-api's.
    assert trainer.centres is not None and any('centres-' in p.name for p in faces.iterdir())


def test_a_branch_switches_on_mirror_and_skips_from_a_plain_generator(faces, tmp_path):
    torch.manual_seed(0)
    plain = InpaintNet(8)
    torch.save({'step': 40, 'width': 8, 'total_steps': 1000, 'generator': plain.state_dict()}, tmp_path / 'best.pt')
    settings = TrainSettings(data=str(faces), out=str(tmp_path / 'run'), steps=2, warmup_steps=0, batch_size=4, width=8,
                             mirror=True, skips=True, log_every=1, sample_every=10, eval_every=2, checkpoint_every=1,
                             val_faces=2, init_generator=str(tmp_path / 'best.pt'),
                             weights=LossWeights(identity_term=IdentityTerm.NONE))
    trainer = Trainer(settings)
    assert trainer.init_source['total_steps'] == 1000 and 'skip64.weight' in trainer.init_source['added']
    images = torch.rand(2, 3, 128, 128)
    masks = hole_masks(torch.tensor([[10, 20], [60, 40]]))
    with torch.no_grad():
        assert torch.allclose(trainer.generator(images, masks), plain.eval()(images, masks), atol=1e-6)
    trainer.run()
    best = torch.load(tmp_path / 'run' / BEST_GENERATOR, weights_only=False)
    assert best['mirror'] and best['skips'] and best['total_steps'] == 1002
    log = [json.loads(line) for line in (tmp_path / 'run' / 'log.jsonl').read_text().splitlines()]
    assert next(r for r in log if 'val_psnr' in r)['total_steps'] == 1002
    # Resuming with a switch flipped is refused: it would be another network.
    with pytest.raises(ValueError, match='mirror = True'):
        Trainer(TrainSettings(**{**settings.__dict__, 'mirror': False}))
    # A checkpoint written before the switches existed resumes as a plain generator.
    plain_settings = TrainSettings(**{**settings.__dict__, 'out': str(tmp_path / 'old'), 'mirror': False, 'skips': False,
                                      'steps': 1, 'init_generator': None, 'eval_every': 10})
    Trainer(plain_settings).run()
    state = torch.load(tmp_path / 'old' / CHECKPOINT, weights_only=False)
    for key in ('mirror', 'skips', 'recognizer'):
        del state['settings'][key]
    torch.save(state, tmp_path / 'old' / CHECKPOINT)
    assert Trainer(TrainSettings(**{**plain_settings.__dict__, 'steps': 2})).step == 1


def test_cosine_schedule_and_the_discriminator_warm_up(faces, tmp_path):
    settings = TrainSettings(data=str(faces), out=str(tmp_path), steps=10, warmup_steps=0, d_warmup_steps=1,
                             batch_size=4, width=8, val_faces=2, lr=1e-3, lr_schedule='cosine', lr_min_factor=0.1,
                             weights=LossWeights(identity_term=IdentityTerm.NONE))
    trainer = Trainer(settings)
    assert trainer.learning_rate() == pytest.approx(1e-3)
    trainer.step = 5
    assert trainer.learning_rate() == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))
    trainer.step = 10
    assert trainer.learning_rate() == pytest.approx(1e-4)
    ramped = Trainer(TrainSettings(**{**settings.__dict__, 'lr_schedule': 'constant', 'lr_warmup_steps': 4,
                                      'out': str(tmp_path / 'ramp')}))
    assert [ramped.learning_rate() for ramped.step in (0, 1, 3, 9)] == pytest.approx([2.5e-4, 5e-4, 1e-3, 1e-3])
    trainer.step = 0
    items = [trainer.train_set[i] for i in range(4)]
    images, labels = torch.stack([b['image'] for b in items]), torch.tensor([b['label'] for b in items])
    landmarks = torch.stack([b['landmarks'] for b in items])
    first = trainer.train_step(images, labels, None, landmarks)
    # Warm-up: D learned (D_g logged), the generator's total has no adversarial part.
    assert 'D_g' in first and first['total'] == pytest.approx(first['L_I'] + 0.0002 * first['L_R'], rel=1e-4)
    trainer.step = 1
    second = trainer.train_step(images, labels, None, landmarks)
    assert second['total'] > second['L_I'] + 0.0002 * second['L_R'] + 1, 'adversarial terms in after the warm-up'
    assert second['lr'] == pytest.approx(trainer.learning_rate())


def test_sigterm_checkpoints_and_exits(faces, tmp_path):
    out = tmp_path / 'run'
    command = [sys.executable, '-u', os.path.join(TRAINING_DIR, 'train.py'), '--data', str(faces), '--out', str(out),
               '--steps', '100000', '--batch-size', '4', '--width', '8', '--warmup-steps', '0', '--log-every', '1',
               '--eval-every', '100000', '--sample-every', '100000', '--checkpoint-every', '100000', '--val-faces', '2',
               '--identity-term', 'none', '--threads', '1']
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        for line in process.stdout:  # wait for the first step's log line
            if line.startswith('step=') or time.monotonic() > deadline:
                break
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, rest
    assert 'SIGTERM: stopping' in rest
    state = torch.load(out / CHECKPOINT, weights_only=False)
    log = [json.loads(line) for line in (out / 'log.jsonl').read_text().splitlines()]
    assert log[-1]['event'] == 'stopped' and log[-1]['signal'] == 'SIGTERM' and log[-1]['step'] == state['step'] >= 1
