"""Occluded faces synthesised from the aligned 128×128 crops, with the exact occluded pixels as ground truth.

No labelled occlusion data exists here (issue 5), so the segmenter learns from occluders pasted onto
clean aligned faces (`var/celeba-aligned`, written by `unmask dataset align`). Each occluder is an RGB
layer with an alpha map; the composite is face·(1−α) + occluder·α and the label is α > 0.5. Kinds:

    block       the paper's holes and more: white, grey, noise or coloured rectangles, any size
    facemask    a MaskTheFace template (RGBA) warped onto six points of the face's 68 landmarks
    sunglasses  two dark tinted lenses over the eyes, a bridge, sometimes the temple arms
    hand        a skin-coloured region cut from another face, in a random ellipse or polygon
    scarf       a textured band over the lower face, cut from another image or patterned
    object      a random polygon with a random texture (noise, stripes, gradient, a patch of an image)
    brim        a hat brim or fringe: a band from the top of the crop down towards the brows

A share of samples stays clean (empty mask) so that the network learns to leave clean faces alone.
Colour and lighting change the whole composite afterwards (they do not move the label), and a mild
flip/rotation/shift moves image and α together (alignment is never perfect in the service).
"""
from __future__ import annotations

import configparser
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

IMAGE_SIZE = 128
KINDS = ('block', 'facemask', 'sunglasses', 'hand', 'scarf', 'object', 'brim')
# Sampling weights of the kinds: masks are what the cameras will mostly see.
KIND_WEIGHTS = (0.16, 0.30, 0.14, 0.12, 0.10, 0.12, 0.06)
MASKTHEFACE_DIR = Path(__file__).resolve().parents[3] / 'shared' / 'data' / 'occluders' / 'masktheface'
# The templates are drawn at up to 1,800 px; warped onto a 128 px face they need no more than this.
TEMPLATE_MAX_SIDE = 256


@dataclass(frozen=True)
class MaskTemplate:
    name: str
    rgba: np.ndarray          # H×W×4 uint8
    anchors: np.ndarray       # 6×2 float32: MaskTheFace's points a…f in template pixels


@dataclass
class SynthConfig:
    clean_share: float = 0.2
    second_occluder_share: float = 0.15
    augment_geometry: bool = True
    augment_photometric: bool = True
    kinds: tuple[str, ...] = KINDS
    kind_weights: tuple[float, ...] = KIND_WEIGHTS


@dataclass
class Sample:
    image: np.ndarray         # 128×128×3 uint8, the occluded face
    mask: np.ndarray          # 128×128 uint8 in {0, 1}: α > 0.5
    kinds: list[str] = field(default_factory=list)


def load_mask_templates(folder: Path | str = MASKTHEFACE_DIR) -> list[MaskTemplate]:
    """The MaskTheFace templates named in masks.cfg, shrunk to TEMPLATE_MAX_SIDE with their anchors."""
    folder = Path(folder)
    cfg_path = folder / 'masks.cfg'
    if not cfg_path.is_file():
        raise FileNotFoundError(f'no {cfg_path}: the MaskTheFace occluders are expected there')
    cfg = configparser.ConfigParser()
    cfg.read(cfg_path)
    templates = []
    for name in cfg.sections():
        section = cfg[name]
        if 'template' not in section:
            continue   # MaskTheFace's 'empty' and 'inpaint' modes: no template to paste
        png = folder / 'templates' / Path(section['template']).name
        rgba = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)
        if rgba is None or rgba.ndim != 3 or rgba.shape[2] != 4:
            raise ValueError(f'{png} (template of [{name}] in {cfg_path}) is not a readable RGBA PNG')
        rgba = cv2.cvtColor(rgba, cv2.COLOR_BGRA2RGBA)
        anchors = np.array([[float(v) for v in section[f'mask_{k}'].split(',')] for k in 'abcdef'], np.float32)
        scale = min(1.0, TEMPLATE_MAX_SIDE / max(rgba.shape[:2]))
        if scale < 1.0:
            rgba = cv2.resize(rgba, (round(rgba.shape[1] * scale), round(rgba.shape[0] * scale)),
                              interpolation=cv2.INTER_AREA)
            anchors = anchors * scale
        templates.append(MaskTemplate(name, rgba, anchors))
    if not templates:
        raise ValueError(f'{cfg_path} names no templates')
    return templates


