"""The Gaussian face prior: fitting, the fill (exact and unrolled), and its ONNX export.

Faces here are drawn from a known low-rank Gaussian, so the conditional mean is what must come back.
"""
import json

import numpy as np
import onnx
import pytest
import torch

from export_prior import export, main as export_main
from idgan.prior import solver_gap
from idgan.holes import hole_masks
from idgan.prior import PRIOR_SIZE, FacePrior, conjugate_gradient, fit_prior, load_prior, mirrored_detail, save_prior, shrink, shrink_hole

D = 3 * PRIOR_SIZE * PRIOR_SIZE
RANK = 12


def low_rank_faces(count: int, seed: int = 0, noise: float = 0.002) -> np.ndarray:
    """count×64×64×3 faces in [0, 1]: a smooth mean plus RANK smooth random patterns, little noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:PRIOR_SIZE, 0:PRIOR_SIZE] / PRIOR_SIZE
    patterns = [np.sin((k + 1) * np.pi * xx + k) * np.cos((k % 4 + 1) * np.pi * yy) for k in range(RANK)]
    basis = np.stack([np.stack([p * (1 + 0.3 * c) for c in range(3)], -1) for p in patterns])  # RANK×64×64×3
    scales = 0.08 / np.arange(1, RANK + 1)
    codes = rng.standard_normal((count, RANK)) * scales
    faces = 0.5 + np.einsum('nk,khwc->nhwc', codes, basis) + rng.standard_normal((count, PRIOR_SIZE, PRIOR_SIZE, 3)) * noise
    return faces.clip(0, 1).astype(np.float32)


@pytest.fixture(scope='module')
def prior() -> FacePrior:
    fitted = fit_prior(low_rank_faces(300), components=RANK + 4)
    return FacePrior(fitted['mean'], fitted['basis'], fitted['variance'], noise=1e-4, cg_steps=60)


def big(faces: np.ndarray) -> torch.Tensor:
    """64×64 faces at 128×128, as the aligned crops the prior is given (each pixel doubled)."""
    return torch.from_numpy(faces).permute(0, 3, 1, 2).repeat_interleave(2, 2).repeat_interleave(2, 3)


def mean_face_at_128(prior: FacePrior) -> torch.Tensor:
    return prior.mean.view(1, 3, PRIOR_SIZE, PRIOR_SIZE).repeat_interleave(2, 2).repeat_interleave(2, 3)


def test_fit_gives_an_orthonormal_basis_with_falling_variances(prior):
    gram = prior.basis @ prior.basis.T
    assert torch.allclose(gram, torch.eye(prior.components), atol=1e-4)
    assert bool((prior.variance[:-1] >= prior.variance[1:]).all())
    # The data has RANK patterns: the components past them carry only the noise.
    assert float(prior.variance[RANK:].sum() / prior.variance.sum()) < 0.02


def test_fit_refuses_what_it_cannot_fit():
    with pytest.raises(ValueError, match='components need more than'):
        fit_prior(low_rank_faces(10), components=10)
    with pytest.raises(ValueError, match='expected N'):
        fit_prior(np.zeros((20, 32, 32, 3), np.float32), components=4)


def test_a_mirrored_fit_is_symmetric_and_counts_both_sides():
    faces = low_rank_faces(100)
    fitted = fit_prior(faces, components=RANK, mirror=True)
    assert fitted['faces'] == 200
    mean = fitted['mean'].view(3, PRIOR_SIZE, PRIOR_SIZE)
    assert torch.allclose(mean, mean.flip(-1), atol=1e-5)
    # Each component is symmetric or antisymmetric: the fit cannot tell a face from its mirror image.
    for row in fitted['basis'].view(-1, 3, PRIOR_SIZE, PRIOR_SIZE)[:4]:
        assert min(float((row - row.flip(-1)).abs().max()), float((row + row.flip(-1)).abs().max())) < 1e-3


def test_shrinking_averages_pixels_and_grows_the_hole():
    image = torch.arange(4.0).view(1, 1, 2, 2).repeat(1, 3, 64, 64)
    assert torch.allclose(shrink(image), torch.full((1, 3, 64, 64), 1.5))
    mask = torch.zeros(1, 1, 128, 128)
    mask[0, 0, 11, 21] = 1  # one pixel of the 128 grid: its whole 64-grid pixel is hole
    small = shrink_hole(mask)
    assert small.sum() == 1 and small[0, 0, 5, 10] == 1


def test_the_hole_is_filled_with_the_faces_own_pattern_and_known_pixels_stay(prior):
    faces = low_rank_faces(6, seed=1)
    image = big(faces)
    masks = hole_masks(torch.tensor([[8, 8], [40, 60], [70, 20], [0, 80], [60, 60], [20, 40]]))
    with torch.no_grad():
        filled = prior(image * (1 - masks) + masks, masks)
        mean_only = image * (1 - masks) + mean_face_at_128(prior) * masks
    assert torch.equal(filled * (1 - masks), image * (1 - masks))
    error = ((filled - image) ** 2 * masks).sum() / masks.sum() / 3
    mean_error = ((mean_only - image) ** 2 * masks).sum() / masks.sum() / 3
    # The faces vary by RANK patterns the known pixels pin down: the fill is far closer than the mean face.
    assert float(error) < 0.1 * float(mean_error)


def test_the_unrolled_solve_matches_the_exact_one(prior):
    assert solver_gap(prior, faces=4) < 1e-3
    rng = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(80, 30, generator=rng))[0].T  # 30 orthonormal rows
    hole_basis = basis[:, :50]
    ridge = torch.rand(30, generator=rng) + 0.01
    rhs = torch.randn(30, generator=rng)
    exact = torch.linalg.solve(torch.eye(30) - hole_basis @ hole_basis.T + torch.diag(ridge), rhs)
    assert torch.allclose(conjugate_gradient(hole_basis, ridge, rhs, 60), exact, atol=1e-4)


def test_saved_prior_loads_cut_to_fewer_components_and_with_another_noise(prior, tmp_path):
    path = save_prior(prior, tmp_path / 'prior.pt', {'faces': 300})
    loaded = load_prior(path, components=5, noise=0.5)
    assert loaded.components == 5 and loaded.noise == 0.5
    assert torch.equal(loaded.basis, prior.basis[:5])
    with pytest.raises(FileNotFoundError, match='fit_prior.py'):
        load_prior(tmp_path / 'none.pt')
    torch.save({'generator': {}}, tmp_path / 'other.pt')
    with pytest.raises(ValueError, match='not a face prior'):
        load_prior(tmp_path / 'other.pt')


def test_export_is_a_one_face_graph_with_the_generators_names(prior, tmp_path):
    model_path = export(prior, tmp_path / 'prior.onnx', {'unmask.prior': {'components': prior.components}})
    model = onnx.load(str(model_path))

    def shape(value):
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    assert {v.name: shape(v) for v in model.graph.input} == {'image': [1, 3, 128, 128], 'mask': [1, 1, 128, 128]}
    assert {v.name: shape(v) for v in model.graph.output} == {'inpainted': [1, 3, 128, 128]}
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta['unmask.prior']) == {'components': prior.components}


def test_export_script_writes_the_model_and_a_parity_fixture(prior, tmp_path, capsys):
    path = save_prior(prior, tmp_path / 'prior.pt', {'faces': 300})
    code = export_main(['--prior', str(path), '--out', str(tmp_path / 'p.onnx'), '--fixture', str(tmp_path / 'fx'),
                        '--skip-node-check'])
    assert code == 0
    assert (tmp_path / 'p.onnx').is_file() and (tmp_path / 'fx' / 'meta.json').is_file()
    assert 'unrolled solve' in capsys.readouterr().out
    assert export_main(['--prior', str(tmp_path / 'none.pt'), '--out', str(tmp_path / 'q.onnx')]) == 1


def test_large_weights_are_stored_at_half_precision_and_read_back_through_a_cast():
    from onnx import TensorProto, helper, numpy_helper
    from onnx_export import round_to_half, store_large_weights_as_half
    weights = np.random.default_rng(0).standard_normal((1000, 1000)).astype(np.float32)
    small = np.ones((3,), np.float32)
    graph = helper.make_graph(
        [helper.make_node('Identity', ['big'], ['out']), helper.make_node('Identity', ['small'], ['out2'])], 'g', [],
        [helper.make_tensor_value_info('out', TensorProto.FLOAT, [1000, 1000]),
         helper.make_tensor_value_info('out2', TensorProto.FLOAT, [3])],
        [numpy_helper.from_array(weights, 'big'), numpy_helper.from_array(small, 'small')])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)])
    assert store_large_weights_as_half(model, {'big', 'small'}) == ['big']  # 'small' is under a million values
    onnx.checker.check_model(model, full_check=True)
    stored = {i.name: i for i in model.graph.initializer}
    assert stored['big.float16'].data_type == TensorProto.FLOAT16 and stored['small'].data_type == TensorProto.FLOAT
    assert model.graph.node[0].op_type == 'Cast' and list(model.graph.node[0].output) == ['big']
    rounded = round_to_half(torch.from_numpy(weights.copy())).numpy()
    assert np.array_equal(numpy_helper.to_array(stored['big.float16']).astype(np.float32), rounded)


def test_mirrored_detail_copies_the_known_sides_fine_detail_and_only_where_its_mirror_is_known():
    # A symmetric face of fine vertical stripes on a smooth estimate: what the estimate misses is the stripes.
    stripes = (torch.arange(128) % 4 < 2).float() * 0.2
    image = (0.4 + stripes).view(1, 1, 1, 128).expand(1, 3, 128, 128).clone()
    image = (image + image.flip(-1)) / 2
    estimate = torch.full_like(image, 0.5)
    one_sided = hole_masks(torch.tensor([[40, 10]]))       # columns 10–57: their mirrors (70–117) are known
    detail = mirrored_detail(image, one_sided, estimate, sigma=2.0)
    inside = (slice(None), slice(None), slice(50, 80), slice(20, 48))
    truth_fine = image - 0.5 - (image - 0.5)[inside].mean()
    assert float((detail[inside] - truth_fine[inside]).abs().mean()) < 0.02  # the face's own stripes come back
    assert torch.equal(detail * (1 - one_sided), torch.zeros_like(detail))   # nothing outside the hole
    centred = hole_masks(torch.tensor([[40, 40]]))          # columns 40–87: mirror of itself, nothing known
    assert torch.equal(mirrored_detail(image, centred, estimate, sigma=2.0), torch.zeros_like(image))


def test_a_prior_with_mirror_detail_keeps_it_through_saving_and_cutting(prior, tmp_path):
    detailed = FacePrior(prior.mean, prior.basis, prior.variance, prior.noise, prior.cg_steps, mirror_detail=0.5)
    loaded = load_prior(save_prior(detailed, tmp_path / 'p.pt'), components=RANK)
    assert (loaded.mirror_detail, loaded.detail_sigma, loaded.components) == (0.5, 2.0, RANK)
    image = big(low_rank_faces(1, seed=3))
    mask = hole_masks(torch.tensor([[40, 8]]))
    with torch.no_grad():
        plain, with_detail = prior(image, mask), detailed(image, mask)
    assert torch.equal(plain * (1 - mask), with_detail * (1 - mask))
    assert float((plain - with_detail).abs().max()) > 0  # the detail changes the hole
    with pytest.raises(ValueError, match='mirror_detail'):
        FacePrior(prior.mean, prior.basis, prior.variance, mirror_detail=-1)
