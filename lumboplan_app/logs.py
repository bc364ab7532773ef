"""Where messages go: everything to LumboPlan's log file, stderr only what the user asked for.

The window and the command line call :func:`configure_logging` once at start. Records of every
logger (LumboPlan's, pydicom's, Pillow's, ...), Python warnings, and the native messages of ITK
(through SimpleITK's logger adaptor) and VTK (its output window) go to the log file; stderr
gets log records only with ``-v`` (``-vv``: with tracebacks), so a command's own output there
stays one actionable line. ITK and VTK are routed when they are first imported, so configuring
costs neither import. ``vtkLogger``'s own messages are dropped (see :func:`_route_vtk`).

Paths outside the installed code and quoted values are blanked in every record, as third-party
messages quote a header's values and name the files read (no patient identifier in a log).
A log that cannot be written (read-only home, full disk) is given up silently. What native
libraries print straight on the process's stderr (NIfTI's "** ERROR: NWAD", MetaIO's messages)
bypasses all of this: calls into them run inside :func:`native_stderr_to_log`.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import logging.handlers
import os
import re
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from lumboplan_app.text import shown_text

#: ``LUMBOPLAN_HOME`` (tests, portable installs; as in :mod:`lumboplan_app.recovery`) holds
#: the logs in its ``logs`` folder.
HOME_VARIABLE = "LUMBOPLAN_HOME"
LOG_FILE = "lumboplan.log"
_LOG_BYTES = 2_000_000
_LOG_BACKUPS = 3
_FILE_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
_CONSOLE_FORMAT = "%(levelname)s %(name)s: %(message)s"

_CODE_SUFFIXES = (".py", ".pyx", ".c", ".cc", ".cpp", ".cxx", ".h", ".hxx", ".txx")
#: A path: a root, folders (which may hold spaces), a last name (which may not).
_PATH = re.compile(
    r"""(?<![\w.])(?:[A-Za-z]:)?[\\/](?:[^\\/\n'"<>|*?,;()]+[\\/])*[^\s\\/'"<>|,;()\[\]{}]+"""
)
_QUOTED = re.compile(r"""b?'[^'\n]*'|b?"[^"\n]*\"""")
#: The objects that carry native messages into logging, kept alive while the process runs.
_native_routes: list[Any] = []
#: The modules whose native messages are routed (or will be, once imported): once a process.
_routed: set[str] = set()
#: Most bytes of native stderr output logged per redirect.
_NATIVE_BYTES = 64 * 1024
_native_lock = threading.Lock()
#: How many threads are inside :func:`native_stderr_to_log`; the file stderr points to meanwhile
#: and the descriptor of the real stderr.
_native_state: dict[str, Any] = {"depth": 0, "capture": None, "saved": -1}


def log_folder() -> Path:
    """Return the folder of LumboPlan's log files (the platform's usual place for logs)."""
    home = os.environ.get(HOME_VARIABLE)
    if home:
        return Path(home) / "logs"
    import platformdirs

    return Path(platformdirs.user_log_dir("LumboPlan", appauthor=False))


def configure_logging(verbosity: int = 0) -> Path | None:
    """Route every message to the log file, and to stderr from ``verbosity`` 1 (2: debug).

    May be called again (tests call the command line many times): LumboPlan's handlers are
    replaced, other handlers kept. Returns the log file, or None when it cannot be written.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, (_LogFile, _Console, _Nowhere)):
            root.removeHandler(handler)
            handler.close()
    level = logging.DEBUG if verbosity >= 2 else logging.INFO
    root.setLevel(level)
    path = _open_log_file()
    if path is not None:
        file_handler = _LogFile(path)
        file_handler.setFormatter(_PrivateFormatter(_FILE_FORMAT, tracebacks=True))
        root.addHandler(file_handler)
    if verbosity > 0:
        console = _Console(sys.stderr)
        console.setFormatter(_PrivateFormatter(_CONSOLE_FORMAT, tracebacks=verbosity >= 2))
        root.addHandler(console)
    # Without any handler, logging would print warnings on stderr itself ("last resort").
    root.addHandler(_Nowhere())
    logging.captureWarnings(True)
    _after_import("SimpleITK", _route_itk)
    _after_import("vtkmodules", _route_vtk)
    return path


def scrub(text: str) -> str:
    """Return ``text`` with quoted values and paths outside the installed code blanked."""
    text = _QUOTED.sub(_blank_quoted, text)
    return _PATH.sub(lambda match: _code_path(match.group()), text)


def _blank_quoted(match: re.Match[str]) -> str:
    quote = match.group()[-1]
    return f"{quote}<hidden>{quote}"


def _code_path(path: str) -> str:
    """Return a path to installed code, shortened; any other path as ``<path>``.

    A path with a space is never code: in a message it may run on into the next path.
    """
    unix = path.replace("\\", "/")
    package = Path(__file__).resolve().parent.as_posix() + "/"
    if " " in unix:
        return "<path>"
    if "/site-packages/" in unix:
        return unix.split("/site-packages/", 1)[1]
    if unix.startswith(package):
        return "lumboplan_app/" + unix[len(package) :]
    if unix.lower().endswith(_CODE_SUFFIXES):
        return unix.rsplit("/", 1)[-1]
    return "<path>"


def _traceback_text(error: BaseException) -> str:
    """Return a compact traceback: code locations, then each exception's type and message."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    lines: list[str] = []
    for exception in reversed(chain):
        lines.extend(
            f"  at {_code_path(frame.filename)}:{frame.lineno} in {frame.name}"
            for frame in traceback.extract_tb(exception.__traceback__)
        )
        lines.append(f"  {type(exception).__name__}: {scrub(str(exception))}")
    return "\n".join(lines)


class _PrivateFormatter(logging.Formatter):
    """Format a record scrubbed of values and paths; its traceback compact, or left out."""

    def __init__(self, fmt: str, tracebacks: bool) -> None:
        super().__init__(fmt)
        self._tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        text = shown_text(scrub(self.formatMessage(record)).rstrip(), None)
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and self._tracebacks:
            text += "\n" + _traceback_text(error)
        elif error is not None:
            text += f" ({type(error).__name__})"
        return text


class _LogFile(logging.handlers.RotatingFileHandler):
    """LumboPlan's log file, rotated; a failed write is dropped instead of printed on stderr."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            path, maxBytes=_LOG_BYTES, backupCount=_LOG_BACKUPS, encoding="utf-8", delay=True
        )

    def handleError(self, record: logging.LogRecord) -> None:
        """Drop the record: a full disk must not put a traceback on stderr."""


class _Console(logging.StreamHandler):
    """Log records on stderr, asked for with ``-v``."""

    def handleError(self, record: logging.LogRecord) -> None:
        """Drop the record (a closed pipe, an encoding the terminal lacks)."""


class _Nowhere(logging.NullHandler):
    """Keeps logging from printing on stderr when no other handler is there."""


def _open_log_file() -> Path | None:
    """Return the log file's path once its folder exists (private to the user), or None."""
    folder = log_folder()
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = folder / LOG_FILE
        with path.open("a", encoding="utf-8"):
            pass
    except OSError:
        return None
    return path


@contextmanager
def native_stderr_to_log(name: str = "itk") -> Iterator[None]:
    """Send what native code writes on file descriptor 2 meanwhile to the ``name`` logger.

    The descriptor is pointed at a temporary file for the block (threads inside at the same
    time share one), then restored; each non-blank line becomes a warning record. Where the
    redirect cannot be made, the block runs as is.
    """
    redirected = _redirect_native_stderr()
    try:
        yield
    finally:
        if redirected:
            _restore_native_stderr(logging.getLogger(name))


def _redirect_native_stderr() -> bool:
    """Point descriptor 2 at a temporary file, unless another thread already did."""
    with _native_lock:
        if _native_state["depth"] == 0:
            try:
                sys.stderr.flush()
                capture = tempfile.TemporaryFile()  # noqa: SIM115 (closed on restore)
            except (OSError, ValueError):
                return False  # no temporary folder, or a closed sys.stderr
            try:
                saved = os.dup(2)
            except OSError:
                capture.close()
                return False  # no descriptor 2 (a windowed app)
            os.dup2(capture.fileno(), 2)
            _native_state.update(capture=capture, saved=saved)
        _native_state["depth"] += 1
        return True


def _restore_native_stderr(native_logger: logging.Logger) -> None:
    """Restore descriptor 2 once the last thread leaves; log what was written meanwhile."""
    with _native_lock:
        _native_state["depth"] -= 1
        if _native_state["depth"] > 0:
            return
        os.dup2(_native_state["saved"], 2)
        os.close(_native_state["saved"])
        capture = _native_state["capture"]
        capture.seek(0)
        text = capture.read(_NATIVE_BYTES).decode("utf-8", "replace")
        capture.close()
    for line in text.splitlines():
        if line.strip():
            native_logger.warning("%s", line.strip())


def _after_import(name: str, hook: Callable[[ModuleType], None]) -> None:
    """Call ``hook(module)`` once module ``name`` is imported: now, or right after its import.

    Once a process: a second call for the same module does nothing.
    """
    if name in _routed:
        return
    _routed.add(name)
    module = sys.modules.get(name)
    if module is not None:
        hook(module)
        return
    for finder in sys.meta_path:
        if isinstance(finder, _AfterImport):
            finder.hooks[name] = hook
            return
    sys.meta_path.insert(0, _AfterImport({name: hook}))


class _AfterImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the loader of a watched module to call a hook once it ran."""

    def __init__(self, hooks: dict[str, Callable[[ModuleType], None]]) -> None:
        self.hooks = hooks

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        """Return the watched module's spec with its loader wrapped; None for any other."""
        hook = self.hooks.pop(fullname, None)
        if hook is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _ThenHook(spec.loader, hook)
        return spec


class _ThenHook(importlib.abc.Loader):
    """A module's own loader, then a hook; the module keeps its own loader."""

    def __init__(self, loader: Any, hook: Callable[[ModuleType], None]) -> None:
        self._loader = loader
        self._hook = hook

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        """Create the module as its own loader does."""
        module: ModuleType | None = self._loader.create_module(spec)
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Run the module, then the hook."""
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        self._hook(module)


def _one_line(message: str) -> str:
    return " ".join(message.split())


def _route_itk(sitk: ModuleType) -> None:
    """Send ITK's messages (stderr by default) to the ``itk`` logger."""
    itk_logger = logging.getLogger("itk")

    class ItkToLogging(sitk.LoggerBase):  # type: ignore[name-defined]
        """SimpleITK's logger adaptor: ITK calls these methods with each message."""

        def DisplayText(self, message: str) -> None:
            itk_logger.info("%s", _one_line(message))

        def DisplayErrorText(self, message: str, *context: object) -> None:
            itk_logger.error("%s", _one_line(message))

        def DisplayWarningText(self, message: str, *context: object) -> None:
            itk_logger.warning("%s", _one_line(message))

        def DisplayGenericOutputText(self, message: str, *context: object) -> None:
            itk_logger.info("%s", _one_line(message))

        def DisplayDebugText(self, message: str, *context: object) -> None:
            itk_logger.debug("%s", _one_line(message))

    adaptor = ItkToLogging()
    adaptor.SetAsGlobalITKLogger()
    _native_routes.append(adaptor)


def _route_vtk(package: ModuleType) -> None:
    """Send VTK's output window to the ``vtk`` logger; silence ``vtkLogger`` on stderr."""
    # Not a hook on vtkCommonCore itself: the package puts its own importer ahead of ours.
    from vtkmodules import vtkCommonCore as core
    from vtkmodules.util.misc import calldata_type

    vtk_logger = logging.getLogger("vtk")

    def relay(level: int) -> Callable[[Any, str, str], None]:
        @calldata_type(core.VTK_STRING)
        def observe(source: Any, event: str, text: str) -> None:
            vtk_logger.log(level, "%s", _one_line(text))

        return observe

    window = core.vtkOutputWindow.GetInstance()
    window.SetDisplayModeToNever()
    for event, level in (("ErrorEvent", logging.ERROR), ("WarningEvent", logging.WARNING)):
        observer = relay(level)
        window.AddObserver(getattr(core.vtkCommand, event), observer)
        _native_routes.append(observer)
    # vtkLogger has no Python hook and its file could not be scrubbed: what VTK sends through
    # it alone (e.g. "bad X server connection" off a display, harmless) is dropped.
    core.vtkLogger.SetStderrVerbosity(core.vtkLogger.VERBOSITY_OFF)
