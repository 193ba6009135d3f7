"""face-api's FaceLandmark68Net (@vladmandic/face-api 1.7.15) in PyTorch, for the ONNX export.

The weights are read from the npm package's tfjs manifest (`read_tfjs_weights`, shared with the
recognizer's port in idgan/recognizer.py). The layers follow face-api's source line by line:
`faceFeatureExtractor/FaceFeatureExtractor.ts` (normalise, four dense blocks, 7×7 average pool),
`faceFeatureExtractor/denseBlock.ts` (denseBlock4), `common/depthwiseSeparableConv.ts` and
`faceProcessor/FaceProcessor.ts` (the fully connected layer, 256 → 136).

Input: N×3×112×112 RGB in 0–255 (face-api's `toBatchTensor(112, true)`: the face cut out of the image,
padded to a square with zeros, resized bilinearly; the service does that part, see
src/models/faceapi/landmarks-onnx.ts). Output: N×136, x, y of the 68 points interleaved, as fractions
of the 112×112 input — the net's raw output, before face-api's `postProcess` maps it back to the face.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

TRAINING_DIR = Path(__file__).resolve().parents[1]
if str(TRAINING_DIR) not in sys.path:
    sys.path.insert(0, str(TRAINING_DIR))

from idgan.recognizer import REPO_ROOT, read_tfjs_weights  # noqa: E402

# FaceFeatureExtractor.forwardInput: meanRgb subtracted, then divided by 255 (not 256).
MEAN_RGB = (122.782, 117.001, 104.298)
INPUT_SIZE = 112
POINTS = 68
DEFAULT_MANIFEST = REPO_ROOT / 'node_modules/@vladmandic/face-api/model/face_landmark_68_model-weights_manifest.json'

# The four dense blocks: (name, input channels, output channels). Each halves the side: 112 → 7.
_DENSE = [('dense0', 3, 32), ('dense1', 32, 64), ('dense2', 64, 128), ('dense3', 128, 256)]


def tf_same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """TensorFlow's 'same' padding: out = ceil(in / stride), the odd pixel of the padding at the end
    (bottom, right). For a stride-2 3×3 conv on an even side that is 0 before and 1 after, which
    PyTorch's symmetric `padding=` cannot say."""
    pads = []
    for size in (x.shape[3], x.shape[2]):  # F.pad's order: last dimension first
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads) if any(pads) else x


