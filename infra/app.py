#!/usr/bin/env python3
"""CDK entry point: ``npx cdk synth|deploy --context env=NAME ...`` runs this file (see cdk.json)."""

from __future__ import annotations

import sys
from pathlib import Path

from aws_cdk import App
from s3up_infra.config import ConfigError
from s3up_infra.stack import build

# The Lambda asset is the repository's backend/ package.
REPO_ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    """Synthesize the stack into cdk.out; a wrong context value ends with its message, not a trace."""
    app = App()
    try:
        build(app, REPO_ROOT)
    except ConfigError as exc:
        sys.exit(f"s3up infra: {exc}")
    app.synth()


if __name__ == "__main__":
    main()
