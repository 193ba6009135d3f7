"""The parser S: it learns, it loads as it was saved, and train_parser.py trains, resumes and stops on time."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from idgan.networks import ParsingNet, load_parser, parser_from_state
from idgan.parts import NUM_CLASSES, draw_parts
from synthetic import face_landmarks, write_aligned_set
from train_parser import PARSER, ParserSettings, ParserTrainer


def synthetic_face(dx: float, dy: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A face whose parts have their own grey levels plus noise, and its landmarks."""
    landmarks = face_landmarks(dx, dy)
    label = draw_parts(landmarks)
    levels = np.linspace(30, 230, NUM_CLASSES)[label]
    noise = np.random.default_rng(seed).normal(0, 12, size=(128, 128, 3))
    return np.clip(levels[:, :, None] + noise, 0, 255).astype(np.uint8), landmarks


def test_an_optimisation_step_lowers_the_loss_on_a_tiny_batch():
    torch.manual_seed(0)
    faces = [synthetic_face(dx, 0, seed) for seed, dx in enumerate((-4, 5))]
    # At 64×64 (the net takes any side divisible by 8): a quarter of the work, the same layers.
    images = F.avg_pool2d(torch.stack([torch.from_numpy(f).permute(2, 0, 1).float() / 255 for f, _ in faces]), 2)
    labels = torch.stack([torch.from_numpy(draw_parts(l)[::2, ::2].copy()).long() for _, l in faces])
    parser = ParsingNet(NUM_CLASSES, width=8)
    optimiser = torch.optim.Adam(parser.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        loss = F.cross_entropy(parser(images), labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in parser.parameters())


def test_a_saved_parser_loads_with_its_own_class_count_and_width(tmp_path):
    parser = ParsingNet(num_classes=7, width=6).eval()
    path = tmp_path / 'parser.pt'
    torch.save({'model': parser.state_dict(), 'step': 3}, path)
    loaded = load_parser(path)
    assert (loaded.num_classes, loaded.width, loaded.training) == (7, 6, False)
    assert not any(p.requires_grad for p in loaded.parameters())
    image = torch.rand(1, 3, 128, 128)
    torch.testing.assert_close(loaded(image), parser(image))
    # A bare state dict (what older code saved) loads too.
    assert parser_from_state(parser.state_dict()).num_classes == 7
    with pytest.raises(ValueError, match='not a ParsingNet'):
        parser_from_state({'weight': torch.zeros(1)})
    with pytest.raises(FileNotFoundError, match='train_parser.py'):
        load_parser(tmp_path / 'missing.pt')


@pytest.fixture(scope='module')
def aligned_set(tmp_path_factory):
    folder = tmp_path_factory.mktemp('aligned')
    faces = []
    for n in range(6):
        image, landmarks = synthetic_face(dx=n - 3, dy=(n % 3) - 1, seed=n)
        faces.append((f'p{n % 3}', 'val' if n == 5 else 'train', image, landmarks))
    write_aligned_set(folder, faces)
    return folder


def test_train_parser_trains_resumes_and_writes_the_parser(aligned_set, tmp_path):
    settings = dict(data=str(aligned_set), out=str(tmp_path / 'run'), batch_size=2, width=4, val_faces=1,
                    log_every=1, eval_every=1, checkpoint_every=1)
    first = ParserTrainer(ParserSettings(steps=2, **settings))
    first.run()
    assert first.step == 2
    resumed = ParserTrainer(ParserSettings(steps=3, **settings))
    assert resumed.step == 2, 'picked up from the checkpoint'
    torch.testing.assert_close(resumed.model.state_dict()['classify.weight'], first.model.state_dict()['classify.weight'])
    metrics = resumed.run()
    assert resumed.step == 3 and 0 <= metrics['val_mean_iou'] <= 1
    parser = load_parser(tmp_path / 'run' / PARSER)
    assert (parser.num_classes, parser.width) == (NUM_CLASSES, 4)
    log = [json.loads(line) for line in (tmp_path / 'run' / 'log.jsonl').read_text().splitlines()]
    assert [r['step'] for r in log if 'loss' in r] == [1, 2, 3]
    with pytest.raises(ValueError, match='width = 4'):
        ParserTrainer(ParserSettings(steps=4, **(settings | {'width': 8})))


def test_train_parser_stops_when_the_time_budget_is_spent(aligned_set, tmp_path):
    trainer = ParserTrainer(ParserSettings(data=str(aligned_set), out=str(tmp_path / 'run'), steps=50, batch_size=2,
                                           width=4, val_faces=1, time_budget_s=0.0))
    trainer.run()
    assert trainer.step == 1, 'one step, then the spent budget ends the run'
    assert (tmp_path / 'run' / PARSER).is_file()
