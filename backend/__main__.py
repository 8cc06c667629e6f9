"""`python -m backend tokens …` and `python -m backend serve …` (see backend.cli)."""

from __future__ import annotations

import sys

from backend.cli import main

sys.exit(main())
