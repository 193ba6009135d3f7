"""The occlusion synthesiser: its label is exactly the pasted region, for every kind of occluder."""
import random

import numpy as np
import pytest

from occlusion.synth import KINDS, MASKTHEFACE_DIR, SynthConfig, load_mask_templates, synthesize
from synthetic import face_landmarks

NO_AUGMENTATION = SynthConfig(augment_geometry=False, augment_photometric=False)


@pytest.fixture(scope='module')
def templates():
    if not (MASKTHEFACE_DIR / 'masks.cfg').is_file():
        pytest.skip(f'the MaskTheFace occluders are not at {MASKTHEFACE_DIR}')
    return load_mask_templates()


def donor_face() -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)


def coverage(kind: str | None, seed: int, templates, config=NO_AUGMENTATION):
    """The same occluder pasted on a black and on a white face: their difference is 255·(1 − α)."""
    landmarks = face_landmarks().astype(np.float32)
    black = synthesize(np.zeros((128, 128, 3), np.uint8), landmarks, donor_face(), random.Random(seed), templates, config, kind)
    white = synthesize(np.full((128, 128, 3), 255, np.uint8), landmarks, donor_face(), random.Random(seed), templates, config, kind)
    assert np.array_equal(black.mask, white.mask) and black.kinds == white.kinds
    alpha = 1 - (white.image.astype(np.float64) - black.image.astype(np.float64)).mean(axis=2) / 255
    return alpha, black.mask, black.kinds


@pytest.mark.parametrize('kind', KINDS)
def test_the_mask_is_exactly_the_pasted_pixels(kind, templates):
    for seed in range(6):
        alpha, mask, _ = coverage(kind, seed, templates)
        assert mask.any(), f'{kind} (seed {seed}) pasted nothing on the face'
        # Rounding to bytes moves α by at most 1/255 per image: only pixels right at α = 0.5 are ambiguous.
        decided = np.abs(alpha - 0.5) > 2 / 255
        assert np.array_equal(mask[decided] == 1, alpha[decided] > 0.5), f'{kind} (seed {seed})'
        # Outside the pasted region (α = 0) the face is untouched.
        assert np.all(alpha[mask == 0] < 0.5 + 2 / 255)


def test_drawn_samples_mix_kinds_and_clean_faces(templates):
    kinds, clean = set(), 0
    for seed in range(120):
        alpha, mask, names = coverage(None, seed, templates)
        kinds.update(names)
        if not names:
            clean += 1
            assert not mask.any() and np.all(np.abs(alpha) <= 1 / 255), 'a clean sample must be the face itself'
    assert kinds == set(KINDS)
    assert 10 <= clean <= 45   # about the configured 20 % of 120


def test_augmentation_moves_image_and_mask_together(templates):
    landmarks = face_landmarks().astype(np.float32)
    config = SynthConfig(augment_geometry=True, augment_photometric=False)
    for seed in range(8):
        black = synthesize(np.zeros((128, 128, 3), np.uint8), landmarks, donor_face(), random.Random(seed), templates, config, 'block')
        white = synthesize(np.full((128, 128, 3), 255, np.uint8), landmarks, donor_face(), random.Random(seed), templates, config, 'block')
        alpha = 1 - (white.image.astype(np.float64) - black.image.astype(np.float64)).mean(axis=2) / 255
        decided = np.abs(alpha - 0.5) > 0.05   # bilinear warping blurs the edge a little more
        assert np.array_equal(black.mask[decided] == 1, alpha[decided] > 0.5)


def test_a_face_of_the_wrong_size_is_refused(templates):
    with pytest.raises(ValueError, match='128×128×3'):
        synthesize(np.zeros((64, 64, 3), np.uint8), face_landmarks(), None, random.Random(0), templates)
