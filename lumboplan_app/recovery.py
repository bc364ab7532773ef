"""Autosave, recovery after a crash, and the recent cases, in the user's own folders.

While a case has unsaved changes the window writes it every minute to an autosave file
(:func:`write_autosave`, atomic: a crash mid-write leaves the previous autosave). A clean close,
or a save, removes it (:func:`discard_autosave`); an autosave still there when LumboPlan starts
is a case a crash interrupted, which the window offers to recover (:func:`pending_autosaves`).
Each autosave sits beside a small JSON note: when it was written, the case file it belongs to
(if it was ever saved) and the scan it references. Names are a hash of the case, never a
patient's name.

Folders come from platformdirs (the platform's usual places for an application's data and
settings); ``LUMBOPLAN_HOME`` replaces both with one folder (tests, portable installs).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from lumboplan_app.atomic import write_text_atomic
from lumboplan_app.errors import WriteError

if TYPE_CHECKING:
    from lumboplan_app.session import CaseFile

logger = logging.getLogger(__name__)

HOME_VARIABLE = "LUMBOPLAN_HOME"
RECENT_LIMIT = 10
#: Age after which a temporary file in the autosave folder is a crash's leftover (s).
ABANDONED_AFTER_S = 24 * 3600
_AUTOSAVE_FOLDER = "autosave"
_RECENT_FILE = "recent_cases.json"


def data_folder() -> Path:
    """Return the folder of LumboPlan's own data (autosaves)."""
    home = os.environ.get(HOME_VARIABLE)
    if home:
        return Path(home)
    import platformdirs

    return Path(platformdirs.user_data_dir("LumboPlan", appauthor=False))


def config_folder() -> Path:
    """Return the folder of LumboPlan's settings (the recent cases)."""
    home = os.environ.get(HOME_VARIABLE)
    if home:
        return Path(home)
    import platformdirs

    return Path(platformdirs.user_config_dir("LumboPlan", appauthor=False))


def autosave_key(identity: str) -> str:
    """Return a file-name-safe key for a case (a hash: no name or path shows in it)."""
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Autosave:
    """An autosave on disk: the case file, when it was written, and what it belongs to."""

    key: str
    path: Path
    saved: str
    case_path: str | None
    scan_reference: str | None

    @property
    def description(self) -> str:
        """A line for the recovery dialog: which case, and when it was autosaved (local time)."""
        when = datetime.fromisoformat(self.saved).astimezone().strftime("%Y-%m-%d %H:%M")
        name = Path(self.case_path).name if self.case_path else "an unsaved case"
        return f"{name}, autosaved {when}"


def _autosave_folder() -> Path:
    return data_folder() / _AUTOSAVE_FOLDER


def write_autosave(case: CaseFile, key: str, case_path: Path | None = None) -> Autosave:
    """Write ``case`` as the autosave of ``key`` (atomic) with its note; return it."""
    from lumboplan_app.session import write_case

    folder = _autosave_folder()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key}.lumboplan"
    write_case(case, path)
    saved = datetime.now(timezone.utc).isoformat(timespec="seconds")
    note = {
        "saved": saved,
        "case_path": None if case_path is None else str(case_path),
        "scan_reference": case.scan.get("reference"),
    }
    write_text_atomic(folder / f"{key}.json", json.dumps(note, indent=2))
    return Autosave(key, path, saved, note["case_path"], note["scan_reference"])


def pending_autosaves() -> list[Autosave]:
    """Return the autosaves on disk, newest first.

    An autosave whose note is missing or unreadable (a crash between writing the case and
    its note) is still offered, dated by its file and belonging to no case file: the work
    is in the case file itself. The hidden temporary files of writes still running, or cut
    off by a crash, are no autosaves: they are passed over without a warning.
    """
    folder = _autosave_folder()
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob("*.lumboplan"):
        if path.name.startswith("."):
            continue
        key = path.stem
        try:
            note = json.loads((folder / f"{key}.json").read_text(encoding="utf-8"))
            found.append(
                Autosave(key, path, str(note["saved"]), note["case_path"], note["scan_reference"])
            )
        except (OSError, ValueError, KeyError, TypeError):
            logger.warning("an autosave note could not be read; the autosave is offered without")
            try:
                written = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
            except OSError:
                continue  # removed meanwhile
            found.append(Autosave(key, path, written.isoformat(timespec="seconds"), None, None))
    return sorted(found, key=lambda autosave: autosave.saved, reverse=True)


def remove_abandoned_temporaries(older_than_s: float = ABANDONED_AFTER_S) -> int:
    """Delete the temporary files (and folders) crashed autosave writes left; return how many.

    Only those older than ``older_than_s``: a younger one may be a write another LumboPlan
    is making now. Each can be as large as a case.
    """
    folder = _autosave_folder()
    if not folder.is_dir():
        return 0
    removed = 0
    for path in folder.glob(".*"):  # only atomic writes make hidden files here
        try:
            if time.time() - path.stat().st_mtime > older_than_s:
                if path.is_dir():  # the label maps of a case file being written
                    shutil.rmtree(path)
                else:
                    path.unlink()
                removed += 1
        except OSError:
            logger.warning("a temporary autosave file could not be removed")
    return removed


def discard_autosave(key: str) -> None:
    """Remove the autosave of ``key`` and its note (nothing if there is none)."""
    folder = _autosave_folder()
    for name in (f"{key}.lumboplan", f"{key}.json"):
        (folder / name).unlink(missing_ok=True)


class RecentCases:
    """The cases opened or saved last, newest first, at most :data:`RECENT_LIMIT`.

    Kept as JSON in the settings folder; a file that cannot be read counts as an empty list.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or config_folder() / _RECENT_FILE

    def _read(self) -> list[str]:
        try:
            entries = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError):
            logger.warning("the list of recent cases could not be read; it starts empty")
            return []
        if not isinstance(entries, list):
            return []
        return [entry for entry in entries if isinstance(entry, str)]

    def paths(self) -> list[Path]:
        """Return the recent cases that still exist, newest first."""
        return [Path(entry) for entry in self._read() if Path(entry).is_file()]

    def add(self, path: Path) -> None:
        """Put ``path`` first (once), keep :data:`RECENT_LIMIT`, and write the list (atomic)."""
        entry = str(Path(path).resolve())
        entries = [entry, *(other for other in self._read() if other != entry)]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            write_text_atomic(self.path, json.dumps(entries[:RECENT_LIMIT], indent=2))
        except (OSError, WriteError):
            logger.warning("the list of recent cases could not be written")
