"""Synthetic faces for the parser and centre tests: 68 plausible landmarks, and small aligned sets on disk
in the layout `unmask dataset align` writes."""
from __future__ import annotations

import csv
import math
from pathlib import Path

import cv2
import numpy as np

from idgan.data import INDEX_COLUMNS


def _arc(cx: float, cy: float, rx: float, ry: float, start_deg: float, end_deg: float, count: int) -> list:
    return [(cx + rx * math.cos(math.radians(t)), cy + ry * math.sin(math.radians(t)))
            for t in np.linspace(start_deg, end_deg, count)]


def _eye(cx: float, cy: float, half_width: float, half_height: float) -> list:
    # iBUG order: outer corner, two upper points, inner corner, two lower points (for the image-left eye).
    return [(cx - half_width, cy), (cx - half_width / 3, cy - half_height), (cx + half_width / 3, cy - half_height),
            (cx + half_width, cy), (cx + half_width / 3, cy + half_height), (cx - half_width / 3, cy + half_height)]


def face_landmarks(dx: float = 0.0, dy: float = 0.0, rotation_deg: float = 0.0) -> np.ndarray:
    """68 iBUG landmarks of a frontal face in a 128 px crop, about where the aligner puts them, moved by
    (dx, dy) and turned by `rotation_deg` about the crop's centre."""
    points = [(64 - 46 * math.cos(t), 48 + 64 * math.sin(t)) for t in np.linspace(0, math.pi, 17)]  # 0–16 jaw
    points += _arc(39, 32, 13, 4, 180, 360, 5)                        # 17–21 image-left brow
    points += _arc(89, 32, 13, 4, 180, 360, 5)                        # 22–26 image-right brow
    points += [(64, 44 + 8 * i) for i in range(4)]                    # 27–30 nose bridge
    points += [(56 + 4 * i, 72 - (2 if i in (0, 4) else 0)) for i in range(5)]  # 31–35 nostrils
    points += _eye(42, 43, 7, 3)                                      # 36–41 image-left eye
    points += _eye(86, 43, 7, 3)                                      # 42–47 image-right eye
    points += _arc(64, 87, 17, 7, 180, 360, 7)                        # 48–54 outer lip, corners and upper
    points += _arc(64, 87, 17, 7, 0, 180, 7)[1:-1]                    # 55–59 outer lip, lower
    points += _arc(64, 87, 10, 3, 180, 360, 5)                        # 60–64 inner lip, upper
    points += _arc(64, 87, 10, 3, 0, 180, 5)[1:-1]                    # 65–67 inner lip, lower
    landmarks = np.array(points, dtype=np.float64)
    angle = math.radians(rotation_deg)
    turn = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return (landmarks - 64) @ turn.T + 64 + (dx, dy)


# iBUG index of each landmark's mirror image across the face's vertical axis.
MIRROR = np.array(
    list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + [35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46] + [39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48] + [59, 58, 57, 56, 55] + [64, 63, 62, 61, 60] + [67, 66, 65])


def mirrored(landmarks: np.ndarray, size: int = 128) -> np.ndarray:
    """The landmarks of the left–right mirrored crop, in iBUG order again."""
    flipped = landmarks.copy()
    flipped[:, 0] = size - flipped[:, 0]  # continuous coordinates, pixel centres at integer + 0.5
    return flipped[MIRROR]


def write_aligned_set(folder: Path, faces: list[tuple[str, str, np.ndarray, np.ndarray]]) -> None:
    """An aligned-set folder: faces as (identity, split, 128×128×3 RGB uint8, 68×2 landmarks)."""
    folder.mkdir(parents=True, exist_ok=True)
    header = ['file', 'image', 'identity', 'split', 'score'] + [f'{c}{i}' for i in range(68) for c in 'xy']
    assert len(header) == INDEX_COLUMNS
    with (folder / 'index.csv').open('w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for n, (identity, split, rgb, landmarks) in enumerate(faces):
            (folder / identity).mkdir(exist_ok=True)
            name = f'{identity}/{n:04d}.png'
            cv2.imwrite(str(folder / name), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            writer.writerow([f'{n:04d}.jpg', name, identity, split, '0.99'] + [f'{v:.2f}' for v in landmarks.reshape(-1)])
