"""The aligned training set written by `unmask dataset align` (src/dataset/align.ts): reading, augmenting,
and batching by identity.

Folder layout: DIR/index.csv (file, image, identity, split, score, x0, y0 … x67, y67) and the 128×128
PNGs it names. Identity labels are numbered 0…C−1 over the training split, in sorted order.
"""
from __future__ import annotations

import csv
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from occlusion.synth import load_mask_templates

from .holes import HOLE_SIZE, IMAGE_SIZE, random_holes
from .occluder_holes import occluder_hole

INDEX_COLUMNS = 5 + 2 * 68


@dataclass(frozen=True)
class FaceRecord:
    image: Path
    identity: str
    split: str
    landmarks: np.ndarray  # 68×2, crop pixels


def read_index(folder: Path | str) -> list[FaceRecord]:
    folder = Path(folder)
    index = folder / 'index.csv'
    if not index.is_file():
        raise FileNotFoundError(
            f'no {index}: make the aligned set first, e.g. '
            f'`npx unmask dataset align ../shared/data/celeba-crops --out {folder}`')
    records = []
    with index.open(newline='') as f:
        rows = csv.reader(f)
        header = next(rows, None)
        if header is None or header[:5] != ['file', 'image', 'identity', 'split', 'score'] or len(header) != INDEX_COLUMNS:
            raise ValueError(f'{index} does not have the header `unmask dataset align` writes')
        for line_number, row in enumerate(rows, start=2):
            if len(row) != INDEX_COLUMNS:
                raise ValueError(f'{index}:{line_number}: expected {INDEX_COLUMNS} columns, got {len(row)}')
            landmarks = np.asarray(row[5:], dtype=np.float32).reshape(68, 2)
            records.append(FaceRecord(image=folder / row[1], identity=row[2], split=row[3], landmarks=landmarks))
    if not records:
        raise ValueError(f'{index} lists no faces')
    return records


@dataclass(frozen=True)
class Augmentation:
    """Paper §IV-A: flips, shifts and rotations within ±15°. Shift is a fraction of the side."""
    flip: bool = True
    max_rotation_deg: float = 15.0
    max_shift: float = 0.06


# iBUG index of each of the 68 landmarks' mirror image across the face's vertical axis: a flipped
# crop's landmarks, in iBUG order again, are the flipped points taken in this order.
IBUG_MIRROR = np.array(
    list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + [35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46] + [39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48] + [59, 58, 57, 56, 55] + [64, 63, 62, 61, 60] + [67, 66, 65])


def mirror_landmarks(points: np.ndarray, size: int) -> np.ndarray:
    """The 68 landmarks (…×68×2, pixel centres at integer + ½) of the left–right mirrored `size` px crop, in
    iBUG order again."""
    mirrored = np.array(points, np.float64, copy=True)
    mirrored[..., 0] = size - mirrored[..., 0]
    return mirrored[..., IBUG_MIRROR, :]


def augment(image: np.ndarray, rng: random.Random, aug: Augmentation, hole: np.ndarray | None = None):
    """One random flip + rotation + shift of an H×W×3 uint8 face, edges replicated (no black corners).
    With `hole` (H×W uint8) the same move is applied to it (nearest neighbour) and (image, hole) returned."""
    moved, moved_hole, _ = augment_all(image, rng, aug, hole)
    return moved if hole is None else (moved, moved_hole)


def augment_all(image: np.ndarray, rng: random.Random, aug: Augmentation, hole: np.ndarray | None = None,
                landmarks: np.ndarray | None = None):
    """augment(), and the face's 68 landmarks (crop pixels, pixel centres at integer + ½, as index.csv
    has them) moved with it: (image, hole or None, landmarks or None). The random draws are the same
    as augment()'s, so a run draws the same moves whether or not it asks for the landmarks."""
    flip = aug.flip and rng.random() < 0.5
    if flip:
        image = image[:, ::-1]
    size = image.shape[0]
    angle = rng.uniform(-aug.max_rotation_deg, aug.max_rotation_deg)
    dx = rng.uniform(-aug.max_shift, aug.max_shift) * size
    dy = rng.uniform(-aug.max_shift, aug.max_shift) * size
    matrix = cv2.getRotationMatrix2D((size / 2 - 0.5, size / 2 - 0.5), angle, 1.0)
    matrix[:, 2] += (dx, dy)
    moved = cv2.warpAffine(np.ascontiguousarray(image), matrix, (size, size), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
    if hole is not None:
        hole = np.ascontiguousarray(hole[:, ::-1] if flip else hole)
        hole = cv2.warpAffine(hole, matrix, (size, size), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
    if landmarks is not None:
        points = mirror_landmarks(landmarks, size) if flip else np.asarray(landmarks, np.float64).copy()
        # cv2's matrix works on pixel indices (centres at integers); the landmarks' centres are at + ½.
        points = (points - 0.5) @ matrix[:, :2].T + matrix[:, 2] + 0.5
        landmarks = points.astype(np.float32)
    return moved, hole, landmarks


def load_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f'cannot read the aligned face {path}')
    if bgr.shape[:2] != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f'{path} is {bgr.shape[1]}×{bgr.shape[0]}, expected {IMAGE_SIZE}×{IMAGE_SIZE}')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float() / 255.0


