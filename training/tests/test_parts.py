"""Part maps drawn from landmarks, their flips and augmentation, FASSEG's colours, the IoU arithmetic,
and the label warp of eval_parser."""
import random

import cv2
import numpy as np
import pytest

from eval_parser import IGNORE, warp_labels
from idgan.parts import (BACKGROUND, CLASSES, EYE_L, EYE_R, EYEBROW_L, EYEBROW_R, FASSEG_COLOURS, MOUTH, NOSE,
                         NUM_CLASSES, SKIN, TO_FASSEG, PartsAugmentation, augment_pair, class_iou, confusion,
                         draw_parts, flip_labels, quantise_fasseg)
from synthetic import face_landmarks, mirrored

# A distinct colour per class, to paint a face whose pixels say which class they belong to.
PALETTE = np.array([(0, 0, 0), (250, 200, 150), (120, 60, 20), (60, 120, 20), (0, 0, 250), (0, 250, 250),
                    (250, 0, 250), (250, 0, 0)], dtype=np.uint8)


def test_every_class_is_drawn_where_the_landmarks_put_it():
    landmarks = face_landmarks()
    label = draw_parts(landmarks)
    assert label.shape == (128, 128) and label.dtype == np.uint8
    assert set(np.unique(label)) == set(range(NUM_CLASSES)), 'all eight classes, nothing else'
    assert label[2, 2] == BACKGROUND and label[2, 125] == BACKGROUND
    assert label[125, 64] == SKIN, 'the neck runs down to the crop edge'
    assert label[60, 64] == NOSE and label[87, 64] == MOUTH
    # The eye on the image's left is eye_l, and likewise for brows.
    assert label[43, 42] == EYE_L and label[43, 86] == EYE_R
    assert label[30, 39] == EYEBROW_L and label[30, 89] == EYEBROW_R
    # The mouth covers the lip polygon: its area matches the polygon's within rasterisation error
    # (the pixels the outline crosses, at most its length).
    polygon = landmarks[48:60].astype(np.float32)
    assert abs((label == MOUTH).sum() - cv2.contourArea(polygon)) < cv2.arcLength(polygon, closed=True)


def test_parts_lie_inside_the_face_with_no_background_holes():
    label = draw_parts(face_landmarks(dx=3, dy=-2, rotation_deg=8))
    face = (label != BACKGROUND).astype(np.uint8)
    # The face region is one blob without holes: every part sits on skin, none cuts through to background.
    count, _ = cv2.connectedComponents(face)
    assert count == 2
    # Background only outside the face: every background piece reaches the crop's border.
    pieces, background = cv2.connectedComponents(1 - face)
    border = np.concatenate([background[0], background[-1], background[:, 0], background[:, -1]])
    assert set(range(1, pieces)) <= set(border.tolist())
    # Each part is one piece: a later part overdrawing an earlier one must not split it.
    for cls in (EYEBROW_L, EYEBROW_R, EYE_L, EYE_R, NOSE, MOUTH):
        pieces, _ = cv2.connectedComponents((label == cls).astype(np.uint8))
        assert pieces == 2, f'{CLASSES[cls]} is in {pieces - 1} pieces'


def test_flipping_the_map_equals_drawing_the_mirrored_face():
    landmarks = face_landmarks(dx=7, dy=3, rotation_deg=-6)  # off-centre: the flip is not the same map
    flipped = flip_labels(draw_parts(landmarks))
    assert (flipped != draw_parts(landmarks)).mean() > 0.02
    redrawn = draw_parts(mirrored(landmarks))
    assert (flipped == redrawn).mean() > 0.99, 'only rasterisation differences at part edges'
    assert np.nonzero(flipped == EYE_L)[1].mean() < np.nonzero(flipped == EYE_R)[1].mean(), \
        'after the swap, eye_l is again the eye on the left of the image'


