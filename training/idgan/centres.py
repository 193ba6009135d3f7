"""The identity centres f_id of eq. 5: the mean of R's descriptors (128-D face-api, 512-D ArcFace) over each training identity's
clean (unaugmented) aligned crops, each resampled to R's 150 px chip as the trainer does
(recognizer.recognizer_input).

A pass over the training set takes minutes on CPU, so the centres are cached in the aligned set's
folder, as DATA/centres-<key>.pt, the key a digest of R's weights and of the training faces (paths
relative to the folder, and identities): every run and ablation on the same faces shares one file,
a changed set or recognizer makes a new one, and the folder can move. `training/centres.py` makes it
ahead of training; the trainer makes it when it is missing.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .data import FaceRecord, load_rgb, to_tensor
from .losses import identity_centres
from .recognizer import DEFAULT_MANIFEST, recognizer_input


def recognizer_digest(manifest: Path | str = DEFAULT_MANIFEST) -> str:
    """A digest of the recognizer's weight files: centres from other weights are other centres."""
    manifest = Path(manifest)
    groups = json.loads(manifest.read_text())
    digest = hashlib.sha256()
    for path in sorted(p for group in groups for p in group['paths']):
        digest.update((manifest.parent / path).read_bytes())
    return digest.hexdigest()[:16]


def centres_key(folder: Path | str, records: list[FaceRecord], recognizer_id: str) -> str:
    faces = [[os.path.relpath(r.image, folder), r.identity] for r in records]
    return hashlib.sha256(json.dumps([recognizer_id, faces]).encode()).hexdigest()[:16]


def numbered_identities(records: list[FaceRecord]) -> tuple[list[str], torch.Tensor]:
    """The identities in sorted order (as data.AlignedFaces numbers them) and each record's number."""
    identities = sorted({r.identity for r in records})
    number = {identity: i for i, identity in enumerate(identities)}
    return identities, torch.tensor([number[r.identity] for r in records])


def _descriptors(recognizer: torch.nn.Module, batch: torch.Tensor, records: list[FaceRecord]) -> torch.Tensor:
    """A teacher (idgan/teacher.py) cuts its own chip, from the landmarks when it needs them; a bare
    network is face-api's kind, fed the 150 px chip."""
    if hasattr(recognizer, 'needs_landmarks'):
        landmarks = torch.from_numpy(np.stack([r.landmarks for r in records])) if recognizer.needs_landmarks else None
        return recognizer(batch, landmarks)
    return recognizer(recognizer_input(batch))


def recognizer_key(recognizer: torch.nn.Module, manifest: Path | str = DEFAULT_MANIFEST) -> str:
    """What names the centres of this recognizer: a teacher's own key, else the digest of the face-api
    weight files (the key the cache had before there were teachers, so old caches still match)."""
    return getattr(recognizer, 'key', None) or recognizer_digest(manifest)


@torch.no_grad()
def descriptors_of(records: list[FaceRecord], recognizer: torch.nn.Module, device: torch.device | str,
                   batch_size: int = 64, progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """R's descriptors (N×D, on the CPU) of the records' crops, unaugmented."""
    out = []
    for start in range(0, len(records), batch_size):
        chunk = records[start:start + batch_size]
        batch = torch.stack([to_tensor(load_rgb(r.image)) for r in chunk]).to(device)
        out.append(_descriptors(recognizer, batch, chunk).cpu())
        if progress is not None:
            progress(min(start + batch_size, len(records)), len(records))
    return torch.cat(out)


def separation(descriptors: torch.Tensor, labels: torch.Tensor, centres: torch.Tensor) -> dict[str, float]:
    """How well the centres stand for their people: the mean distance of a face to its own centre, to
    the nearest other centre, and the share of faces nearer their own centre than any other."""
    distances = torch.cdist(descriptors, centres)
    own = distances.gather(1, labels[:, None]).squeeze(1)
    if centres.shape[0] < 2:
        return {'mean_distance_to_own_centre': float(own.mean())}
    others = distances.scatter(1, labels[:, None], float('inf')).min(dim=1).values
    return {'mean_distance_to_own_centre': float(own.mean()), 'mean_distance_to_nearest_other': float(others.mean()),
            'nearest_centre_is_own': float((own < others).float().mean())}


def compute_centres(records: list[FaceRecord], recognizer: torch.nn.Module, device: torch.device | str,
                    batch_size: int = 64, progress: Callable[[int, int], None] | None = None) -> dict:
    """The centres of the identities in `records` and what they were made from: {'centres': C×128,
    'identities', 'counts', 'faces', 'separation'}. Row i is the identity numbered i (sorted order)."""
    if not records:
        raise ValueError('no training faces to make identity centres from')
    identities, labels = numbered_identities(records)
    descriptors = descriptors_of(records, recognizer, device, batch_size, progress)
    centres = identity_centres(descriptors, labels, len(identities))
    return {'centres': centres, 'identities': identities, 'counts': torch.bincount(labels).tolist(),
            'faces': len(records), 'separation': separation(descriptors, labels, centres)}


def capped(records: list[FaceRecord], per_identity: int | None) -> list[FaceRecord]:
    """The first `per_identity` records of each identity (all when None): the centre is a mean, and a
    few faces estimate it well while a pass over every face costs an hour of a loaded CPU."""
    if per_identity is None:
        return records
    if per_identity < 1:
        raise ValueError(f'faces per identity for the centres must be 1 or more, got {per_identity}')
    taken: dict[str, int] = {}
    kept = []
    for r in records:
        if taken.get(r.identity, 0) < per_identity:
            taken[r.identity] = taken.get(r.identity, 0) + 1
            kept.append(r)
    return kept


def cache_path(folder: Path | str, records: list[FaceRecord], manifest: Path | str = DEFAULT_MANIFEST,
               recognizer_id: str | None = None) -> Path:
    key = centres_key(folder, records, recognizer_id or recognizer_digest(manifest))
    return Path(folder) / f'centres-{key}.pt'


def load_or_compute_centres(folder: Path | str, records: list[FaceRecord], recognizer: torch.nn.Module,
                            device: torch.device | str, manifest: Path | str = DEFAULT_MANIFEST,
                            batch_size: int = 64, progress: Callable[[int, int], None] | None = None,
                            per_identity: int | None = None) -> tuple[torch.Tensor, Path]:
    """The centres (C×128 on the CPU, rows in sorted identity order) of these training records (at
    most `per_identity` faces of each), from the cache in `folder` when it is there, else computed and
    cached. Also the cache's path."""
    records = capped(records, per_identity)
    path = cache_path(folder, records, manifest, recognizer_key(recognizer, manifest))
    identities, _ = numbered_identities(records)
    dims = getattr(recognizer, 'dims', None)
    if path.is_file():
        # Only files this module wrote are loaded (weights_only=False: 1.13 cannot read the lists otherwise).
        stored = torch.load(path, map_location='cpu', weights_only=False)
        shape = tuple(stored['centres'].shape)
        if stored.get('identities') != identities or shape[0] != len(identities) or (dims is not None and shape[1] != dims):
            raise ValueError(f'{path} does not hold the centres of these {len(identities)} identities; delete it '
                             'to have it made again')
        return stored['centres'], path
    started = time.monotonic()
    made = compute_centres(records, recognizer, device, batch_size, progress)
    made['seconds'] = round(time.monotonic() - started, 1)
    tmp = path.with_name(path.name + '.tmp')
    torch.save(made, tmp)
    os.replace(tmp, path)  # atomic: a half-written cache is never read
    return made['centres'], path
