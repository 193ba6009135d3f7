"""Face-part labels for training the parser S, drawn from the 68 landmarks of an aligned crop, and
FASSEG-v2's colour labels read into the same terms for measuring S.

No pretrained parser exists here, so S learns from these drawn maps (issue 3, item 2). The classes:

    0 background   everything that is not face or neck, hair included (see below)
    1 skin         the face outline (jaw 0–16 closed by an arc over the forehead) and the neck
    2 eyebrow_l    the eyebrow on the image's left (landmarks 17–21), 3 eyebrow_r (22–26)
    4 eye_l        the eye on the image's left (36–41), 5 eye_r (42–47)
    6 nose         bridge and nostrils (27–35)
    7 mouth        the outer lip contour (48–59), lips and the opening between them

Left and right are the image's sides: a horizontal flip swaps them (`FLIP_CLASSES`).

Hair is left out: landmarks say nothing about where hair ends, and a guess from colour would fail on
hats, bald heads and dark backgrounds; a confident wrong label teaches S more harm than none. So
eyebrows map to FASSEG's "hair" (FASSEG paints them with the hair colour), and the comparison with
FASSEG is over the classes both label sets share: background, skin, eyes, nose, mouth.

The forehead and neck are estimates (the landmarks stop at the brows and the chin): the forehead
rises 0.8 of the brow-to-nose-base distance above the brows (faces are about three equal thirds;
hair often covers the top of the last one), and the neck runs straight down from jaw points 4 and
12. FASSEG counts neck as skin, as here; on FASSEG's 20 *training* faces the drawn maps agree with
its labels at mean IoU 0.755 with this neck, 0.745 with a narrower one from points 5 and 11 (the
test faces were not used to choose).
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from .data import FaceRecord, load_rgb, to_tensor

CLASSES = ('background', 'skin', 'eyebrow_l', 'eyebrow_r', 'eye_l', 'eye_r', 'nose', 'mouth')
NUM_CLASSES = len(CLASSES)
BACKGROUND, SKIN, EYEBROW_L, EYEBROW_R, EYE_L, EYE_R, NOSE, MOUTH = range(NUM_CLASSES)
# FLIP_CLASSES[c]: the class of a pixel labelled c once the image is mirrored left–right.
FLIP_CLASSES = np.array([BACKGROUND, SKIN, EYEBROW_R, EYEBROW_L, EYE_R, EYE_L, NOSE, MOUTH], dtype=np.uint8)

# Shape constants, in units of the distance between the eye centres (about 40 px in a 128 px crop).
FOREHEAD_HEIGHT = 0.8        # of the brow-to-nose-base distance, above the brows
EYEBROW_THICKNESS = 0.12     # the brow landmarks lie on its upper edge; the band hangs below them
EYE_GROWTH = 1.15            # the eyelid contour sits inside the visible eye region; grow it a little
NOSE_BRIDGE_HALF_WIDTH = 0.10
NOSE_WING_SPREAD = 0.25      # alae reach this share of the nostril span beyond landmarks 31 and 35

# cv2.fillPoly draws fixed-point vertices with this many fractional bits: sub-pixel landmark accuracy.
_SHIFT = 4


def _fill(label: np.ndarray, polygon: np.ndarray, value: int) -> None:
    points = np.round(np.asarray(polygon, dtype=np.float64) * (1 << _SHIFT)).astype(np.int32)
    cv2.fillPoly(label, [points], int(value), lineType=cv2.LINE_8, shift=_SHIFT)


def _grown(polygon: np.ndarray, factor: float) -> np.ndarray:
    centre = polygon.mean(axis=0)
    return centre + (polygon - centre) * factor


def face_frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The face's own axes: `right` along the eye line (towards the image's right for an upright face),
    `down` perpendicular to it (towards the chin), and the distance between the eye centres."""
    left_eye = landmarks[36:42].mean(axis=0)
    right_eye = landmarks[42:48].mean(axis=0)
    eye_line = right_eye - left_eye
    eye_distance = float(np.linalg.norm(eye_line))
    if not eye_distance > 1e-6:
        raise ValueError('the two eye contours coincide: these are not the 68 landmarks of a face')
    right = eye_line / eye_distance
    down = np.array([-right[1], right[0]])
    return right, down, eye_distance


