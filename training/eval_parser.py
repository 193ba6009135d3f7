#!/usr/bin/env python3
"""Measure the face parser S on FASSEG-v2's hand-labelled test faces.

    npx tsx training/tools/align_images.ts --images ../shared/data/fasseg-v2/Test_RGB --out var/fasseg-aligned/test
    /usr/bin/python3 training/eval_parser.py --parser var/runs/parser/parser.pt --out var/runs/parser/fasseg

The photos are aligned to the 128×128 inpainting crop by the service's own detector and aligner (the
TS helper above); each label image is read into FASSEG's six classes (nearest colour) and warped onto
its crop with the same transform, nearest-neighbour, pixels from outside the photo left out.

S's classes are mapped onto FASSEG's (parts.TO_FASSEG: eyebrows → hair, both eyes → eyes). The mean
IoU is over the classes both label sets share: background, skin, eyes, nose, mouth. FASSEG's hair
(head hair and eyebrows) has no counterpart in S (which calls hair background), so its pixels are
left out of the main score; `strict` counts them too (hair predicted as background or skin is then
wrong). The part maps drawn from each test face's own landmarks are scored the same way, as a
reference: how far the label definition itself stands from FASSEG's.

Writes OUT/fasseg-report.json and OUT/fasseg-montage.png (per face: crop / FASSEG label / S output).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from idgan.data import load_rgb, to_tensor  # noqa: E402
from idgan.networks import load_parser  # noqa: E402
from idgan.parts import (FASSEG_CLASSES, FASSEG_COLOURS, FASSEG_HAIR, SHARED_FASSEG_CLASSES, TO_FASSEG,  # noqa: E402
                         class_iou, confusion, draw_parts, quantise_fasseg)
from idgan.trainer import resolve_device  # noqa: E402

IGNORE = 255
IGNORE_COLOUR = (128, 128, 128)
ALIGN_COMMAND = 'npx tsx training/tools/align_images.ts --images ../shared/data/fasseg-v2/Test_RGB --out {aligned}'


def crop_warp_matrix(transform: dict) -> np.ndarray:
    """cv2.warpAffine's 2×3 matrix for a src/align similarity (source → crop, pixel centres at
    integer + 0.5) in pixel-index coordinates (centres at integers), which cv2 uses."""
    a, b, tx, ty = (float(transform[k]) for k in ('a', 'b', 'tx', 'ty'))
    return np.array([[a, -b, tx + 0.5 * (a - b) - 0.5],
                     [b, a, ty + 0.5 * (a + b) - 0.5]])


def warp_labels(classes: np.ndarray, transform: dict, size: int) -> np.ndarray:
    """A source-sized class map onto the crop, nearest-neighbour; IGNORE where the crop lies outside it."""
    return cv2.warpAffine(classes, crop_warp_matrix(transform), (size, size), flags=cv2.INTER_NEAREST,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=IGNORE)


def read_fasseg_label(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f'cannot read the FASSEG label image {path}')
    return quantise_fasseg(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def scores(counts: np.ndarray) -> dict:
    """Per-class IoU over FASSEG's classes and the mean over the shared ones."""
    iou = class_iou(counts)
    shared = [iou[c] for c in SHARED_FASSEG_CLASSES]
    return {'iou': {FASSEG_CLASSES[c]: _rounded(iou[c]) for c in SHARED_FASSEG_CLASSES},
            'mean_iou': _rounded(float(np.nanmean(shared))),
            'pixel_accuracy': _rounded(float(np.trace(counts) / counts.sum()))}


def _rounded(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 4)


def colourise(fasseg_classes: np.ndarray) -> np.ndarray:
    palette = np.concatenate([FASSEG_COLOURS, np.tile(np.array([IGNORE_COLOUR]), (256 - len(FASSEG_COLOURS), 1))])
    return palette[fasseg_classes].astype(np.uint8)


def montage(rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]], per_line: int = 5) -> np.ndarray:
    """Faces side by side as crop | FASSEG label | S output triplets, `per_line` triplets a line."""
    gap = np.full((rows[0][0].shape[0], 4, 3), 255, np.uint8)
    triplets = [np.concatenate([*row, gap], axis=1) for row in rows]
    blank = np.full_like(triplets[0], 255)
    triplets += [blank] * (-len(triplets) % per_line)
    lines = [np.concatenate(triplets[i:i + per_line], axis=1) for i in range(0, len(triplets), per_line)]
    return np.concatenate(lines, axis=0)


