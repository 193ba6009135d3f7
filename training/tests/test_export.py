"""The ONNX export of the generator: a valid opset-17 graph with a free batch, and the same numbers in
onnxruntime-node (the service's runtime) as in PyTorch.

Writes var/onnx-parity/tiny-random/ (a tiny random generator, its ONNX file and a parity fixture):
test/integration/inpaint-onnx.test.ts runs the same fixture through the service's OnnxInpainter.
"""
import json
import shutil

import numpy as np
import onnx
import pytest
import torch

from export_onnx import (FIXTURE_BATCH, OPSET, PARITY_TOLERANCE, REPO_ROOT, ExportError, check_in_node, export,
                         load_generator, main, write_parity_fixture)
from idgan.holes import IMAGE_SIZE, fill_white, hole_masks
from idgan.networks import InpaintNet

TINY_DIR = REPO_ROOT / 'var' / 'onnx-parity' / 'tiny-random'
TINY_WIDTH = 8


def tiny_generator(seed: int = 0) -> InpaintNet:
    torch.manual_seed(seed)
    return InpaintNet(width=TINY_WIDTH).eval()


@pytest.fixture(scope='module')
def tiny_export():
    generator = tiny_generator()
    model = export(generator, TINY_DIR / 'model.onnx', {'unmask.training': {'random': True, 'width': TINY_WIDTH}})
    fixture = write_parity_fixture(generator, model, TINY_DIR)
    return generator, model, fixture


def test_tiny_random_generator_exports_with_free_batch_and_writes_the_parity_fixture(tiny_export):
    generator, model_path, fixture = tiny_export
    model = onnx.load(str(model_path))
    onnx.checker.check_model(model, full_check=True)
    assert [o.version for o in model.opset_import if o.domain in ('', 'ai.onnx')] == [OPSET]

    def shape(value):
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    inputs = {v.name: shape(v) for v in model.graph.input}
    outputs = {v.name: shape(v) for v in model.graph.output}
    assert inputs == {'image': ['batch', 3, 128, 128], 'mask': ['batch', 1, 128, 128]}
    assert outputs == {'inpainted': ['batch', 3, 128, 128]}

    meta = json.loads((fixture / 'meta.json').read_text())
    assert meta['batch'] == FIXTURE_BATCH and meta['tolerance'] == PARITY_TOLERANCE
    assert (fixture / meta['model']).resolve() == model_path.resolve()
    plane = IMAGE_SIZE * IMAGE_SIZE
    image = np.fromfile(fixture / 'image.f32', '<f4').reshape(FIXTURE_BATCH, 3, IMAGE_SIZE, IMAGE_SIZE)
    mask = np.fromfile(fixture / 'mask.f32', '<f4').reshape(FIXTURE_BATCH, 1, IMAGE_SIZE, IMAGE_SIZE)
    expected = np.fromfile(fixture / 'expected.f32', '<f4').reshape(FIXTURE_BATCH, 3, IMAGE_SIZE, IMAGE_SIZE)
    # 48×48 holes, pre-filled white, inputs on the byte grid as the service sends them.
    assert (mask.reshape(FIXTURE_BATCH, plane).sum(1) == 48 * 48).all()
    assert (image[np.broadcast_to(mask, image.shape) == 1] == 1).all()
    assert np.allclose(image * 255, np.round(image * 255), atol=1e-4)
    # The fixture holds PyTorch's composited output: known pixels are the input's, the hole is the network's.
    known = np.broadcast_to(mask, image.shape) == 0
    assert np.array_equal(expected[known], image[known])
    with torch.no_grad():
        again = generator(torch.from_numpy(image), torch.from_numpy(mask)).numpy()
    assert np.array_equal(expected, again)
    assert not np.allclose(expected[~known], 1.0)  # the hole was filled, not left white


def test_onnxruntime_node_matches_pytorch_within_1e4(tiny_export):
    if shutil.which('npx') is None:
        pytest.skip('no node/npx to run onnxruntime-node')
    _, _, fixture = tiny_export
    assert check_in_node(fixture) <= PARITY_TOLERANCE


def test_load_generator_reads_both_checkpoint_formats_of_train_py(tmp_path):
    generator = tiny_generator(seed=3)
    weights = generator.state_dict()
    torch.save({'step': 7, 'width': TINY_WIDTH, 'metrics': {'val_psnr': 20.0}, 'generator': weights}, tmp_path / 'best.pt')
    torch.save({'step': 9, 'settings': {'width': TINY_WIDTH, 'weights': {'identity_term': 'none'}}, 'generator': weights},
               tmp_path / 'checkpoint.pt')
    image, mask = torch.rand(1, 3, 128, 128), torch.zeros(1, 1, 128, 128)
    mask[..., 10:58, 20:68] = 1
    with torch.no_grad():
        reference = generator(image, mask)
    for name, step in (('best.pt', 7), ('checkpoint.pt', 9)):
        loaded, info = load_generator(tmp_path / name)
        assert not loaded.training and info['step'] == step and info['width'] == TINY_WIDTH
        with torch.no_grad():
            assert torch.equal(loaded(image, mask), reference)
    assert load_generator(tmp_path / 'checkpoint.pt')[1]['identity_term'] == 'none'


