"""The PDF report, `lumboplan run` on the demo, and `lumboplan batch` over phantoms."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from pypdf import PdfReader

from lumboplan_app.cli import main
from lumboplan_app.io import read_label_map
from lumboplan_app.labels import Part, Structure
from lumboplan_app.phantom.case import generate_case, write_case
from lumboplan_app.phantom.mr import Acquisition, default_contrast
from lumboplan_app.planning.plan import plan_from_labels
from lumboplan_app.report import figures
from lumboplan_app.report.pdf import write_report
from lumboplan_app.session import case_from_plan
from lumboplan_app.session import write_case as write_case_file
from lumboplan_app.volume import LabelMap

pytestmark = pytest.mark.slow

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo" / "case_00057"
#: The demo DICOM's identifiers (written by the phantom's DICOM export).
DEMO_IDENTIFIERS = ("Phantom", "PHANTOM-57", "20260101")


def pdf_text(path: Path) -> str:
    reader = PdfReader(path)
    text = "\n".join(page.extract_text() for page in reader.pages)
    return text + "\n" + json.dumps({k: str(v) for k, v in (reader.metadata or {}).items()})


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "demo"
    labels = DEMO / "labels.nii.gz"
    assert main(["run", str(DEMO / "dicom"), "--labels", str(labels), "-o", str(out)]) == 0
    return out


def test_run_writes_labels_meshes_case_plan_and_report(demo_run) -> None:
    for name in ("labels.nii.gz", "case.lumboplan", "plan.json", "report.pdf"):
        assert (demo_run / name).is_file(), name
    assert {p.name for p in (demo_run / "meshes").iterdir()} >= {"l5.stl", "s1.stl", "disc.stl"}


def test_the_report_states_the_plans_recommendations_and_numbers(demo_run) -> None:
    plan = json.loads((demo_run / "plan.json").read_text())
    text = pdf_text(demo_run / "report.pdf")
    assert "Group A: transforaminal approach (TF-PELD) advised" in text  # left
    assert "Group B: interlaminar approach (IL-PELD) or open microdiscectomy advised" in text
    assert "Near miss" in text  # the left S1 root, 0.9 mm from the channel
    for side in ("left", "right"):
        entry = plan["sides"][side]
        assert f"{entry['alpha_deg']:.1f} deg" in text
        assert f"{entry['line_a_mm']:.1f} mm" in text
        best = entry["best_free"]
        assert f"{best['alpha_deg']:.1f} deg" in text
    assert "L5 inferior articular process (right)" in text
    assert "supports, and does not replace, the surgeon's judgement" in text
    assert "Page 1 of 3" in text
    assert "Page 3 of 3" in text
    assert "Labels given with the scan" in text  # no model claimed for given labels
    assert "Phantom 57" in text  # identified by default: the case block names the patient
    flat = " ".join(text.split())
    assert "violet touching nothing in the scan but leaving it (cannot be judged)" in flat
    assert any(
        any(map(any, plan["sides"][side]["feasibility_map"]["leaves_scan"]))
        for side in plan["sides"]
    )


def test_a_plan_made_before_leaves_scan_existed_says_its_red_may_also_leave_the_scan(
    demo_run, tmp_path
) -> None:
    from lumboplan_app.session import read_case

    case = read_case(demo_run / "case.lumboplan")
    for entry in case.plan["sides"].values():
        entry["feasibility_map"].pop("leaves_scan")
    write_report(case, tmp_path / "old.pdf")
    flat = " ".join(pdf_text(tmp_path / "old.pdf").split())
    assert "red also where the path leaves the scan (a plan made before the two" in flat
    assert "violet" not in flat


def test_a_deidentified_report_holds_no_identifier(demo_run, tmp_path) -> None:
    output = tmp_path / "anonymous.pdf"
    assert (
        main(["report", str(demo_run / "case.lumboplan"), "-o", str(output), "--deidentify"]) == 0
    )
    text = pdf_text(output)
    raw = output.read_bytes()
    assert "De-identified report" in text
    for identifier in DEMO_IDENTIFIERS:
        assert identifier not in text
        assert identifier.encode() not in raw


def test_report_of_a_missing_or_damaged_case_exits_1(tmp_path, capsys) -> None:
    damaged = tmp_path / "damaged.lumboplan"
    damaged.write_bytes(b"not a zip")
    assert main(["report", str(damaged), "-o", str(tmp_path / "r.pdf")]) == 1
    assert "not a readable LumboPlan case" in capsys.readouterr().err
    assert not (tmp_path / "r.pdf").exists()


NO_PEDICLES = [
    Part.L5_PEDICLE_LEFT,
    Part.L5_PEDICLE_RIGHT,
    Part.L5_TRANSVERSE_PROCESS_LEFT,
    Part.L5_TRANSVERSE_PROCESS_RIGHT,
    Part.L5_IAP_LEFT,
    Part.L5_IAP_RIGHT,
    Part.L5_SAP_LEFT,
    Part.L5_SAP_RIGHT,
]
NO_S1_AT_THE_MIDLINE = [Part.S1_BODY, Part.S1_POSTERIOR_ARCH]


@pytest.mark.parametrize(
    ("removed", "reasons"),
    [
        (
            NO_PEDICLES,
            [
                f"The {side} L5 pedicle was not found where a pedicle lies"
                for side in ("left", "right")
            ],
        ),
        (NO_S1_AT_THE_MIDLINE, ["S1 was not found at the midline"] * 2),
    ],
    ids=["no-pedicles", "no-frame"],
)
def test_a_case_with_nothing_assessable_still_gets_its_report(
    tmp_path, removed: list[Part], reasons: list[str]
) -> None:
    # As the real VBs_VB2_10 before: no part told apart, and `run` and `report` ended in
    # "internal error (KeyError)" in the axial figure of a plan without a frame.
    labels = read_label_map(DEMO / "labels.nii.gz")
    array = labels.array.copy()
    array[np.isin(read_label_map(DEMO / "parts.nii.gz").array, removed)] = 0
    nothing_assessable = LabelMap(array, labels.grid)
    plan = plan_from_labels(nothing_assessable)
    document = plan.to_json()
    assert {entry["group"] for entry in document["sides"].values()} == {"not_assessable"}
    assert set(document["planes"]) == {"disc_mid", "mid_sagittal"}  # kept: the disc plane shows
    case_path, output = tmp_path / "case.lumboplan", tmp_path / "report.pdf"
    write_case_file(case_from_plan(plan, nothing_assessable), case_path)
    assert main(["report", str(case_path), "-o", str(output)]) == 0
    text = " ".join(pdf_text(output).split())  # lines wrapped in tables joined
    assert "Page 3 of 3" in text
    for side, reason in zip(("left", "right"), reasons, strict=True):
        assert reason in document["sides"][side]["reasons"][0]
        # On the summary and on the foramen's page.
        assert text.count(reason) >= 2
    assert "No feasibility map: a foramen that is not assessable is not mapped" in text
    assert "(No sagittal slice: neither point a nor point b was found.)" in text
    assert len(PdfReader(output).pages[0].images) == 1  # the disc plane, without channels


def test_the_map_figure_shows_poses_leaving_the_scan_apart_from_free_and_blocked() -> None:
    alphas, betas = [0.0, 1.0, 2.0], [-1.0, 0.0, 1.0]
    entry = {
        "feasibility_map": {
            "margin_mm": 0.5,
            "alphas_deg": alphas,
            "betas_deg": betas,
            "smallest_clearance_mm": [[4.0] * 3, [4.0] * 3, [-2.0] * 3],
            "free": [[True] * 3, [False] * 3, [False] * 3],
            "leaves_scan": [[False] * 3, [True] * 3, [False] * 3],
        }
    }
    figure = figures.map_figure(entry, scale=10)
    assert figure is not None
    # The image starts 50 px from the left and 10 px from the top; alpha runs across.
    colours = [figure.getpixel((50 + 10 * column + 5, 10 + 15)) for column in range(3)]
    free, leaving, blocked = colours
    assert free[1] > free[0]
    assert blocked[0] > blocked[1]
    assert leaving == figures.MAP_LEAVES_SCAN_RGB


def test_where_opengl_cannot_draw_the_report_goes_without_its_3d_figure(
    tmp_path, monkeypatch
) -> None:
    from lumboplan_app.reconstruction import opengl

    monkeypatch.setattr(opengl, "_check", None)
    opengl.remember_opengl_support(opengl.OpenGLSupport(False, "1.1.0"))  # as the window learnt
    labels = read_label_map(DEMO / "labels.nii.gz")
    output = tmp_path / "report.pdf"
    write_report(case_from_plan(plan_from_labels(labels), labels), output)
    text = " ".join(pdf_text(output).split())
    assert text.count("(No 3-D figure: this computer's OpenGL cannot draw it") == 2
    assert "Page 3 of 3" in text


def test_the_3d_figure_keeps_long_labels_and_touched_parts_inside_its_frame() -> None:
    import pyvista

    from lumboplan_app.labels import Side
    from lumboplan_app.planning.landmarks import plane_axes
    from lumboplan_app.volume import Grid

    labels = read_label_map(DEMO / "labels.nii.gz")
    plan = case_from_plan(plan_from_labels(labels), labels).plan
    origin, _, _, w = plane_axes(plan)
    # A canal from T10 to S5, meshed along its length, and a dural sac as long (a column 600 mm
    # tall on a 2 mm grid) that the side's channel touches; the channel itself is not drawn.
    canal = pyvista.Line(origin - 300.0 * w, origin + 300.0 * w, resolution=600).tube(radius=6.0)
    tall = Grid((300, 40, 40), (2.0, 2.0, 2.0), tuple(origin - [40.0, 40.0, 300.0]))
    column = np.zeros(tall.shape_zyx, dtype=np.uint8)
    column[:, 20:25, 18:23] = Part.DURAL_SAC
    sac = LabelMap(column, tall)
    side = {"alpha_deg": None, "contacts": [{"part": "dural_sac", "clearance_mm": -1.0}]}
    plan = {**plan, "sides": {**plan["sides"], Side.LEFT.value: side}}
    for meshes, parts in (({Structure.NERVES: canal}, None), ({}, sac)):
        image = np.asarray(figures.posterolateral_figure(plan, meshes, parts, Side.LEFT))
        drawn = (image < 250).any(axis=2)
        assert drawn.sum() > 1000  # what lies near the foramen is there
        frame = np.concatenate([drawn[0], drawn[-1], drawn[:, 0], drawn[:, -1]])
        assert not frame.any()  # and nothing runs out of the picture


def test_a_plan_without_planes_shows_what_was_segmented(tmp_path) -> None:
    labels = read_label_map(DEMO / "labels.nii.gz")
    array = labels.array.copy()
    array[array == Structure.DISC] = 0
    no_disc = LabelMap(array, labels.grid)
    plan = plan_from_labels(no_disc)
    assert plan.landmarks == {}
    output = tmp_path / "no_disc.pdf"
    write_report(case_from_plan(plan, no_disc), output)
    text = " ".join(pdf_text(output).split())
    assert "The L5/S1 disc was not found" in text
    assert (
        "No disc mid-plane: without the L5/S1 disc, L5 and S1 the planes cannot be placed" in text
    )
    assert "without the disc, L5 and S1 there is no frame" in text
    assert "Page 3 of 3" in text
    assert len(PdfReader(output).pages[0].images) == 1  # the sagittal overview


SMALL_SCAN = Acquisition(
    plane="axial",
    in_plane_mm=1.5,
    slice_mm=1.5,
    fov_half_mm=(115.0, 85.0, 65.0),
    fov_centre_mm=(0.0, 35.0, 10.0),
)


def test_a_batch_records_a_broken_case_goes_on_and_resumes(tmp_path, capsys) -> None:
    cohort, out = tmp_path / "cohort", tmp_path / "out"
    for seed in (3, 4):
        case = generate_case(seed, acquisition=SMALL_SCAN, contrast=default_contrast())
        write_case(case, cohort / f"case_{seed}")
    broken = cohort / "case_broken"
    broken.mkdir()
    (broken / "image.nii.gz").write_bytes(b"\x1f\x8b truncated")
    args = ["batch", str(cohort), "-o", str(out), "--labels-name", "labels.nii.gz"]
    assert main([*args, "--workers", "2"]) == 1  # a failed case is reported in the status
    err = capsys.readouterr().err
    assert "case_broken" in err
    rows = list(csv.DictReader((out / "foramina.csv").open()))
    assert sorted((r["case"], r["side"]) for r in rows) == [
        ("case_3", "left"),
        ("case_3", "right"),
        ("case_4", "left"),
        ("case_4", "right"),
    ]
    assert all(r["group"] in {"A", "B", "not_assessable"} for r in rows)
    failures = list(csv.DictReader((out / "failures.csv").open()))
    assert [f["case"] for f in failures] == ["case_broken"]
    assert failures[0]["reason"]
    assert (out / "case_3" / "report.pdf").is_file()
    # A rerun skips the finished cases and retries the broken one.
    assert main(args) == 1
    assert "0 case(s) run, 2 already finished, 1 failed" in capsys.readouterr().out