def evaluate(parser_path: Path, aligned: Path, labels: Path, device: torch.device) -> tuple[dict, np.ndarray]:
    alignment_file = aligned / 'alignment.json'
    if not alignment_file.is_file():
        raise FileNotFoundError(f'no {alignment_file}: align the FASSEG test photos first: '
                                + ALIGN_COMMAND.format(aligned=aligned))
    alignment = json.loads(alignment_file.read_text())
    items = alignment['items']
    if not items:
        raise ValueError(f'{alignment_file} lists no aligned face')
    parser = load_parser(parser_path, device)
    if len(TO_FASSEG) != parser.num_classes:
        raise ValueError(f'{parser_path} parses {parser.num_classes} classes; parts.TO_FASSEG maps {len(TO_FASSEG)}')

    n = len(FASSEG_CLASSES)
    counts = {name: np.zeros((n, n), np.int64) for name in ('parser', 'parser_strict', 'drawn', 'drawn_strict')}
    rows = []
    for item in items:
        crop = load_rgb(aligned / item['crop'])
        label_path = labels / f'{Path(item["file"]).stem}.png'
        truth = warp_labels(read_fasseg_label(label_path), item['transform'], crop.shape[0])
        with torch.no_grad():
            predicted = parser(to_tensor(crop)[None].to(device)).argmax(1)[0].cpu().numpy()
        predicted = TO_FASSEG[predicted]
        drawn = TO_FASSEG[draw_parts(np.asarray(item['landmarks'], np.float32), crop.shape[0])]
        without_hair = np.where(truth == FASSEG_HAIR, IGNORE, truth)
        counts['parser'] += confusion(without_hair, predicted, n, IGNORE)
        counts['parser_strict'] += confusion(truth, predicted, n, IGNORE)
        counts['drawn'] += confusion(without_hair, drawn, n, IGNORE)
        counts['drawn_strict'] += confusion(truth, drawn, n, IGNORE)
        rows.append((crop, colourise(truth), colourise(predicted)))

    state = torch.load(parser_path, map_location='cpu', weights_only=False)
    report = {
        'parser': str(parser_path), 'parser_step': state.get('step'),
        'faces': len(items), 'missed': alignment.get('missed', []), 'template': alignment.get('template'),
        'shared_classes': [FASSEG_CLASSES[c] for c in SHARED_FASSEG_CLASSES],
        'note': 'mean IoU over the shared classes; FASSEG hair pixels left out (S has no hair class); '
                'strict: they count, as errors of whatever S says there',
        'parser_scores': scores(counts['parser']),
        'parser_scores_strict': scores(counts['parser_strict']),
        # S's eyebrows against FASSEG's hair (head hair included): for the record, not in any mean.
        'parser_eyebrows_vs_fasseg_hair_iou': _rounded(class_iou(counts['parser_strict'])[FASSEG_HAIR]),
        'drawn_from_landmarks_scores': scores(counts['drawn']),
        'drawn_from_landmarks_scores_strict': scores(counts['drawn_strict']),
    }
    return report, montage(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--parser', required=True, help='parser.pt from train_parser.py')
    p.add_argument('--out', required=True, help='folder for fasseg-report.json and fasseg-montage.png')
    p.add_argument('--aligned', default='var/fasseg-aligned/test', help='align_images.ts output for the test photos')
    p.add_argument('--labels', default='../shared/data/fasseg-v2/Test_Labels', help="FASSEG's test label images")
    p.add_argument('--device', default='auto')
    p.add_argument('--threads', type=int, default=1, help='CPU threads for torch')
    a = p.parse_args(argv)
    if a.threads < 1:
        p.error('--threads must be 1 or more')
    device = resolve_device(a.device)
    if device.type == 'cpu':
        torch.set_num_threads(a.threads)
    try:
        report, picture = evaluate(Path(a.parser), Path(a.aligned), Path(a.labels), device)
    except (FileNotFoundError, ValueError) as err:
        print(f'eval_parser.py: {err}', file=sys.stderr)
        return 1
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / 'fasseg-report.json').write_text(json.dumps(report, indent=1) + '\n')
    cv2.imwrite(str(out / 'fasseg-montage.png'), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    main_scores, drawn = report['parser_scores'], report['drawn_from_landmarks_scores']
    print(f'S on {report["faces"]} FASSEG test faces: mean IoU {main_scores["mean_iou"]} over '
          f'{", ".join(report["shared_classes"])} ({main_scores["iou"]}); strict {report["parser_scores_strict"]["mean_iou"]}; '
          f'parts drawn from the landmarks: {drawn["mean_iou"]}. Wrote {out / "fasseg-report.json"} and fasseg-montage.png')
    return 0


if __name__ == '__main__':
    sys.exit(main())
