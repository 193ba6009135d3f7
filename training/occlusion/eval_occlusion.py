"""Measure the occlusion segmenter on issue 5's three figures, and draw a montage of real examples.

    npx tsx training/tools/align_images.ts --images ../shared/data/rmfd-sample --out var/occlusion-eval/rmfd
    npx tsx training/tools/align_images.ts --images DIR_OF_LFW_VIEW1_TEST_PHOTOS --out var/occlusion-eval/lfw
    /usr/bin/python3 training/occlusion/eval_occlusion.py --checkpoint var/runs/occlusion/best.pt \
        --lfw var/occlusion-eval/lfw --rmfd var/occlusion-eval/rmfd --out var/occlusion-eval \
        --montage models/occlusion-montage.png

1. IoU on a held-out synthetic set of *validation* identities (never trained on), seeded, drawn as in
   training (every occluder kind, 20 % clean): the mean IoU over the occluded samples (target ≥ 0.9),
   also per kind, and the IoU pooled over all pixels.
2. False occlusion on clean LFW faces (View 1 test photos, aligned by the service's own detector and
   aligner): the share of the face area flagged, the face area being the convex hull of the 68
   landmarks in the crop, as src/models/occlusion/mask.ts counts it (target ≤ 2 %).
3. Real masks (RMFD sample): the share of faces whose found mask covers the nose–mouth region (convex
   hull of landmarks 31–35 and 48–59, the nostrils and the outer lips) — covered meaning at least
   --cover of its pixels flagged (target ≥ 95 % of faces). Reported over every face found, and over
   the faces the service would segment: detector box at least --min-face-size wide (config
   detect.minFaceSize). Most RMFD photos are street scenes; their 4–20 px faces, upscaled 5–11× to the
   crop, are dropped by the service before any occlusion stage and are not faces a crop can be judged on.
The masks are the service's: probability ≥ --threshold (config occlusion.threshold), no dilation.
Writes OUT/results.json and prints a summary.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from idgan.data import load_rgb  # noqa: E402
from occlusion.export_occlusion import load_segmenter  # noqa: E402
from occlusion.synth import SynthConfig, load_mask_templates, synthesize  # noqa: E402
from occlusion.train_occlusion import predict, segmentation_scores, split_records  # noqa: E402

EVAL_SEED = 5150   # not the training run's held-out seed: a second, larger draw of the val identities
NOSE_MOUTH = list(range(31, 36)) + list(range(48, 60))


def hull_region(points: np.ndarray, size: int = 128) -> np.ndarray:
    """Pixels whose centre lies in the convex hull of the points (coordinates with pixel centres at +0.5)."""
    hull = cv2.convexHull(points.astype(np.float32)).reshape(-1, 2)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    inside = np.ones((size, size), bool)
    n = len(hull)
    # The hull's orientation decides the sign; take it from its signed area.
    area = sum(hull[i, 0] * hull[(i + 1) % n, 1] - hull[(i + 1) % n, 0] * hull[i, 1] for i in range(n))
    sign = 1 if area > 0 else -1
    for i in range(n):
        a, b = hull[i], hull[(i + 1) % n]
        inside &= sign * ((b[0] - a[0]) * (ys - a[1]) - (b[1] - a[1]) * (xs - a[0])) >= 0
    return inside


def read_aligned(folder: Path) -> list[dict]:
    report = folder / 'alignment.json'
    if not report.is_file():
        raise SystemExit(f'no {report}: align the photos first with training/tools/align_images.ts --out {folder}')
    data = json.loads(report.read_text())
    for item in data['items']:
        item['rgb'] = load_rgb(folder / item['crop'])
        item['landmarks'] = np.asarray(item['landmarks'], np.float32)
    return data


def heldout(data: str, count: int) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
    records = split_records(data, 'val')
    templates = load_mask_templates()
    rng = random.Random(EVAL_SEED)
    images, masks, kinds = [], [], []
    for _ in range(count):
        face, donor = rng.choice(records), rng.choice(records)
        s = synthesize(load_rgb(face.image), face.landmarks, load_rgb(donor.image), rng, templates, SynthConfig())
        images.append(s.image)
        masks.append(s.mask)
        kinds.append(s.kinds)
    return np.stack(images), np.stack(masks), kinds


# The service's "covered below the eyes" rule (src/pipeline/repair.ts coveredBelowEyes): the found mask,
# grown by occlusion.dilatePx, has at most a quarter of its pixels above row 53 of the 128 crop. Such
# faces are matched on their upper face.
EYE_LINE_ROW = 53
MAX_SHARE_ABOVE_EYE_LINE = 0.25


def below_eyes(found: np.ndarray, dilate_px: int = 2) -> bool:
    grown = cv2.dilate(found.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=dilate_px) if dilate_px else found.astype(np.uint8)
    covered = int(grown.sum())
    return covered > 0 and int(grown[:EYE_LINE_ROW].sum()) <= MAX_SHARE_ABOVE_EYE_LINE * covered


def service_sized(items: list[dict], min_face_size: float) -> np.ndarray:
    """Which aligned faces the service would process: detector box at least min_face_size px wide."""
    if any('box' not in it for it in items):
        raise SystemExit('alignment.json has no detector boxes: re-align with training/tools/align_images.ts')
    return np.array([it['box']['width'] >= min_face_size for it in items], bool)


def overlay(rgb: np.ndarray, found: np.ndarray, region: np.ndarray | None = None) -> np.ndarray:
    """The face with the found mask tinted red and outlined, and the measured region outlined in green."""
    out = rgb.astype(np.float32)
    out[found] = out[found] * 0.55 + np.array([255, 0, 0]) * 0.45
    out = out.astype(np.uint8)
    contours, _ = cv2.findContours(found.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, (255, 40, 40), 1)
    if region is not None:
        contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, (40, 255, 40), 1)
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--checkpoint', default='var/runs/occlusion/best.pt')
    p.add_argument('--data', default='var/celeba-aligned')
    p.add_argument('--heldout', type=int, default=1000)
    p.add_argument('--lfw', default='var/occlusion-eval/lfw')
    p.add_argument('--rmfd', default='var/occlusion-eval/rmfd')
    p.add_argument('--threshold', type=float, default=0.5, help='pixel probability (config occlusion.threshold)')
    p.add_argument('--cover', type=float, default=0.8, help='share of the nose–mouth region a mask must cover')
    p.add_argument('--min-face-size', type=float, default=32, help='config detect.minFaceSize (px): smaller faces are not processed')
    p.add_argument('--min-fraction', type=float, default=0.05, help='config occlusion.minFraction (inpaint above it)')
    p.add_argument('--dilate-px', type=int, default=2, help='config occlusion.dilatePx (the mask grows before the below-the-eyes rule)')
    p.add_argument('--out', default='var/occlusion-eval')
    p.add_argument('--montage', default='models/occlusion-montage.png')
    p.add_argument('--threads', type=int, default=1)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    net, info = load_segmenter(a.checkpoint)
    device = torch.device('cpu')
    results: dict = {'checkpoint': a.checkpoint, 'step': info['step'], 'threshold': a.threshold}

    # 1. Held-out synthetic identities.
    images, masks, kinds = heldout(a.data, a.heldout)
    prob = predict(net, images, device)
    scores = segmentation_scores(prob, masks, a.threshold)
    per_kind = {}
    for kind in sorted({k for ks in kinds for k in ks}):
        pick = np.array([kind in ks for ks in kinds])
        per_kind[kind] = {
            'n': int(pick.sum()),
            'iou_mean': segmentation_scores(prob[pick], masks[pick], a.threshold)['iou_mean'],
            # The share the service would match on the upper face (counted over this kind's samples).
            'below_eyes': float(np.mean([below_eyes(p >= a.threshold, a.dilate_px) for p in prob[pick]])),
        }
    results['heldout'] = {**scores, 'per_kind': per_kind, 'n': len(images), 'seed': EVAL_SEED, 'target_iou': 0.9}

    # 2. Clean LFW faces.
    lfw = read_aligned(Path(a.lfw))
    lfw_items = lfw['items']
    lfw_prob = predict(net, np.stack([it['rgb'] for it in lfw_items]), device)
    fractions = []
    for it, p in zip(lfw_items, lfw_prob):
        region = hull_region(it['landmarks'])
        fractions.append(float((p[region] >= a.threshold).mean()))
    fractions = np.array(fractions)
    results['lfw'] = {
        'faces': len(lfw_items), 'not_found': len(lfw['missed']),
        'flagged_face_area_mean': float(fractions.mean()), 'flagged_face_area_median': float(np.median(fractions)),
        'flagged_face_area_p95': float(np.quantile(fractions, 0.95)),
        'share_above_min_fraction': float((fractions > a.min_fraction).mean()), 'min_fraction': a.min_fraction,
        'target_mean': 0.02,
    }

    # 3. Real masks.
    rmfd = read_aligned(Path(a.rmfd))
    rmfd_items = rmfd['items']
    rmfd_prob = predict(net, np.stack([it['rgb'] for it in rmfd_items]), device)
    coverages, face_fractions = [], []
    for it, p in zip(rmfd_items, rmfd_prob):
        found = p >= a.threshold
        nose_mouth = hull_region(it['landmarks'][NOSE_MOUTH])
        coverages.append(float(found[nose_mouth].mean()) if nose_mouth.any() else 0.0)
        face_fractions.append(float(found[hull_region(it['landmarks'])].mean()))
        it['found'], it['nose_mouth'] = found, nose_mouth
    coverages = np.array(coverages)
    sized = service_sized(rmfd_items, a.min_face_size)
    results['rmfd'] = {
        'faces': len(rmfd_items), 'not_found': len(rmfd['missed']), 'cover': a.cover,
        'min_face_size': a.min_face_size, 'faces_service_sized': int(sized.sum()),
        'share_covered_service_sized': float((coverages[sized] >= a.cover).mean()) if sized.any() else None,
        'share_covered': float((coverages >= a.cover).mean()), 'share_half_covered': float((coverages >= 0.5).mean()),
        'coverage_mean': float(coverages.mean()),
        'coverage_median': float(np.median(coverages)),
        'share_above_min_fraction': float((np.array(face_fractions) > a.min_fraction).mean()),
        # Of the service-sized faces it would repair, the share matched on the upper face.
        'share_below_eyes_service_sized': float(np.mean([below_eyes(it['found'], a.dilate_px) for it, s, f in zip(rmfd_items, sized, face_fractions) if s and f > a.min_fraction])),
        'target_share': 0.95,
    }

    # Montage: 6 rows of 8 RMFD faces (red: found mask, green: the nose–mouth region measured), in file
    # order with a fixed stride so the pick is not chosen by result; and one row of clean LFW faces.
    stride = max(1, len(rmfd_items) // 40)
    tiles = [overlay(it['rgb'], it['found'], it['nose_mouth']) for it in rmfd_items[::stride][:40]]
    lfw_stride = max(1, len(lfw_items) // 8)
    tiles += [overlay(it['rgb'], p >= a.threshold) for it, p in list(zip(lfw_items, lfw_prob))[::lfw_stride][:8]]
    while len(tiles) % 8:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[i:i + 8], axis=1) for i in range(0, len(tiles), 8)]
    Path(a.montage).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(a.montage, cv2.cvtColor(np.concatenate(rows, axis=0), cv2.COLOR_RGB2BGR))
    results['montage'] = a.montage

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / 'results.json').write_text(json.dumps(results, indent=1) + '\n')
    h, l, r = results['heldout'], results['lfw'], results['rmfd']
    print(f'held-out synthetic IoU (mean over {h["n_occluded"]} occluded faces): {h["iou_mean"]:.4f} (target ≥ 0.9); '
          f'pooled {h["iou_pooled"]:.4f}; clean faces flagged {h["clean_flagged"]:.4f}')
    print('  per kind: ' + ', '.join(f'{k} {v["iou_mean"]:.3f} (n={v["n"]})' for k, v in per_kind.items()))
    print('  judged covered below the eyes (matched on the upper face): ' + ', '.join(f'{k} {v["below_eyes"]:.3f}' for k, v in per_kind.items()))
    print(f'LFW clean faces ({l["faces"]}): flagged face area mean {l["flagged_face_area_mean"]:.4f} (target ≤ 0.02), '
          f'median {l["flagged_face_area_median"]:.4f}, p95 {l["flagged_face_area_p95"]:.4f}; '
          f'{l["share_above_min_fraction"]:.3f} of faces above minFraction {a.min_fraction}')
    print(f'RMFD masked faces ({r["faces"]}, {r["not_found"]} not found): nose–mouth covered ≥ {a.cover:.0%} on '
          f'{r["share_covered"]:.4f} of faces (target ≥ 0.95), ≥ 50 % on {r["share_half_covered"]:.4f}; '
          f'mean coverage {r["coverage_mean"]:.4f}; '
          f'{r["share_above_min_fraction"]:.3f} above minFraction')
    if r['faces_service_sized']:
        print(f'  of the {r["faces_service_sized"]} faces at least {a.min_face_size:g} px wide (the ones the service segments): '
              f'covered ≥ {a.cover:.0%} on {r["share_covered_service_sized"]:.4f} (target ≥ 0.95); '
              f'{r["share_below_eyes_service_sized"]:.3f} of those it repairs judged covered below the eyes')
    print(f'montage: {a.montage}; results: {out / "results.json"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
