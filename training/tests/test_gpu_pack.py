"""training/gpu/pack.py: the JPEG bundle of the aligned set, its size limit, its index and centres cache,
and the data loader reading the unpacked bundle."""
from __future__ import annotations

import csv
import json
import sys
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from idgan.centres import cache_path
from idgan.data import AlignedFaces, read_index
from synthetic import face_landmarks, write_aligned_set

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'gpu'))
import pack  # noqa: E402

MIB = 1024 * 1024


def textured_face(rng: np.random.Generator) -> np.ndarray:
    """A smooth gradient under noise: JPEG keeps it close, and the noise keeps the files large enough
    for the quality to change their size."""
    y, x = np.mgrid[0:128, 0:128]
    base = np.stack([x, y, (x + y) / 2], axis=-1) * 1.5 + rng.integers(0, 60, size=3)
    return np.clip(base + rng.normal(0, 12, size=base.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope='module')
def aligned(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp('aligned')
    faces = [(f'id{n % 5}', 'val' if n % 5 == 4 else 'train', textured_face(rng), face_landmarks(dx=n % 3))
             for n in range(20)]
    write_aligned_set(folder, faces)
    return folder


@pytest.fixture(scope='module')
def manifest(tmp_path_factory) -> Path:
    """A stand-in for face-api's weights manifest: the centres key hashes the files it names."""
    folder = tmp_path_factory.mktemp('weights')
    (folder / 'face_recognition_model.bin').write_bytes(b'weights')
    path = folder / 'face_recognition_model-weights_manifest.json'
    path.write_text(json.dumps([{'paths': ['face_recognition_model.bin']}]))
    return path


def unpack(archive: Path, into: Path) -> Path:
    with tarfile.open(archive) as tar:
        tar.extractall(into)
    return into


def test_bundle_holds_jpegs_a_rewritten_index_the_weights_and_the_matching_centres(aligned, manifest, tmp_path, capsys):
    train = [r for r in read_index(aligned) if r.split == 'train']
    source_cache = cache_path(aligned, train, manifest)
    torch.save({'centres': torch.zeros(4, 128), 'identities': ['id0', 'id1', 'id2', 'id3']}, source_cache)
    out = tmp_path / 'bundle.tar'
    try:
        assert pack.main(['--data', str(aligned), '--out', str(out), '--manifest', str(manifest)]) == 0
    finally:
        source_cache.unlink()
    assert 'faces, JPEG quality 80' in capsys.readouterr().out
    root = unpack(out, tmp_path / 'unpacked')
    data = root / 'data'

    with (aligned / 'index.csv').open() as f:
        original = list(csv.reader(f))
    with (data / 'index.csv').open() as f:
        rewritten = list(csv.reader(f))
    assert rewritten[0] == original[0] and len(rewritten) == len(original) == 21
    for old, new in zip(original[1:], rewritten[1:]):
        assert new[1] == old[1][:-len('.png')] + '.jpg'
        assert new[:1] + new[2:] == old[:1] + old[2:]
        assert (data / new[1]).read_bytes()[:2] == b'\xff\xd8'  # a JPEG
    assert not list(data.rglob('*.png'))

    # train.py looks the centres up by the key of the unpacked (.jpg) faces: that is the name they travel under.
    unpacked_train = [r for r in read_index(data) if r.split == 'train']
    assert cache_path(data, unpacked_train, manifest).is_file()
    assert sorted(p.name for p in (root / 'recognizer').iterdir()) == [
        'face_recognition_model-weights_manifest.json', 'face_recognition_model.bin']


def test_data_loader_reads_the_unpacked_jpeg_set(aligned, manifest, tmp_path):
    out = tmp_path / 'bundle.tar'
    assert pack.main(['--data', str(aligned), '--out', str(out), '--manifest', str(manifest)]) == 0
    data = unpack(out, tmp_path / 'unpacked') / 'data'
    faces = AlignedFaces(data, 'train')
    assert len(faces) == 16 and faces.identities == ['id0', 'id1', 'id2', 'id3']
    item = faces[0]
    assert item['image'].shape == (3, 128, 128)
    png = cv2.cvtColor(cv2.imread(str(aligned / 'id0' / '0000.png')), cv2.COLOR_BGR2RGB)
    difference = np.abs(item['image'].permute(1, 2, 0).numpy() - png / 255.0).mean()
    assert difference < 0.05, f'the JPEG is {difference:.3f} from its PNG on average'


def test_quality_is_lowered_until_the_archive_fits(aligned, manifest, tmp_path, capsys):
    out = tmp_path / 'bundle.tar'
    assert pack.main(['--data', str(aligned), '--out', str(out), '--manifest', str(manifest)]) == 0
    at_80 = out.stat().st_size
    capsys.readouterr()
    limit_mib = 0.85 * at_80 / MIB
    assert pack.main(['--data', str(aligned), '--out', str(out), '--manifest', str(manifest),
                      '--max-mib', str(limit_mib)]) == 0
    printed = capsys.readouterr().out
    assert 'quality 80:' in printed and 'quality 75:' in printed
    assert out.stat().st_size <= limit_mib * MIB
    assert 'JPEG quality 80' not in printed.splitlines()[-1]
    assert not out.with_name('bundle.tar.partial').exists()


def test_fails_clearly_when_even_the_floor_quality_is_too_large(aligned, manifest, tmp_path, capsys):
    out = tmp_path / 'bundle.tar'
    assert pack.main(['--data', str(aligned), '--out', str(out), '--manifest', str(manifest),
                      '--max-mib', '0.01', '--quality', '60', '--min-quality', '50']) == 1
    err = capsys.readouterr().err
    assert 'at JPEG quality 50 (the floor' in err and 'over --max-mib 0.01' in err
    assert not out.exists() and not out.with_name('bundle.tar.partial').exists()


def test_a_folder_without_an_index_is_refused(tmp_path, capsys):
    assert pack.main(['--data', str(tmp_path), '--out', str(tmp_path / 'b.tar')]) == 1
    assert 'index.csv' in capsys.readouterr().err