class _SeparableConv(nn.Module):
    """tf.separableConv2d(x, depthwise 3×3, pointwise 1×1, stride, 'same') + bias."""

    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        self.stride = stride
        # Stride 1: 'same' is one pixel each side, the conv's own padding; stride 2 pads explicitly.
        self.depthwise = nn.Conv2d(in_ch, in_ch, 3, stride=stride, padding=1 if stride == 1 else 0, groups=in_ch, bias=False)
        self.pointwise = nn.Conv2d(in_ch, out_ch, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = tf_same_pad(x, 3, self.stride)
        return self.pointwise(self.depthwise(x))


class _DenseBlock4(nn.Module):
    """denseBlock4(x, params, isFirstLayer, isScaleDown = true): conv0 downsamples by 2 (a plain conv in
    the first block, a separable one after), conv1–3 are separable and densely connected."""

    def __init__(self, in_ch: int, out_ch: int, first: bool):
        super().__init__()
        self.first = first
        self.conv0 = nn.Conv2d(in_ch, out_ch, 3, stride=2, bias=True) if first else _SeparableConv(in_ch, out_ch, 2)
        self.conv1 = _SeparableConv(out_ch, out_ch, 1)
        self.conv2 = _SeparableConv(out_ch, out_ch, 1)
        self.conv3 = _SeparableConv(out_ch, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out1 = F.relu(self.conv0(tf_same_pad(x, 3, 2)) if self.first else self.conv0(x))
        out2 = self.conv1(out1)
        in3 = F.relu(out1 + out2)
        out3 = self.conv2(in3)
        in4 = F.relu(out1 + (out2 + out3))
        out4 = self.conv3(in4)
        return F.relu(out1 + (out2 + (out3 + out4)))


class FaceLandmark68Net(nn.Module):
    """Input: RGB in [0, 255], N×3×112×112. Output: N×136 (x0, y0, x1, y1, …) as fractions of the input."""

    def __init__(self):
        super().__init__()
        self.register_buffer('mean_rgb', torch.tensor(MEAN_RGB).view(1, 3, 1, 1), persistent=False)
        self.dense = nn.ModuleList([_DenseBlock4(i, o, first=(n == 0)) for n, (_, i, o) in enumerate(_DENSE)])
        self.fc = nn.Linear(256, 2 * POINTS)

    def forward(self, rgb255: torch.Tensor) -> torch.Tensor:
        if rgb255.dim() != 4 or rgb255.shape[1] != 3 or tuple(rgb255.shape[2:]) != (INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f'FaceLandmark68Net expects N×3×{INPUT_SIZE}×{INPUT_SIZE}, got {tuple(rgb255.shape)}')
        x = (rgb255 - self.mean_rgb) / 255.0
        for block in self.dense:
            x = block(x)
        x = F.avg_pool2d(x, 7, 2)  # tf.avgPool(out, [7, 7], [2, 2], 'valid'): 7×7 → 1×1
        return self.fc(torch.flatten(x, 1))

    def load_tfjs(self, manifest_path: Path | str = DEFAULT_MANIFEST) -> 'FaceLandmark68Net':
        weights = read_tfjs_weights(manifest_path)
        used: set[str] = set()

        def take(name: str, shape: tuple[int, ...]) -> torch.Tensor:
            if name not in weights:
                raise KeyError(f"{manifest_path} has no tensor {name}: is it FaceLandmark68Net's manifest?")
            if tuple(weights[name].shape) != shape:
                raise ValueError(f'{manifest_path}: {name} has shape {weights[name].shape}, the port expects {shape}')
            used.add(name)
            return torch.from_numpy(weights[name].copy())

        def load_separable(layer: _SeparableConv, prefix: str) -> None:
            c, o = layer.depthwise.in_channels, layer.pointwise.out_channels
            layer.depthwise.weight.copy_(take(f'{prefix}/depthwise_filter', (3, 3, c, 1)).permute(2, 3, 0, 1))  # HWC1 → C1HW
            layer.pointwise.weight.copy_(take(f'{prefix}/pointwise_filter', (1, 1, c, o)).permute(3, 2, 0, 1))  # HWIO → OIHW
            layer.pointwise.bias.copy_(take(f'{prefix}/bias', (o,)))

        with torch.no_grad():
            for (name, in_ch, out_ch), block in zip(_DENSE, self.dense):
                if block.first:
                    block.conv0.weight.copy_(take(f'{name}/conv0/filters', (3, 3, in_ch, out_ch)).permute(3, 2, 0, 1))
                    block.conv0.bias.copy_(take(f'{name}/conv0/bias', (out_ch,)))
                else:
                    load_separable(block.conv0, f'{name}/conv0')
                for k in (1, 2, 3):
                    load_separable(getattr(block, f'conv{k}'), f'{name}/conv{k}')
            self.fc.weight.copy_(take('fc/weights', (256, 2 * POINTS)).t())  # tfjs computes x·W with W 256×136
            self.fc.bias.copy_(take('fc/bias', (2 * POINTS,)))
        unused = set(weights) - used
        if unused:
            raise ValueError(f'{manifest_path}: tensors not used by the port: {sorted(unused)}')
        return self


def load_landmark_net(manifest_path: Path | str = DEFAULT_MANIFEST) -> FaceLandmark68Net:
    """The net with face-api's weights, in eval mode, frozen."""
    net = FaceLandmark68Net().load_tfjs(manifest_path).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net
