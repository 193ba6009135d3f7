#!/usr/bin/env bash
# ID-GAN training that accumulates: start, stop and look at the long run in the background.
#
#   training/background.sh start  [RUN]   align (if needed), train S (if missing), start/resume RUN
#   training/background.sh stop   [RUN]   SIGTERM: the trainer finishes its step, checkpoints, exits
#   training/background.sh status [RUN]   what runs, the last log lines, the best validation score
#   training/background.sh restart [RUN]  stop, then start (a resumed run reads the grown aligned set)
#
# Everything long-lived is in the cache folder, outside the work tree, so that it survives a fresh
# checkout on the same machine: ${UNMASK_CACHE:-$HOME/.cache/unmask}/
#   celeba-aligned/        the aligned CelebA set (`npx unmask dataset align`, resumable)
#   runs/parser/parser.pt  the face parser S (training/train_parser.py)
#   runs/prior/prior-mirror.pt  the Gaussian face prior (training/fit_prior.py --mirror), the coarse fill G
#                          refines (earlier runs name runs/prior/prior.pt, the round-4 fit, in their args)
#   runs/RUN/              checkpoint.pt, generator-best.pt, log.jsonl, train.log, pid, args
#   logs/                  the alignment's and the parser's output
# RUN defaults to $IDGAN_RUN, else the name in runs/CURRENT, else the built-in default below. A run's
# train.py arguments are fixed the first time it starts (runs/RUN/args, one per line) and read back on
# every resume; a fresh run (no checkpoint.pt) starts from the committed generator (--init-generator
# models/idgan-inpaint.onnx), or from $IDGAN_INIT. Every job runs at `nice -n 19`.
# IDGAN_PARSER_LATER=1 starts without training a missing S first (L_S joins at a later resume).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PY=${PYTHON:-/usr/bin/python3}
CACHE=${UNMASK_CACHE:-$HOME/.cache/unmask}
DATA="$CACHE/celeba-aligned"
CROPS=${UNMASK_CELEBA_CROPS:-$ROOT/../shared/data/celeba-crops}
PARSER_DIR="$CACHE/runs/parser"
PRIOR="$CACHE/runs/prior/prior-mirror.pt"
LOGS="$CACHE/logs"
mkdir -p "$CACHE/runs" "$LOGS"

# The long run (models/MODEL_CARD.md, round 7): the committed generator (round 4's network over the
# mirrored prior) on that prior's fill, with L_R's identity terms from the service's own recognizer
# (ArcFace) rather than face-api's, on training faces moved no further than the service's aligned faces
# are (round 6). Its arguments are only read when the run folder has no `args` yet.
DEFAULT_RUN=wid-r7-arcface
DEFAULT_ARGS=(--identity-term diversity --recognizer arcface --lambda-r 2e-3 --width 32 --mirror --batch-size 8
              --lr 5e-5 --warmup-steps 0 --lambda-adv 3 --threads 2 --val-faces 250 --centre-faces 4 --eval-every 50
              --sample-every 100 --checkpoint-every 50 --lr-warmup-steps 100
              --prior "$PRIOR" --prior-components 1200 --prior-noise 0.01
              --max-rotation-deg 3 --max-shift 0.02)

cmd=${1:-status}
RUN=${2:-${IDGAN_RUN:-$(cat "$CACHE/runs/CURRENT" 2>/dev/null || echo "$DEFAULT_RUN")}}
OUT="$CACHE/runs/$RUN"

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
pid_of() { cat "$1" 2>/dev/null || true; }
align_running() { pgrep -f "dataset align .*--out $DATA" >/dev/null 2>&1; }

# Aligned + missed against the listed images: whether `dataset align` has anything left to do.
alignment_done() {
  [ -f "$DATA/index.csv" ] || return 1
  local listed done
  listed=$(grep -c . "$CROPS/identity.txt" 2>/dev/null || echo 0)
  done=$(( $(wc -l < "$DATA/index.csv") - 1 + $( [ -f "$DATA/missed.csv" ] && echo $(( $(wc -l < "$DATA/missed.csv") - 1 )) || echo 0) ))
  [ "$listed" -gt 0 ] && [ "$done" -ge "$listed" ]
}

faces_aligned() { [ -f "$DATA/index.csv" ] && echo $(( $(wc -l < "$DATA/index.csv") - 1 )) || echo 0; }

start_alignment() {
  if alignment_done; then return; fi
  if align_running; then echo "alignment already running ($(faces_aligned) faces so far)"; return; fi
  if [ ! -d "$CROPS" ]; then echo "no $CROPS: cannot align CelebA (set UNMASK_CELEBA_CROPS)" >&2; return 1; fi
  echo "alignment: resuming into $DATA ($(faces_aligned) faces so far; log $LOGS/align.log)"
  nohup nice -n 19 npx unmask dataset align "$CROPS" --out "$DATA" >> "$LOGS/align.log" 2>&1 &
  echo $! > "$CACHE/align.pid"
}

