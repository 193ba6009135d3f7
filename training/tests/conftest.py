"""pytest set-up: `idgan` importable from training/, and torch kept to the two cores the machine shares."""
import sys
from pathlib import Path

import torch

TRAINING_DIR = Path(__file__).resolve().parents[1]
if str(TRAINING_DIR) not in sys.path:
    sys.path.insert(0, str(TRAINING_DIR))

torch.set_num_threads(2)