def test_augmentation_moves_the_map_with_the_face_and_swaps_sides_on_a_flip():
    label = draw_parts(face_landmarks(dx=20))  # far right of centre: a flip moves it far left
    image = PALETTE[label]
    no_colour = PartsAugmentation(max_brightness=0, max_contrast=0, max_saturation=0)
    flips = 0
    for seed in range(8):
        out_image, out_label = augment_pair(image, label, random.Random(seed), no_colour)
        # Each pixel's colour still names its class (linear vs nearest sampling differ only at edges).
        distance = np.abs(out_image.astype(int) - PALETTE[out_label].astype(int)).sum(axis=2)
        assert (distance < 40).mean() > 0.93
        assert np.nonzero(out_label == EYE_L)[1].mean() < np.nonzero(out_label == EYE_R)[1].mean(), \
            'eye_l stays the eye on the left of the image, flipped or not'
        flips += int(np.nonzero(out_label != BACKGROUND)[1].mean() < 64)
    assert 0 < flips < 8, 'some draws flip and some do not'


def test_colour_changes_leave_the_map_alone():
    label = draw_parts(face_landmarks())
    still = PartsAugmentation(flip=False, max_rotation_deg=0, max_shift=0, max_scale=0)
    image = np.full((128, 128, 3), 120, np.uint8)
    out_image, out_label = augment_pair(image, label, random.Random(3), still)
    np.testing.assert_array_equal(out_label, label)
    assert not np.array_equal(out_image, image)


def test_fasseg_colours_quantise_to_the_nearest_class_edges_included():
    colours = np.array([[FASSEG_COLOURS[c] for c in range(6)]], dtype=np.uint8)
    np.testing.assert_array_equal(quantise_fasseg(colours), [[0, 1, 2, 3, 4, 5]])
    # Anti-aliased edge blends seen in the files: near-yellow is skin, near-red is background, and so on.
    blends = np.array([[(237, 219, 0), (235, 0, 0), (1, 255, 254), (254, 254, 1), (140, 0, 0), (1, 1, 254)]], np.uint8)
    np.testing.assert_array_equal(quantise_fasseg(blends), [[2, 0, 4, 2, 1, 3]])
    with pytest.raises(ValueError, match='H×W×3'):
        quantise_fasseg(np.zeros((4, 4), np.uint8))


def test_our_classes_map_onto_fasseg():
    assert [TO_FASSEG[c] for c in (BACKGROUND, SKIN, EYEBROW_L, EYEBROW_R, EYE_L, EYE_R, NOSE, MOUTH)] == \
        [0, 2, 1, 1, 3, 3, 4, 5]


def test_confusion_and_iou_by_hand():
    truth = np.array([[0, 0, 1, 1], [2, 2, 255, 1]])
    predicted = np.array([[0, 1, 1, 1], [2, 0, 0, 1]])
    counts = confusion(truth, predicted, 3)
    np.testing.assert_array_equal(counts, [[1, 1, 0], [0, 3, 0], [1, 0, 1]])
    # class 0: hits 1, union 1 + (1 + 1) = 3; class 1: 3 / 4; class 2: 1 / 2.
    np.testing.assert_allclose(class_iou(counts), [1 / 3, 3 / 4, 1 / 2])
    assert np.isnan(class_iou(np.zeros((2, 2), np.int64))).all()


def test_labels_warp_with_the_alignment_transform_and_outside_is_ignored():
    rng = np.random.default_rng(0)
    source = rng.integers(0, 6, size=(128, 128), dtype=np.uint8)
    # x' = −y + 128, y' = x: a quarter turn clockwise, as src/align writes transforms.
    turned = warp_labels(source, {'a': 0.0, 'b': 1.0, 'tx': 128.0, 'ty': 0.0}, 128)
    np.testing.assert_array_equal(turned, np.rot90(source, -1))
    # A shift by (10, 5) crop pixels: the crop's top-left corner lies outside the photo.
    shifted = warp_labels(source, {'a': 1.0, 'b': 0.0, 'tx': 10.0, 'ty': 5.0}, 128)
    np.testing.assert_array_equal(shifted[5:, 10:], source[:-5, :-10])
    assert (shifted[:5] == IGNORE).all() and (shifted[:, :10] == IGNORE).all()
