"""R: face-api's FaceRecognitionNet (a port of dlib's ResNet-29 face descriptor) in PyTorch.

The weights are read from the npm package (tfjs weights manifest + .bin), so the network is the one
the TypeScript service embeds with. The layer order, padding, pooling and input normalisation follow
face-api's `src/faceRecognitionNet/*.ts` (v1.7.15) line by line; `training/tests/test_recognizer.py`
checks the descriptors against the tfjs ones.

R is frozen during training: it only supplies features for the recognition loss (eq. 5, 6).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# face-api's mean RGB; it subtracts it and divides by 255 (not 256).
MEAN_RGB = (122.782, 117.001, 104.298)
INPUT_SIZE = 150

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MANIFEST = REPO_ROOT / 'node_modules/@vladmandic/face-api/model/face_recognition_model-weights_manifest.json'

# The residual stages in face-api's order: (name, output channels, downsamples).
_BLOCKS = [
    ('conv32_1', 32, False), ('conv32_2', 32, False), ('conv32_3', 32, False),
    ('conv64_down', 64, True), ('conv64_1', 64, False), ('conv64_2', 64, False), ('conv64_3', 64, False),
    ('conv128_down', 128, True), ('conv128_1', 128, False), ('conv128_2', 128, False),
    ('conv256_down', 256, True), ('conv256_1', 256, False), ('conv256_2', 256, False),
    ('conv256_down_out', 256, True),
]
# The block after which the "low-level" feature of eq. 6 is taken: the end of the 32-channel stage
# (32×35×35 for a 150×150 input), before any residual downsampling.
LOW_FEATURE_BLOCK = 'conv32_3'


def read_tfjs_weights(manifest_path: Path | str) -> dict[str, np.ndarray]:
    """Every tensor of a tfjs weights manifest as float32, dequantised as tfjs does (q·scale + min)."""
    manifest_path = Path(manifest_path)
    if not manifest_path.is_file():
        raise FileNotFoundError(
            f'no tfjs weights manifest at {manifest_path}: run `npm ci` in the repository root '
            '(the weights come with @vladmandic/face-api)')
    groups = json.loads(manifest_path.read_text())
    tensors: dict[str, np.ndarray] = {}
    for group in groups:
        blob = b''.join((manifest_path.parent / p).read_bytes() for p in group['paths'])
        offset = 0
        for spec in group['weights']:
            name, shape, dtype = spec['name'], tuple(spec['shape']), spec['dtype']
            if dtype != 'float32':
                raise ValueError(f'{manifest_path}: {name} has dtype {dtype}; only float32 tensors are expected')
            count = int(np.prod(shape)) if shape else 1
            quant = spec.get('quantization')
            if quant is None:
                values = np.frombuffer(blob, dtype='<f4', count=count, offset=offset).astype(np.float32)
                offset += 4 * count
            elif quant['dtype'] in ('uint8', 'uint16'):
                stored = np.dtype('u1') if quant['dtype'] == 'uint8' else np.dtype('<u2')
                raw = np.frombuffer(blob, dtype=stored, count=count, offset=offset)
                offset += stored.itemsize * count
                # tfjs computes in float64 and stores float32: the same here.
                values = (raw.astype(np.float64) * quant['scale'] + quant['min']).astype(np.float32)
            elif quant['dtype'] == 'float16':
                values = np.frombuffer(blob, dtype='<f2', count=count, offset=offset).astype(np.float32)
                offset += 2 * count
            else:
                raise ValueError(f'{manifest_path}: {name} has an unknown quantization {quant["dtype"]}')
            tensors[name] = values.reshape(shape)
        if offset != len(blob):
            raise ValueError(f'{manifest_path}: the manifest describes {offset} bytes, the weight files hold {len(blob)}')
    return tensors


class _ConvLayer(nn.Module):
    """conv (+ bias) → per-channel scale (γ·x + β) → optional ReLU, as face-api's convLayer."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, same_padding: bool):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2 if same_padding else 0)
        self.scale = nn.Parameter(torch.ones(out_ch))
        self.shift = nn.Parameter(torch.zeros(out_ch))

    def forward(self, x: torch.Tensor, relu: bool) -> torch.Tensor:
        out = self.conv(x) * self.scale[:, None, None] + self.shift[:, None, None]
        return F.relu(out) if relu else out


