"""Writes on a full disk: verified before the rename, the old file kept, one typed message.

A full disk is simulated without root by a file size limit (RLIMIT_FSIZE) in a child process:
Python ignores SIGXFSZ, so a write past the limit fails with EFBIG, or comes out short where
the writer (SimpleITK's NIfTI writer) does not check. Each probe runs the ``lumboplan`` command
in a subprocess under a timeout and an address-space limit, as a user would.
"""

from __future__ import annotations

import errno
import gzip
import json
import os
import resource
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lumboplan_app import atomic
from lumboplan_app.atomic import (
    IncompleteFileError,
    atomic_output,
    verify_file,
    verify_stream,
    write_text_atomic,
)
from lumboplan_app.errors import WriteError
from lumboplan_app.io import write_image
from lumboplan_app.session import CaseFile, read_case, write_case
from lumboplan_app.volume import Grid, LabelMap, ScanMeta, Volume
from tests.conftest import not_assessable_plan

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX resource limits")

#: Bound on each probe: seconds, and bytes of address space.
PROBE_SECONDS = 60
PROBE_ADDRESS_SPACE = 6 * 1024**3


def run_limited(argv: list[str], file_size: int | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``lumboplan ARGV`` in a child with a time, address-space and file-size limit."""
    limits = [(resource.RLIMIT_AS, PROBE_ADDRESS_SPACE)]
    if file_size is not None:
        limits.append((resource.RLIMIT_FSIZE, file_size))
    script = textwrap.dedent(
        f"""
        import resource, sys
        for limit, value in {limits!r}:
            resource.setrlimit(limit, (value, value))
        from lumboplan_app.cli import main
        sys.exit(main({argv!r}))
        """
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=PROBE_SECONDS,
        check=False,
    )


def noise_volume(seed: int, shape: tuple[int, int, int] = (40, 64, 64)) -> Volume:
    """A volume of noise: it does not compress, so its file is large for its voxels."""
    array = np.random.default_rng(seed).integers(0, 4000, shape).astype(np.float32)
    return Volume(array, Grid(shape, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0)), ScanMeta(modality="MR"))


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("lumboplan:")]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def labels_case(shape: tuple[int, int, int] = (16, 20, 24), seed: int | None = None) -> CaseFile:
    """A case of a block of labels; of noise (large when compressed) with a ``seed``."""
    if seed is None:
        array = np.zeros(shape, np.uint8)
        array[4:-4, 5:-5, 6:-6] = 3
    else:
        array = np.random.default_rng(seed).integers(0, 4, shape).astype(np.uint8)
    labels = LabelMap(array, Grid(shape, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0)))
    return CaseFile(
        labels=labels, plan=not_assessable_plan(), scan={"reference": None, "summary": None}
    )


# -- through the command line --------------------------------------------------------------------


def test_convert_on_a_full_disk_keeps_the_old_file_and_says_so(tmp_path: Path) -> None:
    scan, output = tmp_path / "scan.nii.gz", tmp_path / "out" / "out.nii.gz"
    write_image(noise_volume(1), scan)
    write_image(noise_volume(2, (8, 16, 16)), output)
    before = output.read_bytes()
    # Before: "Wrote out.nii.gz", exit 0, a truncated file whose header claims the whole volume.
    result = run_limited(["convert", str(scan), str(output)], file_size=60_000)
    assert result.returncode == 1, result.stderr
    assert "Wrote" not in result.stdout
    assert "Traceback" not in result.stderr
    (line,) = error_lines(result.stderr)
    assert "'out.nii.gz' could not be written" in line
    assert "free some space or write to another disk" in line
    assert "the previous 'out.nii.gz' was kept" in line
    assert output.read_bytes() == before
    assert leftovers(output.parent) == []


def test_convert_with_room_writes_a_complete_file(tmp_path: Path) -> None:
    scan, output = tmp_path / "scan.nii.gz", tmp_path / "out.nii"
    write_image(noise_volume(1), scan)
    result = run_limited(["convert", str(scan), str(output)])
    assert result.returncode == 0, result.stderr
    verify_file(output)
    assert output.stat().st_size == 352 + 40 * 64 * 64 * 4  # float32 voxels


def test_report_on_a_full_disk_is_a_typed_error_not_an_internal_one(tmp_path: Path) -> None:
    case_path, report = tmp_path / "case.lumboplan", tmp_path / "report.pdf"
    write_case(labels_case(), case_path)
    report.write_bytes(b"%PDF-1.4 the previous report\n%%EOF\n")
    # Before: "lumboplan: internal error (OSError)", exit 70.
    result = run_limited(["report", str(case_path), "-o", str(report)], file_size=3_000)
    assert result.returncode == 1, result.stderr
    (line,) = error_lines(result.stderr)
    assert "'report.pdf' could not be written" in line
    assert "was kept" in line
    assert "internal error" not in result.stderr
    assert report.read_bytes() == b"%PDF-1.4 the previous report\n%%EOF\n"
    assert leftovers(tmp_path) == []
    # With room, the same command writes a report that passes the check.
    assert run_limited(["report", str(case_path), "-o", str(report)]).returncode == 0
    verify_file(report)


def test_a_case_file_on_a_full_disk_keeps_the_old_case(tmp_path: Path) -> None:
    path = tmp_path / "case.lumboplan"
    write_case(labels_case(), path)
    before = path.read_bytes()
    script = textwrap.dedent(
        f"""
        import resource, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_hostile_writes import labels_case
        from lumboplan_app.errors import WriteError
        from lumboplan_app.session import write_case
        case = labels_case((48, 64, 64), seed=5)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
        try:
            write_case(case, __import__("pathlib").Path({str(path)!r}))
        except WriteError as error:
            print(error)
            sys.exit(3)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=PROBE_SECONDS
    )
    assert result.returncode == 3, result.stderr
    assert result.stdout.startswith("'case.lumboplan' could not be written")
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []


