#!/usr/bin/env python3
"""Pack the aligned training set into one archive for a lent GPU (issue 3, item 6):

    /usr/bin/python3 training/gpu/pack.py --data var/celeba-aligned --out var/gpu/bundle.tar [--quality 80] [--max-mib 64]
    training/gpu/run.sh var/gpu/bundle.tar var/runs/wid-gpu 540 [train.py args…]

The archive (a gzip-compressed tar: the per-file tar headers and padding of 16 k small JPEGs would
otherwise cost about 12 MiB) holds, under `data/`:
  - every crop of DATA/index.csv re-encoded as JPEG (Pillow, 4:4:4 chroma: the crops are only 128 px),
  - index.csv with the `image` column pointing at the .jpg files, every other column unchanged,
  - the identity-centres cache, renamed to the key of the .jpg paths, when DATA holds the one that matches
    the training faces (the centres come from the PNGs; JPEG moves R's descriptors very little),
and `recognizer/` (R's face-api weights, which train.py reads from node_modules), and `parser.pt` when
--parser is given. When the archive is larger than --max-mib the JPEG quality is lowered by --quality-step
down to --min-quality; past that it fails and says by how much it is over.
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import tarfile
import time
from pathlib import Path

from PIL import Image

TRAINING_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TRAINING_DIR))

from idgan.centres import cache_path  # noqa: E402
from idgan.data import read_index  # noqa: E402
from idgan.recognizer import DEFAULT_MANIFEST  # noqa: E402

IMAGE_COLUMN = 1  # index.csv: file, image, identity, split, score, landmarks…
MIB = 1024 * 1024


def jpeg_name(image: str) -> str:
    return str(Path(image).with_suffix('.jpg'))


def read_rows(data: Path) -> tuple[list[str], list[list[str]]]:
    read_index(data)  # validates the header and every row, with its own clear errors
    with (data / 'index.csv').open(newline='') as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def jpeg_bytes(path: Path, quality: int) -> bytes:
    with Image.open(path) as image:
        out = io.BytesIO()
        image.convert('RGB').save(out, format='JPEG', quality=quality, subsampling=0)
        return out.getvalue()


def matching_centres(data: Path, manifest: Path) -> tuple[Path, Path] | None:
    """(the cache of DATA's training faces, the name it must have for the .jpg paths), or None when
    DATA holds no cache for exactly these faces and this recognizer (then train.py makes one)."""
    if not manifest.is_file():
        return None
    train = [r for r in read_index(data) if r.split == 'train']
    source = cache_path(data, train, manifest)
    if not source.is_file():
        return None
    renamed = [type(r)(image=r.image.with_suffix('.jpg'), identity=r.identity, split=r.split, landmarks=r.landmarks)
               for r in train]
    return source, cache_path(data, renamed, manifest)


def add_bytes(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(payload))


def write_archive(out: Path, data: Path, header: list[str], rows: list[list[str]], quality: int,
                  centres: tuple[Path, Path] | None, manifest: Path, parser: Path | None) -> None:
    index = io.StringIO()
    writer = csv.writer(index, lineterminator='\n')
    writer.writerow(header)
    with tarfile.open(out, 'w:gz', compresslevel=6) as tar:
        for row in rows:
            add_bytes(tar, f'data/{jpeg_name(row[IMAGE_COLUMN])}', jpeg_bytes(data / row[IMAGE_COLUMN], quality))
            writer.writerow(row[:IMAGE_COLUMN] + [jpeg_name(row[IMAGE_COLUMN])] + row[IMAGE_COLUMN + 1:])
        add_bytes(tar, 'data/index.csv', index.getvalue().encode())
        if centres is not None:
            tar.add(centres[0], arcname=f'data/{centres[1].name}')
        if manifest.is_file():
            tar.add(manifest, arcname=f'recognizer/{manifest.name}')
            for weights in sorted(manifest.parent.glob(manifest.name.replace('-weights_manifest.json', '.bin'))):
                tar.add(weights, arcname=f'recognizer/{weights.name}')
        if parser is not None:
            tar.add(parser, arcname='parser.pt')


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', type=Path, required=True, help='aligned set folder (index.csv + PNGs)')
    p.add_argument('--out', type=Path, required=True, help='archive to write')
    p.add_argument('--quality', type=int, default=80, help='first JPEG quality tried')
    p.add_argument('--min-quality', type=int, default=50, help='lowest JPEG quality tried before giving up')
    p.add_argument('--quality-step', type=int, default=5)
    p.add_argument('--max-mib', type=float, default=64.0, help='largest archive allowed, MiB')
    p.add_argument('--parser', type=Path, help='trained face parser S to ship along (run.sh passes it to train.py)')
    p.add_argument('--manifest', type=Path, default=DEFAULT_MANIFEST, help="R's weights manifest (face-api)")
    a = p.parse_args(argv)
    if not 1 <= a.min_quality <= a.quality <= 95 or a.quality_step < 1:
        p.error(f'need 1 ≤ --min-quality ≤ --quality ≤ 95 and --quality-step ≥ 1, got '
                f'{a.min_quality}, {a.quality}, {a.quality_step}')
    if a.parser is not None and not a.parser.is_file():
        p.error(f'--parser {a.parser} is not a file')
    try:
        header, rows = read_rows(a.data)
    except (FileNotFoundError, ValueError) as err:
        print(f'pack.py: {err}', file=sys.stderr)
        return 1
    if not a.manifest.is_file():
        print(f"pack.py: warning: no recognizer weights at {a.manifest} (run `npm install`); the bundle will lack "
              "them and run.sh needs them in the GPU machine's node_modules", file=sys.stderr)
    centres = matching_centres(a.data, a.manifest)
    print(f'identity centres: {centres[0].name} → {centres[1].name}' if centres else
          'identity centres: no cache matching the training faces in the data folder; train.py will make it')

    a.out.parent.mkdir(parents=True, exist_ok=True)
    partial = a.out.with_name(a.out.name + '.partial')
    limit = a.max_mib * MIB
    quality = a.quality
    while True:
        started = time.monotonic()
        write_archive(partial, a.data, header, rows, quality, centres, a.manifest, a.parser)
        size = partial.stat().st_size
        print(f'quality {quality}: {size / MIB:.1f} MiB ({time.monotonic() - started:.0f} s)', flush=True)
        if size <= limit:
            os.replace(partial, a.out)
            print(f'{a.out}: {size / MIB:.1f} MiB, {len(rows)} faces, JPEG quality {quality}')
            return 0
        if quality == a.min_quality:
            partial.unlink()
            print(f'pack.py: at JPEG quality {quality} (the floor, --min-quality) the archive is {size / MIB:.1f} MiB, '
                  f'over --max-mib {a.max_mib:g}; raise --max-mib, lower --min-quality, or pack fewer faces',
                  file=sys.stderr)
            return 1
        quality = max(a.min_quality, quality - a.quality_step)


if __name__ == '__main__':
    sys.exit(main())
