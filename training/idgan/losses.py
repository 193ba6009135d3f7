"""The losses of ID-GAN (paper §III, equations 2–7).

Normalisation. The paper trains in Caffe and gives its weights (λ_Dl = λ_Dg = 300, λ_S = 0.05,
λ_R = 0.0002) for Caffe's loss layers. The terms here follow those layers so that the paper's
constants can be used as they are:
  - L_I and the instance terms of L_R are Euclidean losses: ½·Σ(a − b)² over the elements of one
    image, averaged over the batch (Caffe's EuclideanLoss). For eq. 2 that is (|I|/2)× the per-pixel
    mean the equation writes, |I| = 3·128·128.
  - L_S is a per-pixel softmax loss averaged over pixels and batch (Caffe's SoftmaxWithLoss), as eq. 3.
  - The adversarial terms are mean binary cross-entropies (eq. 4); the generator uses the
    non-saturating form −log D(X) instead of log(1 − D(X)) (same fixed point, usable gradients early).
  - The identity-diversity hinge compares Euclidean distances to the identity centre (the recognizer's
    own metric) and is averaged over the batch.
One rescaling, because R is not the paper's: face-api's 128-D descriptors are tiny next to VGGFace's
4096-D fc7. Measured on aligned CelebA crops with a white 48×48 hole: α_l·L_low ≈ 9,300, α_h·L_high ≈
0.005, β·hinge ≈ 0.14 (different people are 0.6 apart). Taken literally, the descriptor terms would be
five orders of magnitude below L_I and wID would train exactly as w/oID. `identity_scale` (1e4)
multiplies the descriptor-space terms (α_h·L_high and the identity-wise term), which brings them to
about a sixth of the low-level term at the start. Set it to 1 for the paper's constants as written.
Every constant lives in `LossWeights`; if training shows the balance off, change them there and say so.

L_I is applied to the generator's raw output I(X̃, M) on every pixel: the 0.99^d weights are 1 on known
pixels (d = 0), which eq. 2's "distance to the nearest known pixel" implies. The other losses see the
composited face X = X̃⊙(1−M) + I⊙M, the image the service uses.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .recognizer import RecognizerFeatures

DISCOUNT_GAMMA = 0.99


class IdentityTerm(str, Enum):
    """The identity-wise part of L_R, for the paper's ablations (§IV, Table III)."""
    NONE = 'none'            # Our-w/oID: instance terms only, no identity-wise term
    DIVERSITY = 'diversity'  # Our-wID: the identity-diversity hinge of eq. 6
    TRIPLET = 'triplet'      # Our-tri: a triplet loss over the inpainted faces of the batch
    CENTRE = 'centre'        # Our-cent: squared distance of the inpainted face to its identity centre


@dataclass(frozen=True)
class LossWeights:
    reconstruction: float = 1.0    # weight of L_I in eq. 7 (1 in the paper)
    local_adversarial: float = 300.0   # λ_Dl
    global_adversarial: float = 300.0  # λ_Dg
    structure: float = 0.05        # λ_S
    recognition: float = 0.0002    # λ_R
    alpha_low: float = 0.5         # α_l, eq. 6
    alpha_high: float = 0.05       # α_h, eq. 6
    beta: float = 0.5              # β, eq. 6 (also weighs the triplet and centre terms of the ablations)
    identity_scale: float = 1e4    # multiplies the descriptor-space terms of L_R (see the module notes)
    triplet_margin: float = 0.2    # in face-api descriptor distance, where 0.6 separates people
    identity_term: IdentityTerm = IdentityTerm.DIVERSITY


# --- eq. 2 -------------------------------------------------------------------------------------------