# -- the core ------------------------------------------------------------------------------------


def test_a_short_nifti_is_caught_before_the_rename(tmp_path: Path) -> None:
    path = tmp_path / "labels.nii.gz"
    path.write_bytes(b"the old labels")
    whole = tmp_path / "whole" / "labels.nii.gz"
    write_image(noise_volume(3), whole)
    data = whole.read_bytes()
    kept = r"came out incomplete.*previous 'labels\.nii\.gz' was kept"
    with pytest.raises(WriteError, match=kept), atomic_output(path, ".nii.gz") as temporary:
        temporary.write_bytes(data[: len(data) // 2])  # what SimpleITK leaves on a full disk
    assert path.read_bytes() == b"the old labels"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_a_nifti_with_more_or_less_data_than_declared_is_refused(
    tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"image{suffix}"
    write_image(noise_volume(4, (4, 8, 8)), path)
    verify_file(path)
    raw = gzip.decompress(path.read_bytes()) if suffix == ".nii.gz" else path.read_bytes()
    for changed in (raw[:-1], raw + b"\0"):
        path.write_bytes(gzip.compress(changed) if suffix == ".nii.gz" else changed)
        with pytest.raises(IncompleteFileError, match="bytes where the header declares"):
            verify_file(path)


def test_a_nifti_bomb_is_refused_by_its_header_before_inflating(tmp_path: Path) -> None:
    path = tmp_path / "bomb.nii.gz"
    write_image(noise_volume(4, (4, 8, 8)), path)
    with path.open("rb") as handle:
        verify_stream(handle, path.name, max_data_bytes=4 * 8 * 8 * 4)
    with path.open("rb") as handle, pytest.raises(IncompleteFileError, match="more than 100"):
        verify_stream(handle, path.name, max_data_bytes=100)


def test_a_trailing_stream_is_inflated_no_further_than_declared(tmp_path: Path) -> None:
    path = tmp_path / "trailing.nii.gz"
    write_image(noise_volume(4, (4, 8, 8)), path)
    raw = gzip.decompress(path.read_bytes())
    # 256 MiB of zeros after the voxels: refused after one chunk, not inflated whole.
    with gzip.open(path, "wb", compresslevel=1) as stream:
        stream.write(raw)
        zeros = bytes(16 * 1024 * 1024)
        for _ in range(16):
            stream.write(zeros)
    with pytest.raises(IncompleteFileError, match="bytes where the header declares"):
        verify_file(path)


def test_a_damaged_zip_and_a_pdf_without_its_end_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "case.lumboplan"
    write_case(labels_case(), archive)
    verify_file(archive)
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as opened:
        offset = opened.getinfo("labels.nii.gz").header_offset + 200
    data[offset] ^= 0xFF
    archive.write_bytes(bytes(data))
    with pytest.raises(IncompleteFileError):
        verify_file(archive)
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.4\n" + bytes(5000))
    with pytest.raises(IncompleteFileError, match="end marker"):
        verify_file(pdf)


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.ENOSPC, "is full"),
        (errno.EROFS, "is read-only"),
        (errno.EACCES, "permission denied"),
        (errno.EFBIG, "size limit"),
    ],
)
def test_each_disk_error_is_a_write_error_with_advice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, words: str
) -> None:
    path = tmp_path / "plan.json"
    path.write_text("{}")

    def fail(self: Path, data: bytes) -> int:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(Path, "write_bytes", fail)
    with pytest.raises(WriteError, match=words) as caught:
        write_text_atomic(path, json.dumps({"new": True}))
    monkeypatch.undo()
    assert caught.value.code == code
    assert "\n" not in str(caught.value)
    assert "the previous 'plan.json' was kept" in str(caught.value)
    assert path.read_text() == "{}"
    assert leftovers(tmp_path) == []