def draw_parts(landmarks: np.ndarray, size: int = 128) -> np.ndarray:
    """The size×size class map (uint8, values in 0…NUM_CLASSES−1) of a face with these 68 landmarks
    (iBUG order, crop pixels with pixel centres at integer + 0.5, as `unmask dataset align` writes
    them). Later parts are drawn over earlier ones, so every pixel has exactly one class: skin, then
    nose, eyes, eyebrows and mouth."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.shape != (68, 2) or not np.isfinite(landmarks).all():
        raise ValueError(f'expected 68 finite (x, y) landmarks, got an array of shape {landmarks.shape}')
    # cv2 puts pixel (i, j)'s centre at integer (i, j): move the landmarks by half a pixel.
    points = landmarks - 0.5
    right, down, eye_distance = face_frame(points)
    label = np.zeros((size, size), dtype=np.uint8)

    jaw = points[0:17]
    brows = points[17:27]
    brow_middle = brows.mean(axis=0)
    forehead = FOREHEAD_HEIGHT * float(np.dot(points[33] - brow_middle, down))
    # The skull's top: half an ellipse over the jaw's ends, as high as the brows plus the forehead.
    jaw_centre = (jaw[0] + jaw[16]) / 2
    half_width = float(np.linalg.norm(jaw[16] - jaw[0])) / 2
    height = max(float(np.dot(jaw_centre - brow_middle, down)) + forehead, 1.0)
    arc = [jaw_centre + right * half_width * math.cos(t) - down * height * math.sin(t)
           for t in np.linspace(0, math.pi, 25)[1:-1]]
    _fill(label, np.concatenate([jaw, np.array(arc)]), SKIN)
    reach = 2.0 * size  # far enough down to leave any crop
    _fill(label, np.array([jaw[4], jaw[12], jaw[12] + down * reach, jaw[4] + down * reach]), SKIN)

    nostrils = points[31:36]
    span = nostrils[4] - nostrils[0]
    wing_l = nostrils[0] - span * NOSE_WING_SPREAD
    wing_r = nostrils[4] + span * NOSE_WING_SPREAD
    bridge = NOSE_BRIDGE_HALF_WIDTH * eye_distance * right
    # Down the bridge from landmark 27, out to the alae at the height of landmark 30, round the nostrils.
    side = float(np.dot(points[30] - points[27], down))
    _fill(label, np.array([points[27] - bridge, points[27] + down * side * 0.6 - bridge * 1.5,
                           wing_l, *nostrils, wing_r,
                           points[27] + down * side * 0.6 + bridge * 1.5, points[27] + bridge]), NOSE)

    _fill(label, _grown(points[36:42], EYE_GROWTH), EYE_L)
    _fill(label, _grown(points[42:48], EYE_GROWTH), EYE_R)

    thickness = EYEBROW_THICKNESS * eye_distance
    for brow, cls in ((points[17:22], EYEBROW_L), (points[22:27], EYEBROW_R)):
        _fill(label, np.concatenate([brow, (brow + down * thickness)[::-1]]), cls)

    _fill(label, points[48:60], MOUTH)
    return label


def flip_labels(label: np.ndarray) -> np.ndarray:
    """The class map of the mirrored image: mirrored, with left and right classes swapped."""
    return FLIP_CLASSES[label[:, ::-1]]


# --- FASSEG-v2 -------------------------------------------------------------------------------------
# Its *_Labels are RGB PNGs painted in six colours, anti-aliased at the edges (read off the files:
# these six hold all but a few thousandths of the pixels; the rest are blends of two of them).
FASSEG_CLASSES = ('background', 'hair', 'skin', 'eyes', 'nose', 'mouth')
FASSEG_COLOURS = np.array([
    (255, 0, 0),      # background: red
    (127, 0, 0),      # hair (eyebrows too): dark red
    (255, 255, 0),    # skin (face, ears, neck): yellow
    (0, 0, 255),      # eyes: blue
    (0, 255, 255),    # nose: cyan
    (0, 255, 0),      # mouth: green
], dtype=np.int32)
FASSEG_HAIR = 1
# Each of our classes in FASSEG's terms.
TO_FASSEG = np.array([0, 2, 1, 1, 3, 3, 4, 5], dtype=np.uint8)
# The FASSEG classes both label sets have: what the mean IoU is taken over.
SHARED_FASSEG_CLASSES = (0, 2, 3, 4, 5)


def quantise_fasseg(rgb: np.ndarray) -> np.ndarray:
    """H×W×3 uint8 FASSEG label image → H×W class indices into FASSEG_CLASSES, each pixel given the
    class of the nearest of the six colours (the anti-aliased edge pixels are blends)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f'a FASSEG label image is H×W×3 RGB, got shape {rgb.shape}')
    distances = ((rgb.astype(np.int32)[:, :, None, :] - FASSEG_COLOURS[None, None]) ** 2).sum(axis=3)
    return distances.argmin(axis=2).astype(np.uint8)


