"""A Gaussian face prior: the coarse fill of a hole, in closed form, from the faces around it.

The aligned training faces, shrunk to 64×64, are modelled as a Gaussian of rank n (PCA: mean μ,
orthonormal basis B (n×D, D = 64·64·3) and the variances λ of its components). A face x with a hole is
explained by the coefficients c that best fit its known pixels under that Gaussian (ridge regression
with the prior's own variances, noise σ²):

    (B Kᵀ K Bᵀ + σ² Λ⁻¹) c = B Kᵀ K (x − μ)        K: the known pixels, H: the hole's (K + H = I)

and the hole gets μ + Bᵀc there, scaled back to 128×128. With B orthonormal, B Kᵀ K Bᵀ = I − B_H B_Hᵀ,
so only the hole's columns of B are multiplied (n²·|H| operations, not n²·D). This is the conditional
mean of the hole given the rest of the face: smooth by design, but it draws eyes, brows, nostrils and
mouths where they belong, which the CPU-trained generator had not learnt (models/MODEL_CARD.md, round 4).

Training and evaluation solve the system exactly (torch.linalg.solve). The ONNX export cannot (ONNX
has no solver): `FacePrior.export_mode` switches to a fixed number of Jacobi-preconditioned conjugate
gradient steps, unrolled into the graph; the export checks that both agree.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .holes import IMAGE_SIZE, fill_white, hole_masks, random_holes

PRIOR_SIZE = 64
DEFAULT_COMPONENTS = 800
DEFAULT_NOISE = 0.01
DEFAULT_CG_STEPS = 40
DEFAULT_DETAIL_SIGMA = 2.0
# Largest abs difference in [0, 1] an export's unrolled solve may leave from the exact one.
SOLVER_TOLERANCE = 0.02


def shrink(images: torch.Tensor) -> torch.Tensor:
    """N×C×128×128 → N×C×64×64, each pixel the mean of its 2×2 block (as OpenCV's INTER_AREA)."""
    return F.avg_pool2d(images, IMAGE_SIZE // PRIOR_SIZE)


def shrink_hole(masks: torch.Tensor) -> torch.Tensor:
    """N×1×128×128 → N×1×64×64: a 64×64 pixel is in the hole when any of its four pixels is."""
    return F.max_pool2d(masks, IMAGE_SIZE // PRIOR_SIZE)


def fit_prior(faces: np.ndarray, components: int = DEFAULT_COMPONENTS, seed: int = 0, mirror: bool = False) -> dict:
    """The prior of `faces` (N×64×64×3, float in [0, 1], HWC as read): mean, basis (components×D, rows
    orthonormal, channel-first pixel order as the network's tensors) and the components' variances.
    mirror: each face's mirror image joins the fit (an aligned face mirrored is another aligned face),
    so no side of the face is favoured and there are twice the samples to estimate the basis from."""
    if faces.ndim != 4 or faces.shape[1:] != (PRIOR_SIZE, PRIOR_SIZE, 3):
        raise ValueError(f'expected N×{PRIOR_SIZE}×{PRIOR_SIZE}×3 faces, got {faces.shape}')
    if mirror:
        faces = np.concatenate([faces, faces[:, :, ::-1]])
    count = faces.shape[0]
    if not 1 <= components < count:
        raise ValueError(f'{components} components need more than {components} faces, got {count}')
    data = torch.from_numpy(np.ascontiguousarray(faces.transpose(0, 3, 1, 2).reshape(count, -1), dtype=np.float32))
    mean = data.mean(0)
    torch.manual_seed(seed)
    _, singular, v = torch.svd_lowrank(data - mean, q=components, niter=4)
    return {'mean': mean, 'basis': v.T.contiguous(), 'variance': singular ** 2 / count, 'faces': count}


class FacePrior(nn.Module):
    """image (N×3×128×128, [0, 1]) and mask (N×1×128×128, 1 = hole) → the face with its hole filled by
    the prior's conditional mean (known pixels unchanged)."""

    def __init__(self, mean: torch.Tensor, basis: torch.Tensor, variance: torch.Tensor,
                 noise: float = DEFAULT_NOISE, cg_steps: int = DEFAULT_CG_STEPS,
                 mirror_detail: float = 0.0, detail_sigma: float = DEFAULT_DETAIL_SIGMA):
        super().__init__()
        if basis.ndim != 2 or basis.shape[1] != 3 * PRIOR_SIZE * PRIOR_SIZE or mean.shape != basis.shape[1:] \
                or variance.shape != basis.shape[:1]:
            raise ValueError(f'a prior needs mean (D), basis (n×D) and variance (n) with D = 3·{PRIOR_SIZE}², '
                             f'got {tuple(mean.shape)}, {tuple(basis.shape)}, {tuple(variance.shape)}')
        if not noise > 0:
            raise ValueError(f'noise must be positive, got {noise}')
        self.register_buffer('mean', mean.float())
        self.register_buffer('basis', basis.float())
        self.register_buffer('variance', variance.float())
        if mirror_detail < 0 or not detail_sigma > 0:
            raise ValueError(f'mirror_detail must be 0 or more and detail_sigma positive, got {mirror_detail}, {detail_sigma}')
        self.noise = noise
        self.cg_steps = cg_steps
        self.mirror_detail = mirror_detail
        self.detail_sigma = detail_sigma
        # An optional learnt correction of the 64×64 fill (idgan/refine.py), set by with_refiner.
        self.refiner: nn.Module | None = None
        self.export_mode = False

    @property
    def components(self) -> int:
        return self.basis.shape[0]

    def with_refiner(self, refiner: nn.Module) -> 'FacePrior':
        """This prior with `refiner` correcting its 64×64 fill (idgan.refine.PriorCorrection, trained on it)."""
        self.refiner = refiner.eval()
        return self

    def truncated(self, components: int) -> 'FacePrior':
        """The same prior on its first `components` components (the strongest)."""
        if not 1 <= components <= self.components:
            raise ValueError(f'the prior has {self.components} components, asked for {components}')
        cut = FacePrior(self.mean, self.basis[:components], self.variance[:components], self.noise, self.cg_steps,
                        self.mirror_detail, self.detail_sigma)
        return cut.with_refiner(self.refiner) if self.refiner is not None else cut

    def coefficients(self, face: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
        """One face's coefficients: face D values (hole pixels ignored), hole D booleans."""
        centred = face - self.mean
        hole_basis = self.basis[:, hole]                                   # n×|H|
        # B Kᵀ K (x − μ); B times a column, not a vector: onnxruntime's MatMul by a 1-D vector is ~8× slower
        rhs = (self.basis @ centred[:, None] - hole_basis @ centred[hole][:, None])[:, 0]
        ridge = self.noise / self.variance
        if not self.export_mode:
            gram = torch.eye(self.components, dtype=face.dtype) - hole_basis @ hole_basis.T
            return torch.linalg.solve(gram + torch.diag(ridge), rhs)
        return conjugate_gradient(hole_basis, ridge, rhs, self.cg_steps)

    def fill(self, faces: torch.Tensor, holes: torch.Tensor) -> torch.Tensor:
        """The conditional mean (N×3×64×64) of faces at the prior's size (N×3×64×64) given all but their
        holes (N×1×64×64), without the refiner. One face at a time: each hole picks other columns of the
        basis (the export traces batch 1)."""
        flat = faces.flatten(1)
        known = holes.expand(-1, 3, -1, -1).flatten(1) > 0.5
        rows = [self.mean + self.coefficients(flat[i], known[i]) @ self.basis for i in range(faces.shape[0])]
        return torch.stack(rows).view(-1, 3, PRIOR_SIZE, PRIOR_SIZE)

    def estimate(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The prior's whole face (N×3×128×128, not composited): its conditional mean given the known pixels.
        With a refiner, the known pixels are the face's own (at 64×64) and the hole is corrected."""
        faces, small_holes = shrink(image * (1 - mask)), shrink_hole(mask)
        small = self.fill(faces, small_holes)
        if self.refiner is not None:
            small = self.refiner(faces, small_holes, small, whole=True)
        return F.interpolate(small, size=(IMAGE_SIZE, IMAGE_SIZE), mode='bicubic', align_corners=False).clamp(0, 1)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        estimate = self.estimate(image, mask)
        if self.mirror_detail:
            estimate = (estimate + self.mirror_detail * mirrored_detail(image, mask, estimate, self.detail_sigma)).clamp(0, 1)
        return image * (1 - mask) + estimate * mask

    def state(self) -> dict:
        return {'mean': self.mean, 'basis': self.basis, 'variance': self.variance, 'noise': self.noise,
                'cg_steps': self.cg_steps, 'mirror_detail': self.mirror_detail, 'detail_sigma': self.detail_sigma}


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """N×C×H×W blurred by a separable Gaussian of `sigma` px, edges repeated."""
    radius = max(1, int(3 * sigma))
    kernel = torch.exp(-torch.arange(-radius, radius + 1, dtype=x.dtype) ** 2 / (2 * sigma * sigma))
    kernel = kernel / kernel.sum()
    channels = x.shape[1]
    rows = kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1)
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode='replicate'), rows, groups=channels)
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode='replicate'), rows.transpose(2, 3), groups=channels)