class _Residual(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, down: bool):
        super().__init__()
        self.down = down
        # Downsampling blocks use a stride-2 'valid' conv; the others 'same' padding.
        self.conv1 = _ConvLayer(in_ch, out_ch, 3, 2 if down else 1, same_padding=not down)
        self.conv2 = _ConvLayer(out_ch, out_ch, 3, 1, same_padding=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(x, relu=True), relu=False)
        if not self.down:
            return F.relu(out + x)
        shortcut = F.avg_pool2d(x, 2, 2)
        # Where the valid conv came out one smaller than the pooled shortcut, face-api appends a row
        # and a column of zeros at the bottom and the right.
        pad_h = shortcut.shape[2] - out.shape[2]
        pad_w = shortcut.shape[3] - out.shape[3]
        if pad_h or pad_w:
            out = F.pad(out, (0, pad_w, 0, pad_h))
        if shortcut.shape[1] != out.shape[1]:
            # More output channels: the shortcut gets zero channels after its own.
            shortcut = F.pad(shortcut, (0, 0, 0, 0, 0, out.shape[1] - shortcut.shape[1]))
        return F.relu(out + shortcut)


@dataclass
class RecognizerFeatures:
    """What eq. 6 needs: a low-level feature map and the 128-D identity descriptor (the high layer)."""
    low: torch.Tensor
    descriptor: torch.Tensor


class FaceRecognitionNet(nn.Module):
    """Input: RGB in [0, 255], N×3×150×150 (a dlib chip: FACEAPI_RECOGNIZER_TEMPLATE). Output: N×128."""

    def __init__(self):
        super().__init__()
        self.register_buffer('mean_rgb', torch.tensor(MEAN_RGB).view(1, 3, 1, 1), persistent=False)
        self.conv32_down = _ConvLayer(3, 32, 7, 2, same_padding=False)
        blocks = {}
        in_ch = 32
        for name, out_ch, down in _BLOCKS:
            blocks[name] = _Residual(in_ch, out_ch, down)
            in_ch = out_ch
        self.blocks = nn.ModuleDict(blocks)
        self.fc = nn.Linear(256, 128, bias=False)

    def features(self, rgb255: torch.Tensor) -> RecognizerFeatures:
        if rgb255.dim() != 4 or rgb255.shape[1] != 3 or rgb255.shape[2:] != (INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f'FaceRecognitionNet expects N×3×{INPUT_SIZE}×{INPUT_SIZE}, got {tuple(rgb255.shape)}')
        x = (rgb255 - self.mean_rgb) / 255.0
        x = self.conv32_down(x, relu=True)
        x = F.max_pool2d(x, 3, 2)
        low = None
        for name, block in self.blocks.items():
            x = block(x)
            if name == LOW_FEATURE_BLOCK:
                low = x
        descriptor = self.fc(x.mean(dim=(2, 3)))
        return RecognizerFeatures(low=low, descriptor=descriptor)

    def forward(self, rgb255: torch.Tensor) -> torch.Tensor:
        return self.features(rgb255).descriptor

    def load_tfjs(self, manifest_path: Path | str = DEFAULT_MANIFEST) -> 'FaceRecognitionNet':
        weights = read_tfjs_weights(manifest_path)
        used: set[str] = set()

        def take(name: str) -> torch.Tensor:
            if name not in weights:
                raise KeyError(f'{manifest_path} has no tensor {name}: is it FaceRecognitionNet\'s manifest?')
            used.add(name)
            return torch.from_numpy(weights[name].copy())

        def load_conv(layer: _ConvLayer, prefix: str) -> None:
            filters = take(f'{prefix}/conv/filters')  # tfjs HWIO → torch OIHW
            if tuple(filters.shape[:2][::-1]) != tuple(layer.conv.weight.shape[2:]) or filters.shape[3] != layer.conv.out_channels:
                raise ValueError(f'{prefix}: filters of shape {tuple(filters.shape)} do not fit {tuple(layer.conv.weight.shape)}')
            with torch.no_grad():
                layer.conv.weight.copy_(filters.permute(3, 2, 0, 1))
                layer.conv.bias.copy_(take(f'{prefix}/conv/bias'))
                layer.scale.copy_(take(f'{prefix}/scale/weights'))
                layer.shift.copy_(take(f'{prefix}/scale/biases'))

        load_conv(self.conv32_down, 'conv32_down')
        for name, block in self.blocks.items():
            load_conv(block.conv1, f'{name}/conv1')
            load_conv(block.conv2, f'{name}/conv2')
        with torch.no_grad():
            self.fc.weight.copy_(take('fc').t())  # tfjs multiplies x·fc with fc 256×128
        unused = set(weights) - used
        if unused:
            raise ValueError(f'{manifest_path}: tensors not used by the port: {sorted(unused)}')
        return self