def discount_weights(masks: torch.Tensor, gamma: float = DISCOUNT_GAMMA) -> torch.Tensor:
    """W of eq. 2: gamma^d with d the Euclidean distance (in pixels, centre to centre) from each pixel
    to the nearest known pixel; 1 on known pixels. Any hole shape; N×1×H×W in, same out."""
    if masks.dim() != 4 or masks.shape[1] != 1:
        raise ValueError(f'masks must be N×1×H×W, got {tuple(masks.shape)}')
    holes = (masks.detach().cpu().numpy()[:, 0] > 0.5).astype(np.uint8)
    weights = np.empty(holes.shape, dtype=np.float32)
    for i, hole in enumerate(holes):
        if hole.all():
            raise ValueError('a mask with no known pixel has no distance to one')
        # distanceTransform: for every non-zero pixel, the distance to the nearest zero (known) pixel.
        distance = cv2.distanceTransform(hole, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        weights[i] = np.power(gamma, distance, dtype=np.float64).astype(np.float32)
    return torch.from_numpy(weights).unsqueeze(1).to(masks.device)


def euclidean_loss(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """½·Σ(a − b)² over each sample's elements, averaged over the batch (Caffe's EuclideanLoss)."""
    return 0.5 * (a - b).pow(2).flatten(1).sum(1).mean()


def reconstruction_loss(raw: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """L_I, eq. 2: the spatially discounted L2 between the generator's output and the ground truth."""
    return euclidean_loss(raw * weights, target * weights)


# --- eq. 3 -------------------------------------------------------------------------------------------

def structure_loss(parser: torch.nn.Module, inpainted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L_S, eq. 3: pixel-wise softmax loss of S on X against S's own labels on Y (l_i = argmax_j q_ij).
    S is frozen; the gradient flows through it into X."""
    with torch.no_grad():
        labels = parser(target).argmax(dim=1)
    return F.cross_entropy(parser(inpainted), labels)


# --- eq. 4 -------------------------------------------------------------------------------------------

def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """What D_t minimises: −[log D(Y) + log(1 − D(X))], eq. 4 from the discriminator's side."""
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The generator's side of eq. 4, non-saturating: −log D(X)."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


# --- eq. 5, 6 ----------------------------------------------------------------------------------------

def identity_centres(descriptors: torch.Tensor, labels: torch.Tensor, num_identities: int) -> torch.Tensor:
    """f_id of eq. 5: the mean recognizer descriptor of each identity's clean images (C×D).
    Labels are 0…C−1; an identity without images is an error, not a zero centre."""
    counts = torch.bincount(labels, minlength=num_identities)
    if len(counts) > num_identities:
        raise ValueError(f'labels go up to {len(counts) - 1}, but there are {num_identities} identities')
    if (counts == 0).any():
        missing = torch.nonzero(counts == 0).flatten()[:10].tolist()
        raise ValueError(f'identities without any image (first ones: {missing}): their centre is undefined')
    sums = torch.zeros(num_identities, descriptors.shape[1], dtype=descriptors.dtype, device=descriptors.device)
    sums.index_add_(0, labels, descriptors)
    return sums / counts[:, None].to(descriptors.dtype)


def identity_diversity_hinge(inpainted: torch.Tensor, clean: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """max(|R(X) − f_id| − |R(Y) − f_id|, 0) per sample: zero once the inpainted face is at least as
    close to its identity centre as the original is (eq. 6's loose, diversity-keeping constraint)."""
    return torch.clamp((inpainted - centres).norm(dim=1) - (clean - centres).norm(dim=1), min=0)


def batch_triplet_loss(descriptors: torch.Tensor, labels: torch.Tensor, margin: float) -> torch.Tensor:
    """Mean of max(d(a, p) − d(a, n) + margin, 0) over every triplet of the batch with a positive of
    the same identity and a negative of another; 0 when the batch holds no such triplet."""
    distances = torch.cdist(descriptors, descriptors)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    positive = same & ~eye
    negative = ~same
    # losses[a, p, n] = d(a, p) − d(a, n) + margin for the valid (a, p, n).
    losses = distances[:, :, None] - distances[:, None, :] + margin
    valid = positive[:, :, None] & negative[:, None, :]
    if not valid.any():
        return descriptors.sum() * 0
    return torch.clamp(losses[valid], min=0).mean()


@dataclass
class RecognitionLoss:
    total: torch.Tensor
    parts: dict[str, torch.Tensor] = field(default_factory=dict)


def recognition_loss(inpainted: RecognizerFeatures, clean: RecognizerFeatures, centres: torch.Tensor | None,
                     labels: torch.Tensor, weights: LossWeights) -> RecognitionLoss:
    """L_R, eq. 6: α_l|R_l(X) − R_l(Y)| + α_h|R_h(X) − R_h(Y)| + the identity-wise term picked by
    `weights.identity_term`. `centres` are the rows f_id of the batch's identities (N×128); the
    diversity and centre terms need them, the others take None."""
    clean_low, clean_high = clean.low.detach(), clean.descriptor.detach()
    parts = {
        'instance_low': euclidean_loss(inpainted.low, clean_low),
        'instance_high': euclidean_loss(inpainted.descriptor, clean_high),
    }
    descriptor_terms = weights.alpha_high * parts['instance_high']
    term = IdentityTerm(weights.identity_term)
    if term in (IdentityTerm.DIVERSITY, IdentityTerm.CENTRE) and centres is None:
        raise ValueError(f'the {term.value} term needs the identity centres f_id (eq. 5)')
    if term is IdentityTerm.DIVERSITY:
        parts['identity'] = identity_diversity_hinge(inpainted.descriptor, clean_high, centres).mean()
    elif term is IdentityTerm.CENTRE:
        parts['identity'] = (inpainted.descriptor - centres).pow(2).sum(1).mean()
    elif term is IdentityTerm.TRIPLET:
        parts['identity'] = batch_triplet_loss(inpainted.descriptor, labels, weights.triplet_margin)
    if 'identity' in parts:
        descriptor_terms = descriptor_terms + weights.beta * parts['identity']
    total = weights.alpha_low * parts['instance_low'] + weights.identity_scale * descriptor_terms
    return RecognitionLoss(total=total, parts=parts)


# --- eq. 7 -------------------------------------------------------------------------------------------

@dataclass
class GeneratorLoss:
    total: torch.Tensor
    parts: dict[str, float]


def generator_loss(*, reconstruction: torch.Tensor, local_adversarial: torch.Tensor, global_adversarial: torch.Tensor,
                   structure: torch.Tensor | None, recognition: RecognitionLoss | None,
                   weights: LossWeights) -> GeneratorLoss:
    """Eq. 7: L_I + λ_Dl·L_Dl + λ_Dg·L_Dg + λ_S·L_S + λ_R·L_R. S or R may be left out (None): before
    the parser is trained, or for a run without the recognizer; the parts say what was in."""
    total = (weights.reconstruction * reconstruction
             + weights.local_adversarial * local_adversarial
             + weights.global_adversarial * global_adversarial)
    parts = {'L_I': reconstruction.item(), 'L_Dl': local_adversarial.item(), 'L_Dg': global_adversarial.item()}
    if structure is not None:
        total = total + weights.structure * structure
        parts['L_S'] = structure.item()
    if recognition is not None:
        total = total + weights.recognition * recognition.total
        parts['L_R'] = recognition.total.item()
        parts.update({f'L_R.{k}': v.item() for k, v in recognition.parts.items()})
    parts['total'] = total.item()
    return GeneratorLoss(total=total, parts=parts)
