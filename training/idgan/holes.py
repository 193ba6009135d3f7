"""Square holes: where they go, their masks, and the hole regions D_l looks at.

A hole is given by the (top, left) corner of an m×m square (paper §IV-A: m = 48 on 128×128 faces,
at random places). Masks are 1 inside the hole (the region Ω to fill), 0 on known pixels.
"""
from __future__ import annotations

import torch

IMAGE_SIZE = 128
HOLE_SIZE = 48


def random_holes(batch: int, generator: torch.Generator | None = None,
                 image_size: int = IMAGE_SIZE, hole_size: int = HOLE_SIZE) -> torch.Tensor:
    """N×2 long tensor of (top, left), uniform over the places where the square fits inside the image."""
    if not 0 < hole_size <= image_size:
        raise ValueError(f'a {hole_size} px hole does not fit a {image_size} px image')
    return torch.randint(0, image_size - hole_size + 1, (batch, 2), generator=generator)


def hole_masks(boxes: torch.Tensor, image_size: int = IMAGE_SIZE, hole_size: int = HOLE_SIZE) -> torch.Tensor:
    """N×1×H×W float masks, 1 inside each sample's hole."""
    rows = torch.arange(image_size, device=boxes.device)
    top, left = boxes[:, 0, None], boxes[:, 1, None]
    in_rows = (rows[None, :] >= top) & (rows[None, :] < top + hole_size)     # N×H
    in_cols = (rows[None, :] >= left) & (rows[None, :] < left + hole_size)   # N×W
    return (in_rows[:, :, None] & in_cols[:, None, :]).unsqueeze(1).float()


def crop_holes(images: torch.Tensor, boxes: torch.Tensor, hole_size: int = HOLE_SIZE) -> torch.Tensor:
    """N×C×m×m: each sample's hole region (what D_l judges), differentiable w.r.t. the images."""
    offsets = torch.arange(hole_size, device=images.device)
    rows = (boxes[:, 0, None] + offsets[None, :]).long()   # N×m
    cols = (boxes[:, 1, None] + offsets[None, :]).long()   # N×m
    n, c = images.shape[:2]
    batch_index = torch.arange(n, device=images.device)[:, None, None]
    # Advanced indexing: images[n, :, rows[n, i], cols[n, j]] for every n, i, j.
    picked = images.permute(0, 2, 3, 1)[batch_index, rows[:, :, None], cols[:, None, :]]  # N×m×m×C
    return picked.permute(0, 3, 1, 2).contiguous()


def fill_white(images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """The occluded input X̃: the hole pre-filled with white (images in [0, 1])."""
    return images * (1 - masks) + masks
