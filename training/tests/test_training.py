"""The training step and loop on a tiny synthetic aligned set (the layout `unmask dataset align` writes)."""
import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from idgan.data import AlignedFaces, IdentityBatchSampler, read_index
from idgan.holes import hole_masks
from idgan.losses import IdentityTerm, LossWeights
from idgan.networks import ParsingNet
from idgan.trainer import BEST_GENERATOR, CHECKPOINT, Trainer, TrainSettings

HEADER = ['file', 'image', 'identity', 'split', 'score'] + [f'{a}{i}' for i in range(68) for a in 'xy']


def synthetic_face(rng: np.random.Generator) -> np.ndarray:
    """A smooth, face-like 128×128 image: a skin-coloured ellipse with darker eyes and mouth."""
    image = np.full((128, 128, 3), rng.integers(40, 90, 3), np.uint8)
    skin = tuple(int(v) for v in rng.integers(120, 230, 3))
    cv2.ellipse(image, (64, 64), (40, 52), 0, 0, 360, skin, -1)
    for x in (48, 80):
        cv2.circle(image, (x, 54), 5, (30, 30, 30), -1)
    cv2.ellipse(image, (64, 90), (14, 5), 0, 0, 360, (120, 40, 50), -1)
    return cv2.GaussianBlur(image, (5, 5), 0)


