"""`python -m app [--local]`: the s3up desktop app."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Start the desktop app; returns its exit code. Arguments Qt knows (e.g. -platform) pass through."""
    args = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m app", description="s3up: upload very large files to S3.")
    parser.add_argument(
        "--local",
        action="store_true",
        help="start a local test API in this process (no AWS account needed) and sign in to it",
    )
    options, qt_args = parser.parse_known_args(args)
    from app.gui.application import run  # after parsing, so --help needs no display

    return run([sys.argv[0], *qt_args], local=options.local)


if __name__ == "__main__":
    raise SystemExit(main())
