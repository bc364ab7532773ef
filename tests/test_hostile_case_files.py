"""Hostile and damaged case files: a typed one-line error, quickly, within a memory bound.

Each probe is generated here from a good case file: entries of the wrong kind, invalid UTF-8,
deep nesting, missing entries, ZIP and gzip bombs, escape codes in the schema, a case file that
is a pipe or a device, and a scan reference that points at one. The command-line probes run
``lumboplan report`` in a child process under a timeout and an address-space limit, so a
regression fails the test instead of taking the machine down.
"""

from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess
import sys
import textwrap
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lumboplan_app.errors import DamagedCaseError, LoadError
from lumboplan_app.session import CaseFile, read_case, write_case
from lumboplan_app.text import shown_text
from lumboplan_app.volume import Grid, LabelMap
from tests.conftest import not_assessable_plan

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipes and limits")

PROBE_SECONDS = 30
PROBE_ADDRESS_SPACE = 3 * 1024**3
SHAPE = (16, 20, 24)


def good_case(path: Path, reference: str | None = None) -> Path:
    """Write a small, valid case (a block of labels, both foramina not assessable)."""
    array = np.zeros(SHAPE, np.uint8)
    array[4:-4, 5:-5, 6:-6] = 3
    plan = not_assessable_plan()
    summary = {"modality": "MR", "size_xyz": list(SHAPE[::-1]), "spacing_xyz_mm": [1, 1, 1]}
    case = CaseFile(
        labels=LabelMap(array, Grid(SHAPE, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))),
        plan=plan,
        scan={"reference": reference, "summary": summary},
        channels={"left": None, "right": None},
    )
    write_case(case, path)
    return path


def altered(source: Path, target: Path, entries: dict[str, bytes | None]) -> Path:
    """Copy a case file, replacing entries by name; None removes one."""
    changes = dict(entries)
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            data = changes.pop(info.filename, old.read(info.filename))
            if data is not None:
                new.writestr(info.filename, data, zipfile.ZIP_DEFLATED)
        for name, data in changes.items():
            if data is not None:
                new.writestr(name, data, zipfile.ZIP_DEFLATED)
    return target


def edited_json(source: Path, entry: str, edit: Callable[[Any], Any]) -> bytes:
    with zipfile.ZipFile(source) as archive:
        return json.dumps(edit(json.loads(archive.read(entry)))).encode()


def setting(key: str, value: Any) -> Callable[[Any], Any]:
    """An edit of case.json: set a dotted ``key`` to ``value``."""

    def edit(document: Any) -> Any:
        *path, last = key.split(".")
        target = document
        for part in path:
            target = target[part]
        target[last] = value
        return document

    return edit