def test_load_generator_says_what_is_wrong(tmp_path):
    with pytest.raises(ExportError, match='no checkpoint at .*train.py'):
        load_generator(tmp_path / 'missing.pt')
    (tmp_path / 'text.pt').write_text('not a checkpoint')
    with pytest.raises(ExportError, match='not a PyTorch checkpoint'):
        load_generator(tmp_path / 'text.pt')
    torch.save(torch.zeros(3), tmp_path / 'tensor.pt')
    with pytest.raises(ExportError, match='holds no generator'):
        load_generator(tmp_path / 'tensor.pt')
    torch.save({'width': 16, 'generator': tiny_generator().state_dict()}, tmp_path / 'wrong-width.pt')
    with pytest.raises(ExportError, match=r'do not fit InpaintNet\(width=16\)'):
        load_generator(tmp_path / 'wrong-width.pt')


def test_cli_exports_a_checkpoint_and_fails_cleanly_on_a_missing_one(tmp_path, capsys):
    torch.save({'step': 1, 'width': TINY_WIDTH, 'generator': tiny_generator().state_dict()}, tmp_path / 'best.pt')
    out = tmp_path / 'models' / 'tiny.onnx'
    assert main(['--checkpoint', str(tmp_path / 'best.pt'), '--out', str(out), '--fixture', str(tmp_path / 'fixture'),
                 '--skip-node-check']) == 0
    assert out.is_file() and (tmp_path / 'fixture' / 'meta.json').is_file()
    assert main(['--checkpoint', str(tmp_path / 'none.pt'), '--out', str(tmp_path / 'x.onnx')]) == 1
    assert 'no checkpoint at' in capsys.readouterr().err
    assert not (tmp_path / 'x.onnx').exists()


def test_an_exported_generator_loads_back_into_pytorch_with_the_same_weights(tiny_export):
    from idgan.trainer import generator_state_from_onnx
    generator, model_path, _ = tiny_export
    state = generator_state_from_onnx(model_path)
    assert state['width'] == TINY_WIDTH
    reloaded = InpaintNet(width=TINY_WIDTH)
    reloaded.load_state_dict(state['generator'])  # strict: every parameter, by name
    for name, tensor in generator.state_dict().items():
        assert torch.equal(tensor, reloaded.state_dict()[name]), name


def test_an_onnx_file_without_the_export_metadata_is_refused(tmp_path, tiny_export):
    from idgan.trainer import generator_state_from_onnx
    _, model_path, _ = tiny_export
    model = onnx.load(str(model_path))
    del model.metadata_props[:]
    bare = tmp_path / 'bare.onnx'
    onnx.save(model, str(bare))
    with pytest.raises(ValueError, match='unmask.training'):
        generator_state_from_onnx(bare)
    (tmp_path / 'junk.onnx').write_bytes(b'not a model')
    with pytest.raises(ValueError, match='not an ONNX model'):
        generator_state_from_onnx(tmp_path / 'junk.onnx')


def test_a_mirror_and_skips_generator_keeps_its_inputs_and_matches_in_node(tmp_path):
    # The flip happens inside the graph: the service still sends (image, mask) and needs no change.
    torch.manual_seed(5)
    generator = InpaintNet(width=TINY_WIDTH, mirror=True, skips=True).eval()
    with torch.no_grad():  # the skips start at zero: give them weights, so the parity covers them
        for p in (generator.skip64.weight, generator.skip128.weight):
            p.normal_(0, 0.1)
    config = generator.config
    model_path = export(generator, tmp_path / 'mirror.onnx', {'unmask.training': {**config, 'step': 3}})
    model = onnx.load(str(model_path))
    assert [v.name for v in model.graph.input] == ['image', 'mask']
    state = __import__('idgan.trainer', fromlist=['x']).generator_state_from_onnx(model_path)
    assert (state['width'], state['mirror'], state['skips']) == (TINY_WIDTH, True, True)
    reloaded = InpaintNet(width=TINY_WIDTH, mirror=True, skips=True)
    reloaded.load_state_dict(state['generator'])
    fixture = write_parity_fixture(generator, model_path, tmp_path / 'fixture')
    if shutil.which('npx') is None:
        pytest.skip('no node/npx to run onnxruntime-node')
    assert check_in_node(fixture) <= PARITY_TOLERANCE


