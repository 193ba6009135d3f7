"""Occluder-shaped holes: the holes the service hands the generator.

The paper trains and measures on 48×48 squares. In the service the hole is what the occlusion
segmenter finds on a camera face — mostly a face mask over nose, mouth and chin, else a hand, a scarf,
sunglasses or a hat brim — grown by `occlusion.dilatePx`. `--holes occluder` trains on those shapes,
drawn from the occlusion synthesiser (training/occlusion/synth.py) on each face's own landmarks, with
the paper's squares kept in the mix so that the benchmark figure is not forgotten.
"""
from __future__ import annotations

import random

import cv2
import numpy as np

from occlusion.synth import OCCLUDERS, MaskTemplate

from .holes import HOLE_SIZE, IMAGE_SIZE

HOLE_KINDS = ('square', 'facemask', 'hand', 'scarf', 'sunglasses', 'brim')
HOLE_WEIGHTS = (0.25, 0.40, 0.10, 0.10, 0.10, 0.05)
# The service grows the segmenter's mask by occlusion.dilatePx (2) before inpainting.
DILATE_PX = 2
# A hole must leave the generator something to go on (and eq. 2's discount a known pixel).
MAX_HOLE_SHARE = 0.6


def square_hole(rng: random.Random, size: int = IMAGE_SIZE, side: int = HOLE_SIZE) -> np.ndarray:
    hole = np.zeros((size, size), np.uint8)
    top, left = rng.randint(0, size - side), rng.randint(0, size - side)
    hole[top:top + side, left:left + side] = 1
    return hole


def occluder_hole(landmarks: np.ndarray, rng: random.Random, templates: list[MaskTemplate],
                  kind: str | None = None, dilate_px: int = DILATE_PX) -> np.ndarray:
    """A 128×128 uint8 hole (1 = to fill) of one occluder kind placed on a face's 68 landmarks (crop
    pixels); `kind` None draws one by HOLE_WEIGHTS. A shape that covers nothing, or too much, falls
    back to the paper's square."""
    kind = kind or rng.choices(HOLE_KINDS, weights=HOLE_WEIGHTS)[0]
    if kind == 'square':
        return square_hole(rng)
    if kind not in OCCLUDERS:
        raise ValueError(f'unknown hole kind {kind!r}: one of {", ".join(HOLE_KINDS)}')
    _, alpha = OCCLUDERS[kind](rng, landmarks, None, templates)
    hole = (alpha > 0.5).astype(np.uint8)
    if dilate_px:
        hole = cv2.dilate(hole, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate_px + 1,) * 2))
    if not 0 < hole.mean() <= MAX_HOLE_SHARE:
        return square_hole(rng)
    return hole


def boxes_around(masks: np.ndarray, side: int = HOLE_SIZE, size: int = IMAGE_SIZE) -> np.ndarray:
    """N×2 (top, left) of a side×side box centred on each N×H×W hole's centroid, inside the image:
    the region the local discriminator D_l judges when the hole is not a square."""
    boxes = np.zeros((len(masks), 2), np.int64)
    for i, mask in enumerate(masks):
        rows, cols = np.nonzero(mask)
        cy, cx = (rows.mean(), cols.mean()) if len(rows) else (size / 2, size / 2)
        boxes[i] = (np.clip(round(cy - side / 2), 0, size - side), np.clip(round(cx - side / 2), 0, size - side))
    return boxes