def fine_departure(image: torch.Tensor, mask: torch.Tensor, estimate: torch.Tensor, sigma: float) -> torch.Tensor:
    """The known pixels' departure from the prior's face, high-passed at `sigma` px (the local mean of the
    known departure taken away, so that light falling on one side does not count); zero in the hole."""
    known = 1 - mask
    departure = (image - estimate) * known
    local_mean = gaussian_blur(departure, sigma) / gaussian_blur(known, sigma).clamp_min(1e-3)
    return (departure - local_mean) * known


def mirrored_detail(image: torch.Tensor, mask: torch.Tensor, estimate: torch.Tensor, sigma: float) -> torch.Tensor:
    """fine_departure mirrored onto the hole pixels whose mirror image is known (their own eye's edges, say),
    zero elsewhere. An aligned face is nearly symmetric, and the prior's conditional mean draws the average
    of the faces that fit, not this face's own detail."""
    return fine_departure(image, mask, estimate, sigma).flip(-1) * mask * (1 - mask).flip(-1)


def conjugate_gradient(hole_basis: torch.Tensor, ridge: torch.Tensor, rhs: torch.Tensor, steps: int) -> torch.Tensor:
    """x with (I − B_H B_Hᵀ + diag(ridge)) x ≈ rhs (B_H = hole_basis, n×|H|, rows of an orthonormal basis;
    ridge positive), by `steps` Jacobi-preconditioned conjugate-gradient steps: only products and sums,
    so it unrolls into an ONNX graph. The n×n matrix is never formed: each step multiplies by B_H and
    B_Hᵀ (4·n·|H| operations), which over 40 steps costs a fraction of forming it (2·n²·|H|)."""
    hole_basis_t = hole_basis.T.contiguous()  # |H|×n, laid out once: both products below read rows
    diagonal = 1 - (hole_basis * hole_basis).sum(1) + ridge

    def times_matrix(v: torch.Tensor) -> torch.Tensor:
        # v as a 1×n row: onnxruntime's MatMul by a 1-D vector is several times slower than by a matrix
        return v - ((v[None] @ hole_basis) @ hole_basis_t)[0] + ridge * v

    x = torch.zeros_like(rhs)
    residual = rhs
    z = residual / diagonal
    direction = z
    rz = (residual * z).sum()
    for _ in range(steps):
        product = times_matrix(direction)
        alpha = rz / (direction * product).sum().clamp_min(1e-30)
        x = x + alpha * direction
        residual = residual - alpha * product
        z = residual / diagonal
        rz_next = (residual * z).sum()
        direction = z + (rz_next / rz.clamp_min(1e-30)) * direction
        rz = rz_next
    return x


