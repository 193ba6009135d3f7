#!/usr/bin/env python3
"""Make the identity centres f_id (eq. 5) of the aligned set's training identities ahead of a run:
the mean of R's descriptors over each identity's clean crops, written to DATA/centres-<key>.pt,
where train.py finds them (idgan/centres.py; without the file, train.py makes it itself).

    /usr/bin/python3 training/centres.py --data var/celeba-aligned [--limit N] [--faces-per-identity K] [--device auto]

--limit matches train.py's --data-limit (the first N training faces). Prints how well the centres
separate the people: the mean distance of a face to its own centre and to the nearest other one, and
the share of faces nearest their own centre.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from idgan.centres import load_or_compute_centres  # noqa: E402
from idgan.data import read_index  # noqa: E402
from idgan.recognizer import DEFAULT_MANIFEST, load_recognizer  # noqa: E402
from idgan.trainer import resolve_device  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', required=True, help='aligned set folder (index.csv + PNGs)')
    p.add_argument('--limit', type=int, help="only the first N training faces, as train.py's --data-limit")
    p.add_argument('--faces-per-identity', type=int,
                   help="at most N faces of each identity (as train.py's --centre-faces); default all")
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--device', default='auto', help='auto, cpu, cuda or cuda:N')
    p.add_argument('--threads', type=int, default=1, help='CPU threads for torch')
    a = p.parse_args(argv)
    for name in ('batch_size', 'threads'):
        if getattr(a, name) < 1:
            p.error(f'--{name.replace("_", "-")} must be 1 or more')
    for name in ('limit', 'faces_per_identity'):
        if getattr(a, name) is not None and getattr(a, name) < 1:
            p.error(f'--{name.replace("_", "-")} must be 1 or more')
    try:
        device = resolve_device(a.device)
        if device.type == 'cpu':
            torch.set_num_threads(a.threads)
        records = [r for r in read_index(a.data) if r.split == 'train'][:a.limit]
        recognizer = load_recognizer(DEFAULT_MANIFEST, device)
        started = time.monotonic()

        def progress(done: int, total: int) -> None:
            end = '\n' if done == total else ''
            print(f'\r{done}/{total} faces through R ({time.monotonic() - started:.0f} s)', end=end, flush=True)

        centres, path = load_or_compute_centres(a.data, records, recognizer, device, DEFAULT_MANIFEST,
                                                a.batch_size, progress, per_identity=a.faces_per_identity)
    except (FileNotFoundError, ValueError) as err:
        print(f'centres.py: {err}', file=sys.stderr)
        return 1
    stored = torch.load(path, map_location='cpu', weights_only=False)
    print(f'{len(centres)} identity centres of {stored["faces"]} training faces in {path}')
    print(json.dumps(stored['separation']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