@pytest.mark.parametrize('residual', [False, True], ids=['blend', 'blend+residual'])
def test_a_generator_on_the_face_prior_exports_as_one_face_a_run_and_matches_in_node(tmp_path, residual):
    # The prior solves each face's own hole: the graph takes one face a run, and the service's model
    # base runs the fixture's batch of 3 face by face.
    from idgan.prior import FacePrior
    torch.manual_seed(6)
    dims = 3 * 64 * 64
    basis = torch.linalg.qr(torch.randn(dims, 8))[0].T.contiguous()
    generator = InpaintNet(width=TINY_WIDTH, mirror=True, prior_components=8, prior_noise=0.01,
                           prior_residual=residual).eval()
    generator.use_prior(FacePrior(torch.full((dims,), 0.5), basis, torch.linspace(1.0, 0.1, 8), noise=0.01))
    with torch.no_grad():  # give the blend (and the correction) weights, so that the parity covers them
        generator.blend.weight.normal_(0, 0.1)
        if residual:
            generator.residual_head.weight.normal_(0, 0.05)
    model_path = export(generator, tmp_path / 'prior.onnx', {'unmask.training': {**generator.config, 'step': 1}})
    model = onnx.load(str(model_path))
    shapes = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in model.graph.input}
    assert shapes == {'image': [1, 3, 128, 128], 'mask': [1, 1, 128, 128]}
    # It loads back into PyTorch, prior and noise included (training resumes from a committed ONNX).
    state = __import__('idgan.trainer', fromlist=['x']).generator_state_from_onnx(model_path)
    reloaded = InpaintNet(**{k: state[k] for k in generator.config})
    reloaded.load_state_dict(state['generator'])
    assert reloaded.config == generator.config
    fixture = write_parity_fixture(generator, model_path, tmp_path / 'fixture')
    if shutil.which('npx') is None:
        pytest.skip('no node/npx to run onnxruntime-node')
    assert check_in_node(fixture) <= PARITY_TOLERANCE


def test_the_export_can_put_a_retuned_prior_under_a_trained_generator(tmp_path, capsys, tiny_export):
    from idgan.prior import FacePrior, fit_prior, load_prior, save_prior
    from idgan.trainer import generator_state_from_onnx
    rng = np.random.default_rng(3)
    faces = (0.5 + 0.1 * rng.standard_normal((40, 64, 64, 3))).clip(0, 1).astype(np.float32)
    trained_on = fit_prior(faces, components=8)
    generator = InpaintNet(width=TINY_WIDTH, prior_components=8, prior_noise=0.01).eval()
    generator.use_prior(FacePrior(trained_on['mean'], trained_on['basis'], trained_on['variance'], noise=0.01))
    torch.save({'step': 5, 'width': TINY_WIDTH, 'prior_noise': 0.01, 'generator': generator.state_dict()}, tmp_path / 'best.pt')
    retuned = fit_prior(faces, components=12, mirror=True)
    save_prior(FacePrior(retuned['mean'], retuned['basis'], retuned['variance'], noise=0.05), tmp_path / 'prior.pt')
    out = tmp_path / 'swapped.onnx'
    assert main(['--checkpoint', str(tmp_path / 'best.pt'), '--out', str(out), '--fixture', str(tmp_path / 'fixture'),
                 '--prior', str(tmp_path / 'prior.pt'), '--prior-components', '10', '--prior-noise', '0.02',
                 '--skip-node-check']) == 0
    state = generator_state_from_onnx(out)
    assert state['generator']['prior.basis'].shape[0] == 10 and state['prior_noise'] == 0.02
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    swapped = json.loads(meta['unmask.training'])['prior_swapped']
    assert swapped['trained_on'] == {'components': 8, 'noise': 0.01} and swapped['solver_gap'] <= 0.02
    # The network's weights are the trained ones; only the prior under them changed.
    reloaded = InpaintNet(**{k: state[k] for k in ('width', 'prior_components', 'prior_noise')})
    reloaded.load_state_dict(state['generator'])
    assert torch.equal(reloaded.blend.bias, generator.blend.bias)
    expected = load_prior(tmp_path / 'prior.pt', 10, 0.02)
    assert torch.allclose(reloaded.prior.mean, expected.mean)
    # The export's own prior can be read back as a prior (a lent GPU trains on it without the cache).
    inside = load_prior(out)
    assert (inside.components, inside.noise) == (10, 0.02)
    assert torch.allclose(inside.basis, expected.basis, atol=1e-3)  # stored at half precision
    with pytest.raises(ValueError, match='without a face prior'):
        load_prior(tiny_export[1])

    # A generator trained without a prior has none to replace.
    torch.save({'step': 1, 'width': TINY_WIDTH, 'generator': tiny_generator().state_dict()}, tmp_path / 'plain.pt')
    assert main(['--checkpoint', str(tmp_path / 'plain.pt'), '--out', str(tmp_path / 'x.onnx'),
                 '--prior', str(tmp_path / 'prior.pt'), '--skip-node-check']) == 1
    assert 'has no prior to replace' in capsys.readouterr().err