# The chain that runs in the background: wait for enough faces, train S if it is missing, then train.
chain() {
  local need=${IDGAN_MIN_FACES:-400}
  while [ "$(faces_aligned)" -lt "$need" ]; do
    if ! align_running && ! alignment_done; then echo "alignment is not running and has $(faces_aligned) faces" >&2; exit 1; fi
    sleep 30
  done
  if [ ! -f "$PARSER_DIR/parser.pt" ] && [ -z "${IDGAN_PARSER_LATER:-}" ]; then
    echo "parser: training S ($LOGS/parser.log)"
    nice -n 19 "$PY" -u training/train_parser.py --data "$DATA" --out "$PARSER_DIR" --time-budget "${IDGAN_PARSER_SECONDS:-600}" \
      >> "$LOGS/parser.log" 2>&1 || echo "parser training failed (see $LOGS/parser.log): L_S stays off" >&2
  fi
  if [ ! -f "$PRIOR" ] && grep -qx -- --prior "$OUT/args"; then
    echo "prior: fitting the face prior ($LOGS/prior.log)"
    nice -n 19 "$PY" -u training/fit_prior.py --data "$DATA" --out "$PRIOR" --components 2000 --mirror >> "$LOGS/prior.log" 2>&1 \
      || { echo "fitting the face prior failed (see $LOGS/prior.log)" >&2; exit 1; }
  fi
  local args=()
  mapfile -t args < "$OUT/args"
  if [ -f "$PARSER_DIR/parser.pt" ]; then args+=(--parser "$PARSER_DIR/parser.pt"); fi
  if [ ! -f "$OUT/checkpoint.pt" ]; then
    # 2373: the steps of the round-2 generator over its runs, which its ONNX does not record (later exports do).
    args+=(--init-generator "${IDGAN_INIT:-$ROOT/models/idgan-inpaint.onnx}" --init-total-steps 2373)
  fi
  echo "$(date -Is) train.py ${args[*]}" >> "$OUT/train.log"
  # exec: the trainer takes this process's place, so the recorded pid is the trainer's and SIGTERM reaches it.
  exec nice -n 19 "$PY" -u training/train.py --data "$DATA" --out "$OUT" "${args[@]}" >> "$OUT/train.log" 2>&1
}

start() {
  local pid
  pid=$(pid_of "$OUT/pid")
  if alive "$pid"; then echo "$RUN is already running (pid $pid)"; return; fi
  mkdir -p "$OUT"
  if [ ! -f "$OUT/args" ]; then
    if [ "$RUN" != "$DEFAULT_RUN" ] && [ -z "${IDGAN_ARGS:-}" ]; then
      echo "$OUT has no args file: give the run's train.py arguments in IDGAN_ARGS (or start $DEFAULT_RUN)" >&2; return 1
    fi
    if [ -n "${IDGAN_ARGS:-}" ]; then
      # shellcheck disable=SC2206  # word splitting is what is wanted: one argument per word
      local given=($IDGAN_ARGS); printf '%s\n' "${given[@]}" > "$OUT/args"
    else
      printf '%s\n' "${DEFAULT_ARGS[@]}" > "$OUT/args"
    fi
  fi
  echo "$RUN" > "$CACHE/runs/CURRENT"
  start_alignment
  nohup bash "$0" __chain "$RUN" > /dev/null 2>> "$OUT/train.log" &
  echo $! > "$OUT/pid"
  echo "started $RUN (pid $!) in $OUT; log $OUT/train.log"
}

stop() {
  local pid waited=0
  pid=$(pid_of "$OUT/pid")
  if ! alive "$pid"; then echo "$RUN is not running"; return; fi
  # While S is still training, the chain's child is the parser: stop it too (it resumes from its checkpoint).
  pkill -TERM -P "$pid" -f train_parser.py 2>/dev/null || true
  kill -TERM "$pid"
  echo -n "SIGTERM sent to $RUN (pid $pid), waiting for its checkpoint"
  while alive "$pid"; do
    sleep 2; waited=$((waited + 2)); echo -n .
    if [ "$waited" -ge "${IDGAN_STOP_WAIT:-300}" ]; then echo; echo "still running after ${waited}s: not killed" >&2; return 1; fi
  done
  echo; tail -n 2 "$OUT/log.jsonl" 2>/dev/null || true
}

status() {
  local pid
  pid=$(pid_of "$OUT/pid")
  echo "cache $CACHE; aligned faces $(faces_aligned)$(alignment_done && echo ' (complete)' || (align_running && echo ' (alignment running)' || echo ' (incomplete, not running)'))"
  echo "parser: $( [ -f "$PARSER_DIR/parser.pt" ] && echo "$PARSER_DIR/parser.pt" || echo missing)"
  if alive "$pid"; then echo "$RUN: running (pid $pid)"; else echo "$RUN: not running"; fi
  [ -f "$OUT/log.jsonl" ] || return 0
  "$PY" - "$OUT/log.jsonl" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
steps = [r for r in rows if 'step' in r and 'L_I' in r]
evals = [r for r in rows if 'val_psnr' in r]
if steps:
    r = steps[-1]
    print(f"step {r['step']}: L_I {r['L_I']:.1f}, {r.get('s_per_step', float('nan')):.2f} s/step")
if evals:
    best = max(evals, key=lambda r: r['val_psnr'])
    last = evals[-1]
    print(f"validation (first {last['val_faces']} val faces): last step {last['step']} {last['val_psnr']:.2f} dB / "
          f"{last['val_ssim']:.4f}; best step {best['step']} {best['val_psnr']:.2f} dB / {best['val_ssim']:.4f}")
EOF
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  status) status ;;
  __chain) chain ;;
  *) echo "usage: $0 start|stop|restart|status [RUN]" >&2; exit 2 ;;
esac
