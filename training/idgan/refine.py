"""A correction of the face prior's fill (idgan/prior.py), learnt by regression (training/refine_trial.py).

The prior draws the conditional mean of a linear Gaussian at 64×64: the average of the faces that fit the
known pixels. A small U-Net sees the prior-filled face at that size, its hole, and both mirrored (an aligned
face is nearly symmetric) and draws a correction inside the hole, zero at the start. It is trained on
40×40 windows around the hole (cheap: ~0.05 s a step of 16 on two cores) and runs on the whole 64×64
face in the prior (`FacePrior.refiner`) and in the exported graph: the same pixels, with the face's own
context where the window had zero padding.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .prior import PRIOR_SIZE

WINDOW = 40


def windows(hole: torch.Tensor) -> tuple[list[int], list[int]]:
    """Top and left of a WINDOW×WINDOW square centred on each sample's hole, inside the 64×64 face."""
    rows, cols = hole[:, 0].amax(2), hole[:, 0].amax(1)
    top = (rows.argmax(1) + rows.sum(1) / 2 - WINDOW / 2).round().long().clamp(0, PRIOR_SIZE - WINDOW)
    left = (cols.argmax(1) + cols.sum(1) / 2 - WINDOW / 2).round().long().clamp(0, PRIOR_SIZE - WINDOW)
    return top.tolist(), left.tolist()


def cut(x: torch.Tensor, top: list[int], left: list[int]) -> torch.Tensor:
    return torch.stack([x[i, :, t:t + WINDOW, l:l + WINDOW] for i, (t, l) in enumerate(zip(top, left))])


class PriorCorrection(nn.Module):
    """A three-level U-Net: the composite, its hole and both mirrored in (8 channels), a correction of the hole out (zero at the start)."""

    def __init__(self, width: int):
        super().__init__()
        self.width = w = width

        def conv(i: int, o: int, dilation: int = 1) -> nn.Module:
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=dilation, dilation=dilation), nn.LeakyReLU(0.2))

        self.enc1 = nn.Sequential(conv(8, w), conv(w, w))
        self.enc2 = nn.Sequential(nn.Conv2d(w, 2 * w, 4, 2, 1), nn.LeakyReLU(0.2), conv(2 * w, 2 * w))
        self.enc3 = nn.Sequential(nn.Conv2d(2 * w, 4 * w, 4, 2, 1), nn.LeakyReLU(0.2), conv(4 * w, 4 * w, 2), conv(4 * w, 4 * w, 4))
        self.dec2 = nn.Sequential(conv(6 * w, 2 * w), conv(2 * w, 2 * w))
        self.dec1 = nn.Sequential(conv(3 * w, w), conv(w, w))
        self.out = nn.Conv2d(w, 3, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        # Whole-face runs may also correct the mirror image and average the two (with_mirror_average).
        self.mirror_average = False

    def with_mirror_average(self, on: bool = True) -> 'PriorCorrection':
        """This correction, run on the whole face, also corrects the mirrored face and averages the mirrored-back
        result with its own: the network is not exactly symmetric, so the two are two estimates of one fill."""
        self.mirror_average = on
        return self

    def correction(self, composite: torch.Tensor, hole: torch.Tensor, mirrored: torch.Tensor,
                   mirrored_hole: torch.Tensor) -> torch.Tensor:
        """The correction (N×3×H×W, H and W multiples of 4) of a prior-filled composite, zero outside the hole,
        given the same pixels of the mirrored face and its hole."""
        a = self.enc1(torch.cat([composite, hole, mirrored, mirrored_hole], 1))
        b = self.enc2(a)
        c = self.enc3(b)
        u = self.dec2(torch.cat([F.interpolate(c, scale_factor=2.0), b], 1))
        u = self.dec1(torch.cat([F.interpolate(u, scale_factor=2.0), a], 1))
        return self.out(u) * hole

    def forward(self, face: torch.Tensor, hole: torch.Tensor, fill: torch.Tensor, whole: bool = False) -> torch.Tensor:
        """The face (N×3×64×64) with its hole filled by the prior (`fill`) and corrected: on the window around
        the hole as trained, or with `whole` on the whole face at once, as the exported graph runs it."""
        composite = face * (1 - hole) + fill * hole
        if whole:
            if not self.mirror_average:
                return composite + self.correction(composite, hole, composite.flip(-1), hole.flip(-1))
            both = self.correction(torch.cat([composite, composite.flip(-1)]), torch.cat([hole, hole.flip(-1)]),
                                   torch.cat([composite.flip(-1), composite]), torch.cat([hole.flip(-1), hole]))
            own, mirrored = both.chunk(2)
            return composite + (own + mirrored.flip(-1)) / 2
        top, left = windows(hole)
        correction = self.correction(cut(composite, top, left), cut(hole, top, left),
                                     cut(composite.flip(-1), top, left), cut(hole.flip(-1), top, left))
        out = composite.clone()
        for i, (t, l) in enumerate(zip(top, left)):
            out[i, :, t:t + WINDOW, l:l + WINDOW] += correction[i]
        return out


def load_refiner(path) -> tuple[PriorCorrection, dict]:
    """A correction that training/refine_trial.py --save wrote, and what the file says of it (step, curve point)."""
    state = torch.load(path, map_location='cpu')
    if not isinstance(state, dict) or 'network' not in state or 'width' not in state:
        raise ValueError(f'{path} is not a prior correction written by training/refine_trial.py --save')
    refiner = PriorCorrection(int(state['width']))
    refiner.load_state_dict(state['network'])
    return refiner.eval(), {k: v for k, v in state.items() if k != 'network'}
