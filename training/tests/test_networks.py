"""Shapes and contracts of I, S, D_g, D_l and the hole helpers."""
import pytest
import torch

from idgan.holes import crop_holes, fill_white, hole_masks, random_holes
from idgan.networks import Discriminator, InpaintNet, ParsingNet, parameter_count


@pytest.fixture(scope='module')
def generator():
    torch.manual_seed(0)
    return InpaintNet().eval()


def batch(n: int = 2):
    torch.manual_seed(1)
    images = torch.rand(n, 3, 128, 128)
    masks = hole_masks(torch.tensor([[10, 20], [70, 5]][:n]))
    return images, masks


def test_generator_is_light_enough_for_a_cpu(generator):
    assert 2_000_000 <= parameter_count(generator) <= 5_000_000


def test_generator_output_is_an_image_that_keeps_the_known_pixels(generator):
    images, masks = batch()
    with torch.no_grad():
        raw = generator.raw(images, masks)
        out = generator(images, masks)
    assert raw.shape == out.shape == (2, 3, 128, 128)
    assert 0 <= out.min().item() and out.max().item() <= 1
    known = (1 - masks).bool().expand_as(out)
    assert torch.equal(out[known], images[known])
    hole = masks.bool().expand_as(out)
    assert torch.equal(out[hole], raw[hole])


def test_generator_ignores_what_the_hole_held(generator):
    images, masks = batch()
    scrambled = images * (1 - masks) + torch.rand_like(images) * masks
    with torch.no_grad():
        assert torch.allclose(generator(images, masks), generator(scrambled, masks), atol=1e-6)


def test_generator_output_of_a_face_does_not_depend_on_its_batch(generator):
    images, masks = batch()
    with torch.no_grad():
        together = generator(images, masks)
        alone = generator(images[:1], masks[:1])
    assert torch.allclose(together[:1], alone, atol=1e-5)


def test_parser_gives_k_logits_per_pixel():
    parser = ParsingNet(num_classes=7)
    assert parser(torch.rand(2, 3, 128, 128)).shape == (2, 7, 128, 128)
    with pytest.raises(ValueError, match='at least 2 classes'):
        ParsingNet(num_classes=1)


