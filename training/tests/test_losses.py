"""Equations 2–7 against values worked out by hand."""
import math

import pytest
import torch

from idgan.losses import (IdentityTerm, LossWeights, batch_triplet_loss, discount_weights, discriminator_loss,
                          euclidean_loss, generator_adversarial_loss, generator_loss, identity_centres,
                          identity_diversity_hinge, reconstruction_loss, recognition_loss, structure_loss)
from idgan.holes import hole_masks
from idgan.networks import ParsingNet
from idgan.recognizer import RecognizerFeatures


def square_mask(size: int, top: int, left: int, side: int) -> torch.Tensor:
    mask = torch.zeros(1, 1, size, size)
    mask[0, 0, top:top + side, left:left + side] = 1
    return mask


class TestDiscountWeights:
    def test_a_5x5_hole_by_hand(self):
        w = discount_weights(square_mask(9, 2, 2, 5))[0, 0]
        # Known pixels: d = 0. The hole's rim is 1 px from a known pixel, the next ring 2, the centre 3.
        assert w[0, 0].item() == 1.0 and w[1, 4].item() == 1.0 and w[7, 7].item() == 1.0
        assert w[2, 2].item() == pytest.approx(0.99 ** 1, abs=1e-6)
        assert w[2, 4].item() == pytest.approx(0.99 ** 1, abs=1e-6)
        assert w[3, 3].item() == pytest.approx(0.99 ** 2, abs=1e-6)
        assert w[3, 4].item() == pytest.approx(0.99 ** 2, abs=1e-6)
        assert w[4, 4].item() == pytest.approx(0.99 ** 3, abs=1e-6)

    def test_the_centre_of_a_48px_hole_is_24px_from_the_face(self):
        w = discount_weights(hole_masks(torch.tensor([[40, 40]])))[0, 0]
        assert w[40 + 24, 40 + 24].item() == pytest.approx(0.99 ** 24, abs=1e-6)
        assert w[40 + 23, 40 + 23].item() == pytest.approx(0.99 ** 24, abs=1e-6)  # 24 from the top and left edges
        assert w[40, 40 + 24].item() == pytest.approx(0.99, abs=1e-6)

    def test_distance_is_euclidean_not_city_block(self):
        mask = torch.ones(1, 1, 8, 8)
        mask[0, 0, 0, 0] = 0  # the only known pixel
        w = discount_weights(mask)[0, 0]
        assert w[3, 4].item() == pytest.approx(0.99 ** 5, abs=1e-5)  # a 3-4-5 triangle
        assert w[7, 7].item() == pytest.approx(0.99 ** math.hypot(7, 7), abs=1e-5)

    def test_refuses_a_mask_without_known_pixels(self):
        with pytest.raises(ValueError, match='no known pixel'):
            discount_weights(torch.ones(1, 1, 4, 4))


def test_reconstruction_loss_is_half_the_weighted_squared_error_per_image():
    raw = torch.zeros(2, 3, 4, 4)
    target = torch.ones(2, 3, 4, 4)
    weights = torch.ones(2, 1, 4, 4)
    weights[:, :, 0, 0] = 0.5
    # Per image: 3 channels × (15 pixels × 1² + 1 pixel × 0.5²) = 45.75; half of it, averaged over 2 images.
    assert reconstruction_loss(raw, target, weights).item() == pytest.approx(0.5 * 45.75)


class TestIdentityDiversityHinge:
    centre = torch.zeros(1, 2)

    def test_positive_by_how_much_farther_the_inpainted_face_is(self):
        clean = torch.tensor([[3.0, 4.0]])        # 5 from the centre
        inpainted = torch.tensor([[6.0, 8.0]])    # 10 from the centre
        assert identity_diversity_hinge(inpainted, clean, self.centre).item() == pytest.approx(5.0)

    def test_zero_when_the_inpainted_face_is_closer_than_the_original(self):
        clean = torch.tensor([[3.0, 4.0]])
        assert identity_diversity_hinge(torch.tensor([[0.0, 1.0]]), clean, self.centre).item() == 0.0
        assert identity_diversity_hinge(torch.tensor([[-4.0, 3.0]]), clean, self.centre).item() == 0.0  # as close

    def test_its_gradient_pulls_towards_the_centre_only_when_active(self):
        clean = torch.tensor([[3.0, 4.0], [3.0, 4.0]])
        inpainted = torch.tensor([[6.0, 8.0], [0.0, 1.0]], requires_grad=True)
        identity_diversity_hinge(inpainted, clean, torch.zeros(2, 2)).sum().backward()
        assert inpainted.grad[0].tolist() == pytest.approx([0.6, 0.8])   # unit vector away from the centre
        assert inpainted.grad[1].tolist() == [0.0, 0.0]


def test_identity_centres_are_per_identity_means():
    descriptors = torch.tensor([[1.0, 0.0], [3.0, 2.0], [0.0, 5.0]])
    centres = identity_centres(descriptors, torch.tensor([0, 0, 1]), 2)
    assert centres.tolist() == [[2.0, 1.0], [0.0, 5.0]]
    with pytest.raises(ValueError, match='without any image'):
        identity_centres(descriptors, torch.tensor([0, 0, 2]), 3)


