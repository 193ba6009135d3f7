#!/usr/bin/env python3
"""How hard L_R pulls on the prior's correction beside its L1, to choose refine_trial.py's λ_R.

    /usr/bin/python3 training/refine_gradient_ratio.py --data ~/.cache/unmask/celeba-aligned \\
        --data-cache ~/.cache/unmask/runs/refine-r8/data.pt --refiner ~/.cache/unmask/runs/refine-r8/refiner-whole.pt

On a few batches of the trial's training faces (its --data-cache), the norm of L_R's gradient (λ_R = 1) over
that of the L1's, for the instance terms alone (w/oID) and with the identity-diversity hinge (wID): λ_R
times the ratio is how strongly R pulls against the regression.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from idgan.data import read_index  # noqa: E402
from idgan.refine import load_refiner  # noqa: E402
from refine_trial import IdentityFaces, RecognitionTerm, hole_l1  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', required=True)
    p.add_argument('--data-cache', required=True, help="refine_trial.py's --data-cache (square holes)")
    p.add_argument('--refiner', required=True, help='the correction to measure at (refine_trial.py --save)')
    p.add_argument('--batches', type=int, default=3)
    p.add_argument('--batch-size', type=int, default=16)
    p.add_argument('--centre-faces', type=int, default=4)
    p.add_argument('--recognizer', choices=('arcface', 'faceapi'), default='arcface', help='R: ArcFace, or face-api\'s 128-D net')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--out', help='also write the report (.json) here')
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    cache = torch.load(a.data_cache)
    key, faces, holes, fills = cache['key'], cache['faces'], cache['holes'], cache['fills']
    records = [r for r in read_index(a.data) if r.split == 'train']
    net, _ = load_refiner(a.refiner)
    parameters = list(net.train().parameters())

    def norm(loss: torch.Tensor, retain: bool) -> float:
        return float(torch.sqrt(sum((g ** 2).sum() for g in torch.autograd.grad(loss, parameters, retain_graph=retain))))

    identity_faces = IdentityFaces(records, key['holes'], key['faces_per_hole'], key['seed'] + 1)
    report = {}
    for term in ('none', 'diversity'):
        recognition = RecognitionTerm(a.data, records, 1.0, term, None, a.centre_faces, a.recognizer)
        generator = torch.Generator().manual_seed(0)
        ratios = []
        for b in range(a.batches):
            pick = torch.randint(0, len(faces), (a.batch_size,), generator=generator)
            out = net(faces[pick], holes[pick], fills[pick], True)
            l1 = hole_l1(out, faces[pick], holes[pick])
            batch = identity_faces.batch(pick, bool(b % 2))
            ratios.append(norm(recognition.loss(out, batch)[0], True) / norm(l1, False))
        report['w/oID' if term == 'none' else 'wID'] = [round(r, 1) for r in ratios]
        print(term, report, flush=True)
    text = json.dumps({'refiner': a.refiner, 'recognizer': a.recognizer, 'batch_size': a.batch_size, 'gradient_norm_ratio_L_R_over_L1': report}, indent=2)
    print(text)
    if a.out:
        Path(a.out).write_text(text + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
