"""Import and export for 3D Slicer and PACS (issue 22, item 3): round trips and de-identification.

Small synthetic series and cases (a sagittal DICOM series of 12 slices, hand-made plans), so
each test takes a second or two; the demo case is used by the command-line test only.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
import pydicom
import pytest
import slicerio
from pydicom.sr.codedict import codes

from lumboplan_app.cli import main
from lumboplan_app.errors import DicomSourceRequiredError, ExportError, LoadError
from lumboplan_app.exchange.export import export_case, export_format
from lumboplan_app.exchange.markups import MARKUPS_SCHEMA_URL, plan_markups
from lumboplan_app.exchange.terminology import STRUCTURE_CODES
from lumboplan_app.io import read_label_map, read_scan
from lumboplan_app.labels import Part, Side, Structure
from lumboplan_app.planning.channel import axial_offset_mm
from lumboplan_app.session import CaseFile, scan_summary, write_case
from lumboplan_app.volume import Grid, LabelMap, PatientInfo, Volume
from tests.conftest import DEMO, SAGITTAL_DIRECTION, not_assessable_plan

NAME, PATIENT_ID, BIRTH_DATE = "Identifiable^Jane", "PID-7734521", "19580412"
IDENTIFIERS = (b"Identifiable", b"Jane", PATIENT_ID.encode(), BIRTH_DATE.encode())


def block_labels(grid: Grid) -> LabelMap:
    """Blocks of L5, the disc, S1, nerves, ilium and skin on ``grid`` (index z, y, x)."""
    array = np.zeros(grid.shape_zyx, np.uint8)
    array[1:4, 2:8, 3:9] = Structure.L5
    array[4:5, 2:8, 3:9] = Structure.DISC
    array[5:9, 2:8, 3:9] = Structure.S1
    array[4:7, 9:12, 5:7] = Structure.NERVES
    array[2:10, 12:15, 10:18] = Structure.ILIUM
    array[:, 15, :] = Structure.SKIN
    return LabelMap(array, grid)


@pytest.fixture
def dicom_case(make_series, tmp_path: Path) -> CaseFile:
    """A case planned on a sagittal DICOM series whose header names a patient."""
    folder = make_series(
        patient_name=NAME, patient_id=PATIENT_ID, patient_birth_date=BIRTH_DATE, series_number=7
    )
    volume = read_scan(folder)
    return CaseFile(
        labels=block_labels(volume.grid),
        plan={},
        scan={"reference": str(folder), "summary": scan_summary(volume)},
        patient=volume.meta.patient,
    )


def test_structure_codes_are_dicom_cid_7151_codes() -> None:
    """Each code is the DICOM standard's (CID 7151, as pydicom's dictionary holds it)."""
    names = {
        Structure.L5: ("L5Vertebra", None),
        Structure.DISC: ("L5S1Disc", None),
        Structure.S1: ("Sacrum", None),
        Structure.NERVES: ("Nerve", "LumboSacralSpine"),
        Structure.ILIUM: ("Ilium", None),
        Structure.SKIN: ("Skin", None),
    }
    assert set(names) == set(STRUCTURE_CODES)
    for structure, (type_name, region_name) in names.items():
        entry = STRUCTURE_CODES[structure]
        standard = getattr(codes.cid7151, type_name)
        assert (entry.type.value, entry.type.scheme) == (standard.value, "SCT")
        assert entry.type.meaning == standard.meaning
        if region_name is None:
            assert entry.region is None
        else:
            region = getattr(codes.cid7151, region_name)
            assert entry.region is not None
            assert (entry.region.value, entry.region.meaning) == (region.value, region.meaning)


@pytest.mark.parametrize("direction", [np.eye(3), SAGITTAL_DIRECTION], ids=["axial", "sagittal"])
def test_seg_nrrd_reads_back_in_slicerio_with_the_same_labels_and_geometry(
    tmp_path: Path, direction: np.ndarray
) -> None:
    grid = Grid((12, 16, 20), (0.8, 0.9, 1.5), (-9.0, -20.0, 30.0), direction)
    labels = block_labels(grid)
    path = tmp_path / "labels.seg.nrrd"
    export_case(CaseFile(labels=labels, plan={}), path)
    segmentation = slicerio.read_segmentation(str(path))
    # slicerio's voxels are (i, j, k) = (x, y, z); its matrix maps them to LPS.
    np.testing.assert_array_equal(segmentation["voxels"].transpose(2, 1, 0), labels.array)
    np.testing.assert_allclose(segmentation["ijkToLPS"], grid.affine, atol=1e-9)
    by_name = {s["name"]: s for s in segmentation["segments"]}
    assert set(by_name) == {s.display_name for s in Structure if s != 0}
    l5 = by_name["L5 vertebra"]
    assert l5["labelValue"] == 1
    assert l5["terminology"]["type"] == ["SCT", "49668003", "L5 vertebra"]
    assert l5["color"] == pytest.approx([c / 255 for c in Structure.L5.colour_rgb], abs=1e-5)
    nerves = by_name["Lumbosacral nerves"]["terminology"]
    assert nerves["anatomicRegion"] == ["SCT", "1217253001", "Lumbo-sacral spine"]
    back = read_label_map(path, reference=labels.to_canonical().grid)
    np.testing.assert_array_equal(back.array, labels.to_canonical().array)


def test_a_slicer_segmentation_is_read_by_name_across_layers_and_label_values(
    tmp_path: Path,
) -> None:
    """Slicer's own layout: other label values, overlapping segments in a second layer, RAS-free."""
    grid = Grid((6, 8, 10), (1.0, 1.0, 2.0), (5.0, 6.0, 7.0))
    affine = grid.affine
    segmentation = slicerio.create_segmentation((10, 8, 6), affine)
    l5 = np.zeros((10, 8, 6), bool)
    l5[1:4, 1:4, 1:3] = True
    skin = np.zeros_like(l5)
    skin[:, 7, :] = True
    slicerio.add_segment(segmentation, l5, {"id": "Segment_1", "name": "l5"})
    slicerio.add_segment(segmentation, skin, {"id": "Segment_7", "name": "SKIN"})
    segmentation["voxels"] = np.stack([segmentation["voxels"], np.zeros_like(l5, np.uint8)])
    nerve = np.zeros_like(l5)
    nerve[6:9, 1:3, 1:3] = True
    segmentation["voxels"][1][nerve] = 5
    segmentation["segments"].append(
        {
            "id": "Segment_9",
            "name": "roots",
            "labelValue": 5,
            "layer": 1,
            "terminology": {
                "contextName": "x",
                "category": ["SCT", "123037004", "Anatomical Structure"],
                "type": ["SCT", "91728009", "Nerve"],
            },
        }
    )
    path = tmp_path / "slicer.seg.nrrd"
    slicerio.write_segmentation(str(path), segmentation)
    labels = read_label_map(path)
    expected = np.zeros((10, 8, 6), np.uint8)
    expected[l5], expected[skin], expected[nerve] = Structure.L5, Structure.SKIN, Structure.NERVES
    np.testing.assert_array_equal(labels.array, expected.transpose(2, 1, 0))
    assert labels.grid.matches(grid)


