"""Stderr is one actionable line; tracebacks and library noise go to the log, scrubbed.

The broken files are made here from a good compressed slice (no committed binaries): an RLE
frame whose header declares the wrong number of segments, a JPEG 2000 codestream whose SIZ
marker is cut short, and a JPEG 2000 codestream truncated to half its length.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.encaps import encapsulate, generate_frames

from lumboplan_app.io.dicom_export import SeriesHeader, write_dicom_series
from lumboplan_app.logs import LOG_FILE, log_folder, scrub
from lumboplan_app.volume import Grid, Volume

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo" / "case_00057"
IDENTIFIERS = ("Roe", "Richard", "559211")
NOISE = ("Traceback", "site-packages", "Warning", "WARNING")


def command(*args: object) -> list[str]:
    """The installed ``lumboplan`` command (the module where no script is installed)."""
    script = Path(sys.executable).with_name("lumboplan")
    start = [str(script)] if script.is_file() else [sys.executable, "-m", "lumboplan_app.cli"]
    return [*start, *map(str, args)]


def lumboplan(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the ``lumboplan`` command."""
    return subprocess.run(
        command(*args),
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def compressed_slice(folder: Path, compression: str) -> pydicom.Dataset:
    """Return one good compressed slice, with a patient's name and ID in its header."""
    grid = Grid((1, 32, 32), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3))
    volume = Volume(np.arange(32 * 32, dtype=np.float32).reshape(1, 32, 32), grid)
    [path] = write_dicom_series(
        volume,
        folder,
        SeriesHeader(compression=compression, patient_name="Roe^Richard", patient_id="MRN-559211"),
    )
    return pydicom.dcmread(path)


def corrupt_rle(frame: bytes) -> bytes:
    # One segment declared where 16-bit pixels need two.
    return b"\x01\x00\x00\x00" + (64).to_bytes(4, "little") + bytes(56) + b"\xff\x00"


def bad_jpeg2000_header(frame: bytes) -> bytes:
    return frame[:4] + bytes(40) + frame[44:]  # SOC, then a SIZ marker of length 0


