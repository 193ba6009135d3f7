"""R, the strong teacher: faceplugin's 512-D ArcFace-class recognizer (`fr_feature.onnx`, a
MobileFaceNet with its batch norms folded into the convolutions) in PyTorch, the one the service
names people with (src/models/faceplugin/recognizer.ts).

The port is a small interpreter of the ONNX graph: every node becomes the torch op it stands for,
with the graph's initializers as frozen tensors, so it is differentiable (L_R needs gradients through
R into the inpainted face) and is the very network onnxruntime runs; `training/tests/test_arcface.py`
checks it against onnxruntime-node on 20 real faces (cosine ≥ 0.999).

Input, as the service feeds it: the 112×112 ARCFACE_TEMPLATE chip (src/align/templates.ts), RGB,
(v − 127) / 128, NCHW. In training the chip is cut from the 128×128 inpainting crop, per face from its
68 landmarks (the crop's pixels, as index.csv holds them), with one differentiable grid_sample
(`arcface_chip_grid`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .recognizer import REPO_ROOT, RecognizerFeatures

VENDORED_MODEL = REPO_ROOT / 'models/faceplugin/fr_feature.onnx'
PACKAGE_MODEL = REPO_ROOT / 'node_modules/faceplugin-face-recognition-js/model/fr_feature.onnx'
CHIP_SIZE = 112

# ARCFACE_TEMPLATE of src/align/templates.ts: per point, the 68-landmark group whose mean is matched…
ARCFACE_LANDMARK_GROUPS = ([37, 38, 40, 41], [43, 44, 46, 47], [30], [48, 60], [54, 64])
# …to these points of the 112 px chip (InsightFace's REFERENCE_FACIAL_POINTS). Keep in step with the TS.
ARCFACE_POINTS = ((38.29459953, 51.69630051), (73.53179932, 51.50139999), (56.02519989, 71.73660278),
                  (41.54930115, 92.3655014), (70.72990036, 92.20410156))


def default_model_path() -> Path:
    """The vendored copy (models/faceplugin/) when it is there, else the npm package's file."""
    return VENDORED_MODEL if VENDORED_MODEL.is_file() else PACKAGE_MODEL


