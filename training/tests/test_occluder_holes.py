"""Occluder-shaped holes for the generator (--holes occluder): where they fall, how they move with the
augmentation, and one training step on them."""
import random

import numpy as np
import pytest
import torch

from idgan.data import AlignedFaces, Augmentation, augment
from idgan.occluder_holes import HOLE_KINDS, MAX_HOLE_SHARE, boxes_around, occluder_hole
from idgan.trainer import Trainer, TrainSettings
from occlusion.synth import MASKTHEFACE_DIR, load_mask_templates
from synthetic import face_landmarks, write_aligned_set


@pytest.fixture(scope='module')
def templates():
    if not (MASKTHEFACE_DIR / 'masks.cfg').is_file():
        pytest.skip(f'the MaskTheFace occluders are not at {MASKTHEFACE_DIR}')
    return load_mask_templates()


@pytest.mark.parametrize('kind', HOLE_KINDS)
def test_every_kind_makes_a_hole_that_leaves_most_of_the_face(kind, templates):
    for seed in range(5):
        hole = occluder_hole(face_landmarks().astype(np.float32), random.Random(seed), templates, kind)
        assert hole.shape == (128, 128) and hole.dtype == np.uint8
        assert 0 < hole.mean() <= MAX_HOLE_SHARE


def test_a_face_mask_hole_covers_mouth_and_nose_tip_and_spares_the_eyes(templates):
    landmarks = face_landmarks().astype(np.float32)
    for seed in range(5):
        hole = occluder_hole(landmarks, random.Random(seed), templates, 'facemask')
        at = lambda p: hole[int(round(p[1])), int(round(p[0]))]  # noqa: E731
        assert at(landmarks[62]) and at(landmarks[33]), f'seed {seed}: mouth or nose tip left uncovered'
        assert not at(landmarks[37]) and not at(landmarks[44]), f'seed {seed}: an eye covered'


def test_the_hole_moves_with_the_face_under_augmentation():
    image = np.zeros((128, 128, 3), np.uint8)
    image[70:100, 40:60] = 255                    # a bright patch…
    hole = np.zeros((128, 128), np.uint8)
    hole[70:100, 40:60] = 1                       # …and a hole exactly over it
    for seed in range(8):
        moved, moved_hole = augment(image, random.Random(seed), Augmentation(), hole)
        bright = moved[..., 0] > 127
        assert set(np.unique(moved_hole)) <= {0, 1}
        assert (bright == moved_hole.astype(bool)).mean() > 0.98, f'seed {seed}: hole and patch parted'


def test_boxes_around_centre_on_the_hole_and_stay_inside():
    masks = np.zeros((3, 128, 128), np.uint8)
    masks[0, 60:80, 30:50] = 1                    # centroid (69.5, 39.5)
    masks[1, 120:128, 120:128] = 1                # in a corner: the box is pushed inside
    boxes = boxes_around(masks)
    assert boxes[0].tolist() == [46, 16]
    assert boxes[1].tolist() == [80, 80]
    assert boxes[2].tolist() == [40, 40]          # an empty mask: the centre


def test_training_on_occluder_holes(tmp_path, templates):
    rng = np.random.default_rng(0)
    faces = [(identity, split, rng.integers(0, 256, (128, 128, 3), dtype=np.uint8), face_landmarks(rng.uniform(-3, 3)))
             for identity, split in [('1', 'train'), ('1', 'train'), ('2', 'train'), ('2', 'train'), ('9', 'val'), ('9', 'val')]]
    write_aligned_set(tmp_path / 'aligned', faces)
    train = AlignedFaces(tmp_path / 'aligned', 'train', Augmentation(), holes='occluder')
    item = train[0]
    assert item['hole'].shape == (1, 128, 128) and 0 < item['hole'].mean() < 1
    assert torch.equal(item['hole'], train[0]['hole']), 'the same item draws the same hole'
    settings = TrainSettings(data=str(tmp_path / 'aligned'), out=str(tmp_path / 'run'), steps=2, warmup_steps=1,
                             batch_size=2, width=8, log_every=1, sample_every=2, eval_every=2, val_faces=2,
                             holes='occluder', threads=1)
    trainer = Trainer(settings)
    # Validation holes are the validation faces' own occluders, fixed for the run.
    assert torch.equal(trainer.val_masks[0], trainer.val_set[0]['hole'])
    trainer.run()
    assert (tmp_path / 'run' / 'generator-best.pt').is_file()
