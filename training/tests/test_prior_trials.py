"""Round 8's trials past the prior: the refinement network's windows and start, and the symmetry measure."""
import torch

from idgan.holes import hole_masks
from idgan.prior import PRIOR_SIZE, FacePrior, shrink_hole
from prior_variants import detail_symmetry
from idgan.refine import WINDOW, PriorCorrection, windows


def test_each_window_holds_its_hole_and_stays_inside_the_face():
    holes = shrink_hole(hole_masks(torch.tensor([[0, 0], [40, 40], [80, 80], [0, 80]])))
    top, left = windows(holes)
    for i, (t, l) in enumerate(zip(top, left)):
        assert 0 <= t <= PRIOR_SIZE - WINDOW and 0 <= l <= PRIOR_SIZE - WINDOW
        assert holes[i, :, t:t + WINDOW, l:l + WINDOW].sum() == holes[i].sum()


def test_the_correction_starts_at_the_priors_fill_and_changes_only_the_hole():
    torch.manual_seed(0)
    face, fill = torch.rand(2, 3, PRIOR_SIZE, PRIOR_SIZE), torch.rand(2, 3, PRIOR_SIZE, PRIOR_SIZE)
    hole = shrink_hole(hole_masks(torch.tensor([[10, 20], [60, 30]])))
    net = PriorCorrection(8)
    composite = face * (1 - hole) + fill * hole
    assert torch.equal(net(face, hole, fill), composite)
    torch.nn.init.normal_(net.out.weight, std=0.1)
    out = net(face, hole, fill)
    assert torch.equal(out * (1 - hole), composite * (1 - hole))
    assert float(((out - composite) * hole).abs().max()) > 0


def test_detail_symmetry_is_one_for_a_mirror_symmetric_face_and_low_for_a_lopsided_one():
    dims = 3 * PRIOR_SIZE * PRIOR_SIZE
    prior = FacePrior(torch.full((dims,), 0.5), torch.eye(dims)[:2], torch.ones(2))  # a flat mean face
    torch.manual_seed(1)
    noise = torch.rand(1, 3, 128, 128) * 0.2
    symmetric, lopsided = 0.4 + (noise + noise.flip(-1)) / 2, 0.4 + noise
    mask = hole_masks(torch.tensor([[40, 8]]))
    with torch.no_grad():
        assert float(detail_symmetry(prior, symmetric * (1 - mask) + mask, mask)) > 0.99
        assert abs(float(detail_symmetry(prior, lopsided * (1 - mask) + mask, mask))) < 0.2


def test_the_mirror_averaged_correction_of_a_mirrored_face_is_the_mirror_image_of_the_faces():
    torch.manual_seed(2)
    face, fill = torch.rand(2, 3, PRIOR_SIZE, PRIOR_SIZE), torch.rand(2, 3, PRIOR_SIZE, PRIOR_SIZE)
    hole = shrink_hole(hole_masks(torch.tensor([[10, 20], [60, 30]])))
    net = PriorCorrection(8)
    torch.nn.init.normal_(net.out.weight, std=0.1)
    with torch.no_grad():
        plain = net(face, hole, fill, whole=True)
        plain_of_mirrored = net(face.flip(-1), hole.flip(-1), fill.flip(-1), whole=True)
        averaged = net.with_mirror_average()(face, hole, fill, whole=True)
        averaged_of_mirrored = net(face.flip(-1), hole.flip(-1), fill.flip(-1), whole=True)
    # The network alone is not symmetric; the average of its two estimates is, and it moves only the hole.
    assert float((plain_of_mirrored.flip(-1) - plain).abs().max()) > 1e-3
    assert torch.allclose(averaged_of_mirrored.flip(-1), averaged, atol=1e-6)
    assert torch.allclose((plain + plain_of_mirrored.flip(-1)) / 2, averaged, atol=1e-6)
    assert torch.equal(averaged * (1 - hole), plain * (1 - hole))
