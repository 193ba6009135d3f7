"""The occlusion segmenter network: shapes, and that training lowers the loss."""
import random

import numpy as np
import torch

from occlusion.network import OcclusionNet, OcclusionProbability, occlusion_loss
from occlusion.synth import synthesize
from occlusion.train_occlusion import learning_rate, segmentation_scores
from synthetic import face_landmarks


def test_shapes_and_range():
    net = OcclusionNet(width=8).eval()
    x = torch.rand(2, 3, 128, 128)
    assert net(x).shape == (2, 1, 128, 128)
    prob = OcclusionProbability(net)(x)
    assert prob.shape == (2, 1, 128, 128) and float(prob.min()) >= 0 and float(prob.max()) <= 1


def test_optimisation_steps_lower_the_loss_on_a_tiny_batch():
    torch.manual_seed(0)
    templates = []   # blocks need no MaskTheFace template
    rng = random.Random(3)
    faces = np.random.default_rng(0).integers(90, 200, (4, 128, 128, 3), dtype=np.uint8)
    samples = [synthesize(f, face_landmarks().astype(np.float32), None, rng, templates, kind='block') for f in faces]
    x = torch.from_numpy(np.stack([s.image for s in samples])).permute(0, 3, 1, 2).float() / 255
    y = torch.from_numpy(np.stack([s.mask for s in samples])).float().unsqueeze(1)
    net = OcclusionNet(width=8)
    optimiser = torch.optim.Adam(net.parameters(), lr=3e-3)
    before, _ = occlusion_loss(net(x), y)
    for _ in range(5):
        loss, _ = occlusion_loss(net(x), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    after, _ = occlusion_loss(net(x), y)
    assert float(after) < float(before)


def test_scores_against_hand_counted_masks():
    truth = np.zeros((3, 4, 4), np.uint8)
    truth[0, :2] = 1          # 8 pixels
    truth[1, :, :1] = 1       # 4 pixels
    prob = np.zeros((3, 4, 4), np.float32)
    prob[0, :1] = 0.9         # 4 found, all right: IoU 4/8
    prob[1, :, :2] = 0.8      # 8 found, 4 right: IoU 4/8
    prob[2, 0, 0] = 0.7       # clean face, 1 of 16 pixels flagged
    scores = segmentation_scores(prob, truth)
    assert scores['iou_mean'] == 0.5
    assert scores['iou_pooled'] == 8 / 17
    assert scores['clean_flagged'] == 1 / 16
    assert (scores['n_occluded'], scores['n_clean']) == (2, 1)


def test_learning_rate_warms_up_then_decays():
    assert learning_rate(1.0, 0.0) < learning_rate(1.0, 0.02) == 1.0
    assert learning_rate(1.0, 0.5) < 1.0 and abs(learning_rate(1.0, 1.0) - 0.05) < 1e-9
