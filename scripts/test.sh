#!/usr/bin/env bash
# `npm test`: the TypeScript suites (vitest), then the training suites (pytest on Debian's python3).
set -u
cd "$(dirname "$0")/.."
mkdir -p var
rm -f var/pytest-results.xml

npx vitest run
vitest_status=$?

PY=/usr/bin/python3
if [ -x "$PY" ] && "$PY" -c 'import torch, numpy, cv2, skimage, PIL, pytest' 2>/dev/null; then
  "$PY" -m pytest training/tests -q --junitxml=var/pytest-results.xml
  pytest_status=$?
  [ "$pytest_status" -eq 5 ] && pytest_status=0 # no test collected is not a failure of the code
else
  echo "training tests skipped: $PY lacks torch, numpy, opencv, scikit-image, pillow or pytest" \
       "(apt-get install python3-torch python3-numpy python3-opencv python3-skimage python3-pil python3-pytest)"
  pytest_status=0
fi

[ "$vitest_status" -eq 0 ] && [ "$pytest_status" -eq 0 ]
