"""Two corrections of the prior's fill, trained from one start, blended weight by weight.

Arms fine-tuned from the same weights (refine_trial.py --init) stay in one basin, so the straight line
between them is a family of corrections to choose from without training: at `--share` s of the second
one, every weight is (1 − s)·first + s·second. Used to place round 10 between round 8's correction
(most face-api pairs) and round 9's wID arm (most identity): models/MODEL_CARD.md.

    /usr/bin/python3 training/blend_refiners.py --first A.pt --second B.pt --share 0.5 --out C.pt
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch


class BlendError(Exception):
    pass


def blend_states(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor], share: float) -> dict[str, torch.Tensor]:
    """(1 − share)·first + share·second for every floating tensor; other tensors must agree and are kept."""
    if not 0.0 <= share <= 1.0:
        raise BlendError(f'--share must lie in 0…1, not {share}')
    if first.keys() != second.keys():
        raise BlendError(f'the networks differ in their weights: {sorted(first.keys() ^ second.keys())[:5]}')
    out = {}
    for name, a in first.items():
        b = second[name]
        if a.shape != b.shape:
            raise BlendError(f'{name}: shapes {tuple(a.shape)} and {tuple(b.shape)} differ (not the same width?)')
        if a.is_floating_point():
            out[name] = torch.lerp(a, b.to(a.dtype), share)
        elif torch.equal(a, b):
            out[name] = a.clone()
        else:
            raise BlendError(f'{name} is not a float tensor and differs between the two: cannot blend it')
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--first', required=True, help='a refine_trial.py --save checkpoint')
    p.add_argument('--second', required=True, help='another, trained from the same --init')
    p.add_argument('--share', type=float, required=True, help="the second one's share, 0…1")
    p.add_argument('--out', required=True)
    a = p.parse_args()
    first, second = (torch.load(path, map_location='cpu') for path in (a.first, a.second))
    for path, state in ((a.first, first), (a.second, second)):
        if not isinstance(state, dict) or 'network' not in state:
            raise SystemExit(f'{path} is not a refine_trial.py checkpoint (no "network")')
    if (first['width'], first['whole']) != (second['width'], second['whole']):
        raise SystemExit('the two corrections differ in --width or --whole: they cannot be blended')
    try:
        network = blend_states(first['network'], second['network'], a.share)
    except BlendError as err:
        raise SystemExit(str(err)) from err
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    torch.save({'width': first['width'], 'whole': first['whole'], 'step': None, 'network': network,
                'blend': {'first': a.first, 'second': a.second, 'share': a.share},
                'lambda_r': second.get('lambda_r'), 'identity_term': second.get('identity_term')}, a.out)
    print(f'{a.out}: {1 - a.share:g} × {a.first} + {a.share:g} × {a.second}')


if __name__ == '__main__':
    main()
