"""The `s3up` command line's grammar: commands, options, their ranges and their help.

Every number has a range; a value outside it (or not a number) is refused with one sentence that names
the option, before anything else happens (exit 2). Imports nothing heavy, so `--help` and `--version`
answer at once.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from app import __version__
from app.core.settings import MAX_CONNECTIONS, MAX_PART_SIZE_MIB, MIN_PART_SIZE_MIB, setting_problem

TOKEN_ENV = "S3UP_TOKEN"
EXIT_USAGE = 2
MAX_BANDWIDTH_MIB = 100_000.0
MIN_BANDWIDTH_MIB = 0.01
MAX_RECENT = 1000
MAX_UPLOAD_NUMBER = 2**63 - 1  # SQLite's largest row id

TOKEN_HELP = f"""\
the token: --token-file PATH reads it from a file (- reads standard input, without echo on a terminal);
else ${TOKEN_ENV}; else the one `s3up login` stored in the OS keyring. --token TOKEN is for scripts
only: other users of this computer can see it in the process list (ps), and your shell keeps it in its
history. Surrounding spaces and line breaks are ignored."""

METADATA_HELP = """\
metadata: --metadata is the JSON object sent as pluginPayload with every file (or @file.json). The
existing deployment (an API without the /session route) needs "organizationId" and "objectRecordId" in
it, and s3up will not start there without them; this project's API takes any fields. "imageKey" is
each file's key: s3up sets it.