def test_a_segment_that_is_no_structure_is_refused_by_name(tmp_path: Path) -> None:
    segmentation = slicerio.create_segmentation((4, 4, 4), np.eye(4))
    slicerio.add_segment(segmentation, np.ones((4, 4, 4), bool), {"name": "Tumour"})
    path = tmp_path / "other.seg.nrrd"
    slicerio.write_segmentation(str(path), segmentation)
    with pytest.raises(LoadError, match=r"'tumour' in 'other\.seg\.nrrd' is not a LumboPlan"):
        read_label_map(path)


def test_a_seg_nrrd_naming_voxels_elsewhere_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hostile.seg.nrrd"
    path.write_text(
        "NRRD0004\ntype: uint8\ndimension: 3\nsizes: 2 2 2\nencoding: raw\n"
        "data file: /etc/passwd\n\n"
    )
    with pytest.raises(LoadError, match="outside the header's own folder"):
        read_label_map(path)


def seg_labels_on_grid(
    seg: hd.seg.Segmentation, sources: list[pydicom.Dataset], grid: Grid
) -> np.ndarray:
    """Return a SEG's structure ids put back on ``grid``, by each source pixel's LPS position.

    Segments are mapped to structures by their coded type, so renumbered segments count too.
    """
    by_number = {}
    for item in seg.SegmentSequence:
        code = item.SegmentedPropertyTypeCodeSequence[0]
        (structure,) = [s for s, c in STRUCTURE_CODES.items() if c.type.value == code.CodeValue]
        by_number[item.SegmentNumber] = structure
        assert item.SegmentLabel == structure.display_name
    pixels = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=[d.SOPInstanceUID for d in sources],
        combine_segments=True,
        relabel=False,
    )
    lookup = np.zeros(256, np.uint8)
    for number, structure in by_number.items():
        lookup[number] = int(structure)
    rebuilt = np.zeros(grid.shape_zyx, np.uint8)
    for frame, source in zip(pixels, sources, strict=True):
        rows, columns = np.mgrid[0 : source.Rows, 0 : source.Columns]
        cosines = np.asarray(source.ImageOrientationPatient, float)
        row_mm, column_mm = (float(v) for v in source.PixelSpacing)
        points = (
            np.asarray(source.ImagePositionPatient, float)
            + columns[..., None] * column_mm * cosines[:3]
            + rows[..., None] * row_mm * cosines[3:]
        )
        z, y, x = np.rint(grid.lps_to_index(points.reshape(-1, 3))).astype(int).T
        rebuilt[z, y, x] = lookup[frame.ravel()]
    return rebuilt