def run_report(case: Path, output: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run ``lumboplan report`` in a child bounded in time and address space."""
    script = textwrap.dedent(
        f"""
        import resource, sys
        limit = {PROBE_ADDRESS_SPACE}
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        from lumboplan_app.cli import main
        sys.exit(main(["report", {str(case)!r}, "-o", {str(output)!r}]))
        """
    )
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=PROBE_SECONDS,
        check=False,
    )
    return result, time.monotonic() - start


def assert_refused(case: Path, tmp_path: Path, words: str) -> str:
    """``report`` refuses ``case``: exit 1, one error line with ``words``, no report written."""
    output = tmp_path / "report.pdf"
    result, seconds = run_report(case, output)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "internal error" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("lumboplan:")]
    assert len(lines) == 1, result.stderr
    assert words in lines[0], lines[0]
    assert "\x1b" not in result.stderr
    assert not output.exists()
    assert seconds < PROBE_SECONDS
    return lines[0]


@pytest.fixture
def good(tmp_path: Path) -> Path:
    return good_case(tmp_path / "good.lumboplan")


def nifti_gz_header(shape_xyz: tuple[int, ...], trailing: bytes = b"") -> bytes:
    """A gzip'ed NIfTI-1 header of uint8 voxels declaring ``shape_xyz``, then ``trailing``."""
    header = bytearray(352)
    struct.pack_into("<i", header, 0, 348)
    struct.pack_into("<8h", header, 40, len(shape_xyz), *shape_xyz, *[1] * (7 - len(shape_xyz)))
    struct.pack_into("<hh", header, 70, 2, 8)  # uint8
    struct.pack_into("<f", header, 108, 352.0)
    header[344:348] = b"n+1\0"
    return gzip.compress(bytes(header) + trailing, compresslevel=9)


# -- malformed JSON: a typed error naming the file and what is wrong ----------------------------

MALFORMED: dict[str, tuple[dict[str, bytes | None], str]] = {
    "case.json a list": ({"case.json": b"[]"}, "its case.json is a list, not an object"),
    "case.json a string": ({"case.json": b'"case"'}, "its case.json is text, not an object"),
    "invalid UTF-8": ({"case.json": b'{"schema": "\xff\xfe"}'}, "case.json is not UTF-8 text"),
    "deeply nested": ({"case.json": b"[" * 200_000}, "its case.json is nested too deeply"),
    "not JSON": ({"case.json": b"{schema: 1"}, "its case.json is not valid JSON"),
    "malformed plan.json": ({"plan.json": b'{"sides": '}, "its plan.json is not valid JSON"),
    "plan.json a list": ({"plan.json": b"[1, 2]"}, "its plan.json is a list, not an object"),
    "no case.json": ({"case.json": None}, "it has no case.json"),
    "no plan.json": ({"plan.json": None}, "it has no plan.json"),
    "no labels": ({"labels.nii.gz": None}, "it has no labels.nii.gz"),
    "labels not gzip": ({"labels.nii.gz": b"not a label map"}, "not a complete label map"),
}

EDITED: dict[str, tuple[str, str, Any, str]] = {
    "patient a list": ("case.json", "patient", ["Doe"], "its patient is a list, not an object"),
    "patient extra key": ("case.json", "patient", {"x": "y"}, "patient entry is not names"),
    "scan not an object": ("case.json", "scan", 5, "its scan is a number, not an object"),
    "integer reference": ("case.json", "scan.reference", 7, "scan.reference is a number"),
    "reference with NUL": ("case.json", "scan.reference", "a\x00b", "reference is not a path"),
    "channels a list": ("case.json", "channels", [], "its channels is a list, not an object"),
    "channel tip NaN": (
        "case.json",
        "channels.left",
        {
            "tip_lps_mm": [float("nan"), 0, 0],
            "axis": [1, 0, 0],
            "diameter_mm": 7.5,
            "length_mm": 170,
        },
        "channels.left.tip_lps_mm is not a finite number",
    ),
    "huge integer": ("case.json", "channels.left", {"tip_lps_mm": [10**400, 0, 0]}, "finite"),
    "summary size text": ("case.json", "scan.summary.size_xyz", "big", "size_xyz is not a list"),
    "model sha a number": ("case.json", "model", {"sha256": 5}, "model.sha256 is a number"),
    "sides missing": ("plan.json", "sides", {}, "plan.json left side is null"),
    "unknown group": ("plan.json", "sides.left.group", "C", "has no group A, B"),
    "unknown part": (
        "plan.json",
        "sides.left.contacts",
        [{"part": "__class__", "clearance_mm": 1.0}],
        "names a part LumboPlan does not know",
    ),
    "reasons a string": ("plan.json", "sides.right.reasons", "x", "reasons are not a list"),
    "leaves_scan not booleans": (
        "plan.json",
        "sides.left.feasibility_map",
        {
            "alphas_deg": [0, 1],
            "betas_deg": [0, 1],
            "smallest_clearance_mm": [[1.0, 1.0], [1.0, 1.0]],
            "leaves_scan": [[1, 0], [0, 0]],
        },
        "feasibility_map poses leaving the scan are not a grid of true/false",
    ),
}


@pytest.mark.parametrize("probe", sorted(MALFORMED))
def test_a_malformed_entry_is_a_damaged_case(good: Path, tmp_path: Path, probe: str) -> None:
    entries, words = MALFORMED[probe]
    case = altered(good, tmp_path / "bad.lumboplan", entries)
    start = time.monotonic()
    with pytest.raises(DamagedCaseError) as caught:
        read_case(case)
    assert time.monotonic() - start < 5
    message = str(caught.value)
    assert message.startswith("'bad.lumboplan' is not a readable LumboPlan case: ")
    assert words in message
    assert "\n" not in message


@pytest.mark.parametrize("probe", sorted(EDITED))
def test_a_value_of_the_wrong_kind_is_a_damaged_case(
    good: Path, tmp_path: Path, probe: str
) -> None:
    entry, key, value, words = EDITED[probe]
    data = edited_json(good, entry, setting(key, value))
    case = altered(good, tmp_path / "bad.lumboplan", {entry: data})
    with pytest.raises(DamagedCaseError) as caught:
        read_case(case)
    assert words in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_good_case_reads_and_an_unplanned_one_too(good: Path, tmp_path: Path) -> None:
    assert read_case(good).plan["sides"]["left"]["group"] == "not_assessable"
    unplanned = altered(good, tmp_path / "unplanned.lumboplan", {"plan.json": b"{}"})
    assert read_case(unplanned).plan == {}


def test_an_unplanned_case_gives_no_report_but_a_reason(good: Path, tmp_path: Path) -> None:
    unplanned = altered(good, tmp_path / "unplanned.lumboplan", {"plan.json": b"{}"})
    assert_refused(unplanned, tmp_path, "This case has no plan yet")


def test_escape_codes_in_the_schema_are_shown_escaped(good: Path, tmp_path: Path) -> None:
    schema = "\x1b]0;pwned\x07\x1b[2J\u202elumboplan.case/9"
    data = edited_json(good, "case.json", setting("schema", schema))
    case = altered(good, tmp_path / "evil.lumboplan", {"case.json": data})
    with pytest.raises(LoadError) as caught:
        read_case(case)
    message = str(caught.value)
    assert "\\x1b]0;pwned\\x07\\x1b[2J\\u202elumboplan.case/9" in message
    assert not any(not c.isprintable() for c in message)
    assert shown_text("a\x1bb\tc") == "a\\x1bb\\tc"
    assert shown_text("x" * 100, 10) == "x" * 10 + "..."


def test_a_malformed_case_through_the_command_line(good: Path, tmp_path: Path) -> None:
    # Before: "lumboplan: internal error (AttributeError)", exit 70.
    case = altered(good, tmp_path / "list.lumboplan", {"case.json": b"[]"})
    assert_refused(case, tmp_path, "its case.json is a list, not an object")
    # Before: the escape codes reached the terminal.
    data = edited_json(good, "case.json", setting("schema", "\x1b[31mlumboplan.case/9"))
    case = altered(good, tmp_path / "evil.lumboplan", {"case.json": data})
    assert_refused(case, tmp_path, "saved as '\\x1b[31mlumboplan.case/9'")


# -- bombs: refused before or while inflating, within a memory bound -----------------------------


def declared_size(path: Path, entry: str, size: int) -> None:
    """Rewrite the uncompressed size a ZIP declares for ``entry`` (local and central header)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(entry)
    struct.pack_into("<I", data, info.header_offset + 22, size)
    position = data.find(b"PK\x01\x02")
    while position != -1:
        name_length = struct.unpack_from("<H", data, position + 28)[0]
        if data[position + 46 : position + 46 + name_length] == entry.encode():
            struct.pack_into("<I", data, position + 24, size)
        position = data.find(b"PK\x01\x02", position + 4)
    path.write_bytes(bytes(data))


def test_a_labels_entry_declaring_4_gib_is_refused_unread(good: Path, tmp_path: Path) -> None:
    case = altered(good, tmp_path / "bomb.lumboplan", {"labels.nii.gz": bytes(1024 * 1024)})
    declared_size(case, "labels.nii.gz", 2**32 - 1)
    line = assert_refused(case, tmp_path, "its labels.nii.gz would inflate to 4294967295 bytes")
    assert "far more than a case" in line


def test_a_case_json_inflating_past_its_cap_is_refused(good: Path, tmp_path: Path) -> None:
    document = json.loads(edited_json(good, "case.json", lambda d: d))
    padded = json.dumps(document).encode()[:-1] + b"," + b" " * (32 * 1024 * 1024) + b"}"
    case = altered(good, tmp_path / "padded.lumboplan", {"case.json": padded})
    assert_refused(case, tmp_path, "its case.json would inflate to")
    # A header that claims a small size does not let more through: zipfile stops at the
    # declared size, the cap reads no further, and the checksum fails.
    declared_size(case, "case.json", 1000)
    with pytest.raises(DamagedCaseError):
        read_case(case)


@pytest.mark.parametrize(
    ("labels", "words"),
    [
        (nifti_gz_header((2048, 2048, 1024)), "declares 4294967296 bytes of voxels"),
        (nifti_gz_header(SHAPE[::-1], bytes(32 * 1024 * 1024)), "where the header declares"),
        (nifti_gz_header(SHAPE[::-1], bytes(100)), "452 bytes where the header declares 8032"),
    ],
    ids=["huge header", "trailing 32 MiB", "short data"],
)
def test_a_labels_gzip_bomb_is_refused_by_its_header_and_a_cap(
    good: Path, tmp_path: Path, labels: bytes, words: str
) -> None:
    case = altered(good, tmp_path / "bomb.lumboplan", {"labels.nii.gz": labels})
    line = assert_refused(case, tmp_path, "its labels.nii.gz is not a complete label map")
    assert words in line


# -- pipes, devices and system folders: refused at once, never read -----------------------------


def test_a_pipe_or_a_device_as_the_case_file_is_not_a_regular_file(tmp_path: Path) -> None:
    pipe = tmp_path / "pipe.lumboplan"
    os.mkfifo(pipe)
    # Before: "The case file 'pipe.lumboplan' does not exist."
    assert_refused(pipe, tmp_path, "'pipe.lumboplan' is not a regular file")
    device = tmp_path / "zero.lumboplan"
    device.symlink_to("/dev/zero")
    assert_refused(device, tmp_path, "'zero.lumboplan' is not a regular file")
    folder = tmp_path / "folder.lumboplan"
    folder.mkdir()
    assert_refused(folder, tmp_path, "'folder.lumboplan' is not a regular file")
    with pytest.raises(LoadError, match="does not exist"):
        read_case(tmp_path / "missing.lumboplan")


@pytest.mark.parametrize("target", ["pipe", "/dev/zero", "/dev", "/proc/self"])
def test_a_scan_reference_to_a_device_is_refused_not_read(tmp_path: Path, target: str) -> None:
    if target == "pipe":
        target = str(tmp_path / "scan")
        os.mkfifo(target)
    case = good_case(tmp_path / "case.lumboplan", reference=target)
    # Before: `report` hung reading the pipe or the devices.
    line = assert_refused(case, tmp_path, "its scan reference names a")
    assert "not a readable LumboPlan case" in line


def test_an_unreadable_case_file_is_not_called_damaged(good: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    good.chmod(0)
    try:
        with pytest.raises(LoadError, match="permission denied"):
            read_case(good)
    finally:
        good.chmod(0o600)


def test_reading_a_case_stays_within_its_limits(good: Path, tmp_path: Path) -> None:
    # The limits the probes above run under still let a good case through to a report.
    result, _ = run_report(good, tmp_path / "report.pdf")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "report.pdf").stat().st_size > 1000