keys: a file given alone is keyed by its name, a file in a folder by its path from the folder's parent
(album/sub/b.jpg), under --key-prefix. Desktop junk inside folders is skipped (.DS_Store, ._* files,
Thumbs.db, desktop.ini, .Trashes and the like); symbolic links are followed."""

EXIT_HELP = """\
exit status: 0 every file finished; 1 some did not (a line for each says why and what to do); 2 nothing
was started (bad option, metadata, path, API or token); 130 Ctrl-C (what was started is paused, and
`s3up resume --all` continues it)."""


REMOTE_HELP = """\
uploads on the server (this project's API only; the existing deployment cannot list them):
`s3up list --remote` shows the unfinished uploads the server holds for you, from any computer, with
each one's FILE ID (a unique start of it is enough). `s3up resume --remote FILE_ID --file PATH` goes on
with a local file, taken only when every part already sent has its bytes; `s3up abort --remote FILE_ID`
deletes the parts the server holds."""

ABORT_HELP = """\
On the existing deployment (no /abortUpload route) the upload is cancelled on this computer only: the
parts already sent stay in the bucket until the bucket's clean-up rule for unfinished uploads removes
them."""


class Parser(argparse.ArgumentParser):
    """Says what is wrong in one sentence and where the help is, instead of printing the usage; takes a
    value that starts with a dash (a file id, a key, a file name) after an option that needs one."""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        words = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(self._dashed_values_attached(words), namespace)

    def _dashed_values_attached(self, words: list[str]) -> list[str]:
        """`--remote -x7Q…` as `--remote=-x7Q…`: argparse reads any word that starts with a dash as an
        option, and would answer "expected one argument" (an S3 upload id may start with one)."""
        attached: list[str] = []
        index = 0
        while index < len(words):
            word, following = words[index], words[index + 1] if index + 1 < len(words) else None
            action: Any = self._option_string_actions.get(word)
            if (
                action is not None
                and action.nargs is None  # takes exactly one value
                and following is not None
                and following.startswith("-")
                and following != "--"
                and following not in self._option_string_actions
            ):
                attached.append(f"{word}={following}")
                index += 2
            else:
                attached.append(word)
                index += 1
        return attached

    def error(self, message: str) -> NoReturn:
        message = re.sub(r"^argument [^:]+: (?=--|The )", "", message)  # our sentences name the option
        message = re.sub(  # argparse's words for two options of one group
            r"^argument (\S+): not allowed with argument (\S+)$",
            lambda names: f"{_named(names[1])} and {_named(names[2])} cannot be used together",
            message,
        )
        message = re.sub(
            r"^one of the arguments (.+) is required$",
            lambda names: f"Give {_either([_named(name) for name in names[1].split()])}",
            message,
        )
        message = message[:1].upper() + message[1:]
        ending = "" if message.endswith(".") else "."
        self.exit(EXIT_USAGE, f"s3up: {message}{ending} `{self.prog} --help` lists the options.\n")


def _named(argument: str) -> str:
    """An argument as a sentence names it ("id" is the upload number)."""
    return "an upload number" if argument == "id" else argument


def _either(choices: list[str]) -> str:
    """ "a, b or c"."""
    return ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else choices[0]


def whole_number(name: str, low: int, high: int, unit: str = "", note: str = "") -> Callable[[str], int]:
    """An argparse type: an integer from `low` to `high`, else a sentence naming the option."""
    span = (f"from {low} to {high}" if high < MAX_UPLOAD_NUMBER else f"from {low} up") + note

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{name} must be a whole number{unit} {span} (it is {text!r}).")
        return value

    return parse


def bandwidth(text: str) -> float:
    """An argparse type: 0 (no limit) or MiB/s within the range."""
    try:
        value = float(text.strip())
    except ValueError:
        value = math.nan
    if value == 0 or (math.isfinite(value) and MIN_BANDWIDTH_MIB <= value <= MAX_BANDWIDTH_MIB):
        return value
    raise argparse.ArgumentTypeError(
        f"--bandwidth-limit must be 0 (no limit) or a number of MiB/s from {MIN_BANDWIDTH_MIB} to "
        f"{MAX_BANDWIDTH_MIB:,.0f} (it is {text!r})."
    )


def cdn_base_url(text: str) -> str:
    """An argparse type: a link base as the settings take it (a URL with its scheme)."""
    value = text.strip().rstrip("/")
    if problem := setting_problem("cdn_base_url", value):
        raise argparse.ArgumentTypeError(f"--cdn-base-url: {problem}")
    return value


upload_number = whole_number("The upload number", 1, MAX_UPLOAD_NUMBER, note=", as `s3up list` shows them")


def build_parser() -> Parser:
    parser = Parser(
        prog="s3up",
        description="Upload large files to S3 through the upload API, resume them, list and abort them.",
        epilog=EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"s3up {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND", parser_class=Parser)

    upload = _command(commands, "upload", "upload files and folders", f"{METADATA_HELP}\n\n{TOKEN_HELP}")
    upload.add_argument("paths", nargs="+", type=Path, metavar="FILE|DIR", help="files and folders to upload")
    _api_option(upload)
    _token_options(upload)
    upload.add_argument(
        "--metadata",
        metavar="JSON|@FILE",
        help='the pluginPayload object, e.g. \'{"organizationId": "org-7", "objectRecordId": "rec-42"}\'',
    )
    naming = upload.add_mutually_exclusive_group()
    naming.add_argument("--key", help="the object key (one file only)")
    naming.add_argument(
        "--key-prefix", default="", metavar="PREFIX", help="put the keys under this prefix (a folder)"
    )
    upload.add_argument(
        "--cdn-base-url",
        metavar="URL",
        type=cdn_base_url,
        help="base URL of the links, for APIs that do not return them (remembered with the API)",
    )
    upload.add_argument(
        "--content-type", metavar="TYPE", help="Content-Type of the objects (default: from the extension)"
    )
    upload.add_argument("--overwrite", action="store_true", help="replace an existing object at the key")
    _transfer_options(upload)

    resume = _command(commands, "resume", "continue unfinished uploads", f"{REMOTE_HELP}\n\n{TOKEN_HELP}")
    which = resume.add_mutually_exclusive_group(required=True)
    which.add_argument("id", nargs="?", type=upload_number, help="the upload's number (see `s3up list`)")
    which.add_argument("--all", action="store_true", help="every unfinished upload of this computer")
    which.add_argument(
        "--remote",
        metavar="FILE_ID",
        help="an unfinished upload on the server, started on any computer (see `s3up list --remote`)",
    )
    resume.add_argument(
        "--file",
        type=Path,
        metavar="PATH",
        help="with --remote: the local file to send the rest of (default: the one this computer "
        "started it with); taken only when every part already sent has its bytes",
    )
    _api_option(resume, "with --remote: ")
    _token_options(resume)
    resume.add_argument(
        "--overwrite",
        action="store_true",
        help="for an upload refused because its key exists: replace that object",
    )
    resume.add_argument(
        "--key", metavar="NEWKEY", help="for an upload refused because its key exists: use this key instead"
    )
    _transfer_options(resume)

    listing = _command(
        commands,
        "list",
        "unfinished and recent uploads (--remote: yours on the server, from any computer)",
        f"{REMOTE_HELP}\n\n{TOKEN_HELP}",
    )
    listing.add_argument(
        "--remote",
        action="store_true",
        help="the unfinished uploads the server holds for you, started on any computer (this project's "
        "API only): when each started, its size, what S3 holds of it, until when its parts are kept, and "
        "its number here when this computer started it",
    )
    listing.add_argument("--json", action="store_true", help="one JSON object per upload")
    listing.add_argument(
        "--recent",
        type=whole_number("--recent", 0, MAX_RECENT),
        metavar="N",
        help=f"how many finished uploads to show (0 to {MAX_RECENT}, default 20)",
    )
    _api_option(listing, "with --remote: ")
    _token_options(listing)

    abort = _command(
        commands,
        "abort",
        "cancel an unfinished upload and delete its parts",
        f"{ABORT_HELP}\n\n{REMOTE_HELP}\n\n{TOKEN_HELP}",
    )
    which = abort.add_mutually_exclusive_group(required=True)
    which.add_argument("id", nargs="?", type=upload_number, help="the upload's number (see `s3up list`)")
    which.add_argument(
        "--remote",
        metavar="FILE_ID",
        help="an unfinished upload on the server, started on any computer (see `s3up list --remote`)",
    )
    _api_option(abort, "with --remote: ")
    _token_options(abort)

    login = _command(
        commands,
        "login",
        "check a token and store it in the OS keyring",
        "Without --token-file or --token, the token is asked for (without echo) on a terminal, else read\n"
        "from standard input. Without a keyring, give the token to each command instead:\n"
        f"--token-file PATH or ${TOKEN_ENV}.",
    )
    login.add_argument("--api", metavar="URL", required=True, help="the API's base URL, e.g. https://…/prod")
    _token_options(login)

    logout = _command(commands, "logout", "delete the stored token")
    logout.add_argument("--api", metavar="URL", help="the API's base URL (default: the last one used)")
    return parser


def _command(
    commands: argparse._SubParsersAction[Parser], name: str, summary: str, epilog: str | None = None
) -> Parser:
    command: Parser = commands.add_parser(
        name,
        help=summary,
        description=summary[:1].upper() + summary[1:] + ".",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.set_defaults(command=name)
    return command


def _api_option(parser: argparse.ArgumentParser, when: str = "") -> None:
    parser.add_argument(
        "--api",
        metavar="URL",
        help=f"{when}the API's base URL, e.g. https://…/prod (default: the last one used)",
    )


def _token_options(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--token-file",
        metavar="PATH",
        help="read the token from this file (- for standard input); see below",
    )
    source.add_argument("--token", help="the token itself (scripts only: visible in ps; see below)")


def _transfer_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--concurrency",
        type=whole_number("--concurrency", 1, MAX_CONNECTIONS),
        metavar="N",
        help=f"requests in flight at once (1 to {MAX_CONNECTIONS}; default: automatic, from 2 to "
        f"{MAX_CONNECTIONS}, following what the network gives)",
    )
    parser.add_argument(
        "--part-size",
        type=whole_number("--part-size", MIN_PART_SIZE_MIB, MAX_PART_SIZE_MIB, " of MiB"),
        metavar="MiB",
        help=f"part size in MiB ({MIN_PART_SIZE_MIB} to {MAX_PART_SIZE_MIB}; default: automatic, "
        "from 16 MiB)",
    )
    parser.add_argument(
        "--bandwidth-limit",
        type=bandwidth,
        metavar="MiB/s",
        help="cap on the upload speed in MiB/s (0 or absent: no limit)",
    )
    parser.add_argument("--accelerate", action="store_true", help="use S3 Transfer Acceleration URLs")
    parser.add_argument("--json", action="store_true", help="one JSON object per file on stdout")
