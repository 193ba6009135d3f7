#!/usr/bin/env python3
"""A trial: can a small network, trained by regression alone, correct the face prior's fill?

    /usr/bin/python3 training/refine_trial.py --data ~/.cache/unmask/celeba-aligned \\
        --prior ~/.cache/unmask/runs/prior/prior-mirror.pt --minutes 12 --out results/idgan/refine-trial-r8.json

Rounds 4–7's generator keeps 95 % of the prior's fill and its training curve is flat; its steps cost
6–9 s on this CPU, with adversarial and identity terms beside the reconstruction. This trial asks the
question without them, at a hundredth of the cost per step: at the prior's 64×64, the training faces
(and their mirror images) get random 48×48 holes (24×24 there) and the prior's exact fill; a U-Net of
--width channels sees a 40×40 window around the hole (the prior-filled face, its mask, and both
mirrored) and draws a correction inside the hole, zero at the start, trained by L1 on the hole with
Adam (gradients clipped at norm 1). Every --eval-every steps the selection faces (the first 250 validation faces, their seeded
holes) are scored at 128×128 as eval_generators.py scores the prior, so the curve starts at the prior.
Holes are drawn --faces-per-hole faces at a time, so that one solve of the prior serves several faces.

With --lambda-r the correction also learns from R (eq. 6, the ArcFace teacher): the corrected 64×64 fill is
put back into the 128×128 face as the graph puts it (bicubic, inside the hole), the face's ArcFace chip cut
from its landmarks, and L_R added with weight λ_R: the instance terms alone with --identity-term none (the
paper's w/oID) or with the identity-diversity hinge against the identity centres (diversity, wID). That is
the paper's ablation at a cost this CPU can pay (~2 s a step on one loaded core), to compare wID with w/oID on equal steps
(--steps); the selection faces then also get their mean ArcFace cosine to the original at every evaluation.
"""
from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fit_prior import read_faces  # noqa: E402
from idgan.centres import load_or_compute_centres, numbered_identities  # noqa: E402
from idgan.data import AlignedFaces, FaceRecord, fixed_holes, load_rgb, mirror_landmarks, psnr, read_index, to_tensor  # noqa: E402
from idgan.holes import fill_white, hole_masks, random_holes  # noqa: E402
from idgan.losses import IdentityTerm, LossWeights, recognition_loss  # noqa: E402
from idgan.occluder_holes import occluder_hole  # noqa: E402
from idgan.prior import IMAGE_SIZE, PRIOR_SIZE, FacePrior, load_prior, shrink, shrink_hole  # noqa: E402
from idgan.refine import PriorCorrection  # noqa: E402
from idgan.teacher import load_teacher  # noqa: E402
from occlusion.synth import load_mask_templates  # noqa: E402

def prior_fills(prior: FacePrior, faces: torch.Tensor, holes: torch.Tensor) -> torch.Tensor:
    """The prior's conditional mean (N×3×64×64) of faces (N×3×64×64) that all share one hole (64×64 bool)."""
    hole = holes[None].expand(3, -1, -1).flatten()
    hole_basis = prior.basis[:, hole]
    centred = faces.flatten(1) - prior.mean
    rhs = centred @ prior.basis.T - centred[:, hole] @ hole_basis.T
    matrix = torch.eye(prior.components) - hole_basis @ hole_basis.T + torch.diag(prior.noise / prior.variance)
    coefficients = torch.linalg.solve(matrix, rhs.T).T
    return (prior.mean + coefficients @ prior.basis).view(-1, 3, PRIOR_SIZE, PRIOR_SIZE)