def load_recognizer(manifest_path: Path | str = DEFAULT_MANIFEST, device: torch.device | str = 'cpu') -> FaceRecognitionNet:
    """The frozen recognizer in eval mode on `device`."""
    net = FaceRecognitionNet().load_tfjs(manifest_path).to(device).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


# --- From the inpainting crop to the recognizer's crop --------------------------------------------
# Both crops are dlib chips (src/align/templates.ts: dlibChipTemplate): a unit-square template point p
# lands at (padding + p) / (2·padding + 1) · size. Keep these in step with INPAINT_TEMPLATE and
# FACEAPI_RECOGNIZER_TEMPLATE there.
INPAINT_CHIP = (128, 0.35)
RECOGNIZER_CHIP = (INPUT_SIZE, 0.25)


def inpaint_to_recognizer_grid(batch: int, device: torch.device | str, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The sampling grid (for F.grid_sample, align_corners=False) that cuts the recognizer's 150 px chip
    out of a 128 px inpainting crop: a scale and a shift, since both chips share the template."""
    (src_size, src_pad), (dst_size, dst_pad) = INPAINT_CHIP, RECOGNIZER_CHIP
    # In normalised coordinates (−1…1 over each image), the recognizer chip covers a centred square of
    # the inpainting crop whose side is (2·dst_pad + 1) / (2·src_pad + 1) of it.
    side = (2 * dst_pad + 1) / (2 * src_pad + 1)
    theta = torch.tensor([[side, 0.0, 0.0], [0.0, side, 0.0]], device=device, dtype=dtype).expand(batch, 2, 3)
    return F.affine_grid(theta, [batch, 3, dst_size, dst_size], align_corners=False)


def recognizer_input(inpaint_rgb01: torch.Tensor) -> torch.Tensor:
    """N×3×128×128 inpainting crops in [0, 1] → N×3×150×150 recognizer chips in [0, 255], differentiably."""
    if inpaint_rgb01.shape[2:] != (INPAINT_CHIP[0], INPAINT_CHIP[0]):
        raise ValueError(f'expected {INPAINT_CHIP[0]}×{INPAINT_CHIP[0]} inpainting crops, got {tuple(inpaint_rgb01.shape)}')
    grid = inpaint_to_recognizer_grid(inpaint_rgb01.shape[0], inpaint_rgb01.device, inpaint_rgb01.dtype)
    chips = F.grid_sample(inpaint_rgb01, grid, mode='bilinear', padding_mode='border', align_corners=False)
    return chips * 255.0