def solver_gap(prior: FacePrior, seed: int = 0, faces: int = 8) -> float:
    """Largest abs difference between the unrolled solve and the exact one, on faces drawn from the prior
    itself (so the known pixels look like faces) with seeded 48×48 holes."""
    rng = torch.Generator().manual_seed(seed)
    coefficients = torch.randn(faces, prior.components, generator=rng) * prior.variance.sqrt()
    small = (prior.mean + coefficients @ prior.basis).view(faces, 3, PRIOR_SIZE, PRIOR_SIZE).clamp(0, 1)
    image = F.interpolate(small, size=(IMAGE_SIZE, IMAGE_SIZE), mode='bilinear', align_corners=False)
    masks = hole_masks(random_holes(faces, torch.Generator().manual_seed(seed)))
    mode = prior.export_mode
    with torch.no_grad():
        prior.export_mode = False
        exact = prior(fill_white(image, masks), masks)
        prior.export_mode = True
        unrolled = prior(fill_white(image, masks), masks)
    prior.export_mode = mode
    return float((exact - unrolled).abs().max())


def save_prior(prior: FacePrior, path: str | Path, info: dict | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + '.tmp')
    torch.save({**prior.state(), 'info': info or {}}, tmp)
    tmp.replace(path)
    return path


def load_prior(path: str | Path, components: int | None = None, noise: float | None = None) -> FacePrior:
    """A prior written by training/fit_prior.py, or the one inside a generator that training/export_onnx.py
    exported (so that a machine without the cache, a lent GPU, trains on the committed generator's own
    prior), optionally cut to its first `components` or with another noise."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'no face prior at {path}: fit one with training/fit_prior.py')
    state = prior_state_from_onnx(path) if path.suffix == '.onnx' else torch.load(path, map_location='cpu')
    if not isinstance(state, dict) or 'basis' not in state:
        raise ValueError(f'{path} is not a face prior written by training/fit_prior.py')
    prior = FacePrior(state['mean'], state['basis'], state['variance'],
                      noise if noise is not None else state['noise'], state.get('cg_steps', DEFAULT_CG_STEPS),
                      state.get('mirror_detail', 0.0), state.get('detail_sigma', DEFAULT_DETAIL_SIGMA))
    return prior.truncated(components) if components else prior


def prior_state_from_onnx(path: Path) -> dict:
    """mean, basis (at the half precision the export stores it), variance and σ² of an exported generator's prior."""
    from .trainer import generator_state_from_onnx  # here: trainer imports this module
    state = generator_state_from_onnx(path)
    weights = state['generator']
    if 'prior.basis' not in weights:
        raise ValueError(f'{path} is a generator without a face prior (exported from a run without --prior)')
    return {'mean': weights['prior.mean'], 'basis': weights['prior.basis'], 'variance': weights['prior.variance'],
            'noise': state['prior_noise']}
