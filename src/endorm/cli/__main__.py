"""``python -m endorm.cli ...`` (as ``accelerate launch -m endorm.cli`` and ``torchrun -m`` need)."""
import sys

from endorm.cli import main

sys.exit(main())