def truncated_jpeg2000(frame: bytes) -> bytes:
    return frame[: len(frame) // 2]


def broken_file(tmp_path: Path, kind: str) -> Path:
    compression = "rle" if kind == "rle" else "jpeg2000"
    dataset = compressed_slice(tmp_path / f"good_{kind}", compression)
    frame = next(generate_frames(dataset.PixelData, number_of_frames=1))
    damage: dict[str, Callable[[bytes], bytes]] = {
        "rle": corrupt_rle,
        "jpeg2000_header": bad_jpeg2000_header,
        "jpeg2000_truncated": truncated_jpeg2000,
    }
    dataset.PixelData = encapsulate([damage[kind](frame)])
    path = tmp_path / f"{kind}.dcm"
    dataset.save_as(path)
    return path


def read_log() -> str:
    path = log_folder() / LOG_FILE
    return path.read_text(encoding="utf-8") if path.is_file() else ""


KINDS = ["rle", "jpeg2000_header", "jpeg2000_truncated"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_corrupt_compressed_frame_is_one_line_on_stderr(tmp_path: Path, kind: str) -> None:
    path = broken_file(tmp_path, kind)
    for args in (("info", path), ("convert", path, tmp_path / "out.nii.gz")):
        result = lumboplan(*args)
        assert result.returncode == 1, result.stderr
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("lumboplan:")
        for noise in NOISE:
            assert noise not in result.stderr
    assert not (tmp_path / "out.nii.gz").exists()
    # The decoder's complaint is kept, in the log, without the patient or the file's path.
    log = read_log()
    if kind != "jpeg2000_header":  # a SIZ of 0 x 0 is refused before the decoder runs
        assert "ERROR pydicom" in log
    for private in (*IDENTIFIERS, str(tmp_path)):
        assert private not in log


def test_verbose_shows_the_log_records_still_without_identifiers(tmp_path: Path) -> None:
    path = broken_file(tmp_path, "rle")
    verbose = lumboplan("-v", "info", path)
    lines = verbose.stderr.splitlines()
    assert verbose.returncode == 1
    assert len(lines) > 1
    assert lines[-1].startswith("lumboplan: error:")
    assert any(line.startswith("ERROR pydicom") for line in lines)
    assert "Traceback" not in verbose.stderr  # -v: one line per record
    debug = lumboplan("-vv", "info", path)
    assert "  at pydicom/pixels/decoders/" in debug.stderr  # -vv: where it was raised
    for private in (*IDENTIFIERS, str(tmp_path)):
        assert private not in verbose.stderr + debug.stderr


def test_an_itk_warning_goes_to_the_log(tmp_path: Path) -> None:
    # A NIfTI whose sform is sheared: ITK's reader warns (on stderr, by default) and goes on.
    path = tmp_path / "Roe_Richard.nii"
    sitk.WriteImage(sitk.GetImageFromArray(np.arange(120, dtype=np.int16).reshape(4, 5, 6)), path)
    header = bytearray(path.read_bytes())
    struct.pack_into("<hh", header, 252, 1, 1)  # qform_code, sform_code
    struct.pack_into("<4f", header, 280, 1.0, 0.3, 0.0, 0.0)  # srow_x: shear
    path.write_bytes(bytes(header))
    result = lumboplan("info", path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    log = read_log()
    assert "WARNING itk:" in log
    assert "unexpected scales in sform" in log
    assert "Roe" not in log


def test_python_warnings_and_library_loggers_go_to_the_log() -> None:
    code = (
        "import logging, warnings\n"
        "from lumboplan_app.logs import configure_logging\n"
        "configure_logging(0)\n"
        "warnings.warn(\"Invalid value for VR PN: 'Roe^Richard' in /cd/Roe/IM1\")\n"
        "logging.getLogger('pydicom').error('cannot read /cd/Roe Richard/IM1')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert (result.returncode, result.stderr) == (0, "")
    log = read_log()
    assert "UserWarning: Invalid value for VR PN: '<hidden>' in <path>" in log
    assert "ERROR pydicom: cannot read <path>" in log
    assert "Roe" not in log
    assert "Richard" not in log


def test_an_unwritable_log_folder_costs_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "home"
    blocker.write_text("a file where the log folder would be")
    path = broken_file(tmp_path, "rle")
    result = lumboplan("info", path, env={**os.environ, "LUMBOPLAN_HOME": str(blocker)})
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1, result.stderr


def test_an_internal_error_names_the_log_that_holds_its_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lumboplan_app import cli

    def fail(arguments: object) -> int:
        raise KeyError("/cd/Roe Richard/IM1")

    monkeypatch.setattr(cli, "_command_info", fail)
    assert cli.main(["info", "scan"]) == cli.EXIT_INTERNAL
    [line] = capsys.readouterr().err.splitlines()
    assert line == (
        f"lumboplan: internal error (KeyError). Send the log {log_folder() / LOG_FILE} to "
        "LumboPlan's support."
    )
    log = read_log()
    assert "ERROR lumboplan_app.cli: internal error" in log
    assert "  at lumboplan_app/cli.py:" in log
    assert "  KeyError: '<hidden>'" in log


def test_scrub_blanks_values_and_paths_but_keeps_code_locations() -> None:
    text = scrub(
        "Invalid value for VR DA: '19550101' in /media/cdrom/ROE/IM1 "
        "(.venv/x) at /opt/lp/.venv/lib/python3.11/site-packages/pydicom/filereader.py; "
        r"C:\Scans\Roe Richard\scan.nii, from /tmp/ITK/src/itkNiftiImageIO.cxx, line 9; "
        "and/or 1/2 / 3; /a/site-packages/b.py and /cd/Roe Richard/IM1"
    )
    assert text == (
        "Invalid value for VR DA: '<hidden>' in <path> "
        "(.venv/x) at pydicom/filereader.py; "
        "<path>, from itkNiftiImageIO.cxx, line 9; and/or 1/2 / 3; <path>"
    )


@pytest.mark.slow
def test_a_headless_run_prints_nothing_on_stderr(tmp_path: Path) -> None:
    # `run` renders the report's 3-D figures off-screen: without a display VTK's X window
    # printed "bad X server connection" (about 20 s, most of it planning).
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    labels = DEMO / "labels.nii.gz"
    result = lumboplan("run", DEMO / "dicom", "--labels", labels, "-o", tmp_path / "out", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert (tmp_path / "out" / "report.pdf").is_file()
    log = read_log()
    for identifier in ("Phantom", "PHANTOM-57", "20260101"):
        assert identifier not in log


def small_series(folder: Path, description: str = "") -> Path:
    """Write a valid 4-slice series described as ``description`` into ``folder``."""
    grid = Grid((4, 16, 20), (0.8, 0.9, 1.5), (0.0, 0.0, 0.0), np.eye(3))
    volume = Volume(np.arange(4 * 16 * 20, dtype=np.float32).reshape(4, 16, 20), grid)
    write_dicom_series(volume, folder, SeriesHeader(series_description=description))
    return folder


def test_escape_codes_from_files_reach_the_terminal_escaped(tmp_path: Path) -> None:
    folder = small_series(tmp_path / "series", "T2\x1b]0;OWNED\x07\x1b[31mRED")
    named = tmp_path / "x\x1b[31mRED\x07.nii"
    named.write_bytes(b"not an image" * 100)
    for args in (("info", folder), ("info", named)):
        result = lumboplan(*args)
        shown = result.stdout + result.stderr
        assert "\x1b" not in shown, shown
        assert "\x07" not in shown, shown
        assert "\\x1b[31mRED" in shown, shown
    assert len(result.stderr.splitlines()) == 1


def test_a_reader_closing_the_output_ends_the_command_quietly(tmp_path: Path) -> None:
    folder = small_series(tmp_path / "series")
    child = subprocess.Popen(
        command("info", folder), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stderr is not None
    child.stdout.close()  # like `| head -0`: nothing will read what the command prints
    stderr = child.stderr.read()
    assert child.wait(timeout=120) == 141
    assert stderr == ""


def test_native_output_on_descriptor_2_goes_to_the_log(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    from lumboplan_app.logs import native_stderr_to_log

    with native_stderr_to_log(), native_stderr_to_log():  # nested: one redirect
        os.write(2, b"** ERROR: NWAD: wrote only 12 of 34 bytes\n\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"
    assert [r.getMessage() for r in caplog.records if r.name == "itk"] == [
        "** ERROR: NWAD: wrote only 12 of 34 bytes"
    ]
