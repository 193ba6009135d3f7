#!/usr/bin/env bash
# The round-3 trials of equal budget (models/MODEL_CARD.md, round 3): 100 steps of batch 8 each, the
# first 2,500 training faces and the first 250 validation faces of the cache's aligned set, all from the
# committed generator with seed 0 (the same batches and holes), each at nice -n 19 in
# $UNMASK_CACHE/trials/<arm>/. Score them on the held-out faces afterwards:
#   training/eval_generators.py --data … --skip-faces 300 --val-faces 177 --identity --generator ARM=…/checkpoint.pt …
#   training/trials_r3.sh [set1|set2|set3]
set -euo pipefail
cd "$(dirname "$0")/.."
C=${UNMASK_CACHE:-$HOME/.cache/unmask}
common=(--data "$C/celeba-aligned" --data-limit 2500 --val-faces 250 --steps 100 --identity-term diversity --width 32
        --batch-size 8 --lr 5e-5 --warmup-steps 0 --lambda-adv 3 --threads 1 --centre-faces 4 --eval-every 100
        --sample-every 100 --checkpoint-every 50 --init-generator models/idgan-inpaint.onnx --init-total-steps 2373)
arm() {
  local name=$1; shift
  mkdir -p "$C/trials/$name"
  echo "train.py ${common[*]} $*" > "$C/trials/$name/command"
  nohup nice -n 19 /usr/bin/python3 -u training/train.py "${common[@]}" --out "$C/trials/$name" "$@" >> "$C/trials/$name/train.log" 2>&1 &
  echo $! > "$C/trials/$name/pid"
  echo "started $name (pid $!)"
}
case "${1:-set1}" in
  set1)
    arm base
    arm mirror --mirror
    arm skips --skips
    arm mirror-skips --mirror --skips
    arm arcface --recognizer arcface --lambda-r 2e-3 ;;
  set2)  # on set 1's winner: the discriminators' warm-up, and no adversarial term
    arm mirror-dwarm50 --mirror --d-warmup-steps 50
    arm mirror-adv0 --mirror --lambda-adv 0 ;;
  set3)  # the lr ramp for a fresh branch (Adam's moments start at zero)
    arm mirror-lrwarm50 --mirror --lr-warmup-steps 50 ;;
  *) echo "usage: $0 [set1|set2|set3]" >&2; exit 2 ;;
esac