def test_an_itk_writer_failing_on_a_full_disk_is_a_write_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ITK's NRRD and MetaImage writers raise a bare RuntimeError when the disk fills up."""
    path = tmp_path / "labels.nrrd"
    path.write_bytes(b"old")

    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Could not write file")

    monkeypatch.setattr(atomic, "free_bytes", lambda folder: 0)
    monkeypatch.setattr("SimpleITK.WriteImage", fail)
    grid = Grid((4, 4, 4), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    with pytest.raises(WriteError, match="is full") as caught:
        write_image(LabelMap(np.zeros((4, 4, 4), np.uint8), grid), path)
    assert caught.value.code == errno.ENOSPC
    assert path.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_a_read_only_folder_is_refused_before_writing(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(WriteError, match="may not write into the folder 'locked'"):
            write_text_atomic(folder / "plan.json", "{}")
    finally:
        folder.chmod(0o700)


def test_a_write_that_leaves_the_disk_full_is_not_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A writer that ignores a short write (VTK's PLY and OBJ) leaves a full disk behind.
    path = tmp_path / "skin.obj"
    path.write_text("old mesh")
    monkeypatch.setattr(atomic, "free_bytes", lambda folder: 0)
    with pytest.raises(WriteError, match="is full"), atomic_output(path) as temporary:
        temporary.write_text("v 0 0 0\n")
    assert path.read_text() == "old mesh"


def test_a_complete_write_still_replaces_the_file(tmp_path: Path) -> None:
    path = tmp_path / "case.lumboplan"
    write_case(labels_case(seed=1), path)
    write_case(labels_case(seed=2), path)
    assert np.array_equal(read_case(path).labels.array, labels_case(seed=2).labels.array)
    assert leftovers(tmp_path) == []


def test_the_recent_cases_list_on_a_full_disk_is_skipped_quietly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lumboplan_app.recovery import RecentCases

    recent = RecentCases(tmp_path / "recent.json")
    monkeypatch.setattr(atomic, "free_bytes", lambda folder: 0)
    recent.add(tmp_path / "case.lumboplan")  # a warning in the log, no error
    assert not (tmp_path / "recent.json").exists()


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz", ".mha", ".nrrd"])
def test_a_write_cut_by_a_file_size_limit_is_one_line_naming_the_limit(
    tmp_path: Path, suffix: str
) -> None:
    # Before: NIfTI's "** ERROR: NWAD ..." and MetaIO's messages went straight to stderr, and a
    # .mha or .nrrd cut short was a LoadError "(RuntimeError)".
    scan, output = tmp_path / "scan.nii.gz", tmp_path / f"out{suffix}"
    write_image(noise_volume(1), scan)
    output.write_bytes(b"old")
    result = run_limited(["convert", str(scan), str(output)], file_size=200_000)
    assert result.returncode == 1, result.stderr
    (line,) = result.stderr.splitlines()
    assert f"'out{suffix}' could not be written" in line
    assert "a file size limit ('ulimit -f') was reached" in line
    assert output.read_bytes() == b"old"
    assert leftovers(tmp_path) == []
    native = {".nii": "NWAD", ".mha": "M_WriteElementsData"}.get(suffix)
    if native is not None:
        from lumboplan_app.logs import LOG_FILE, log_folder

        assert native in (log_folder() / LOG_FILE).read_text(encoding="utf-8")
