"""The trainable networks of ID-GAN (paper §III-B, C): the inpainter I, the face parser S, and the
global and local discriminators D_g and D_l. (R, the frozen recognizer, is in recognizer.py.)

Images are N×3×H×W in [0, 1]; masks N×1×H×W with 1 inside the hole.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from .parts import NUM_CLASSES
from .prior import DEFAULT_NOISE, PRIOR_SIZE, FacePrior
from .refine import PriorCorrection

# β = sigmoid(bias) where the prior switch starts: the output is 95 % the prior's fill, 5 % the network's,
# so the network's weights feel the loss from the first step while the fill starts as good as the prior.
_BLEND_START_BIAS = -3.0


def _conv(in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    # 'same' padding for odd kernels at any dilation.
    return nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=dilation * (kernel // 2), dilation=dilation)


class InpaintNet(nn.Module):
    """I: an encoder–decoder with a dilated-convolution middle (as Iizuka et al. and Yu et al.),
    input the occluded face and its mask, output the composited face X̃⊙(1−M) + I(X̃, M)⊙M.

    Two stride-2 stages bring 128×128 to 32×32, where dilations 2…16 give every hole pixel a view
    of the known face around a 48×48 hole. ELU activations and no normalisation layers, so that the
    output of a face does not depend on the rest of its batch (and the ONNX export is plain convs).
    At the default width 40: 2.26 M parameters, about 0.2 s per 128×128 face for a forward and
    backward pass on 2 CPU threads; width 32 gives 1.45 M, 48 gives 3.25 M.

    Two switches (round 3; both off by default, so every earlier checkpoint loads as it was):
    - `mirror`: the left–right mirror image of the occluded face and of its mask join the input
      (8 channels instead of 4). An aligned face is nearly symmetric about the crop's vertical midline,
      so a hole over one eye has the other eye in view at the same place of the mirrored channels. The
      flip happens inside forward(), so the exported ONNX still takes (image, mask).
    - `skips`: the encoder's 128×128 and 64×64 features are added (through 1×1 convolutions) to the
      decoder's at the same sizes, as a U-Net does: the known pixels, which L_I asks to be reproduced,
      no longer have to pass through the 32×32 bottleneck.

    And one of round 4, `prior_components` (0: off): a Gaussian face prior (prior.py, fitted in closed
    form, frozen) fills the hole coarsely; its fill joins the input (3 channels after the others) and the
    output is a per-pixel blend (1−β)·prior + β·network, β from a 1×1 convolution on the last features.
    The network refines the prior instead of drawing the face from nothing. The prior solves one face at
    a time, so the ONNX export of such a generator takes one face a run.
    With the prior, `prior_residual` adds a correction the network draws on top of that blend (a 3×3
    convolution on the last features, zero at the start): round 4's blend stayed at 95 % prior and the
    network's own image never beat the prior's, so the network learns what the prior gets wrong instead.
    `prior_refiner_width` (round 8): the prior's 64×64 fill is corrected by a small U-Net learnt by
    regression (refine.py, training/refine_trial.py) before anything else sees it; frozen here as the prior is.
    The new weights start at zero (`load_generator_weights`), so a generator trained without them
    starts with them switched on as exactly the function it was, and learns to use them from there.
    """

    def __init__(self, width: int = 40, mirror: bool = False, skips: bool = False, prior_components: int = 0,
                 prior_noise: float = DEFAULT_NOISE, prior_residual: bool = False, prior_refiner_width: int = 0,
                 prior_refiner_mirror_average: bool = False):
        super().__init__()
        if prior_residual and not prior_components:
            raise ValueError('prior_residual corrects the prior\'s fill: it needs prior_components')
        self.width, self.mirror, self.skips = width, mirror, skips
        w1, w2, w4 = width, 2 * width, 4 * width
        self.encoder = nn.ModuleList([
            _conv((8 if mirror else 4) + (3 if prior_components else 0), w1, 5),
            _conv(w1, w2, 3, stride=2),
            _conv(w2, w2),
            _conv(w2, w4, 3, stride=2),
            _conv(w4, w4),
            _conv(w4, w4),
        ])
        self.middle = nn.ModuleList([_conv(w4, w4, dilation=d) for d in (2, 4, 8, 16)] + [_conv(w4, w4), _conv(w4, w4)])
        self.up1 = nn.ModuleList([_conv(w4, w2), _conv(w2, w2)])
        self.up2 = nn.ModuleList([_conv(w2, w1), _conv(w1, w1 // 2)])
        self.to_rgb = _conv(w1 // 2, 3)
        if skips:
            # 64×64 encoder features (w2) into the decoder's 64×64 input (w4); 128×128 (w1) into its 128×128 input (w2).
            self.skip64 = nn.Conv2d(w2, w4, 1)
            self.skip128 = nn.Conv2d(w1, w2, 1)
            for conv in (self.skip64, self.skip128):
                nn.init.zeros_(conv.weight)
                nn.init.zeros_(conv.bias)
        self.prior: FacePrior | None = None
        if prior_components:
            # Placeholders of the right shapes: the weights (a checkpoint, or use_prior) bring the values.
            dims = 3 * PRIOR_SIZE * PRIOR_SIZE
            self.prior = FacePrior(torch.zeros(dims), torch.zeros(prior_components, dims), torch.ones(prior_components),
                                   noise=prior_noise)
            if prior_refiner_width:
                self.prior.with_refiner(PriorCorrection(prior_refiner_width).with_mirror_average(prior_refiner_mirror_average))
            self.blend = nn.Conv2d(w1 // 2, 1, 1)
            nn.init.zeros_(self.blend.weight)
            nn.init.constant_(self.blend.bias, _BLEND_START_BIAS)
        self.residual_head: nn.Conv2d | None = None
        if prior_residual:
            self.residual_head = nn.Conv2d(w1 // 2, 3, 3, padding=1)
            nn.init.zeros_(self.residual_head.weight)
            nn.init.zeros_(self.residual_head.bias)

    def use_prior(self, prior: FacePrior) -> None:
        """Takes the values of a fitted prior (the generator was built with as many components)."""
        if self.prior is None or prior.components != self.prior.components:
            raise ValueError(f'this generator was built for {self.prior.components if self.prior else 0} prior components, '
                             f'the prior has {prior.components}')
        for name in ('mean', 'basis', 'variance'):
            getattr(self.prior, name).copy_(getattr(prior, name))
        self.prior.noise = prior.noise

    def replace_prior(self, prior: FacePrior) -> None:
        """Puts another fitted prior, of any size, under this trained generator. The prior is closed-form,
        not learnt: one tuned on the selection faces (more components, another σ², a mirrored fit) may
        take the place of the one the network was trained on; its fill is the same kind of input."""
        if self.prior is None:
            raise ValueError('this generator has no prior to replace (it was trained without --prior)')
        self.prior = FacePrior(prior.mean.clone(), prior.basis.clone(), prior.variance.clone(), prior.noise, prior.cg_steps)
        if prior.refiner is not None:
            self.prior.with_refiner(prior.refiner)

    @property
    def config(self) -> dict:
        """What rebuilds this architecture: InpaintNet(**config)."""
        config = {'width': self.width, 'mirror': self.mirror, 'skips': self.skips}
        if self.prior is not None:
            config.update(prior_components=self.prior.components, prior_noise=self.prior.noise)
            if self.prior.refiner is not None:
                config['prior_refiner_width'] = self.prior.refiner.width
                if self.prior.refiner.mirror_average:
                    config['prior_refiner_mirror_average'] = True
        if self.residual_head is not None:
            config['prior_residual'] = True
        return config

    def raw(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """I(X̃, M): the network's own image for every pixel, before compositing."""
        # The hole is filled with white here whatever the caller put there: the model sees what it was trained on.
        occluded = image * (1 - mask) + mask
        x = torch.cat([occluded * 2 - 1, mask], dim=1)
        if self.mirror:
            x = torch.cat([x, torch.flip(x, dims=[3])], dim=1)
        estimate = None
        if self.prior is not None:
            with torch.no_grad():  # frozen, and no parameter of the network before it
                # The face with its hole filled by the prior: outside the hole the face itself, so that
                # the blend need not learn to undo the prior's blur of the known pixels.
                estimate = self.prior(image, mask)
            x = torch.cat([x, estimate * 2 - 1], dim=1)
        features = {}
        for i, layer in enumerate(self.encoder):
            x = F.elu(layer(x))
            features[i] = x
        for layer in self.middle:
            x = F.elu(layer(x))
        x = F.interpolate(x, scale_factor=2.0, mode='nearest')
        if self.skips:
            x = x + self.skip64(features[2])
        for layer in self.up1:
            x = F.elu(layer(x))
        x = F.interpolate(x, scale_factor=2.0, mode='nearest')
        if self.skips:
            x = x + self.skip128(features[0])
        for layer in self.up2:
            x = F.elu(layer(x))
        drawn = torch.sigmoid(self.to_rgb(x))
        if estimate is None:
            return drawn
        share = torch.sigmoid(self.blend(x))
        blended = (1 - share) * estimate + share * drawn
        if self.residual_head is None:
            return blended
        return (blended + self.residual_head(x)).clamp(0, 1)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The composited face X = X̃⊙(1−M) + I(X̃, M)⊙M: known pixels pass through unchanged."""
        return composite(image, self.raw(image, mask), mask)


GENERATOR_SWITCHES = ('mirror', 'skips')


def generator_config(state: dict) -> dict:
    """InpaintNet's constructor arguments for a saved generator: a train.py checkpoint ('settings'),
    a generator-best.pt or an ONNX export's metadata (top-level 'width', 'mirror', 'skips'). Files
    written before the switches existed have them off."""
    source = state['settings'] if 'settings' in state else state
    config = {'width': source['width']}
    for switch in GENERATOR_SWITCHES:
        config[switch] = bool(source.get(switch, False))
    weights = state.get('generator', {})
    if 'prior.basis' in weights:  # the prior's size is its weights'
        config['prior_components'] = int(weights['prior.basis'].shape[0])
        config['prior_noise'] = float(source.get('prior_noise', DEFAULT_NOISE))
    if 'residual_head.weight' in weights:
        config['prior_residual'] = True
    if 'prior.refiner.out.weight' in weights:
        config['prior_refiner_width'] = int(weights['prior.refiner.out.weight'].shape[1])
        if (source.get('prior_refiner') or {}).get('mirror_average') or source.get('prior_refiner_mirror_average'):
            config['prior_refiner_mirror_average'] = True
    return config


def load_generator_weights(net: InpaintNet, weights: dict[str, torch.Tensor]) -> list[str]:
    """Loads `weights` into `net`, which may have switches the weights' generator had off: the mirror
    channels of the first convolution and the skip convolutions then stay at zero, so `net` computes
    exactly what the saved generator did. Returns what was added that way. A generator with a switch
    on cannot be loaded into one with it off (its weights would be dropped)."""
    own = net.state_dict()
    unexpected = sorted(set(weights) - set(own))
    if unexpected:
        raise ValueError(f'weights for a generator with more parts than this one ({", ".join(unexpected)}): '
                         'switch them on here too')
    added = []
    merged = {}
    for name, tensor in own.items():
        if name not in weights:
            if name.startswith(('skip', 'residual_head.')):
                merged[name] = torch.zeros_like(tensor)
            elif name.startswith(('prior.', 'blend.')):
                merged[name] = tensor  # the prior's values (use_prior) and the blend's start, as built
            else:
                raise ValueError(f'the weights have no {name}')
            added.append(name)
            continue
        given = weights[name]
        if given.shape == tensor.shape:
            merged[name] = given
        elif name == 'encoder.0.weight' and given.shape[1] in (4, 8) and tensor.shape[1] > given.shape[1] \
                and given.shape[0] == tensor.shape[0]:
            # The new input channels (mirror, prior) come after the saved ones and start unused.
            merged[name] = torch.cat([given, tensor.new_zeros(tensor.shape[0], tensor.shape[1] - given.shape[1],
                                                              *tensor.shape[2:])], dim=1)
            if given.shape[1] == 4 and tensor.shape[1] in (8, 11):
                added.append('mirror channels of encoder.0.weight')
            if tensor.shape[1] in (7, 11):
                added.append('prior channels of encoder.0.weight')
        else:
            raise ValueError(f'{name}: saved {tuple(given.shape)}, this generator has {tuple(tensor.shape)} '
                             '(another width, or a mirror generator into one without)')
    net.load_state_dict(merged)
    return added


def composite(image: torch.Tensor, generated: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return image * (1 - mask) + generated * mask


class ParsingNet(nn.Module):
    """S: a small U-Net face parser, per-pixel logits over `num_classes` facial parts (k ≥ 6).

    It is trained first, on its own (training/train_parser.py, on parts drawn from the landmarks:
    idgan/parts.py), then frozen and used by the structure loss (eq. 3). Batch normalisation after
    every convolution: S gets minutes of CPU, and it converges several times faster with it; frozen
    in eval mode, it uses its running statistics, so a face's parse does not depend on its batch.
    """

    def __init__(self, num_classes: int = NUM_CLASSES, width: int = 24):
        super().__init__()
        if num_classes < 2:
            raise ValueError(f'a parser needs at least 2 classes, got {num_classes}')
        self.num_classes = num_classes
        self.width = width
        c1, c2, c3, c4 = width, 2 * width, 4 * width, 4 * width
        self.enc1 = nn.Sequential(_conv_bn_relu(3, c1), _conv_bn_relu(c1, c1))                    # 128
        self.enc2 = nn.Sequential(_conv_bn_relu(c1, c2, stride=2), _conv_bn_relu(c2, c2))          # 64
        self.enc3 = nn.Sequential(_conv_bn_relu(c2, c3, stride=2), _conv_bn_relu(c3, c3))          # 32
        self.enc4 = nn.Sequential(_conv_bn_relu(c3, c4, stride=2), _conv_bn_relu(c4, c4, dilation=2))  # 16
        self.dec3 = _conv_bn_relu(c4 + c3, c3)
        self.dec2 = _conv_bn_relu(c3 + c2, c2)
        self.dec1 = _conv_bn_relu(c2 + c1, c1)
        self.classify = nn.Conv2d(c1, num_classes, 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image * 2 - 1
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        e4 = self.enc4(e3)
        d3 = self.dec3(torch.cat([F.interpolate(e4, size=e3.shape[2:], mode='nearest'), e3], 1))
        d2 = self.dec2(torch.cat([F.interpolate(d3, size=e2.shape[2:], mode='nearest'), e2], 1))
        d1 = self.dec1(torch.cat([F.interpolate(d2, size=e1.shape[2:], mode='nearest'), e1], 1))
        return self.classify(d1)


def _conv_bn_relu(in_ch: int, out_ch: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    conv = _conv(in_ch, out_ch, 3, stride=stride, dilation=dilation)
    conv.bias = None  # the batch norm's shift replaces it
    return nn.Sequential(conv, nn.BatchNorm2d(out_ch), nn.ReLU())


def parser_from_state(state: dict) -> ParsingNet:
    """A ParsingNet holding `state` (a state dict, or a file's {'model': state dict, …}); its class
    count and width are read off the weights' shapes, so any trained parser loads as it was made."""
    weights = state['model'] if 'model' in state else state
    if 'classify.weight' not in weights:
        raise ValueError('not a ParsingNet state dict (no classify.weight); was it written by training/train_parser.py?')
    num_classes, width = weights['classify.weight'].shape[:2]
    parser = ParsingNet(num_classes=int(num_classes), width=int(width))
    parser.load_state_dict(weights)
    return parser


def load_parser(path: str | Path, device: torch.device | str = 'cpu') -> ParsingNet:
    """The trained parser S in `path`, frozen, in eval mode on `device`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'no parser at {path}: train one with training/train_parser.py')
    # weights_only=False: 1.13's weights-only loader cannot read the metadata floats; only files
    # written by train_parser.py are loaded here.
    parser = parser_from_state(torch.load(path, map_location='cpu', weights_only=False)).to(device).eval()
    for p in parser.parameters():
        p.requires_grad_(False)
    return parser


class Discriminator(nn.Module):
    """D_g / D_l: ten convolutions and a fully connected layer (paper §III-C, after WGAN's), one
    real/fake logit per image. Stride 2 on every other layer until the map is 4×4 or smaller; spectral
    normalisation on every layer keeps the λ = 300 adversarial terms from overwhelming the generator.
    """

    CHANNELS = (32, 32, 64, 64, 128, 128, 256, 256, 256, 256)

    def __init__(self, input_size: int):
        super().__init__()
        layers: list[nn.Module] = []
        size, in_ch = input_size, 3
        for i, out_ch in enumerate(self.CHANNELS):
            stride = 2 if i % 2 == 0 and size > 4 else 1
            layers += [spectral_norm(nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1)), nn.LeakyReLU(0.2)]
            size = (size + 1) // 2 if stride == 2 else size
            in_ch = out_ch
        self.input_size = input_size
        self.features = nn.Sequential(*layers)
        self.fc = spectral_norm(nn.Linear(in_ch * size * size, 1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if image.shape[2:] != (self.input_size, self.input_size):
            raise ValueError(f'this discriminator takes {self.input_size}×{self.input_size} images, got {tuple(image.shape)}')
        return self.fc(self.features(image * 2 - 1).flatten(1)).squeeze(1)


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
