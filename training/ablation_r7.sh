#!/usr/bin/env bash
# Round 7: wID against w/oID on equal training (models/MODEL_CARD.md, "Round 7"). Each arm starts from
# round 4's generator ($IDGAN_INIT; round 7 used `git show a22e3e0:models/idgan-inpaint.onnx`: the
# prior's fill refined, --mirror, the 800-component prior below), trains STEPS steps of batch 8
# on the whole aligned set with the same seed (the same batches and holes), faces moved no further than
# the service's (±3°, ±2 %), and keeps its best step on the selection faces. The arms run one after
# another (2 threads each) at nice -n 19 in $UNMASK_CACHE/runs/r7-<arm>/; a stopped arm resumes.
#   training/ablation_r7.sh [STEPS] [ARM…]     (default: 200 wid woid wid-arcface)
# Then score each arm on the held-out faces (training/heldout_curve.py) and on LFW View 1
# (`npx unmask eval lfw … --generator`).
set -euo pipefail
cd "$(dirname "$0")/.."
C=${UNMASK_CACHE:-$HOME/.cache/unmask}
steps=${1:-200}; shift || true
arms=("$@"); [ ${#arms[@]} -gt 0 ] || arms=(wid woid wid-arcface)
common=(--data "$C/celeba-aligned" --steps "$steps" --width 32 --mirror --batch-size 8 --lr 5e-5 --warmup-steps 0
        --lambda-adv 3 --threads 2 --val-faces 250 --centre-faces 4 --eval-every 50 --sample-every 100
        --checkpoint-every 50 --lr-warmup-steps 100 --prior "$C/runs/prior/prior.pt" --prior-components 800
        --prior-noise 0.02 --max-rotation-deg 3 --max-shift 0.02 --parser "$C/runs/parser/parser.pt")
for arm in "${arms[@]}"; do
  case "$arm" in
    wid) extra=(--identity-term diversity) ;;
    woid) extra=(--identity-term none) ;;
    wid-arcface) extra=(--identity-term diversity --recognizer arcface --lambda-r 2e-3) ;;
    *) echo "unknown arm $arm (wid, woid, wid-arcface)" >&2; exit 2 ;;
  esac
  out="$C/runs/r7-$arm"; mkdir -p "$out"
  init=(); [ -f "$out/checkpoint.pt" ] || init=(--init-generator "${IDGAN_INIT:?the generator the arms start from (round 7: the round-4 ONNX)}")
  echo "$(date -Is) train.py ${common[*]} ${extra[*]} ${init[*]}" >> "$out/train.log"
  nice -n 19 /usr/bin/python3 -u training/train.py "${common[@]}" "${extra[@]}" "${init[@]}" --out "$out" >> "$out/train.log" 2>&1
done