# --- Training data for S ---------------------------------------------------------------------------

@dataclass(frozen=True)
class PartsAugmentation:
    """Random changes applied alike to a face and its class map (the colour ones to the face only):
    S must parse faces a little off the template and in other light (FASSEG's studio photos)."""
    flip: bool = True
    max_rotation_deg: float = 10.0
    max_shift: float = 0.05        # of the side
    max_scale: float = 0.05        # ± relative
    max_brightness: float = 0.25   # ± relative
    max_contrast: float = 0.25
    max_saturation: float = 0.3


def augment_pair(image: np.ndarray, label: np.ndarray, rng: random.Random,
                 aug: PartsAugmentation) -> tuple[np.ndarray, np.ndarray]:
    """One random flip (left/right classes swapped), rotation, shift and scale of an H×W×3 uint8 face
    and its H×W class map, then a colour change of the face. Edges are replicated in both, as the
    aligner does past the photo's border."""
    if aug.flip and rng.random() < 0.5:
        image, label = image[:, ::-1], flip_labels(label)
    size = image.shape[0]
    matrix = cv2.getRotationMatrix2D((size / 2 - 0.5, size / 2 - 0.5), rng.uniform(-aug.max_rotation_deg, aug.max_rotation_deg),
                                     1 + rng.uniform(-aug.max_scale, aug.max_scale))
    matrix[:, 2] += (rng.uniform(-aug.max_shift, aug.max_shift) * size, rng.uniform(-aug.max_shift, aug.max_shift) * size)
    image = cv2.warpAffine(np.ascontiguousarray(image), matrix, (size, size), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
    label = cv2.warpAffine(np.ascontiguousarray(label), matrix, (size, size), flags=cv2.INTER_NEAREST,
                           borderMode=cv2.BORDER_REPLICATE)
    pixels = image.astype(np.float32)
    grey = pixels.mean(axis=2, keepdims=True)
    pixels = grey + (pixels - grey) * (1 + rng.uniform(-aug.max_saturation, aug.max_saturation))
    pixels = pixels.mean() + (pixels - pixels.mean()) * (1 + rng.uniform(-aug.max_contrast, aug.max_contrast))
    pixels = pixels * (1 + rng.uniform(-aug.max_brightness, aug.max_brightness))
    return np.clip(pixels, 0, 255).round().astype(np.uint8), label


class FacePartsDataset(Dataset):
    """Aligned faces with their drawn part maps. Items: {'image': 3×128×128 in [0, 1], 'label': 128×128
    class indices (int64)}; augmented when `augmentation` is given, seeded by (seed, epoch, item)."""

    def __init__(self, records: list[FaceRecord], augmentation: PartsAugmentation | None = None, seed: int = 0):
        if not records:
            raise ValueError('no faces to parse')
        self.records = records
        self.augmentation = augmentation
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict:
        record = self.records[i]
        image = load_rgb(record.image)
        label = draw_parts(record.landmarks, image.shape[0])
        if self.augmentation is not None:
            image, label = augment_pair(image, label, random.Random(f'{self.seed}:{self.epoch}:{i}'), self.augmentation)
        return {'image': to_tensor(image), 'label': torch.from_numpy(np.ascontiguousarray(label)).long()}


# --- Scores ----------------------------------------------------------------------------------------

def confusion(truth: np.ndarray, predicted: np.ndarray, num_classes: int, ignore: int = 255) -> np.ndarray:
    """num_classes×num_classes counts, [true class, predicted class]; pixels whose truth is `ignore`
    are left out."""
    keep = truth != ignore
    t, p = truth[keep].astype(np.int64), predicted[keep].astype(np.int64)
    if t.size and (t.max() >= num_classes or p.max() >= num_classes or p.min() < 0):
        raise ValueError(f'class indices must lie in 0…{num_classes - 1}')
    return np.bincount(t * num_classes + p, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def class_iou(counts: np.ndarray) -> np.ndarray:
    """Per-class intersection over union from a confusion matrix; NaN for a class that is neither in
    the truth nor predicted."""
    hits = np.diag(counts).astype(np.float64)
    union = counts.sum(axis=0) + counts.sum(axis=1) - hits
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(union > 0, hits / union, np.nan)
