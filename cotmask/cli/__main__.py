"""``python -m cotmask.cli ...`` (what ``accelerate launch -m cotmask.cli train`` runs)."""

import sys

from cotmask.cli import main

sys.exit(main())