@pytest.mark.parametrize('size', [128, 48])
def test_discriminators_give_one_logit_per_image(size):
    d = Discriminator(size)
    convs = [m for m in d.features if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 10  # ten convolutions and a fully connected layer, as the paper's
    assert d(torch.rand(3, 3, size, size)).shape == (3,)
    with pytest.raises(ValueError, match=f'takes {size}×{size}'):
        d(torch.rand(1, 3, size + 16, size + 16))


def test_hole_masks_and_crops_agree_with_slicing():
    boxes = torch.tensor([[0, 0], [80, 17]])
    masks = hole_masks(boxes)
    assert masks.shape == (2, 1, 128, 128)
    assert masks.sum(dim=(1, 2, 3)).tolist() == [48 * 48, 48 * 48]
    assert masks[1, 0, 80, 17] == 1 and masks[1, 0, 79, 17] == 0 and masks[1, 0, 127, 64] == 1 and masks[1, 0, 80, 65] == 0
    images = torch.rand(2, 3, 128, 128)
    crops = crop_holes(images, boxes)
    assert torch.equal(crops[1], images[1, :, 80:128, 17:65])
    assert torch.equal(crops[0], images[0, :, :48, :48])
    assert torch.equal(fill_white(images, masks)[1, :, 80:, 17:65], torch.ones(3, 48, 48))


def test_random_holes_fit_inside_and_are_seeded():
    boxes = random_holes(1000, torch.Generator().manual_seed(3))
    assert boxes.min().item() == 0 and boxes.max().item() == 128 - 48
    assert torch.equal(boxes, random_holes(1000, torch.Generator().manual_seed(3)))


def test_switched_on_parts_start_as_the_generator_they_come_from():
    from idgan.networks import generator_config, load_generator_weights
    torch.manual_seed(2)
    old = InpaintNet(8).eval()
    new = InpaintNet(8, mirror=True, skips=True).eval()
    added = load_generator_weights(new, old.state_dict())
    assert 'mirror channels of encoder.0.weight' in added and 'skip64.weight' in added
    images, masks = batch()
    with torch.no_grad():
        assert torch.allclose(old(images, masks), new(images, masks), atol=1e-6)
    assert new.encoder[0].weight.shape[1] == 8 and new.config == {'width': 8, 'mirror': True, 'skips': True}
    # A generator with a switch on does not fit one with it off, nor another width.
    with pytest.raises(ValueError, match='switch them on'):
        load_generator_weights(InpaintNet(8), new.state_dict())
    with pytest.raises(ValueError, match='another width'):
        load_generator_weights(InpaintNet(16), old.state_dict())
    assert generator_config({'width': 8}) == {'width': 8, 'mirror': False, 'skips': False}
    assert generator_config({'settings': {'width': 8, 'mirror': True}}) == {'width': 8, 'mirror': True, 'skips': False}


def test_the_mirror_channels_are_the_flipped_face_and_mask():
    # A mirror generator that only looks at its mirror channels computes what a plain one computes on
    # the flipped face and mask: the extra channels are exactly the mirror image.
    torch.manual_seed(3)
    plain = InpaintNet(8).eval()
    mirror = InpaintNet(8, mirror=True).eval()
    weights = dict(plain.state_dict())
    weights['encoder.0.weight'] = torch.cat([torch.zeros_like(weights['encoder.0.weight']), weights['encoder.0.weight']], 1)
    mirror.load_state_dict(weights)
    images, masks = batch()
    with torch.no_grad():
        assert torch.allclose(mirror.raw(images, masks), plain.raw(images.flip(3), masks.flip(3)), atol=1e-6)


def test_the_prior_switch_starts_from_the_priors_fill_and_keeps_the_saved_generator():
    from idgan.networks import generator_config, load_generator_weights
    from idgan.prior import FacePrior
    torch.manual_seed(4)
    dims = 3 * 64 * 64
    basis = torch.linalg.qr(torch.randn(dims, 6))[0].T.contiguous()
    prior = FacePrior(torch.full((dims,), 0.5), basis, torch.linspace(1.0, 0.1, 6), noise=0.01)
    old = InpaintNet(8, mirror=True).eval()
    new = InpaintNet(8, mirror=True, prior_components=6, prior_noise=0.01).eval()
    new.use_prior(prior)
    added = load_generator_weights(new, old.state_dict())
    assert 'prior channels of encoder.0.weight' in added and 'blend.weight' in added
    assert 'mirror channels of encoder.0.weight' not in added
    images, masks = batch()
    with torch.no_grad():
        fill = prior(images, masks)
        blended = 0.95257 * fill + 0.04743 * old.raw(images, masks)  # sigmoid(-3) of the network's own drawing
        out = new(images, masks)
    assert torch.allclose(out, images * (1 - masks) + blended * masks, atol=1e-4)
    assert torch.equal(out * (1 - masks), images * (1 - masks))
    config = new.config
    assert config == {'width': 8, 'mirror': True, 'skips': False, 'prior_components': 6, 'prior_noise': 0.01}
    saved = {'generator': new.state_dict(), **config}
    assert generator_config(saved) == config
    again = InpaintNet(**generator_config(saved)).eval()
    again.load_state_dict(saved['generator'])
    with torch.no_grad():
        assert torch.allclose(again(images, masks), out, atol=1e-6)
    with pytest.raises(ValueError, match='built for 6 prior components'):
        new.use_prior(prior.truncated(3))


def test_the_prior_residual_starts_as_the_blend_it_corrects_and_needs_the_prior():
    from idgan.networks import generator_config, load_generator_weights
    from idgan.prior import FacePrior
    torch.manual_seed(5)
    dims = 3 * 64 * 64
    basis = torch.linalg.qr(torch.randn(dims, 6))[0].T.contiguous()
    prior = FacePrior(torch.full((dims,), 0.5), basis, torch.linspace(1.0, 0.1, 6), noise=0.01)
    blend = InpaintNet(8, prior_components=6, prior_noise=0.01).eval()
    blend.use_prior(prior)
    with torch.no_grad():
        blend.blend.weight.normal_(0, 0.1)
    residual = InpaintNet(8, prior_components=6, prior_noise=0.01, prior_residual=True).eval()
    added = load_generator_weights(residual, blend.state_dict())
    assert added == ['residual_head.weight', 'residual_head.bias']
    images, masks = batch()
    with torch.no_grad():
        assert torch.allclose(residual(images, masks), blend(images, masks), atol=1e-6)
        residual.residual_head.bias.fill_(0.1)  # a correction moves the hole only, within [0, 1]
        moved = residual(images, masks)
    assert torch.equal(moved * (1 - masks), images * (1 - masks))
    assert float(((moved - blend(images, masks)) * masks).abs().max()) > 0.05 and float(moved.max()) <= 1
    config = residual.config
    assert config['prior_residual'] is True and 'prior_residual' not in blend.config
    assert generator_config({'generator': residual.state_dict(), **config}) == config
    with pytest.raises(ValueError, match='needs prior_components'):
        InpaintNet(8, prior_residual=True)
    with pytest.raises(ValueError, match='more parts'):
        load_generator_weights(InpaintNet(8, prior_components=6, prior_noise=0.01), residual.state_dict())