HOLE_MODES = ('square', 'occluder')


class AlignedFaces(Dataset):
    """One split of the aligned set. Items: {'image': 3×128×128 in [0, 1], 'label': identity number,
    'landmarks': 68×2 in the (augmented) crop's pixels},
    identities numbered within the split (train and val hold different people). With holes='occluder'
    each item also has 'hole': 1×128×128, an occluder-shaped hole drawn on the face's own landmarks
    (idgan/occluder_holes.py) and moved with the image by the augmentation; with 'square' the trainer
    draws the paper's 48×48 holes itself."""

    def __init__(self, folder: Path | str, split: str, augmentation: Augmentation | None = None,
                 seed: int = 0, limit: int | None = None, holes: str = 'square'):
        if split not in ('train', 'val'):
            raise ValueError(f'split must be train or val, got {split}')
        if holes not in HOLE_MODES:
            raise ValueError(f'holes must be one of {", ".join(HOLE_MODES)}, got {holes}')
        self.holes = holes
        self._templates = None
        self.records = [r for r in read_index(folder) if r.split == split][:limit]
        if not self.records:
            raise ValueError(f'{folder}/index.csv has no {split} faces')
        self.identities = sorted({r.identity for r in self.records})
        number = {identity: i for i, identity in enumerate(self.identities)}
        self.labels = torch.tensor([number[r.identity] for r in self.records])
        self.augmentation = augmentation
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict:
        rgb = load_rgb(self.records[i].image)
        # Seeded by (seed, epoch, item): the same run draws the same holes and augmentations, with any workers.
        rng = random.Random(f'{self.seed}:{self.epoch}:{i}')
        hole = self._occluder_hole(i, rng) if self.holes == 'occluder' else None
        landmarks = self.records[i].landmarks
        if self.augmentation is not None:
            rgb, hole, landmarks = augment_all(rgb, rng, self.augmentation, hole, landmarks)
        # The landmarks (68×2, moved with the face) place the ArcFace recognizer's chip (idgan/teacher.py).
        item = {'image': to_tensor(rgb), 'label': int(self.labels[i]),
                'landmarks': torch.from_numpy(np.asarray(landmarks, np.float32))}
        if hole is not None:
            item['hole'] = torch.from_numpy(hole.astype(np.float32)).unsqueeze(0)
        return item

    def _occluder_hole(self, i: int, rng: random.Random) -> np.ndarray:
        if self._templates is None:  # read once, and only in this mode (the MaskTheFace files)
            self._templates = load_mask_templates()
        return occluder_hole(self.records[i].landmarks, rng, self._templates)


class IdentityBatchSampler(Sampler[list[int]]):
    """Batches of `batch_size` images made of `per_identity` images from each of batch_size/per_identity
    identities: what the triplet ablation needs (same-identity pairs in every batch). All variants
    use it, so that they see the same batches. Identities with fewer images repeat some."""

    def __init__(self, labels: torch.Tensor, batch_size: int, per_identity: int = 2, seed: int = 0):
        if batch_size % per_identity:
            raise ValueError(f'batch size {batch_size} is not a multiple of {per_identity} images per identity')
        self.by_identity: dict[int, list[int]] = {}
        for index, label in enumerate(labels.tolist()):
            self.by_identity.setdefault(label, []).append(index)
        self.identities_per_batch = batch_size // per_identity
        if len(self.by_identity) < self.identities_per_batch:
            raise ValueError(f'{len(self.by_identity)} identities cannot fill batches of {self.identities_per_batch} identities')
        self.per_identity = per_identity
        self.seed = seed
        self.epoch = 0
        self.batches_per_epoch = max(1, len(labels) // batch_size)

    def __len__(self) -> int:
        return self.batches_per_epoch

    def __iter__(self) -> Iterator[list[int]]:
        rng = random.Random(f'{self.seed}:{self.epoch}')
        pending: list[int] = []  # identities in a shuffled order, taken a batch's worth at a time
        for _ in range(self.batches_per_epoch):
            if len(pending) < self.identities_per_batch:
                fresh = list(self.by_identity)
                rng.shuffle(fresh)
                pending += fresh
            chosen, pending = pending[:self.identities_per_batch], pending[self.identities_per_batch:]
            batch = []
            for identity in chosen:
                images = self.by_identity[identity]
                picks = rng.sample(images, self.per_identity) if len(images) >= self.per_identity else \
                    [rng.choice(images) for _ in range(self.per_identity)]
                batch += picks
            yield batch


def fixed_holes(count: int, seed: int = 1234) -> torch.Tensor:
    """The validation holes: one seeded 48×48 place per validation face, the same in every evaluation."""
    return random_holes(count, torch.Generator().manual_seed(seed), IMAGE_SIZE, HOLE_SIZE)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB over the whole image, pixel values in [0, 1]."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)

