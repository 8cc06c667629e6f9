"""The one start-up wiring of the core: the journal, the upload locks beside it, and the manager.

The CLI, the desktop app, the self-test and the screenshots tool all build the engine with
`open_engine(...)` and close it with `Engine.close()` (or a `with` block), so that each of them opens
the same journal the same way and always shuts the threads down before the journal closes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from app.core.core import TokenSource
from app.core.journal import Journal
from app.core.manager import UploadManager
from app.core.models import TransferSettings
from app.core.retry import RetryPolicy


@dataclass
class Engine:
    """An open journal and the manager running on it. Close it once (a second close does nothing)."""

    journal: Journal
    manager: UploadManager

    def close(self, timeout: float = 5.0) -> None:
        """Stop the manager's threads (running uploads stay resumable), then close the journal."""
        try:
            self.manager.shutdown(timeout)
        finally:
            self.journal.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def open_engine(
    token_source: TokenSource,
    settings: TransferSettings | None = None,
    *,
    journal_path: Path | None = None,
    retry_policy: RetryPolicy | None = None,
) -> Engine:
    """Open the journal (the user's default one unless `journal_path` is given) and start a manager on it.

    `token_source(api_url)` returns the token for an API, or None when there is none (it is called on
    engine threads, each time a request needs it). Raises JournalError, with a sentence for the user,
    when the journal cannot be opened; nothing is left open then.
    """
    journal = Journal(journal_path) if journal_path is not None else Journal.open_default()
    try:
        manager = UploadManager(journal, token_source, settings, retry_policy=retry_policy)
    except BaseException:
        journal.close()
        raise
    return Engine(journal, manager)