@pytest.fixture(scope='module')
def aligned_set(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp('aligned')
    rng = np.random.default_rng(0)
    rows = []
    for identity, split, count in [('1', 'train', 2), ('2', 'train', 2), ('3', 'train', 3), ('4', 'train', 2), ('9', 'val', 3)]:
        (folder / identity).mkdir()
        for k in range(count):
            name = f'{identity}{k:02d}'
            cv2.imwrite(str(folder / identity / f'{name}.png'), synthetic_face(rng)[:, :, ::-1])
            rows.append([f'{name}.jpg', f'{identity}/{name}.png', identity, split, '0.9'] + ['64.00'] * 136)
    with (folder / 'index.csv').open('w', newline='') as f:
        writer = csv.writer(f, lineterminator='\n')
        writer.writerow(HEADER)
        writer.writerows(rows)
    return folder


@pytest.fixture(scope='module')
def parser_file(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp('parser') / 'parser.pt'
    torch.save({'model': ParsingNet(6).state_dict()}, path)
    return path


def test_dataset_reads_the_index_and_numbers_identities(aligned_set):
    assert len(read_index(aligned_set)) == 12
    train = AlignedFaces(aligned_set, 'train')
    assert train.identities == ['1', '2', '3', '4'] and len(train) == 9
    item = train[0]
    assert item['image'].shape == (3, 128, 128) and 0 <= item['image'].min() and item['image'].max() <= 1


def test_identity_batches_pair_images_of_one_person(aligned_set):
    train = AlignedFaces(aligned_set, 'train')
    sampler = IdentityBatchSampler(train.labels, batch_size=4, per_identity=2, seed=0)
    for batch in sampler:
        labels = train.labels[batch].tolist()
        assert len(batch) == 4 and labels[0] == labels[1] and labels[2] == labels[3]
    assert list(IdentityBatchSampler(train.labels, 4, 2, seed=0)) == list(sampler)


def test_one_optimisation_step_lowers_the_generator_loss(aligned_set, parser_file, tmp_path):
    trainer = Trainer(TrainSettings(data=str(aligned_set), out=str(tmp_path), warmup_steps=0, batch_size=4,
                                    parser=str(parser_file), val_faces=2, seed=0))
    batch = [trainer.train_set[i] for i in range(4)]
    target = torch.stack([b['image'] for b in batch])
    labels = torch.tensor([b['label'] for b in batch])
    boxes = torch.tensor([[10, 20], [40, 40], [80, 0], [0, 80]])
    masks = hole_masks(boxes)

    def objective():
        raw, inpainted = trainer.inpaint(target, masks)
        return trainer.generator_objective(target, labels, boxes, masks, raw, inpainted)

    before, parts = objective()
    # Every term of eq. 7 is in, with the identity-diversity term of L_R.
    assert {'L_I', 'L_Dl', 'L_Dg', 'L_S', 'L_R', 'L_R.instance_low', 'L_R.instance_high', 'L_R.identity'} <= set(parts)
    trainer.opt_g.zero_grad()
    before.backward()
    trainer.opt_g.step()
    with torch.no_grad():
        after, _ = objective()
    assert after.item() < before.item()


def test_training_loop_logs_samples_checkpoints_and_resumes(aligned_set, tmp_path):
    settings = TrainSettings(data=str(aligned_set), out=str(tmp_path), steps=3, warmup_steps=1, batch_size=4, width=8,
                             log_every=1, sample_every=2, eval_every=3, checkpoint_every=2, val_faces=3,
                             weights=LossWeights(identity_term=IdentityTerm.TRIPLET))
    Trainer(settings).run()
    log = [json.loads(line) for line in (tmp_path / 'log.jsonl').read_text().splitlines()]
    steps = [r for r in log if 'L_I' in r]
    assert [r['step'] for r in steps] == [1, 2, 3]
    assert 'D_g' not in steps[0] and {'D_g', 'D_l', 'L_Dg', 'L_R.identity'} <= set(steps[1])  # warm-up: L_I only
    evaluation = next(r for r in log if 'val_psnr' in r)
    assert evaluation['val_faces'] == 3 and evaluation['val_occ_psnr'] > 0 and 0 < evaluation['val_ssim'] <= 1
    grid = cv2.imread(str(tmp_path / 'samples' / 'step-0000002.png'))
    assert grid.shape == (3 * 128, 3 * 128, 3)  # GT / occluded / inpainted rows of the 3 validation faces
    assert (tmp_path / CHECKPOINT).is_file() and (tmp_path / BEST_GENERATOR).is_file()

    resumed = Trainer(TrainSettings(**{**settings.__dict__, 'steps': 4}))
    assert resumed.step == 3
    resumed.run()
    assert torch.load(tmp_path / CHECKPOINT, weights_only=False)['step'] == 4

    with pytest.raises(ValueError, match='width = 8, this run has 16'):
        Trainer(TrainSettings(**{**settings.__dict__, 'width': 16}))
    with pytest.raises(ValueError, match="identity term 'triplet', this run has 'diversity'"):
        Trainer(TrainSettings(**{**settings.__dict__, 'weights': LossWeights()}))


def test_augmentation_flips_rotates_and_shifts_within_bounds_reproducibly():
    import random
    from idgan.data import Augmentation, augment
    face = synthetic_face(np.random.default_rng(1))
    face[:, :8] = 255  # a white band on the left edge, to see the flip
    unflipped = augment(face, random.Random(0), Augmentation(flip=False, max_rotation_deg=0, max_shift=0))
    assert np.array_equal(unflipped, face)
    flips = [np.array_equal(augment(face, random.Random(s), Augmentation(max_rotation_deg=0, max_shift=0)), face[:, ::-1])
             for s in range(20)]
    assert 5 <= sum(flips) <= 15  # about half the time
    a = augment(face, random.Random(7), Augmentation())
    assert a.shape == face.shape and not np.array_equal(a, face)
    assert np.array_equal(a, augment(face, random.Random(7), Augmentation()))


def test_the_training_faces_move_as_far_as_the_settings_say(aligned_set, tmp_path):
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from train import parse_args
    settings = parse_args(['--data', str(aligned_set), '--out', str(tmp_path), '--max-rotation-deg', '0', '--max-shift', '0'])
    assert (settings.max_rotation_deg, settings.max_shift) == (0, 0)
    trainer = Trainer(TrainSettings(**{**settings.__dict__, 'threads': 1}))
    # No rotation or shift: a training face is its aligned image, or that image mirrored.
    stored = cv2.imread(str(trainer.train_set.records[0].image))[:, :, ::-1].astype(np.float32) / 255
    for _ in range(6):
        seen = trainer.train_set[0]['image'].permute(1, 2, 0).numpy()
        assert np.allclose(seen, stored, atol=1 / 255) or np.allclose(seen, stored[:, ::-1], atol=1 / 255)
    paper = parse_args(['--data', str(aligned_set), '--out', str(tmp_path)])
    assert (paper.max_rotation_deg, paper.max_shift) == (15.0, 0.06)
    with pytest.raises(SystemExit):
        parse_args(['--data', str(aligned_set), '--out', str(tmp_path), '--max-shift', '0.5'])


def test_an_ablation_branches_from_another_runs_generator(aligned_set, tmp_path):
    shared = TrainSettings(data=str(aligned_set), out=str(tmp_path / 'li'), steps=2, warmup_steps=100, batch_size=4,
                           width=8, log_every=1, sample_every=10, eval_every=10, checkpoint_every=1, val_faces=3,
                           weights=LossWeights(identity_term=IdentityTerm.NONE))
    Trainer(shared).run()
    pretrained = torch.load(tmp_path / 'li' / CHECKPOINT, weights_only=False)['generator']

    branch = Trainer(TrainSettings(**{**shared.__dict__, 'out': str(tmp_path / 'branch'), 'warmup_steps': 0,
                                      'init_generator': str(tmp_path / 'li' / CHECKPOINT)}))
    assert branch.step == 0 and branch.init_source == {'path': str(tmp_path / 'li' / CHECKPOINT), 'step': 2}
    assert all(torch.equal(v, pretrained[k]) for k, v in branch.generator.state_dict().items())
    branch.run()
    start = json.loads((tmp_path / 'branch' / 'log.jsonl').read_text().splitlines()[0])
    assert start['init_generator']['step'] == 2

    with pytest.raises(ValueError, match='width-8 generator, this run has --width 16'):
        Trainer(TrainSettings(**{**branch.settings.__dict__, 'out': str(tmp_path / 'wide'), 'width': 16}))


def test_a_run_from_a_generator_with_a_corrected_prior_keeps_the_correction_frozen_and_resumes(aligned_set, tmp_path):
    from idgan.networks import InpaintNet
    from idgan.prior import FacePrior, fit_prior, save_prior
    from idgan.refine import PriorCorrection
    rng = np.random.default_rng(5)
    fitted = fit_prior((0.5 + 0.1 * rng.standard_normal((30, 64, 64, 3))).clip(0, 1).astype(np.float32), components=6)
    prior = FacePrior(fitted['mean'], fitted['basis'], fitted['variance'], noise=0.01)
    save_prior(prior, tmp_path / 'prior.pt')
    exported = InpaintNet(width=8, prior_components=6, prior_noise=0.01)
    exported.use_prior(prior)
    exported.prior.with_refiner(PriorCorrection(4).with_mirror_average())
    with torch.no_grad():
        exported.prior.refiner.out.weight.normal_(0, 0.05)
    torch.save({'step': 3, **exported.config, 'generator': exported.state_dict()}, tmp_path / 'refined.pt')
    settings = TrainSettings(data=str(aligned_set), out=str(tmp_path / 'run'), steps=1, warmup_steps=0, batch_size=4,
                             width=8, log_every=1, sample_every=10, eval_every=10, checkpoint_every=1, val_faces=3,
                             weights=LossWeights(identity_term=IdentityTerm.NONE), prior=str(tmp_path / 'prior.pt'),
                             init_generator=str(tmp_path / 'refined.pt'))
    trainer = Trainer(settings)
    refiner = trainer.generator.prior.refiner
    assert refiner is not None and torch.equal(refiner.out.weight, exported.prior.refiner.out.weight)
    assert refiner.mirror_average  # it runs as it was exported
    trainer.run()
    assert torch.equal(trainer.generator.prior.refiner.out.weight, exported.prior.refiner.out.weight)  # frozen
    resumed = Trainer(TrainSettings(**{**settings.__dict__, 'steps': 2}))
    assert resumed.step == 1 and torch.equal(resumed.generator.prior.refiner.out.weight, exported.prior.refiner.out.weight)
    assert resumed.generator.prior.refiner.mirror_average