def test_dicom_seg_reads_back_in_highdicom_on_the_source_images(
    dicom_case: CaseFile, tmp_path: Path
) -> None:
    path = tmp_path / "labels.dcm"
    assert export_case(dicom_case, path) == [path]
    seg = hd.seg.segread(path)
    sources = [pydicom.dcmread(p) for p in sorted(Path(dicom_case.scan["reference"]).iterdir())]
    assert seg.SeriesNumber == 907
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == sources[0].SeriesInstanceUID
    rebuilt = seg_labels_on_grid(seg, sources, dicom_case.labels.grid)
    np.testing.assert_array_equal(rebuilt, dicom_case.labels.array)


def test_dicom_seg_of_a_case_planned_on_nifti_says_it_needs_the_series(tmp_path: Path) -> None:
    grid = Grid((12, 16, 20), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    volume = Volume(np.ones(grid.shape_zyx, np.float32), grid)
    summary = scan_summary(volume) | {"format": "NIfTI"}
    case = CaseFile(
        labels=block_labels(grid), plan={}, scan={"reference": "x.nii.gz", "summary": summary}
    )
    with pytest.raises(
        DicomSourceRequiredError, match=r"NIfTI file, not a DICOM series.*seg\.nrrd"
    ):
        export_case(case, tmp_path / "labels.dcm")
    assert not (tmp_path / "labels.dcm").exists()


def test_a_nifti_case_gets_its_dicom_seg_from_the_series_it_was_made_from(
    dicom_case: CaseFile, tmp_path: Path
) -> None:
    series = Path(dicom_case.scan["reference"])
    dicom_case.scan = {"reference": "scan.nii.gz", "summary": {"format": "NIfTI"}}
    export_case(dicom_case, tmp_path / "labels.dcm", scan=series)
    seg = hd.seg.segread(tmp_path / "labels.dcm")
    sources = [pydicom.dcmread(p) for p in sorted(series.iterdir())]
    rebuilt = seg_labels_on_grid(seg, sources, dicom_case.labels.grid)
    np.testing.assert_array_equal(rebuilt, dicom_case.labels.array)


def test_the_report_as_encapsulated_pdf_joins_the_source_study(
    dicom_case: CaseFile, tmp_path: Path
) -> None:
    dicom_case.plan = not_assessable_plan()
    path = tmp_path / "report.pdf.dcm"
    export_case(dicom_case, path)
    document = pydicom.dcmread(path)
    source = pydicom.dcmread(next(Path(dicom_case.scan["reference"]).iterdir()))
    assert document.SOPClassUID == "1.2.840.10008.5.1.4.1.1.104.1"
    assert document.StudyInstanceUID == source.StudyInstanceUID
    assert document.PatientID == PATIENT_ID
    pdf = document.EncapsulatedDocument[: document.EncapsulatedDocumentLength]
    assert pdf.startswith(b"%PDF")
    assert pdf.rstrip().endswith(b"%%EOF")


@pytest.mark.parametrize(
    "output", ["labels.dcm", "report.pdf.dcm", "labels.seg.nrrd", "plan.markups.json", "case.stl"]
)
def test_a_deidentified_export_holds_no_patient_identifier(
    dicom_case: CaseFile, tmp_path: Path, output: str
) -> None:
    dicom_case.plan = not_assessable_plan()
    written = export_case(dicom_case, tmp_path / output, deidentify=True)
    assert written
    for path in written:
        data = path.read_bytes()
        for identifier in IDENTIFIERS:
            assert identifier not in data, (path.name, identifier)
    if output.endswith(".dcm"):
        assert pydicom.dcmread(written[0]).PatientIdentityRemoved == "YES"


def test_an_unknown_ending_says_which_endings_export(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"\.seg\.nrrd.*\.pdf\.dcm.*\.vtp"):
        export_format(tmp_path / "labels.nii.gz")
    assert export_format(Path("a.PDF.DCM")) == ".pdf.dcm"


def planned_case() -> CaseFile:
    """A case whose plan has points a-d per side, its planes, channels and a root per side."""
    grid = Grid((30, 30, 40), (1.0, 1.0, 1.0), (-20.0, -10.0, -10.0))
    parts = np.zeros(grid.shape_zyx, np.uint8)
    parts[10:12, 10:12, 34:36] = Part.L5_ROOT_LEFT  # x 14..15 mm
    parts[10:12, 10:12, 4:6] = Part.L5_ROOT_RIGHT  # x -16..-15 mm
    plan: dict[str, Any] = not_assessable_plan()
    plan["planes"] = {"mid_sagittal": {"point": [0.0, 0.0, 0.0], "normal": [1.0, 0.0, 0.0]}}
    channels = {}
    for side in Side:
        sign = side.lps_sign
        entry = plan["sides"][side.value]
        entry.update(group="A", alpha_deg=40.0, line_a_mm=9.0, line_b_mm=80.0)
        entry["points_lps_mm"] = {
            "a": [6.0 * sign, 1.0, 1.0],
            "b": [3.0 * sign, 0.0, 0.0],
            "c": None,
            "d": [80.0 * sign, 60.0, 2.0],
        }
        channels[side.value] = {
            "tip_lps_mm": [3.0 * sign, 0.0, 0.0],
            "axis": [0.8 * sign, 0.6, 0.0],
            "diameter_mm": 7.5,
            "length_mm": 170.0,
        }
    return CaseFile(
        labels=LabelMap(np.zeros(grid.shape_zyx, np.uint8), grid),
        plan=plan,
        parts=LabelMap(parts, grid),
        channels=channels,
    )


def check_markups_schema(document: dict[str, Any]) -> None:
    """Check a document against Slicer's markups schema v1.0.3 (its required fields and types).

    jsonschema is not a LumboPlan dependency; these are the schema's constraints on what the
    export writes (Slicer/Slicer: Modules/Loadable/Markups/Resources/Schema/
    markups-schema-v1.0.3.json).
    """
    assert set(document) >= {"@schema", "markups"}
    assert isinstance(document["@schema"], str)
    for markup in document["markups"]:
        assert markup["type"] in {
            "Fiducial",
            "Line",
            "Angle",
            "Curve",
            "ClosedCurve",
            "Plane",
            "ROI",
        }
        assert isinstance(markup["name"], str)
        assert markup["coordinateSystem"] in {"LPS", "RAS"}
        assert markup["coordinateUnits"] in {"mm", "um"}
        assert isinstance(markup["locked"], bool)
        for point in markup["controlPoints"]:
            assert all(isinstance(point[k], str) for k in ("id", "label"))
            assert len(point["position"]) == 3
            assert all(isinstance(v, float | int) for v in point["position"])
            assert point["positionStatus"] in {"undefined", "preview", "defined"}
            assert all(isinstance(point[k], bool) for k in ("locked", "visibility"))
        for measurement in markup["measurements"]:
            assert isinstance(measurement["name"], str)
            assert isinstance(measurement["value"], float | int)
            assert isinstance(measurement["units"], str)
            assert isinstance(measurement["enabled"], bool)
        display = markup["display"]
        for key in ("color", "selectedColor"):
            assert len(display[key]) == 3
            assert all(0.0 <= v <= 1.0 for v in display[key])


def test_the_plan_as_slicer_markups_follows_the_schema_and_the_plan(tmp_path: Path) -> None:
    case = planned_case()
    path = tmp_path / "plan.markups.json"
    export_case(case, path)
    document = json.loads(path.read_text())
    assert document == json.loads(json.dumps(plan_markups(case)))
    assert document["@schema"] == MARKUPS_SCHEMA_URL
    check_markups_schema(document)
    markups = {m["name"]: m for m in document["markups"]}
    assert set(markups) == {
        f"{side} {what}"
        for side in ("Left", "Right")
        for what in ("plan points", "Line A", "Line B", "channel")
    }
    left_points = {p["label"]: p["position"] for p in markups["Left plan points"]["controlPoints"]}
    assert left_points == {"a": [6.0, 1.0, 1.0], "b": [3.0, 0.0, 0.0], "d": [80.0, 60.0, 2.0]}
    # Line A ends on the left root's nearest voxel centre; Line B's foot on the midline.
    line_a = [p["position"] for p in markups["Left Line A"]["controlPoints"]]
    assert line_a == [[6.0, 1.0, 1.0], [14.0, 1.0, 1.0]]
    assert markups["Left Line A"]["measurements"][0]["value"] == 9.0
    foot = markups["Right Line B"]["controlPoints"][1]["position"]
    assert axial_offset_mm(foot, [0, 0, 0], [1, 0, 0])[0] == pytest.approx(0.0)
    assert foot[2] == pytest.approx(2.0)
    channel = markups["Left channel"]
    ends = [np.asarray(p["position"]) for p in channel["controlPoints"]]
    assert np.linalg.norm(ends[1] - ends[0]) == pytest.approx(170.0)
    assert {m["name"]: m["value"] for m in channel["measurements"]} == {
        "diameter": 7.5,
        "length": 170.0,
    }
    assert "diameter 7.5 mm" in channel["description"]


def test_meshes_are_written_per_structure_in_lps_on_the_labels(tmp_path: Path) -> None:
    import pyvista

    grid = Grid((12, 16, 20), (0.8, 0.9, 1.5), (-9.0, -20.0, 30.0), SAGITTAL_DIRECTION)
    labels = block_labels(grid)
    written = export_case(CaseFile(labels=labels, plan={}), tmp_path / "case.stl")
    assert {p.name for p in written} == {f"case_{s.name.lower()}.stl" for s in Structure if s}
    mesh = pyvista.read(tmp_path / "case_l5.stl")
    assert (tmp_path / "case_l5.stl").read_bytes().startswith(b"SPACE=LPS")
    corners = grid.index_to_lps(np.argwhere(labels.array == Structure.L5))
    spacing = max(grid.spacing_xyz_mm)
    np.testing.assert_allclose(mesh.bounds[0::2], corners.min(axis=0), atol=spacing)
    np.testing.assert_allclose(mesh.bounds[1::2], corners.max(axis=0), atol=spacing)


def test_lumboplan_export_writes_each_format_from_a_case_file(
    dicom_case: CaseFile, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dicom_case.plan = not_assessable_plan()
    case_path = tmp_path / "case.lumboplan"
    write_case(dicom_case, case_path)
    assert main(["export", str(case_path), "-o", str(tmp_path / "out.seg.nrrd")]) == 0
    assert "Wrote Slicer segmentation: out.seg.nrrd" in capsys.readouterr().out
    assert main(["export", str(case_path), "-o", str(tmp_path / "out.dcm"), "--deidentify"]) == 0
    assert pydicom.dcmread(tmp_path / "out.dcm").PatientName == ""
    # Moved series: --scan names where it is now; gone: the message says what to do.
    moved = tmp_path / "moved"
    shutil.move(dicom_case.scan["reference"], moved)
    assert (
        main(["export", str(case_path), "-o", str(tmp_path / "b.dcm"), "--scan", str(moved)]) == 0
    )
    assert main(["export", str(case_path), "-o", str(tmp_path / "c.dcm")]) == 1
    error = capsys.readouterr().err
    assert "could not be read" in error
    assert "--scan" in error
    assert PATIENT_ID not in error
    assert main(["export", str(case_path), "-o", str(tmp_path / "out.txt")]) == 1


@pytest.mark.skipif(
    shutil.which("dciodvfy") is None,
    reason="dciodvfy (Debian's dicom3tools, 74 MB installed) is not installed; not in "
    "scripts/install-system-deps.sh for its size",
)
@pytest.mark.parametrize("output", ["labels.dcm", "report.pdf.dcm"])
@pytest.mark.parametrize("deidentify", [False, True])
def test_dicom_exports_pass_the_dicom3tools_validator(
    dicom_case: CaseFile, tmp_path: Path, output: str, deidentify: bool
) -> None:
    import subprocess

    dicom_case.plan = not_assessable_plan()
    (path,) = export_case(dicom_case, tmp_path / output, deidentify=deidentify)
    checked = subprocess.run(
        ["dciodvfy", "-new", str(path)], capture_output=True, text=True, check=False
    )
    report = checked.stdout + checked.stderr
    iod = "Segmentation" if output == "labels.dcm" else "EncapsulatedPDF"
    assert iod in report.splitlines()
    assert [line for line in report.splitlines() if line.startswith("Error")] == []


def test_a_seg_nrrd_whose_gzip_inflates_past_its_header_is_refused(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "bomb.seg.nrrd"
    header = b"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 2 2 2\nencoding: gzip\n\n"
    path.write_bytes(header + gzip.compress(bytes(64 << 20)))  # 64 MB of zeros for 8 voxels
    with pytest.raises(LoadError, match="more voxel data than its header declares"):
        read_label_map(path)


def test_the_demo_case_as_dicom_seg_keeps_its_labels_and_structure_numbers(tmp_path: Path) -> None:
    """The bundled demo (209 sagittal slices, all six structures): segment n is structure n."""
    volume = read_scan(DEMO / "dicom")
    labels = read_label_map(DEMO / "labels.nii.gz", reference=volume.grid)
    case = CaseFile(
        labels=labels,
        plan={},
        scan={"reference": str(DEMO / "dicom"), "summary": scan_summary(volume)},
    )
    path = tmp_path / "demo.dcm"
    export_case(case, path)
    seg = hd.seg.segread(path)
    assert [item.SegmentNumber for item in seg.SegmentSequence] == [1, 2, 3, 4, 5, 6]
    sources = [pydicom.dcmread(p, stop_before_pixels=True) for p in (DEMO / "dicom").iterdir()]
    np.testing.assert_array_equal(seg_labels_on_grid(seg, sources, labels.grid), labels.array)


def test_the_report_of_a_case_planned_on_nifti_starts_its_own_study(tmp_path: Path) -> None:
    grid = Grid((12, 16, 20), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    volume = Volume(np.ones(grid.shape_zyx, np.float32), grid)
    case = CaseFile(
        labels=block_labels(grid),
        plan=not_assessable_plan(),
        scan={"reference": None, "summary": scan_summary(volume) | {"format": "NIfTI"}},
        patient=PatientInfo(name=NAME, patient_id=PATIENT_ID, birth_date=BIRTH_DATE),
    )
    export_case(case, tmp_path / "report.pdf.dcm")
    document = pydicom.dcmread(tmp_path / "report.pdf.dcm")
    assert document.PatientID == PATIENT_ID
    assert document.Modality == "DOC"
    assert document.StudyInstanceUID


def test_exports_log_no_patient_identifier(
    dicom_case: CaseFile, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dicom_case.plan = not_assessable_plan()
    caplog.set_level("DEBUG")
    for output in ("labels.dcm", "report.pdf.dcm", "labels.seg.nrrd", "case.obj"):
        export_case(dicom_case, tmp_path / output)
    for identifier in (NAME, "Identifiable", PATIENT_ID, BIRTH_DATE, str(tmp_path)):
        assert identifier not in caplog.text


def test_a_dicom_seg_on_another_series_is_refused(
    dicom_case: CaseFile, make_series, tmp_path: Path
) -> None:
    other = make_series(
        Grid((12, 16, 20), (0.8, 0.9, 1.5), (-9.0, -20.4, 30.0), SAGITTAL_DIRECTION),
        folder="other",
    )
    with pytest.raises(ExportError, match="do not lie on the pixels of this DICOM series"):
        export_case(dicom_case, tmp_path / "labels.dcm", scan=other)
