#!/usr/bin/env python3
"""The model card's curve: held-out validation PSNR/SSIM (and the ArcFace identity kept) of a
generator against the training steps it has seen over every resumed run.

    /usr/bin/python3 training/heldout_curve.py --data ~/.cache/unmask/celeba-aligned \\
        --generator ~/.cache/unmask/runs/wid-r3-mirror/generator-best.pt --run wid-r3-mirror [--total-steps N]

Scores the generator with training/eval_generators.py on the held-out faces (the validation faces after
the first --skip-faces 300, which train.py picks its best step on; --val-faces 177 of them) and appends
one point to --curve (results/idgan/curve.json): run, its step, total steps (from the file's
'total_steps', else --total-steps), PSNR, SSIM, ArcFace cosine, and OCC / Telea on the same faces.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import eval_generators  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
CURVE = REPO_ROOT / 'results' / 'idgan' / 'curve.json'


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', required=True)
    p.add_argument('--generator', required=True, help='generator-best.pt, checkpoint.pt or an exported .onnx')
    p.add_argument('--run', required=True, help='the run the point belongs to (its cache folder name)')
    p.add_argument('--total-steps', type=int, help="steps over all runs, when the file does not say")
    p.add_argument('--skip-faces', type=int, default=300)
    p.add_argument('--val-faces', type=int, default=177)
    p.add_argument('--no-identity', action='store_true', help='leave out the ArcFace cosine (faster)')
    p.add_argument('--curve', default=str(CURVE))
    p.add_argument('--note', default='')
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        args = ['--data', a.data, '--generator', f'G={a.generator}', '--skip-faces', str(a.skip_faces),
                '--val-faces', str(a.val_faces), '--grid-faces', '1', '--out', tmp]
        if not a.no_identity:
            args.append('--identity')
        if eval_generators.main(args) != 0:
            return 1
        report = json.loads((Path(tmp) / 'comparison.json').read_text())
    info = report['generators']['G']
    total = info.get('total_steps') if info.get('total_steps') is not None else a.total_steps
    if report['val_faces'] != a.val_faces:
        print(f'heldout_curve.py: only {report["val_faces"]} held-out faces (asked for {a.val_faces}): '
              'the aligned set is not complete enough yet', file=sys.stderr)
        return 1
    point = {'run': a.run, 'step': info['step'], 'total_steps': total, 'generator': a.generator,
             **{k: info[k] for k in ('width', 'mirror', 'skips')},
             'heldout_faces': report['val_faces'], 'skipped_faces': report['skipped_faces'],
             'metrics': report['metrics']['G'], 'occ': report['metrics']['OCC'], 'telea': report['metrics']['Telea'],
             'measured': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'), 'note': a.note}
    curve_path = Path(a.curve)
    curve = json.loads(curve_path.read_text()) if curve_path.is_file() else {
        'what': 'held-out validation faces (after the first 300 validation faces), seeded 48x48 holes, PSNR/SSIM over '
                'the full 128x128 crop; arcface_cos: cosine between the ArcFace (service recognizer) embeddings of the '
                'inpainted face and of the ground truth; total_steps: steps of batch 8 over every run the generator '
                'descends from',
        'points': []}
    curve['points'].append(point)
    curve_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = curve_path.with_name(curve_path.name + '.tmp')
    tmp_path.write_text(json.dumps(curve, indent=1) + '\n')
    os.replace(tmp_path, curve_path)
    m = point['metrics']
    print(f"{a.run} step {point['step']} (total {total}): {m['psnr']:.2f} dB / {m['ssim']:.4f}"
          + (f" / ArcFace cos {m['arcface_cos']:.4f}" if 'arcface_cos' in m else '') + f' → {curve_path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
