"""The core's shape: no Qt, no import cycle, one error root, and a facade with only the callers' methods."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import app.core
from app.core.errors import UploadError
from app.core.manager import UploadManager
from app.core.states import (
    ACTIVE_STATES,
    RESUMABLE_STATES,
    STOPPED_STATES,
    TERMINAL_STATES,
    TRANSITIONS,
    Event,
    UploadState,
    next_state,
)

CORE = Path(app.core.__file__).parent


def test_core_and_cli_do_not_import_pyside6() -> None:
    code = (
        "import sys, pkgutil, importlib, app.core, app.cli\n"
        "for m in pkgutil.walk_packages(app.core.__path__, 'app.core.'): importlib.import_module(m.name)\n"
        "loaded = sorted(n for n in sys.modules if n.startswith(('PySide6', 'shiboken6')))\n"
        "print(','.join(loaded))\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr + result.stdout


def core_imports() -> dict[str, set[str]]:
    """Every app.core module and the app.core modules it imports anywhere (TYPE_CHECKING blocks and
    imports inside functions count)."""
    graph: dict[str, set[str]] = {}
    for path in CORE.glob("*.py"):
        name = f"app.core.{path.stem}" if path.stem != "__init__" else "app.core"
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("app.core"):
                if node.module == "app.core":
                    imported.update(f"app.core.{alias.name}" for alias in node.names)
                else:
                    imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names if alias.name.startswith("app.core."))
        graph[name] = imported - {name}
    return graph


def test_the_core_has_no_import_cycle() -> None:
    graph = core_imports()
    assert "app.core.worker" in graph
    assert "app.core.dispatcher" in graph["app.core.manager"]
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(module) :], module]))
        if module in done:
            return
        for imported in sorted(graph.get(module, ())):
            visit(imported, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])


def test_workers_know_the_engine_only_through_the_host_interface() -> None:
    graph = core_imports()
    for module in ("app.core.worker", "app.core.steps", "app.core.jobs", "app.core.scheduler"):
        assert not graph[module] & {"app.core.core", "app.core.dispatcher", "app.core.manager"}, module


def test_every_error_the_core_raises_derives_from_upload_error() -> None:
    internal = {"PartStopped"}  # control flow between a send and its worker; never leaves the core
    found = []
    for info in pkgutil.iter_modules(app.core.__path__, "app.core."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == info.name:
                found.append(name)
                if name not in internal:
                    assert issubclass(value, UploadError), f"{info.name}.{name} is not an UploadError"
    assert {"JournalError", "BusyElsewhereError", "KeyringUnavailableError", "MetadataError"} <= set(found)
    assert {"KeyTemplateError", "SettingsError", "UrlExpiredError"} <= set(found)


def test_the_facade_offers_only_what_the_cli_and_the_app_call() -> None:
    public = {name for name, _ in inspect.getmembers(UploadManager) if not name.startswith("_")}
    assert public == {
        "add_many",
        "restore",
        "history",
        "statuses",
        "status",
        "pause",
        "resume",
        "cancel",
        "execute",
        "resolve_conflict",
        "remote_uploads",
        "adopt_remote",
        "abort_remote",
        "pause_all",
        "resume_all",
        "credentials_changed",
        "update_settings",
        "subscribe",
        "wait",
        "shutdown",
    }


def test_the_cli_and_the_app_call_every_method_of_the_facade() -> None:
    """Every public method is called on a manager (`manager.name(...)`) by the CLI, the app, or the one
    start-up wiring they share (`engine`, `engine_host`)."""
    app_folder = Path(app.core.__file__).parents[1]
    wiring = {app_folder / "core" / "engine.py", app_folder / "core" / "engine_host.py"}
    called: set[str] = set()
    for path in app_folder.rglob("*.py"):
        if app_folder / "core" in path.parents and path not in wiring:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                receiver = node.func.value
                name = receiver.id if isinstance(receiver, ast.Name) else getattr(receiver, "attr", "")
                if name.endswith("manager"):
                    called.add(node.func.attr)
    public = {name for name, _ in inspect.getmembers(UploadManager) if not name.startswith("_")}
    assert public - called == set()
    assert "add" not in called, "one file is added as a folder is (add_many)"


def test_the_state_sets_cover_every_state_once() -> None:
    sets = (ACTIVE_STATES, TERMINAL_STATES, STOPPED_STATES)
    assert sum(len(s) for s in sets) == len(UploadState)
    assert RESUMABLE_STATES < STOPPED_STATES
    assert all(state.is_active == (state in ACTIVE_STATES) for state in UploadState)


def test_the_transition_table_refuses_what_would_undo_the_users_choice() -> None:
    assert next_state(UploadState.PAUSED, Event.FAIL) is None, "a late failure must not unpause"
    assert next_state(UploadState.PAUSED, Event.SEND) is None
    assert next_state(UploadState.DONE, Event.CANCEL) is None
    assert next_state(UploadState.CANCELLED, Event.QUEUE) is None
    assert next_state(UploadState.CONFLICT, Event.QUEUE) is UploadState.QUEUED
    assert next_state(UploadState.FINALIZING, Event.FINISH) is UploadState.DONE
    for event, (sources, target) in TRANSITIONS.items():
        assert not sources & TERMINAL_STATES, f"{event} leaves a terminal state"
        assert target not in sources or event in (Event.FILE_CHANGED, Event.FILE_MISSING), event