class OnnxGraphModule(nn.Module):
    """An ONNX graph of the ops a face recognizer uses (Conv, BatchNormalization, PRelu, Relu, Add, Mul,
    Gemm, MatMul, Flatten, Reshape, GlobalAveragePool, MaxPool, AveragePool, Identity) as torch ops.
    Initializers are buffers (frozen); the batch may be any size (a Reshape's leading fixed 1 is
    taken to be the batch). `run(x, names)` also returns any intermediate tensors named."""

    SUPPORTED = {'Conv', 'BatchNormalization', 'PRelu', 'Relu', 'Add', 'Mul', 'Gemm', 'MatMul', 'Flatten', 'Reshape',
                 'GlobalAveragePool', 'MaxPool', 'AveragePool', 'Identity'}

    def __init__(self, path: str | Path):
        super().__init__()
        import onnx
        from onnx import numpy_helper
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f'no ONNX recognizer at {path}: it comes with the npm package '
                                    'faceplugin-face-recognition-js (`npm ci`), or give its path')
        model = onnx.load(str(path))
        graph = model.graph
        self.source = str(path)
        self._names: dict[str, str] = {}  # initializer name → buffer name
        for i, init in enumerate(graph.initializer):
            buffer = f'w{i}'
            self.register_buffer(buffer, torch.from_numpy(numpy_helper.to_array(init).copy()), persistent=False)
            self._names[init.name] = buffer
        inputs = [i.name for i in graph.input if i.name not in self._names]
        if len(inputs) != 1 or len(graph.output) != 1:
            raise ValueError(f'{path}: expected one input and one output, got {inputs} and {[o.name for o in graph.output]}')
        self.input_name, self.output_name = inputs[0], graph.output[0].name
        self.nodes = []
        unknown = sorted({n.op_type for n in graph.node} - self.SUPPORTED)
        if unknown:
            raise ValueError(f'{path}: ops the interpreter does not know: {unknown}')
        for node in graph.node:
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            self.nodes.append((node.op_type, list(node.input), list(node.output), attrs))

    def _value(self, name: str, env: dict[str, torch.Tensor]) -> torch.Tensor:
        return env[name] if name in env else getattr(self, self._names[name])

    def run(self, x: torch.Tensor, keep: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
        env = {self.input_name: x}
        for op, inputs, outputs, a in self.nodes:
            v = [self._value(n, env) if n else None for n in inputs]
            if op == 'Conv':
                pads = a.get('pads', [0, 0, 0, 0])
                if pads[:2] != pads[2:]:
                    raise ValueError(f'asymmetric Conv padding {pads} is not supported')
                y = F.conv2d(v[0], v[1], v[2] if len(v) > 2 else None, stride=tuple(a.get('strides', (1, 1))),
                             padding=tuple(pads[:2]), dilation=tuple(a.get('dilations', (1, 1))), groups=a.get('group', 1))
            elif op == 'BatchNormalization':
                scale, bias, mean, var = v[1:5]
                y = F.batch_norm(v[0], mean, var, scale, bias, training=False, eps=a.get('epsilon', 1e-5))
            elif op == 'PRelu':
                slope = v[1]
                y = torch.where(v[0] >= 0, v[0], v[0] * slope)
            elif op == 'Relu':
                y = F.relu(v[0])
            elif op == 'Add':
                y = v[0] + v[1]
            elif op == 'Mul':
                y = v[0] * v[1]
            elif op == 'Identity':
                y = v[0]
            elif op == 'Flatten':
                y = v[0].flatten(a.get('axis', 1))
            elif op == 'Reshape':
                shape = [int(s) for s in v[1].tolist()]
                if shape and shape[0] == 1:
                    shape[0] = v[0].shape[0]  # the export fixed the batch at 1: keep any batch
                y = v[0].reshape(shape)
            elif op == 'GlobalAveragePool':
                y = v[0].mean(dim=(2, 3), keepdim=True)
            elif op in ('MaxPool', 'AveragePool'):
                pads = a.get('pads', [0, 0, 0, 0])
                pool = F.max_pool2d if op == 'MaxPool' else F.avg_pool2d
                y = pool(v[0], tuple(a['kernel_shape']), tuple(a.get('strides', a['kernel_shape'])), tuple(pads[:2]))
            elif op == 'MatMul':
                y = v[0] @ v[1]
            elif op == 'Gemm':
                m1 = v[0].t() if a.get('transA', 0) else v[0]
                m2 = v[1].t() if a.get('transB', 0) else v[1]
                y = a.get('alpha', 1.0) * (m1 @ m2)
                if len(v) > 2 and v[2] is not None:
                    y = y + a.get('beta', 1.0) * v[2]
            env[outputs[0]] = y
        return {name: env[name] for name in (self.output_name, *keep)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x)[self.output_name]


def stage_output(module: OnnxGraphModule, count: int) -> str:
    """The output of the resolution stage that the `count`-th stride-2 convolution ends: the input of
    the bottleneck that downsamples (the 1×1 expansion feeding that depthwise stride-2 conv), or the
    stride-2 conv's own input when nothing expands it."""
    producer = {outputs[0]: (op, inputs) for op, inputs, outputs, _ in module.nodes}
    seen = 0
    for op, inputs, _, a in module.nodes:
        if op == 'Conv' and tuple(a.get('strides', (1, 1))) == (2, 2):
            seen += 1
            if seen == count:
                name = inputs[0]
                while name in producer and producer[name][0] in ('PRelu', 'Relu'):
                    name = producer[name][1][0]
                if name in producer and producer[name][0] == 'Conv':
                    return producer[name][1][0]
                return inputs[0]
    raise ValueError(f'{module.source} has fewer than {count} stride-2 convolutions')


class ArcFaceRecognizer(nn.Module):
    """R for eq. 5–6: `features(chips)` of N×3×112×112 RGB chips in [0, 255] gives the low-level map
    (the end of the 28×28 stage, 64×28×28) and the L2-normalised 512-D embedding (the service compares
    embeddings by cosine, so the descriptor-space terms work on the unit sphere: distance² = 2 − 2·cos)."""

    dims = 512
    input_size = CHIP_SIZE

    def __init__(self, path: str | Path | None = None):
        super().__init__()
        self.graph = OnnxGraphModule(path or default_model_path())
        self.low_name = stage_output(self.graph, 3)

    def embed_raw(self, rgb255: torch.Tensor) -> torch.Tensor:
        """The graph's own output (not normalised), as onnxruntime gives it."""
        return self.graph((rgb255 - 127.0) / 128.0)

    def features(self, rgb255: torch.Tensor) -> RecognizerFeatures:
        if rgb255.dim() != 4 or rgb255.shape[1:] != (3, CHIP_SIZE, CHIP_SIZE):
            raise ValueError(f'the ArcFace recognizer expects N×3×{CHIP_SIZE}×{CHIP_SIZE}, got {tuple(rgb255.shape)}')
        out = self.graph.run((rgb255 - 127.0) / 128.0, (self.low_name,))
        return RecognizerFeatures(low=out[self.low_name], descriptor=F.normalize(out[self.graph.output_name], dim=1))

    def forward(self, rgb255: torch.Tensor) -> torch.Tensor:
        return self.features(rgb255).descriptor


def load_arcface(path: str | Path | None = None, device: torch.device | str = 'cpu') -> ArcFaceRecognizer:
    """The frozen ArcFace recognizer in eval mode on `device`."""
    net = ArcFaceRecognizer(path).to(device).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


# --- The chip, cut from the inpainting crop -------------------------------------------------------

def similarity_fit(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2×3 similarity mapping `src` points onto `dst` with the least squared error (Umeyama, no
    reflection): src/align/similarity.ts estimateSimilarity, batched: N×P×2 → N×2×3."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    fs, gd = src.mean(1, keepdims=True), dst.mean(1, keepdims=True)
    u, v = src - fs, dst - gd
    norm = (u ** 2).sum((1, 2))
    dot = (u * v).sum((1, 2))
    cross = (u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]).sum(1)
    a, b = dot / norm, cross / norm
    tx = gd[:, 0, 0] - (a * fs[:, 0, 0] - b * fs[:, 0, 1])
    ty = gd[:, 0, 1] - (b * fs[:, 0, 0] + a * fs[:, 0, 1])
    return np.stack([np.stack([a, -b, tx], 1), np.stack([b, a, ty], 1)], 1)


def arcface_source_points(landmarks: np.ndarray) -> np.ndarray:
    """The template's five points found in N×68×2 landmarks: each the mean of its landmark group."""
    landmarks = np.asarray(landmarks, np.float64)
    return np.stack([landmarks[:, list(group)].mean(1) for group in ARCFACE_LANDMARK_GROUPS], 1)


def arcface_chip_theta(landmarks: np.ndarray, crop_size: int = 128) -> torch.Tensor:
    """N×2×3 affine_grid matrices (align_corners=False) that cut each face's 112 px ArcFace chip out of
    its `crop_size` crop, from its 68 landmarks in the crop's pixels. As src/align/warp.ts does: chip
    pixel centres (u + ½, v + ½) go back through the inverse similarity into the crop."""
    landmarks = np.asarray(landmarks, np.float64)
    if landmarks.ndim != 3 or landmarks.shape[1:] != (68, 2):
        raise ValueError(f'landmarks must be N×68×2, got {landmarks.shape}')
    to_chip = similarity_fit(arcface_source_points(landmarks), np.broadcast_to(np.array(ARCFACE_POINTS), (len(landmarks), 5, 2)))
    a, b, tx, ty = to_chip[:, 0, 0], to_chip[:, 1, 0], to_chip[:, 0, 2], to_chip[:, 1, 2]
    d = a * a + b * b
    ia, ib = a / d, -b / d
    itx, ity = -(ia * tx - ib * ty), -(ib * tx + ia * ty)
    inverse = np.stack([np.stack([ia, -ib, itx], 1), np.stack([ib, ia, ity], 1)], 1)  # chip → crop, pixels
    # Normalised chip coordinates n ∈ (−1, 1) → chip pixels (n + 1)·S/2 → crop pixels → (…)·2/C − 1.
    s, c = CHIP_SIZE / 2, 2 / crop_size
    to_pixels = np.array([[s, 0, s], [0, s, s], [0, 0, 1]], np.float64)
    theta = np.einsum('ij,njk->nik', np.array([[c, 0, -1], [0, c, -1]], np.float64),
                      np.concatenate([inverse, np.broadcast_to([[[0, 0, 1]]], (len(landmarks), 1, 3))], 1) @ to_pixels)
    return torch.from_numpy(theta.astype(np.float32))


def arcface_input(crops01: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """N×3×H×W crops in [0, 1] → N×3×112×112 ArcFace chips in [0, 255], differentiably (bilinear; past
    the crop's edge, its edge pixels, as the service's warp clamps)."""
    grid = F.affine_grid(theta.to(crops01.device, crops01.dtype), [len(crops01), 3, CHIP_SIZE, CHIP_SIZE],
                         align_corners=False)
    return F.grid_sample(crops01, grid, mode='bilinear', padding_mode='border', align_corners=False) * 255.0