def test_triplet_loss_by_hand():
    descriptors = torch.tensor([[0.0], [1.0], [0.5]])
    labels = torch.tensor([0, 0, 1])
    # Triplets (a, p, n): (0, 1, 2): 1 − 0.5 + 0.2 = 0.7; (1, 0, 2): 1 − 0.5 + 0.2 = 0.7.
    assert batch_triplet_loss(descriptors, labels, 0.2).item() == pytest.approx(0.7)
    assert batch_triplet_loss(descriptors, torch.tensor([0, 1, 2]), 0.2).item() == 0.0  # no positive pair


def features(low: float, descriptor: list[list[float]]) -> RecognizerFeatures:
    d = torch.tensor(descriptor)
    return RecognizerFeatures(low=torch.full((len(d), 2, 1, 1), low), descriptor=d)


class TestRecognitionLoss:
    clean = features(0.0, [[3.0, 4.0]])
    inpainted = features(1.0, [[6.0, 8.0]])
    centres = torch.zeros(1, 2)
    labels = torch.tensor([0])

    def test_instance_and_diversity_terms_with_the_paper_constants(self):
        weights = LossWeights(identity_scale=1.0)
        loss = recognition_loss(self.inpainted, self.clean, self.centres, self.labels, weights)
        # low: ½·(2 × 1²) = 1; high: ½·(3² + 4²) = 12.5; hinge: 10 − 5 = 5.
        assert loss.parts['instance_low'].item() == pytest.approx(1.0)
        assert loss.parts['instance_high'].item() == pytest.approx(12.5)
        assert loss.parts['identity'].item() == pytest.approx(5.0)
        assert loss.total.item() == pytest.approx(0.5 * 1.0 + 0.05 * 12.5 + 0.5 * 5.0)

    def test_identity_scale_multiplies_the_descriptor_terms_only(self):
        loss = recognition_loss(self.inpainted, self.clean, self.centres, self.labels, LossWeights(identity_scale=10.0))
        assert loss.total.item() == pytest.approx(0.5 * 1.0 + 10 * (0.05 * 12.5 + 0.5 * 5.0))

    @pytest.mark.parametrize('term, identity', [(IdentityTerm.NONE, None), (IdentityTerm.CENTRE, 100.0)])
    def test_ablation_switch(self, term, identity):
        loss = recognition_loss(self.inpainted, self.clean, self.centres, self.labels,
                                LossWeights(identity_term=term, identity_scale=1.0))
        if identity is None:
            assert 'identity' not in loss.parts
            assert loss.total.item() == pytest.approx(0.5 * 1.0 + 0.05 * 12.5)
        else:
            assert loss.parts['identity'].item() == pytest.approx(identity)  # |(6, 8)|² to the centre

    def test_the_diversity_term_needs_centres(self):
        with pytest.raises(ValueError, match='needs the identity centres'):
            recognition_loss(self.inpainted, self.clean, None, self.labels, LossWeights())


def test_adversarial_losses_at_an_undecided_discriminator():
    zero = torch.zeros(4)
    assert discriminator_loss(zero, zero).item() == pytest.approx(2 * math.log(2))
    assert generator_adversarial_loss(zero).item() == pytest.approx(math.log(2))
    # A discriminator sure that the fake is fake: the generator pays much more.
    assert generator_adversarial_loss(torch.full((4,), -5.0)).item() > 4.9


def test_structure_loss_sends_gradient_to_the_image_not_the_frozen_parser():
    torch.manual_seed(0)
    parser = ParsingNet(num_classes=6, width=8).eval()
    for p in parser.parameters():
        p.requires_grad_(False)
    target = torch.rand(1, 3, 32, 32)
    inpainted = torch.rand(1, 3, 32, 32, requires_grad=True)
    loss = structure_loss(parser, inpainted, target)
    loss.backward()
    assert loss.item() > 0
    assert inpainted.grad.abs().sum().item() > 0
    # On the ground truth itself, S agrees with its own labels better than on another image.
    assert structure_loss(parser, target, target).item() < loss.item()


def test_total_loss_of_eq7():
    weights = LossWeights()
    one = torch.tensor(1.0)
    recognition = recognition_loss(features(1.0, [[6.0, 8.0]]), features(0.0, [[3.0, 4.0]]), torch.zeros(1, 2),
                                   torch.tensor([0]), LossWeights(identity_scale=1.0))
    loss = generator_loss(reconstruction=torch.tensor(10.0), local_adversarial=one, global_adversarial=2 * one,
                          structure=3 * one, recognition=recognition, weights=weights)
    assert loss.total.item() == pytest.approx(10 + 300 * 1 + 300 * 2 + 0.05 * 3 + 0.0002 * recognition.total.item())
    assert set(loss.parts) >= {'L_I', 'L_Dl', 'L_Dg', 'L_S', 'L_R', 'L_R.identity', 'total'}
    without = generator_loss(reconstruction=torch.tensor(10.0), local_adversarial=one, global_adversarial=one,
                             structure=None, recognition=None, weights=weights)
    assert 'L_S' not in without.parts and without.total.item() == pytest.approx(610)


def test_euclidean_loss_averages_over_the_batch():
    assert euclidean_loss(torch.zeros(2, 3), torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])).item() == pytest.approx(0.75)
