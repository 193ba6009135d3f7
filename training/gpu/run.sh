#!/usr/bin/env bash
# Train ID-GAN on a lent NVIDIA GPU from the bundle training/gpu/pack.py made (issue 3, item 6):
#
#   training/gpu/run.sh BUNDLE OUT_DIR TIME_BUDGET_SECONDS [train.py args…]
#
# Run from anywhere inside the repository checkout (Linux, an NVIDIA GPU, python3 with PyTorch 2.x + CUDA,
# numpy, OpenCV, scikit-image, Pillow). Unpacks the bundle into a temporary folder, puts R's weights
# where train.py looks for them when node_modules lacks them, and runs train.py with --device cuda for
# the time budget. OUT_DIR keeps checkpoint.pt, generator-best.pt, samples/, log.jsonl and train.log
# (this script's whole output); rerun with the same OUT_DIR to resume.
set -euo pipefail

if [[ $# -lt 3 ]]; then
  echo "usage: $0 BUNDLE OUT_DIR TIME_BUDGET_SECONDS [train.py args…]" >&2
  exit 2
fi
bundle=$1 out=$2 budget=$3
shift 3
[[ -f $bundle ]] || { echo "run.sh: no bundle at $bundle (make it with training/gpu/pack.py)" >&2; exit 2; }
[[ $budget =~ ^[0-9]+$ ]] || { echo "run.sh: TIME_BUDGET_SECONDS must be a whole number of seconds, got '$budget'" >&2; exit 2; }

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
python=${PYTHON:-python3}
mkdir -p "$out"
out=$(cd "$out" && pwd)
log=$out/train.log
exec > >(tee -a "$log") 2>&1
echo "== run.sh $(date -u +%FT%TZ): bundle $bundle, out $out, budget ${budget} s, extra args: $*"

# Torch, CUDA and the GPU first: without a usable GPU there is nothing to do here.
if ! "$python" - <<'EOF'
import sys
try:
    import torch
except ImportError as err:
    sys.exit(f'run.sh: {sys.executable} has no PyTorch ({err}); set PYTHON to one that has PyTorch 2.x with CUDA')
print(f'python {sys.version.split()[0]}, torch {torch.__version__}, CUDA {torch.version.cuda}')
missing = []
for module in ('numpy', 'cv2', 'skimage', 'PIL'):
    try:
        __import__(module)
    except ImportError:
        missing.append(module)
if missing:
    sys.exit(f'run.sh: {sys.executable} lacks {", ".join(missing)} (pip: numpy opencv-python-headless '
             'scikit-image pillow), which train.py needs')
if not torch.cuda.is_available():
    sys.exit('run.sh: torch.cuda.is_available() is False: no NVIDIA GPU or driver visible to this PyTorch build '
             f'(CUDA build: {torch.version.cuda}); this script trains on a GPU only')
print(f'GPU: {torch.cuda.get_device_name(0)}, '
      f'{torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB')
EOF
then
  exit 1
fi

unpacked=$(mktemp -d "${TMPDIR:-/tmp}/idgan-bundle.XXXXXX")
trap 'rm -rf "$unpacked"' EXIT
started=$SECONDS
tar -xf "$bundle" -C "$unpacked"
[[ -f $unpacked/data/index.csv ]] || { echo "run.sh: $bundle holds no data/index.csv: not a pack.py bundle" >&2; exit 1; }
echo "unpacked $(($(wc -l < "$unpacked/data/index.csv") - 1)) faces in $((SECONDS - started)) s into $unpacked"

# train.py reads R from the face-api npm package; a bare checkout has no node_modules.
weights=$repo/node_modules/@vladmandic/face-api/model
if [[ ! -f $weights/face_recognition_model-weights_manifest.json ]]; then
  [[ -d $unpacked/recognizer ]] || { echo "run.sh: no recognizer weights in $weights nor in the bundle" >&2; exit 1; }
  mkdir -p "$weights"
  cp "$unpacked"/recognizer/* "$weights"/
  echo "recognizer weights installed from the bundle into $weights"
fi

parser_args=()
[[ -f $unpacked/parser.pt ]] && parser_args=(--parser "$unpacked/parser.pt")

set +e
"$python" "$repo/training/train.py" --data "$unpacked/data" --out "$out" --device cuda \
  --time-budget "$budget" --workers 4 "${parser_args[@]}" "$@"
status=$?
set -e
echo "== train.py exited with $status after $((SECONDS - started)) s; in $out:"
ls -la "$out"
exit $status
