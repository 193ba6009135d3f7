"""The committed segmenter (models/occlusion-seg.onnx) back into a trainable OcclusionNet.

The run that made the ONNX file is gone, and the export folded every BatchNorm into its convolution.
The folded weights go back into the convolutions; each BatchNorm is then set, from the statistics of
its convolution's output on a calibration batch, so that it reproduces the folded layer both in
eval mode (its running statistics) and, on batches like the calibration one, in train mode (its
scale and shift undo the batch normalisation). Training then goes on from the committed model.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from .network import OcclusionNet


def _conv_layers(net: OcclusionNet) -> list[tuple[nn.Conv2d, nn.BatchNorm2d | None]]:
    """Every convolution in forward order, with the BatchNorm that follows it (None for the last)."""
    layers = []
    for module in net.modules():
        if isinstance(module, nn.Sequential) and len(module) == 3 and isinstance(module[1], nn.BatchNorm2d):
            layers.append((module[0], module[1]))
    layers.append((net.refine[1], None))
    return layers


def net_from_onnx(path: str | Path, calibration: torch.Tensor) -> tuple[OcclusionNet, dict]:
    """The network and the file's training metadata; `calibration`: N×3×128×128 faces in [0, 1]."""
    model = onnx.load(str(path))
    meta = {p.key: p.value for p in model.metadata_props}
    if 'unmask.training' not in meta:
        raise ValueError(f'{path} has no unmask.training metadata: it was not exported by export_occlusion.py')
    info = json.loads(meta['unmask.training'])
    net = OcclusionNet(info['width'])
    weights = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    # The exporter may also write a folded tensor as a Constant node, or share equal ones through
    # Identity nodes (e.g. the all-zero biases of an untrained network).
    for node in model.graph.node:
        if node.op_type == 'Constant':
            weights |= {node.output[0]: numpy_helper.to_array(a.t) for a in node.attribute if a.name == 'value'}
        elif node.op_type == 'Identity' and node.input[0] in weights:
            weights[node.output[0]] = weights[node.input[0]]
    convs = [node for node in model.graph.node if node.op_type == 'Conv']
    layers = _conv_layers(net)
    if len(convs) != len(layers):
        raise ValueError(f'{path} has {len(convs)} convolutions, a width-{info["width"]} OcclusionNet {len(layers)}')
    biases = []
    with torch.no_grad():
        for node, (conv, bn) in zip(convs, layers):
            w = torch.from_numpy(weights[node.input[1]].copy())
            b = torch.from_numpy(weights[node.input[2]].copy())
            if w.shape != conv.weight.shape:
                raise ValueError(f'{path}: convolution {node.name} is {tuple(w.shape)}, expected {tuple(conv.weight.shape)}')
            conv.weight.copy_(w)
            if bn is None:
                conv.bias.copy_(b)
                continue
            # The folded layer, exactly, in eval mode: BN(c) = c + b.
            bn.running_mean.zero_()
            bn.running_var.fill_(1 - bn.eps)
            bn.weight.fill_(1)
            bn.bias.copy_(b)
            biases.append(b)
    stats: list[tuple[torch.Tensor, torch.Tensor]] = []
    hooks = [conv.register_forward_hook(lambda _m, _i, out: stats.append((out.mean((0, 2, 3)), out.std((0, 2, 3)))))
             for conv, bn in layers if bn is not None]
    net.eval()
    with torch.no_grad():
        net(calibration)
        for hook in hooks:
            hook.remove()
        for (mean, std), b, (_, bn) in zip(stats, biases, [layer for layer in layers if layer[1] is not None]):
            std = std.clamp_min(1e-4)
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(std ** 2 - bn.eps)
            bn.weight.copy_(std)
            bn.bias.copy_(mean + b)
    return net, info
