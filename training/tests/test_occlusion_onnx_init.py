"""An exported segmenter read back into a trainable network gives the same masks, in eval and train mode."""
import torch

from occlusion.export_occlusion import export
from occlusion.network import OcclusionNet
from occlusion.onnx_init import net_from_onnx


def test_an_exported_segmenter_comes_back_with_its_outputs(tmp_path):
    torch.manual_seed(0)
    original = OcclusionNet(8)
    # Non-trivial BatchNorm statistics, as a trained network has.
    with torch.no_grad():
        for module in original.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.3, 0.3)
    original.eval()
    path = export(original, tmp_path / 'seg.onnx', {'unmask.training': {'step': 7, 'width': 8}})
    calibration = torch.rand(16, 3, 128, 128)
    restored, info = net_from_onnx(path, calibration)
    assert info['step'] == 7
    faces = torch.rand(4, 3, 128, 128)
    with torch.no_grad():
        expected = original(faces)
        assert torch.allclose(restored.eval()(faces), expected, atol=1e-4)
        # In train mode the BatchNorms normalise by the batch, and give back the same on the calibration batch.
        assert torch.allclose(restored.train()(calibration), original(calibration), atol=2e-3)


def test_load_segmenter_takes_an_exported_file(tmp_path):
    from occlusion.export_occlusion import load_segmenter
    torch.manual_seed(1)
    original = OcclusionNet(8).eval()
    path = export(original, tmp_path / 'seg.onnx', {'unmask.training': {'step': 3, 'width': 8}})
    net, info = load_segmenter(path)
    assert info['step'] == 3 and info['width'] == 8
    faces = torch.rand(2, 3, 128, 128)
    with torch.no_grad():
        assert torch.allclose(net(faces), original(faces), atol=1e-4)