def face_anchor_points(landmarks: np.ndarray) -> np.ndarray:
    """MaskTheFace's six face points from 68 landmarks: a, c on the jaw at the nose bridge's height,
    b on the bridge, d, f on the jaw near the mouth, e under the chin."""
    lm = landmarks
    return np.array([
        lm[1], (lm[27] + lm[28] + lm[29]) / 3, lm[15],
        (lm[4] + lm[5]) / 2, lm[8] + (lm[8] - lm[57]) * 0.08, (lm[11] + lm[12]) / 2,
    ], np.float32)


# ——— textures ———

def random_colour(rng: random.Random) -> np.ndarray:
    return np.array([rng.uniform(0, 255) for _ in range(3)], np.float32)


def texture(rng: random.Random, donor: np.ndarray | None, size: int = IMAGE_SIZE) -> np.ndarray:
    """A size×size×3 float32 texture in [0, 255]: solid, noise, stripes, checks, gradient or an image patch."""
    style = rng.choice(('solid', 'noise', 'stripes', 'checks', 'gradient', 'patch', 'patch'))
    if style == 'patch' and donor is None:
        style = 'noise'
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    a, b = random_colour(rng), random_colour(rng)
    if style == 'solid':
        out = np.broadcast_to(a, (size, size, 3)).copy()
    elif style == 'noise':
        np_rng = np.random.default_rng(rng.getrandbits(32))
        scale = rng.choice((1, 2, 4, 8))
        small = np_rng.uniform(0, 255, (size // scale + 1, size // scale + 1, 3 if rng.random() < 0.6 else 1))
        small = small.astype(np.float32)
        out = cv2.resize(small, (size, size), interpolation=cv2.INTER_NEAREST if rng.random() < 0.5 else cv2.INTER_LINEAR)
        if out.ndim == 2:
            out = np.repeat(out[..., None], 3, axis=2)
    elif style in ('stripes', 'checks'):
        period = rng.uniform(4, 20)
        angle = rng.uniform(0, math.pi)
        u = xs * math.cos(angle) + ys * math.sin(angle)
        on = (u // period) % 2
        if style == 'checks':
            v = -xs * math.sin(angle) + ys * math.cos(angle)
            on = (on + (v // period) % 2) % 2
        out = a * on[..., None] + b * (1 - on[..., None])
    elif style == 'gradient':
        angle = rng.uniform(0, 2 * math.pi)
        t = (xs * math.cos(angle) + ys * math.sin(angle)) / size * 0.7 + 0.5
        t = np.clip(t, 0, 1)[..., None]
        out = a * t + b * (1 - t)
    else:
        # A patch of another crop, scaled and rotated, maybe recoloured.
        assert donor is not None
        angle, scale = rng.uniform(0, 360), rng.uniform(1.0, 2.5)
        matrix = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
        out = cv2.warpAffine(donor, matrix, (size, size), borderMode=cv2.BORDER_REFLECT).astype(np.float32)
        if rng.random() < 0.4:
            out = out[..., rng.sample(range(3), 3)]
    return np.clip(out, 0, 255).astype(np.float32)


def shade(layer: np.ndarray, rng: random.Random) -> np.ndarray:
    """A smooth light gradient over an occluder, so it is not flat like a sticker."""
    size = layer.shape[0]
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    angle = rng.uniform(0, 2 * math.pi)
    strength = rng.uniform(0, 0.5)
    gain = 1 + strength * (xs * math.cos(angle) + ys * math.sin(angle)) + rng.uniform(-0.15, 0.15)
    return np.clip(layer * gain[..., None], 0, 255)


# ——— shapes (alpha maps in [0, 1]) ———

def polygon_alpha(points: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    alpha = np.zeros((size, size), np.uint8)
    cv2.fillPoly(alpha, [np.round(points).astype(np.int32)], 255, lineType=cv2.LINE_AA)
    return alpha.astype(np.float32) / 255


def ellipse_alpha(center, axes, angle, size: int = IMAGE_SIZE) -> np.ndarray:
    alpha = np.zeros((size, size), np.uint8)
    cv2.ellipse(alpha, (round(center[0]), round(center[1])), (max(1, round(axes[0])), max(1, round(axes[1]))),
                angle, 0, 360, 255, -1, lineType=cv2.LINE_AA)
    return alpha.astype(np.float32) / 255


def random_polygon(rng: random.Random, center, radius: float, vertices: int) -> np.ndarray:
    angles = sorted(rng.uniform(0, 2 * math.pi) for _ in range(vertices))
    return np.array([[center[0] + radius * rng.uniform(0.4, 1.0) * math.cos(t),
                      center[1] + radius * rng.uniform(0.4, 1.0) * math.sin(t)] for t in angles], np.float32)


# ——— occluders: each returns (rgb layer float32 [0, 255], alpha float32 [0, 1]) ———

def block_occluder(rng, landmarks, donor, templates):
    size = IMAGE_SIZE
    w, h = rng.randint(16, 72), rng.randint(16, 72)
    if rng.random() < 0.35:
        w = h = rng.choice((32, 48, 64))   # the paper's square holes
    x, y = rng.randint(-w // 4, size - 3 * w // 4), rng.randint(-h // 4, size - 3 * h // 4)
    alpha = np.zeros((size, size), np.float32)
    alpha[max(0, y):y + h, max(0, x):x + w] = 1
    fill = rng.choice(('white', 'grey', 'black', 'noise', 'texture'))
    if fill == 'white':
        layer = np.full((size, size, 3), 255, np.float32)
    elif fill == 'grey':
        layer = np.full((size, size, 3), rng.uniform(60, 200), np.float32)
    elif fill == 'black':
        layer = np.full((size, size, 3), rng.uniform(0, 30), np.float32)
    elif fill == 'noise':
        np_rng = np.random.default_rng(rng.getrandbits(32))
        layer = np_rng.uniform(0, 255, (size, size, 3)).astype(np.float32)
    else:
        layer = texture(rng, donor)
    return layer, alpha


def facemask_occluder(rng, landmarks, donor, templates):
    template = rng.choice(templates)
    target = face_anchor_points(landmarks)
    jitter = np.linalg.norm(landmarks[16] - landmarks[0]) * 0.04
    target = target + np.array([[rng.gauss(0, jitter), rng.gauss(0, jitter)] for _ in range(6)], np.float32)
    homography, _ = cv2.findHomography(template.anchors, target, 0)
    if homography is None:
        return block_occluder(rng, landmarks, donor, templates)
    warped = cv2.warpPerspective(template.rgba, homography, (IMAGE_SIZE, IMAGE_SIZE), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0)).astype(np.float32)
    layer, alpha = warped[..., :3], warped[..., 3] / 255
    recolour = rng.random()
    if recolour < 0.35:
        # Cloth masks come in every colour: tint the template's shading with a random colour.
        grey = layer.mean(axis=2, keepdims=True) / 255
        layer = grey * random_colour(rng) * rng.uniform(0.8, 1.3)
    elif recolour < 0.5:
        grey = layer.mean(axis=2, keepdims=True) / 255
        layer = grey * texture(rng, donor) * rng.uniform(0.8, 1.3)
    return shade(np.clip(layer, 0, 255), rng), alpha


def sunglasses_occluder(rng, landmarks, donor, templates):
    size = IMAGE_SIZE
    left, right = landmarks[36:42].mean(axis=0), landmarks[42:48].mean(axis=0)
    eye_distance = float(np.linalg.norm(right - left))
    tilt = math.degrees(math.atan2(right[1] - left[1], right[0] - left[0]))
    rx = eye_distance * rng.uniform(0.33, 0.5)
    ry = rx * rng.uniform(0.6, 0.95)
    drop = ry * rng.uniform(-0.1, 0.35)   # lenses sit a little below the eye centres
    alpha_u8 = np.zeros((size, size), np.uint8)
    square = rng.random() < 0.35
    for centre in (left, right):
        cx, cy = float(centre[0]), float(centre[1] + drop)
        if square:
            box = cv2.boxPoints(((cx, cy), (2 * rx, 2 * ry), tilt))
            cv2.fillPoly(alpha_u8, [np.round(box).astype(np.int32)], 255, lineType=cv2.LINE_AA)
        else:
            cv2.ellipse(alpha_u8, (round(cx), round(cy)), (round(rx), round(ry)), tilt, 0, 360, 255, -1,
                        lineType=cv2.LINE_AA)
    thickness = rng.randint(2, 4)

    def bridge_y(eye) -> int:   # the bridge and arms sit above the lens centres
        return round(float(eye[1] + drop - ry * 0.4))

    cv2.line(alpha_u8, (round(float(left[0] + rx * 0.9)), bridge_y(left)),
             (round(float(right[0] - rx * 0.9)), bridge_y(right)), 255, thickness, lineType=cv2.LINE_AA)
    if rng.random() < 0.6:  # the temple arms running to the sides of the head
        cv2.line(alpha_u8, (round(float(left[0] - rx * 0.9)), bridge_y(left)),
                 (round(float(landmarks[0][0])), round(float(landmarks[0][1]))), 255, thickness, lineType=cv2.LINE_AA)
        cv2.line(alpha_u8, (round(float(right[0] + rx * 0.9)), bridge_y(right)),
                 (round(float(landmarks[16][0])), round(float(landmarks[16][1]))), 255, thickness, lineType=cv2.LINE_AA)
    tint = np.array([rng.uniform(0, 70) for _ in range(3)], np.float32)
    if rng.random() < 0.25:  # mirrored or coloured lenses
        tint = random_colour(rng)
    layer = np.broadcast_to(tint, (size, size, 3)).copy()
    # A soft reflection streak across each lens.
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    streak = np.exp(-((xs - ys * rng.uniform(-0.6, 0.6) - rng.uniform(0, size)) ** 2) / (2 * rng.uniform(4, 12) ** 2))
    layer = np.clip(layer + streak[..., None] * rng.uniform(0, 90), 0, 255)
    return shade(layer, rng), alpha_u8.astype(np.float32) / 255


def skin_patch(rng, donor: np.ndarray) -> np.ndarray:
    """Skin-like texture: a cheek region of another aligned face, blown up to the whole crop."""
    cx, cy = rng.uniform(34, 46), rng.uniform(62, 78)
    if rng.random() < 0.5:
        cx = IMAGE_SIZE - cx
    patch = cv2.getRectSubPix(donor, (20, 20), (cx, cy))
    return cv2.resize(patch, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_CUBIC).astype(np.float32)


def hand_occluder(rng, landmarks, donor, templates):
    size = IMAGE_SIZE
    layer = skin_patch(rng, donor) if donor is not None else np.broadcast_to(
        np.array([rng.uniform(150, 230), rng.uniform(100, 180), rng.uniform(80, 150)], np.float32), (size, size, 3)).copy()
    # Somewhere over the face: mouth, cheek, eyes or chin, often entering from an edge like a hand does.
    target = landmarks[rng.choice((8, 30, 33, 36, 45, 48, 54, 57, 3, 13))]
    radius = rng.uniform(18, 40)
    if rng.random() < 0.5:
        alpha = ellipse_alpha(target, (radius, radius * rng.uniform(0.5, 1.0)), rng.uniform(0, 180))
    else:
        alpha = polygon_alpha(random_polygon(rng, target, radius, rng.randint(5, 9)))
    if rng.random() < 0.6:  # an arm/palm running off the border
        edge = rng.choice(((target[0], size + 20), (-20, target[1]), (size + 20, target[1])))
        arm = np.zeros((size, size), np.uint8)
        cv2.line(arm, (round(float(target[0])), round(float(target[1]))), (round(float(edge[0])), round(float(edge[1]))),
                 255, round(radius * rng.uniform(0.8, 1.4)), lineType=cv2.LINE_AA)
        alpha = np.maximum(alpha, arm.astype(np.float32) / 255)
    return shade(layer, rng), alpha


def scarf_occluder(rng, landmarks, donor, templates):
    size = IMAGE_SIZE
    top = float(rng.uniform(landmarks[33][1] - 6, landmarks[57][1] + 4))   # from the nose down to the lips
    n = rng.randint(4, 8)
    xs = np.linspace(-8, size + 8, n)
    upper = [(x, top + rng.uniform(-6, 6) + 0.15 * abs(x - size / 2) * rng.choice((-1, 1))) for x in xs]
    points = np.array(upper + [(size + 8, size + 8), (-8, size + 8)], np.float32)
    layer = texture(rng, donor)
    return shade(layer, rng), polygon_alpha(points)


def object_occluder(rng, landmarks, donor, templates):
    centre = (rng.uniform(0, IMAGE_SIZE), rng.uniform(10, IMAGE_SIZE))
    radius = rng.uniform(12, 48)
    if rng.random() < 0.3:
        alpha = ellipse_alpha(centre, (radius, radius * rng.uniform(0.3, 1.0)), rng.uniform(0, 180))
    else:
        alpha = polygon_alpha(random_polygon(rng, centre, radius, rng.randint(3, 10)))
    return shade(texture(rng, donor), rng), alpha


def brim_occluder(rng, landmarks, donor, templates):
    size = IMAGE_SIZE
    brow = float(min(landmarks[17:27, 1]))
    bottom = rng.uniform(brow - 14, brow + 8)
    sag = rng.uniform(-10, 10)
    xs = np.linspace(-8, size + 8, 9)
    lower = [(x, bottom + sag * (1 - ((x - size / 2) / (size / 2)) ** 2)) for x in xs]
    points = np.array([(-8, -8), (size + 8, -8)] + lower[::-1], np.float32)
    return shade(texture(rng, donor), rng), polygon_alpha(points)


OCCLUDERS = {
    'block': block_occluder, 'facemask': facemask_occluder, 'sunglasses': sunglasses_occluder,
    'hand': hand_occluder, 'scarf': scarf_occluder, 'object': object_occluder, 'brim': brim_occluder,
}


# ——— putting it together ———

def composite(face: np.ndarray, layer: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """face·(1−α) + layer·α, all float32 in [0, 255]."""
    return face * (1 - alpha[..., None]) + layer * alpha[..., None]


def photometric(image: np.ndarray, rng: random.Random) -> np.ndarray:
    """Camera-like changes of the whole composite: exposure, contrast, colour cast, gamma, blur, noise, JPEG."""
    out = image.astype(np.float32)
    out = (out - 128) * rng.uniform(0.7, 1.3) + 128 + rng.uniform(-35, 35)
    out = out * np.array([rng.uniform(0.85, 1.15) for _ in range(3)], np.float32)
    out = 255 * (np.clip(out, 0, 255) / 255) ** rng.uniform(0.7, 1.4)
    if rng.random() < 0.25:
        out = np.repeat(out.mean(axis=2, keepdims=True), 3, axis=2)   # grey cameras
    if rng.random() < 0.3:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 1.5))
    if rng.random() < 0.3:
        np_rng = np.random.default_rng(rng.getrandbits(32))
        out = out + np_rng.normal(0, rng.uniform(2, 8), out.shape).astype(np.float32)
    out = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < 0.4:
        ok, jpeg = cv2.imencode('.jpg', out, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(30, 90)])
        if ok:
            out = cv2.imdecode(jpeg, cv2.IMREAD_UNCHANGED)
    return out


def geometric(image: np.ndarray, alpha: np.ndarray, rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
    """The same flip, rotation (±10°), scale (±6 %) and shift (±5 %) of image and α: alignment errors."""
    if rng.random() < 0.5:
        image, alpha = image[:, ::-1], alpha[:, ::-1]
    size = image.shape[0]
    matrix = cv2.getRotationMatrix2D((size / 2 - 0.5, size / 2 - 0.5), rng.uniform(-10, 10), rng.uniform(0.94, 1.06))
    matrix[:, 2] += (rng.uniform(-0.05, 0.05) * size, rng.uniform(-0.05, 0.05) * size)
    image = cv2.warpAffine(np.ascontiguousarray(image), matrix, (size, size), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(np.ascontiguousarray(alpha), matrix, (size, size), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
    return image, alpha


def synthesize(face: np.ndarray, landmarks: np.ndarray, donor: np.ndarray | None, rng: random.Random,
               templates: list[MaskTemplate], config: SynthConfig = SynthConfig(),
               kind: str | None = None) -> Sample:
    """One training sample from a clean 128×128×3 uint8 face, its 68 landmarks (crop pixels) and
    another face to cut skin and textures from. `kind` forces one occluder (tests); None draws them."""
    if face.shape != (IMAGE_SIZE, IMAGE_SIZE, 3):
        raise ValueError(f'expected a {IMAGE_SIZE}×{IMAGE_SIZE}×3 face, got {face.shape}')
    canvas = face.astype(np.float32)
    alpha_total = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.float32)
    kinds: list[str] = []
    if kind is not None:
        kinds = [kind]
    elif rng.random() >= config.clean_share:
        count = 2 if rng.random() < config.second_occluder_share else 1
        kinds = rng.choices(config.kinds, weights=config.kind_weights, k=count)
    donor_f = donor.astype(np.float32) if donor is not None else None
    for name in kinds:
        layer, alpha = OCCLUDERS[name](rng, landmarks, donor_f, templates)
        canvas = composite(canvas, layer, alpha)
        alpha_total = alpha + alpha_total * (1 - alpha)   # 'over' of the coverages
    image = np.clip(np.round(canvas), 0, 255).astype(np.uint8)
    if config.augment_geometry:
        image, alpha_total = geometric(image, alpha_total, rng)
    if config.augment_photometric:
        image = photometric(image, rng)
    return Sample(image=np.ascontiguousarray(image), mask=(alpha_total > 0.5).astype(np.uint8), kinds=kinds)
