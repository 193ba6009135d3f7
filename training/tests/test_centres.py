"""Identity centres f_id: the per-identity mean of R's descriptors of the clean crops, cached in the data folder."""
import numpy as np
import pytest
import torch
from torch import nn

from idgan.centres import cache_path, centres_key, load_or_compute_centres
from idgan.data import load_rgb, read_index, to_tensor
from idgan.recognizer import recognizer_input
from synthetic import face_landmarks, write_aligned_set


class CountingRecognizer(nn.Module):
    """A stand-in for R: a fixed random projection of the chip's mean colour and brightness pattern to
    128-D; it counts the faces it sees."""

    def __init__(self):
        super().__init__()
        self.projection = torch.randn(3 * 4 * 4, 128, generator=torch.Generator().manual_seed(0))
        self.faces_seen = 0

    def forward(self, rgb255: torch.Tensor) -> torch.Tensor:
        assert rgb255.shape[1:] == (3, 150, 150), "R's input is the 150 px chip"
        self.faces_seen += len(rgb255)
        return torch.nn.functional.adaptive_avg_pool2d(rgb255 / 255, 4).flatten(1) @ self.projection


@pytest.fixture()
def aligned_set(tmp_path):
    rng = np.random.default_rng(0)
    faces = []
    for identity, count in (('bob', 3), ('ann', 2), ('cid', 1)):
        for _ in range(count):
            faces.append((identity, 'train', rng.integers(0, 256, size=(128, 128, 3), dtype=np.uint8), face_landmarks()))
    faces.append(('dee', 'val', rng.integers(0, 256, size=(128, 128, 3), dtype=np.uint8), face_landmarks()))
    write_aligned_set(tmp_path / 'aligned', faces)
    return tmp_path / 'aligned'


def training_records(folder):
    return [r for r in read_index(folder) if r.split == 'train']


def test_centres_are_the_mean_descriptor_of_each_identity(aligned_set):
    records = training_records(aligned_set)
    recognizer = CountingRecognizer()
    centres, path = load_or_compute_centres(aligned_set, records, recognizer, 'cpu', batch_size=4)
    assert path.parent == aligned_set and path.is_file()
    # Rows in sorted identity order (ann, bob, cid), as data.AlignedFaces numbers the identities.
    for row, identity in enumerate(['ann', 'bob', 'cid']):
        images = torch.stack([to_tensor(load_rgb(r.image))
                              for r in records if r.identity == identity])
        expected = CountingRecognizer()(recognizer_input(images)).mean(dim=0)
        torch.testing.assert_close(centres[row], expected, rtol=1e-5, atol=1e-5)
    assert recognizer.faces_seen == 6, 'each training face once; the validation face not at all'


def test_the_cache_is_reused_and_follows_the_faces(aligned_set):
    records = training_records(aligned_set)
    first = CountingRecognizer()
    centres, path = load_or_compute_centres(aligned_set, records, first, 'cpu')
    again = CountingRecognizer()
    cached, same_path = load_or_compute_centres(aligned_set, records, again, 'cpu')
    assert same_path == path and again.faces_seen == 0
    torch.testing.assert_close(cached, centres)
    # Fewer faces (train.py --data-limit) are other centres, in another file.
    assert cache_path(aligned_set, records[:4]) != path
    assert centres_key(aligned_set, records, 'r1') != centres_key(aligned_set, records, 'r2'), 'another R, another key'


def test_a_cache_for_other_identities_is_refused(aligned_set):
    records = training_records(aligned_set)
    _, path = load_or_compute_centres(aligned_set, records, CountingRecognizer(), 'cpu')
    stored = torch.load(path, weights_only=False)
    torch.save(stored | {'identities': ['x', 'y', 'z']}, path)
    with pytest.raises(ValueError, match='delete it'):
        load_or_compute_centres(aligned_set, records, CountingRecognizer(), 'cpu')


def test_centres_of_at_most_k_faces_per_identity(aligned_set):
    records = training_records(aligned_set)
    recognizer = CountingRecognizer()
    centres, path = load_or_compute_centres(aligned_set, records, recognizer, 'cpu', per_identity=2)
    assert recognizer.faces_seen == 5, 'bob 2 of his 3, ann 2, cid 1'
    assert centres.shape == (3, 128), 'every identity keeps a centre'
    assert path != load_or_compute_centres(aligned_set, records, CountingRecognizer(), 'cpu')[1], 'another file'
    bob = [r for r in records if r.identity == 'bob'][:2]
    expected = CountingRecognizer()(recognizer_input(torch.stack([to_tensor(load_rgb(r.image)) for r in bob]))).mean(dim=0)
    torch.testing.assert_close(centres[1], expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match='must be 1 or more'):
        load_or_compute_centres(aligned_set, records, CountingRecognizer(), 'cpu', per_identity=0)
