"""`python -m app [--local]`: the s3up desktop app."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Start the desktop app; returns its exit code. Arguments Qt knows (e.g. -platform) pass through."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--engine-process"]:  # started by the app itself (app.core.engine_launch.ENGINE_FLAG)
        from app.core.engine_launch import serve_descriptor

        serve_descriptor(int(args[1]))
        return 0
    parser = argparse.ArgumentParser(prog="python -m app", description="s3up: upload very large files to S3.")
    parser.add_argument(
        "--local",
        action="store_true",
        help="start a local test API beside the app (no AWS account needed) and sign in to it",
    )
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check that this build starts (offscreen), print a one-line report and exit (0: all good)",
    )
    options, qt_args = parser.parse_known_args(args)
    if options.self_test:
        from app.selftest import run_self_test

        return run_self_test()
    if options.local and getattr(sys, "frozen", False):
        print(
            "--local is a developer feature that the packaged app leaves out (it needs the local test "
            "API's packages): run `python -m app --local` from a source checkout.",
            file=sys.stderr,
        )
        return 2
    from app.gui.application import run  # after parsing, so --help needs no display

    return run([sys.argv[0], *qt_args], local=options.local)


if __name__ == "__main__":
    import multiprocessing

    multiprocessing.freeze_support()  # where the engine process is spawned by multiprocessing (Windows)
    raise SystemExit(main())