def training_choice(faces: int, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Which training faces (indices into the train records) the trial uses, and which it mirrors."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(faces, count, replace=False)
    return pick, rng.random(len(pick)) < 0.5


def training_holes(holes_count: int, seed: int) -> torch.Tensor:
    """The trial's holes at 128×128 (holes_count×1×128×128), one per --faces-per-hole faces."""
    return hole_masks(random_holes(holes_count, torch.Generator().manual_seed(seed)))


def training_set(records: list[FaceRecord], prior: FacePrior, holes_count: int, per_hole: int, seed: int):
    faces = read_faces(records, every=5000)
    pick, flip = training_choice(len(faces), holes_count * per_hole, seed)
    chosen = np.stack([faces[j][:, ::-1] if f else faces[j] for j, f in zip(pick, flip)]).transpose(0, 3, 1, 2)
    faces_t = torch.from_numpy(np.ascontiguousarray(chosen))
    holes = shrink_hole(training_holes(holes_count, seed))[:, 0] > 0.5
    fills = torch.empty_like(faces_t)
    with torch.no_grad():
        for k in range(holes_count):
            part = slice(k * per_hole, (k + 1) * per_hole)
            fills[part] = prior_fills(prior, faces_t[part], holes[k])
    return faces_t, holes.repeat_interleave(per_hole, 0)[:, None].float(), fills


def occluder_training_set(records: list[FaceRecord], prior: FacePrior, count: int, seed: int):
    """`count` training faces (mirrored at random), each with its own occluder-shaped hole drawn on its landmarks
    as the service's holes come (idgan/occluder_holes.py: masks, hands, scarves, sunglasses, brims, a quarter
    squares), and the prior's exact fill. One solve a face: ~0.2 s each on this CPU."""
    pick, flip = training_choice(len(records), count, seed)
    rng, templates = random.Random(seed), load_mask_templates()
    faces, holes = torch.empty(count, 3, PRIOR_SIZE, PRIOR_SIZE), torch.empty(count, 1, PRIOR_SIZE, PRIOR_SIZE)
    fills = torch.empty_like(faces)
    for n, (j, mirror) in enumerate(zip(pick, flip)):
        rgb, landmarks = load_rgb(records[j].image), records[j].landmarks
        if mirror:
            rgb, landmarks = rgb[:, ::-1], mirror_landmarks(landmarks, IMAGE_SIZE)
        hole = torch.from_numpy(occluder_hole(landmarks, rng, templates).astype(np.float32))[None, None]
        faces[n], holes[n] = shrink(to_tensor(rgb)[None])[0], shrink_hole(hole)[0]
        with torch.no_grad():
            fills[n] = prior.fill(faces[n:n + 1], holes[n:n + 1])[0]
        if (n + 1) % 500 == 0:
            print(f'{n + 1}/{count} occluder-shaped holes filled by the prior', flush=True)
    return faces, holes, fills


def cached_set(path: Path | None, key: dict, make):
    """(faces, holes, fills) from the cache file when it was made with the same key, else made (and cached)."""
    cached = torch.load(path) if path is not None and path.is_file() else None
    if cached is not None and cached['key'] == key:
        return cached['faces'], cached['holes'], cached['fills']
    faces, holes, fills = make()
    if path is not None:
        torch.save({'key': key, 'faces': faces, 'holes': holes, 'fills': fills}, path)
    return faces, holes, fills


class SelectionFaces:
    """Validation faces with their holes as the exported graph sees them: the 128×128 originals and holes,
    and at 64×64 the occluded faces, their holes and the prior's fill."""

    def __init__(self, prior: FacePrior, images: torch.Tensor, masks: torch.Tensor):
        self.images, self.masks = images, masks
        self.faces, self.holes = shrink(fill_white(images, masks) * (1 - masks)), shrink_hole(masks)
        with torch.no_grad():
            self.fills = prior.fill(self.faces, self.holes)

    def inpainted(self, net: PriorCorrection, whole: bool) -> torch.Tensor:
        small = torch.cat([net(self.faces[i:i + 50], self.holes[i:i + 50], self.fills[i:i + 50], whole)
                           for i in range(0, len(self.images), 50)])
        estimate = F.interpolate(small, size=(IMAGE_SIZE, IMAGE_SIZE), mode='bicubic', align_corners=False).clamp(0, 1)
        return self.images * (1 - self.masks) + estimate * self.masks

    def psnr(self, out: torch.Tensor) -> float:
        return float(np.mean([psnr(x, t) for x, t in zip(out.permute(0, 2, 3, 1).numpy(), self.images.permute(0, 2, 3, 1).numpy())]))


def hole_l1(corrected: torch.Tensor, faces: torch.Tensor, holes: torch.Tensor) -> torch.Tensor:
    """The mean absolute error of the corrected faces inside their holes (the trial's regression loss)."""
    return ((corrected - faces).abs() * holes).sum() / (3 * holes.sum())


def mirrored_landmarks(landmarks: torch.Tensor) -> torch.Tensor:
    """idgan.data.mirror_landmarks of N×68×2 crop landmarks, as a float tensor."""
    return torch.from_numpy(mirror_landmarks(landmarks.numpy(), IMAGE_SIZE).astype(np.float32))


class IdentityBatch(NamedTuple):
    """One step's training faces at 128×128, as L_R sees them: images, holes, landmarks and identity labels."""
    images: torch.Tensor
    holes: torch.Tensor
    landmarks: torch.Tensor
    labels: torch.Tensor


class IdentityFaces:
    """The trial's training faces with their identities, picked and flipped as its --data-cache's were
    (the same seed), so that L_R sees the faces the L1 trains on. Read once a step for every R."""

    def __init__(self, records: list[FaceRecord], holes_count: int, per_hole: int, seed: int):
        self.pick, self.flip = training_choice(len(records), holes_count * per_hole, seed)
        self.records = records
        self.holes = training_holes(holes_count, seed).repeat_interleave(per_hole, 0)
        _, labels = numbered_identities(records)
        self.labels = labels[torch.from_numpy(self.pick)]
        landmarks = torch.from_numpy(np.stack([records[j].landmarks for j in self.pick]).astype(np.float32))
        flip = torch.from_numpy(self.flip)
        self.landmarks = torch.where(flip[:, None, None], mirrored_landmarks(landmarks), landmarks)

    def batch(self, pick: torch.Tensor, mirrored: bool) -> IdentityBatch:
        """The faces `pick` (mirrored as a batch when `mirrored`)."""
        images = []
        for i in pick.tolist():
            rgb = load_rgb(self.records[self.pick[i]].image)
            images.append(to_tensor(rgb[:, ::-1] if self.flip[i] else rgb))
        images = torch.stack(images)
        holes, landmarks = self.holes[pick], self.landmarks[pick]
        if mirrored:
            images, holes, landmarks = images.flip(-1), holes.flip(-1), mirrored_landmarks(landmarks)
        return IdentityBatch(images, holes, landmarks, self.labels[pick])


class RecognitionTerm:
    """L_R with one recognizer R (ArcFace, or face-api's net) and its identity centres."""

    def __init__(self, data: str, records: list[FaceRecord], weight: float, identity_term: str,
                 arcface_model: str | None, centre_faces: int, recognizer: str = 'arcface'):
        self.weight = weight
        self.weights = LossWeights(identity_term=IdentityTerm(identity_term))
        self.teacher = load_teacher(recognizer, 'cpu', arcface_model)
        self.centres = None
        if self.weights.identity_term is not IdentityTerm.NONE:
            self.centres, path = load_or_compute_centres(data, records, self.teacher, 'cpu', per_identity=centre_faces)
            print(f'identity centres of {len(self.centres)} training identities: {path}', flush=True)

    def descriptors(self, images: torch.Tensor, landmarks: torch.Tensor, chunk: int = 25) -> torch.Tensor:
        """R's descriptors of many faces, a few at a time: the graph interpreter keeps every layer's output
        of a batch, gigabytes for 250 faces."""
        return torch.cat([self.teacher(images[i:i + chunk], landmarks[i:i + chunk]) for i in range(0, len(images), chunk)])

    def loss(self, corrected: torch.Tensor, batch: IdentityBatch):
        """λ_R·L_R of the corrected 64×64 faces of `batch`, and its parts."""
        estimate = F.interpolate(corrected, size=(IMAGE_SIZE, IMAGE_SIZE), mode='bicubic', align_corners=False).clamp(0, 1)
        inpainted = batch.images * (1 - batch.holes) + estimate * batch.holes
        with torch.no_grad():
            clean = self.teacher.features(batch.images, batch.landmarks)
        centres = self.centres[batch.labels] if self.centres is not None else None
        term = recognition_loss(self.teacher.features(inpainted, batch.landmarks), clean, centres, batch.labels, self.weights)
        return self.weight * term.total, {k: float(v) for k, v in term.parts.items()}


@contextmanager
def stop_requests():
    """While inside, SIGTERM and SIGINT are noted (their names, in the list yielded) instead of ending the process;
    the handlers before are put back on leaving, so a caller in the same process (a test) keeps its own."""
    requested: list[str] = []
    previous = {sig: signal.signal(sig, lambda number, _frame: requested.append(signal.Signals(number).name))
                for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield requested
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', required=True)
    p.add_argument('--prior', required=True)
    p.add_argument('--components', type=int, default=1200)
    p.add_argument('--noise', type=float, default=0.01)
    p.add_argument('--holes', type=int, default=1500, help='training holes drawn')
    p.add_argument('--faces-per-hole', type=int, default=10)
    p.add_argument('--occluder-faces', type=int, default=0,
                   help="also train on this many faces with their own occluder-shaped holes (half of each batch), and select on both")
    p.add_argument('--width', type=int, default=16)
    p.add_argument('--lr', type=float, default=5e-4)
    p.add_argument('--batch-size', type=int, default=16)
    p.add_argument('--minutes', type=float, help='stop after this much training time (default: 12, or none with --steps)')
    p.add_argument('--steps', type=int, help='stop after this many steps (arms compared on equal steps), if --minutes is not spent first')
    p.add_argument('--lambda-r', type=float, default=0.0, help='λ_R: the weight of L_R (eq. 6, ArcFace) beside the L1; 0 leaves R out')
    p.add_argument('--lambda-r-faceapi', type=float, default=0.0,
                   help="the weight of a second L_R with face-api's 128-D net as R, beside ArcFace's (same identity term)")
    p.add_argument('--identity-term', choices=[t.value for t in IdentityTerm], default=IdentityTerm.DIVERSITY.value,
                   help="L_R's identity-wise term: none is the paper's w/oID, diversity its wID")
    p.add_argument('--centre-faces', type=int, default=4, help='faces of each identity that make its centre (as background.sh)')
    p.add_argument('--arcface-model', help="fr_feature.onnx (default: models/faceplugin/, else the npm package's)")
    p.add_argument('--eval-every', type=int, default=500)
    p.add_argument('--val-faces', type=int, default=250)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--whole', action='store_true',
                   help='train (and select) on the whole 64×64 face, as the exported graph runs it, not on windows')
    p.add_argument('--mirror-average', action='store_true',
                   help='with --whole: train and select the correction run on the face and its mirror image, averaged, '
                        'as export_onnx.py --refiner-mirror-average runs it')
    p.add_argument('--init', help='start from the weights of an earlier --save')
    p.add_argument('--data-cache', help='the training faces with their holes and fills (.pt): made once, read after')
    p.add_argument('--save', help="where the network's weights go (.pt), at the best selection step (--save-last: the last)")
    p.add_argument('--save-last', action='store_true', help='save the last step instead: arms compared on equal steps')
    p.add_argument('--out', required=True)
    a = p.parse_args(argv)
    if (a.lambda_r > 0 or a.lambda_r_faceapi > 0) and a.occluder_faces:
        p.error('--lambda-r trains on the square-holed faces only: leave out --occluder-faces')
    if a.lambda_r_faceapi > 0 and a.lambda_r <= 0:
        p.error("--lambda-r-faceapi adds face-api's net beside ArcFace: give --lambda-r too")
    if a.mirror_average and not a.whole:
        p.error('--mirror-average averages whole-face corrections: give --whole too')
    if a.minutes is None:  # an arm asked for N steps runs them all, however loaded the machine is
        a.minutes = float('inf') if a.steps else 12.0
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    started = time.time()
    prior = load_prior(a.prior, a.components, a.noise).eval()
    records = [r for r in read_index(a.data) if r.split == 'train']
    key = {'prior': str(a.prior), 'components': a.components, 'noise': a.noise, 'holes': a.holes,
           'faces_per_hole': a.faces_per_hole, 'seed': a.seed}
    cache = Path(a.data_cache) if a.data_cache else None
    faces, holes, fills = cached_set(cache, key, lambda: training_set(records, prior, a.holes, a.faces_per_hole, a.seed + 1))
    print(f'{len(faces)} training faces with the prior\'s fill ({time.time() - started:.0f} s)', flush=True)
    if a.occluder_faces:
        occluder_key = {**key, 'holes': 'occluder', 'faces': a.occluder_faces}
        occluder_cache = cache.with_name(f'{cache.stem}-occluder{a.occluder_faces}{cache.suffix}') if cache else None
        occluder_set = cached_set(occluder_cache, occluder_key,
                                  lambda: occluder_training_set(records, prior, a.occluder_faces, a.seed + 2))
        print(f'{a.occluder_faces} training faces with occluder-shaped holes ({time.time() - started:.0f} s)', flush=True)

    # With --occluder-faces each item also carries its own occluder-shaped hole, as eval_generators.py --holes occluder draws it.
    val = AlignedFaces(a.data, 'val', None, limit=a.val_faces, holes='occluder' if a.occluder_faces else 'square')
    items = [val[i] for i in range(len(val))]
    val_images, val_landmarks = torch.stack([x['image'] for x in items]), torch.stack([x['landmarks'] for x in items])
    selection_sets = {'selection_psnr': SelectionFaces(prior, val_images, hole_masks(fixed_holes(len(val))))}
    if a.occluder_faces:
        selection_sets['selection_occluder_psnr'] = SelectionFaces(prior, val_images, torch.stack([x['hole'] for x in items]))

    identity_faces = IdentityFaces(records, a.holes, a.faces_per_hole, a.seed + 1) if a.lambda_r > 0 else None
    # Each R with the name its selection cosine and its loss parts go by.
    recognitions = [(name, RecognitionTerm(a.data, records, weight, a.identity_term, model, a.centre_faces, name))
                    for name, weight, model in (('arcface', a.lambda_r, a.arcface_model), ('faceapi', a.lambda_r_faceapi, None))
                    if weight > 0]
    with torch.no_grad():
        val_clean = {name: term.descriptors(val_images, val_landmarks) for name, term in recognitions}

    net = PriorCorrection(a.width).with_mirror_average(a.mirror_average)
    if a.init:
        net.load_state_dict(torch.load(a.init, map_location='cpu')['network'])
    optimiser = torch.optim.Adam(net.parameters(), lr=a.lr)

    def selection(whole: bool = False) -> dict[str, float]:
        """The selection faces' mean PSNR (on squares, and with --occluder-faces on occluder-shaped holes too),
        with R their mean ArcFace cosine to the originals (squares), and the score that picks the best step:
        the mean of the PSNRs."""
        net.eval()
        scores = {}
        with torch.no_grad():
            for name, faces_set in selection_sets.items():
                out = faces_set.inpainted(net, whole)
                scores[name] = round(faces_set.psnr(out), 4)
                if name == 'selection_psnr':
                    for r_name, term in recognitions:
                        cosine = F.cosine_similarity(term.descriptors(out, val_landmarks), val_clean[r_name]).mean()
                        scores[f'selection_{r_name}_cosine'] = round(float(cosine), 4)
        net.train()
        scores['score'] = round(float(np.mean([scores[name] for name in selection_sets])), 4)
        return scores

    def selection_psnr(whole: bool = False) -> float:
        return selection(whole)['selection_psnr']

    def save(point: dict) -> None:
        Path(a.save).parent.mkdir(parents=True, exist_ok=True)
        torch.save({'width': a.width, 'step': step, 'whole': a.whole, 'mirror_average': a.mirror_average, 'init': a.init,
                    'network': net.state_dict(),
                    'curve_point': point, 'lambda_r': a.lambda_r, 'lambda_r_faceapi': a.lambda_r_faceapi,
                    'identity_term': a.identity_term if a.lambda_r > 0 else None}, a.save)

    # SIGTERM or Ctrl-C ends the step in progress; the arm then saves and reports as if its time were up.
    with stop_requests() as stop_signal:
        curve = [{'step': 0, **selection(a.whole)}]
        print('step 0 ' + (f'(from {a.init})' if a.init else '(the prior alone)') + f': {curve[0]}', flush=True)
        step, loss_sum, trained_from = 0, 0.0, time.time()
        parts_sum: dict[str, float] = {}
        while time.time() - trained_from < a.minutes * 60 and (a.steps is None or step < a.steps) and not stop_signal:
            pick = torch.randint(0, len(faces), (a.batch_size,))
            face, hole, fill = faces[pick], holes[pick], fills[pick]
            if a.occluder_faces:  # half the batch from each kind of hole
                half = torch.randint(0, a.occluder_faces, (a.batch_size // 2,))
                face, hole, fill = (torch.cat([x[:a.batch_size - len(half)], y[half]]) for x, y in zip((face, hole, fill), occluder_set))
            mirrored = bool(step % 2)
            if mirrored:
                face, hole, fill = face.flip(-1), hole.flip(-1), fill.flip(-1)
            corrected = net(face, hole, fill, a.whole)
            l1 = hole_l1(corrected, face, hole)
            loss = l1
            batch = identity_faces.batch(pick, mirrored) if identity_faces is not None else None
            for r_name, term in recognitions:
                weighted, parts = term.loss(corrected, batch)
                loss = loss + weighted
                for k, v in parts.items():
                    key = k if r_name == 'arcface' else f'{r_name}.{k}'
                    parts_sum[key] = parts_sum.get(key, 0.0) + v
            optimiser.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)  # at 2e-3 without it, a run blew up at step ~5,000
            optimiser.step()
            step += 1
            loss_sum += float(l1)
            if step % a.eval_every == 0:
                curve.append({'step': step, 'l1': round(loss_sum / a.eval_every, 5),
                              **{f'L_R.{k}': round(v / a.eval_every, 5) for k, v in parts_sum.items()},
                              **selection(a.whole), 'seconds': round(time.time() - trained_from)})
                loss_sum, parts_sum = 0.0, {}
                if a.save and not a.save_last and curve[-1]['score'] > max(c['score'] for c in curve[:-1]):
                    if not a.whole:  # what the exported graph, which runs on the whole face, would score
                        curve[-1]['whole_face_psnr'] = round(selection_psnr(whole=True), 4)
                    save(curve[-1])
                print(curve[-1], flush=True)
    if a.save and a.save_last:
        if curve[-1]['step'] != step:
            curve.append({'step': step, **selection(a.whole), 'seconds': round(time.time() - trained_from)})
        save(curve[-1])
    report = {'prior': str(a.prior), 'whole': a.whole, 'mirror_average': a.mirror_average, 'init': a.init, 'components': a.components, 'noise': a.noise, 'training_faces': len(faces),
              'width': a.width, 'parameters': sum(p.numel() for p in net.parameters()), 'lr': a.lr,
              'batch_size': a.batch_size, 'minutes': a.minutes if a.minutes != float('inf') else None, 'steps': step,
              'lambda_r': a.lambda_r, 'lambda_r_faceapi': a.lambda_r_faceapi, 'identity_term': a.identity_term if a.lambda_r > 0 else None, 'val_faces': len(val), 'curve': curve,
              'occluder_faces': a.occluder_faces, 'best': max(curve, key=lambda c: c['score']),
              'stopped_by': stop_signal[0] if stop_signal else None}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(report, indent=2) + '\n')
    if stop_signal:
        print(f'stopped by {stop_signal[0]} after {step} steps' + (f' of the {a.steps} asked for' if a.steps else ''), flush=True)
    elif a.steps and step < a.steps:
        print(f'stopped at --minutes {a.minutes:g} after {step} of the {a.steps} steps asked for', flush=True)
    print(f'best selection PSNR {report["best"]["selection_psnr"]} at step {report["best"]["step"]}; at step 0 {curve[0]["selection_psnr"]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
