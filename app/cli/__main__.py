"""`python -m app.cli`: the same as the `s3up` command."""

from __future__ import annotations

import sys

from app.cli import main

sys.exit(main())