def test_the_export_puts_a_learnt_correction_on_the_prior_and_it_matches_in_node(tmp_path, capsys):
    from idgan.prior import FacePrior, fit_prior, save_prior
    from idgan.refine import PriorCorrection
    from idgan.trainer import generator_state_from_onnx
    rng = np.random.default_rng(4)
    faces = (0.5 + 0.1 * rng.standard_normal((40, 64, 64, 3))).clip(0, 1).astype(np.float32)
    fitted = fit_prior(faces, components=8)
    prior = FacePrior(fitted['mean'], fitted['basis'], fitted['variance'], noise=0.01)
    save_prior(prior, tmp_path / 'prior.pt')
    generator = InpaintNet(width=TINY_WIDTH, prior_components=8, prior_noise=0.01).eval()
    generator.use_prior(prior)
    torch.save({'step': 5, 'width': TINY_WIDTH, 'prior_noise': 0.01, 'generator': generator.state_dict()}, tmp_path / 'best.pt')
    refiner = PriorCorrection(4)
    torch.manual_seed(7)
    with torch.no_grad():
        refiner.out.weight.normal_(0, 0.05)  # a correction that is not zero, so that the parity covers it
    torch.save({'width': 4, 'step': 100, 'network': refiner.state_dict(), 'curve_point': {'selection_psnr': 1.0}}, tmp_path / 'refiner.pt')
    out = tmp_path / 'refined.onnx'
    assert main(['--checkpoint', str(tmp_path / 'best.pt'), '--out', str(out), '--fixture', str(tmp_path / 'fixture'),
                 '--prior', str(tmp_path / 'prior.pt'), '--prior-refiner', str(tmp_path / 'refiner.pt'),
                 '--skip-node-check']) == 0
    state = generator_state_from_onnx(out)
    assert state['prior_refiner_width'] == 4
    meta = json.loads({p.key: p.value for p in onnx.load(str(out)).metadata_props}['unmask.training'])
    assert meta['prior_refiner']['step'] == 100
    reloaded = InpaintNet(**{k: state[k] for k in ('width', 'prior_components', 'prior_noise', 'prior_refiner_width')})
    reloaded.load_state_dict(state['generator'])
    image, mask = fill_white(torch.rand(1, 3, 128, 128), hole_masks(torch.tensor([[30, 20]]))), hole_masks(torch.tensor([[30, 20]]))
    with torch.no_grad():
        plain = generator(image, mask)
        refined = reloaded(image, mask)
    assert float((plain - refined).abs().max()) > 1e-4  # the correction reaches the output…
    assert torch.equal(plain * (1 - mask), refined * (1 - mask))  # …inside the hole only
    assert main(['--checkpoint', str(tmp_path / 'best.pt'), '--out', str(tmp_path / 'x.onnx'),
                 '--prior-refiner', str(tmp_path / 'best.pt'), '--skip-node-check']) == 1
    assert 'not a prior correction' in capsys.readouterr().err
    # --refiner-mirror-average is recorded and comes back with the weights: a reload computes what was exported.
    averaged = tmp_path / 'averaged.onnx'
    assert main(['--checkpoint', str(tmp_path / 'best.pt'), '--out', str(averaged), '--fixture', str(tmp_path / 'fixture-averaged'),
                 '--prior', str(tmp_path / 'prior.pt'), '--prior-refiner', str(tmp_path / 'refiner.pt'),
                 '--refiner-mirror-average', '--skip-node-check']) == 0
    state = generator_state_from_onnx(averaged)
    assert state['prior_refiner_mirror_average'] is True
    reloaded_averaged = InpaintNet(**{k: v for k, v in state.items() if k not in ('generator', 'step', 'total_steps')})
    reloaded_averaged.load_state_dict(state['generator'])
    with torch.no_grad():
        assert float((reloaded_averaged(image, mask) - refined).abs().max()) > 1e-6
    if shutil.which('npx') is None:
        pytest.skip('no node/npx to run onnxruntime-node')
    assert check_in_node(tmp_path / 'fixture') <= PARITY_TOLERANCE
    assert check_in_node(tmp_path / 'fixture-averaged') <= PARITY_TOLERANCE
