"""R as the trainer and the identity centres use it: a frozen recognizer together with the way its
input chip is cut from the 128×128 inpainting crop. `--recognizer` picks one:

- `faceapi`: face-api's 128-D FaceRecognitionNet (idgan/recognizer.py), on the 150 px dlib chip, a
  fixed scale and shift of the crop (both chips share dlib's template). Raw descriptors, Euclidean.
- `arcface`: faceplugin's 512-D ArcFace-class net (idgan/arcface.py), the service's main recognizer,
  on the 112 px ARCFACE_TEMPLATE chip cut per face from its 68 landmarks. Unit embeddings.

Each has a `key` (a digest of its weights) that names the identity-centre cache, so centres of one
recognizer are never read for the other.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from torch import nn

from .arcface import arcface_chip_theta, arcface_input, default_model_path, load_arcface
from .recognizer import DEFAULT_MANIFEST, RecognizerFeatures, load_recognizer, recognizer_input

RECOGNIZERS = ('faceapi', 'arcface')


class Teacher(nn.Module):
    name: str
    key: str
    dims: int
    needs_landmarks: bool

    def chips(self, images01: torch.Tensor, landmarks: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def features(self, images01: torch.Tensor, landmarks: torch.Tensor | None = None) -> RecognizerFeatures:
        """R's low-level map and descriptor of N×3×128×128 inpainting crops in [0, 1]."""
        return self.net.features(self.chips(images01, landmarks))

    def forward(self, images01: torch.Tensor, landmarks: torch.Tensor | None = None) -> torch.Tensor:
        return self.features(images01, landmarks).descriptor


class FaceApiTeacher(Teacher):
    name, dims, needs_landmarks = 'faceapi', 128, False

    def __init__(self, manifest: str | Path = DEFAULT_MANIFEST, device: torch.device | str = 'cpu'):
        super().__init__()
        from .centres import recognizer_digest  # the key the centres cache has always had for face-api
        self.net = load_recognizer(manifest, device)
        self.key = recognizer_digest(manifest)

    def chips(self, images01: torch.Tensor, landmarks: torch.Tensor | None) -> torch.Tensor:
        return recognizer_input(images01)


class ArcFaceTeacher(Teacher):
    name, dims, needs_landmarks = 'arcface', 512, True

    def __init__(self, model: str | Path | None = None, device: torch.device | str = 'cpu'):
        super().__init__()
        path = Path(model) if model else default_model_path()
        self.net = load_arcface(path, device)
        self.key = 'arcface-' + hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        self.path = path

    def chips(self, images01: torch.Tensor, landmarks: torch.Tensor | None) -> torch.Tensor:
        if landmarks is None:
            raise ValueError("the ArcFace recognizer's chip is placed by each face's 68 landmarks: none were given")
        theta = arcface_chip_theta(torch.as_tensor(landmarks).detach().cpu().numpy(), images01.shape[-1])
        return arcface_input(images01, theta)


def load_teacher(name: str, device: torch.device | str = 'cpu', arcface_model: str | Path | None = None) -> Teacher:
    if name == 'faceapi':
        teacher = FaceApiTeacher(DEFAULT_MANIFEST, device)
    elif name == 'arcface':
        teacher = ArcFaceTeacher(arcface_model, device)
    else:
        raise ValueError(f'recognizer must be one of {", ".join(RECOGNIZERS)}, got {name!r}')
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher.eval()
