"""The planning report: a PDF a surgeon can put in the chart (reportlab), written atomically.

Page 1: the case block (or "de-identified"), the scan, the model, a summary of both foramina and
the axial view on the disc mid-plane. Then one page per foramen: the recommendation with its
reasons, the measurements (alpha, beta, Line A, Line B, points a-d), the contacts by part, the
best free trajectory beside the paper's placement, and the figures (3-D posterolateral view,
sagittal slice through the foramen, feasibility map). Every page carries the statement that the
report supports, and does not replace, the surgeon's judgement, and "page N of M".

A case with nothing assessable still gets every page: a foramen that was not placed shows why,
what was measured (Line A, points a and b) and the figures that need no channel; a plan without
planes shows the sagittal slice through what was segmented in place of the disc plane.

``deidentify`` leaves out the patient's name, ID and birth date, the study date and the case
key, everywhere: the text, the figures and the PDF's metadata.
"""

from __future__ import annotations

import io
import logging
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from PIL import Image
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Image as PdfImage,
)
from reportlab.platypus import (
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from lumboplan_app import __version__
from lumboplan_app.atomic import atomic_output
from lumboplan_app.draft import Draft
from lumboplan_app.errors import PlanningError
from lumboplan_app.labels import Part, Side
from lumboplan_app.planning.advice import group_headline
from lumboplan_app.progress import ProgressCallback
from lumboplan_app.reconstruction.opengl import known_opengl_support
from lumboplan_app.report import figures
from lumboplan_app.session import CaseFile
from lumboplan_app.volume import Volume

logger = logging.getLogger(__name__)

DISCLAIMER = (
    "LumboPlan supports, and does not replace, the surgeon's judgement. The segmentation, the "
    "derived landmarks and the classification must be checked on the images before surgery."
)
_GROUP_COLOUR = {"A": "#1b7f3b", "B": "#b3261e", "not_assessable": "#7a6a00"}
_WIDTH = A4[0] - 30 * mm


def _styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    return {
        "title": ParagraphStyle("title", parent=base["Title"], fontSize=17, spaceAfter=4),
        "h2": ParagraphStyle("h2", parent=base["Heading2"], fontSize=13, spaceBefore=6),
        "body": ParagraphStyle("body", parent=base["BodyText"], fontSize=9.5, leading=12),
        "small": ParagraphStyle("small", parent=base["BodyText"], fontSize=8, leading=10),
    }


def _number(value: float | None, unit: str, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f} {unit}"


def _point(value: list[float] | None) -> str:
    return "-" if value is None else "(" + ", ".join(f"{v:.1f}" for v in value) + ")"


def _image(picture: Image.Image, width_mm: float) -> PdfImage:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    buffer.seek(0)
    height_mm = width_mm * picture.height / picture.width
    return PdfImage(buffer, width=width_mm * mm, height=height_mm * mm)


def _table(rows: list[list[Any]], widths: list[float], header: bool = True) -> Table:
    table = Table(rows, colWidths=[w * mm for w in widths], hAlign="LEFT")
    style = [
        ("FONTSIZE", (0, 0), (-1, -1), 8.5),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#b0b0b0")),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
    ]
    if header:
        style += [
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef4")),
            ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
        ]
    table.setStyle(TableStyle(style))
    return table


def _case_rows(case: CaseFile, deidentify: bool) -> list[list[str]]:
    summary = (case.scan or {}).get("summary") or {}
    rows = []
    if deidentify:
        rows.append(["Patient", "De-identified report"])
    elif case.patient is not None:
        rows += [
            ["Patient", case.patient.name.replace("^", " ") or "-"],
            ["Patient ID", case.patient.patient_id or "-"],
            ["Birth date", case.patient.birth_date or "-"],
            ["Sex", case.patient.sex or "-"],
        ]
    else:
        rows.append(["Patient", "No identifiers in the scan"])
    size = summary.get("size_xyz")
    spacing = summary.get("spacing_xyz_mm")
    rows += [
        ["Series", summary.get("series_description") or "-"],
        ["Modality", f"{summary.get('modality', '-')} ({summary.get('format', '-')})"],
        ["Voxels", " x ".join(str(n) for n in size) if size else "-"],
        ["Spacing", " x ".join(f"{s:.2f}" for s in spacing) + " mm" if spacing else "-"],
    ]
    if not deidentify:
        rows.append(["Study date", summary.get("study_date") or "-"])
        rows.append(["Case key", summary.get("case_key") or "-"])
    for warning in summary.get("warnings", []):
        rows.append(["Scan warning", warning])
    model = case.model
    if model is None:
        rows.append(["Segmentation", "Labels given with the scan (not segmented by LumboPlan)"])
    else:
        rows.append(["Model", f"{model.get('file', '-')} (SHA-256 {model.get('sha256', '')[:12]})"])
        rows.append(["Model trained on", model.get("training_data") or "-"])
    if case.draft is not None:
        draft = Draft.from_json(case.draft)
        rows.append(["Labels", f"Unverified draft of a refused segmentation: {draft.reason}"])
        for title, structures in (("Confirmed", draft.confirmed), ("Corrected", draft.corrected)):
            names = ", ".join(s.display_name for s in sorted(structures)) or "none"
            rows.append([f"{title} by hand", names])
    rows.append(["Planned with", f"LumboPlan {__version__}, report {datetime.now():%Y-%m-%d}"])
    return rows


def _side_story(
    case: CaseFile,
    side: Side,
    volume: Volume | None,
    meshes: dict[Any, Any],
    styles: dict[str, ParagraphStyle],
) -> list[Any]:
    plan = case.plan
    entry = plan["sides"][side.value]
    group = entry["group"]
    story: list[Any] = [
        Paragraph(f"{side.value.title()} L5/S1 foramen", styles["h2"]),
        Paragraph(
            f'<font color="{_GROUP_COLOUR[group]}"><b>{group_headline(group)}</b></font>',
            styles["body"],
        ),
    ]
    for reason in entry["reasons"]:
        story.append(Paragraph("• " + escape(reason), styles["body"]))
    if group == "not_assessable":
        return story + _unplaced_story(case, side, volume, meshes, styles)
    points = entry["points_lps_mm"]
    measures = [
        ["Measurement", "Value", "Paper (mean)"],
        [
            "Alpha (axial angle)",
            _number(entry["alpha_deg"], "deg"),
            "40.65 deg",
        ],
        ["Beta (cranio-caudal tilt)", _number(entry["beta_deg"], "deg"), "0"],
        ["Line A (point a to the exiting root)", _number(entry["line_a_mm"], "mm"), "13.6 mm"],
        ["Line B (midline to point d)", _number(entry["line_b_mm"], "mm"), "89.5 mm"],
    ]
    measures += [
        [f"Point {name} (LPS mm)", _point(points.get(name)), ""] for name in ("a", "b", "c", "d")
    ]
    story += [Spacer(1, 3 * mm), _table(measures, [70, 60, 30])]
    contacts = [["Part", "Clearance", "Role"]]
    for contact in entry["contacts"]:
        part = Part[contact["part"].upper()]
        clearance = contact["clearance_mm"]
        text = f"{-clearance:.1f} mm deep" if clearance < 0 else f"{clearance:.1f} mm clear"
        blocking = contact["part"].startswith(("l5_iap", "l5_transverse", "l5_root", "s1_root"))
        blocking = blocking or contact["part"] == "dural_sac"
        contacts.append([part.display_name, text, "blocks if touched" if blocking else "reported"])
    if len(contacts) == 1:
        contacts.append(["No part within 3 mm of the channel", "", ""])
    story += [Spacer(1, 3 * mm), _table(contacts, [80, 35, 45])]
    best = entry.get("best_free")
    comparison = [
        [
            "Trajectory",
            "Alpha",
            "Beta",
            "Smallest clearance",
        ],
        [
            "Paper's placement",
            _number(entry["alpha_deg"], "deg"),
            _number(entry["beta_deg"], "deg"),
            "-",
        ],
        ["Best free trajectory"]
        + (
            [
                _number(best["alpha_deg"], "deg"),
                _number(best["beta_deg"], "deg"),
                _number(best["min_clearance_mm"], "mm"),
            ]
            if best is not None
            else ["none free", "", ""]
        ),
    ]
    story += [Spacer(1, 3 * mm), _table(comparison, [50, 30, 30, 50])]
    row = _view_figures(case, side, volume, meshes, styles)
    chart = figures.map_figure(entry)
    row.append(_image(chart, 62) if chart is not None else "")
    story += [Spacer(1, 3 * mm), Table([row], colWidths=[64 * mm, 52 * mm, 64 * mm])]
    mapped = entry.get("feasibility_map") or {}
    unseen = (
        "violet touching nothing in the scan but leaving it (cannot be judged)"
        if "leaves_scan" in mapped or not mapped
        else "red also where the path leaves the scan (a plan made before the two were told apart)"
    )
    story.append(
        Paragraph(
            "Left: posterolateral 3-D view (10 cm around the foramen), the channel in colour, "
            "touched parts in red. Middle: sagittal slice through the foramen (anterior left), "
            "the channel's crossing circled. "
            "Right: feasibility map, alpha across (0 lateral, 90 posterior), beta up (cranial "
            "tilt positive); green free (brighter: more clearance), red touching a blocking "
            f"part, the ilium, the ala or the pedicle, {unseen}; white circle the paper's "
            "placement, yellow cross the best free trajectory.",
            styles["small"],
        )
    )
    return story


def _view_figures(
    case: CaseFile,
    side: Side,
    volume: Volume | None,
    meshes: dict[Any, Any],
    styles: dict[str, ParagraphStyle],
) -> list[Any]:
    """Return the 3-D and sagittal figures of a foramen, or a line that says why not."""
    plan = case.plan
    points = plan["sides"][side.value]["points_lps_mm"]
    if not figures.has_frame(plan):
        why = "(No 3-D or sagittal figure: without the disc, L5 and S1 there is no frame.)"
        return [Paragraph(why, styles["small"]), ""]
    support = known_opengl_support()
    if support is not None and not support.supported:  # drawing would crash the window
        no_opengl = "(No 3-D figure: this computer's OpenGL cannot draw it; see the 3-D pane.)"
        row: list[Any] = [Paragraph(no_opengl, styles["small"])]
    else:
        try:
            row = [_image(figures.posterolateral_figure(plan, meshes, case.parts, side), 62)]
        except Exception as error:  # a figure that cannot be drawn must not cost the report
            logger.warning("report figure failed: %s", type(error).__name__)
            row = [Paragraph("(The 3-D figure could not be drawn.)", styles["small"])]
    if points.get("a") is None and points.get("b") is None:
        why = "(No sagittal slice: neither point a nor point b was found.)"
        return [*row, Paragraph(why, styles["small"])]
    try:
        row.append(_image(figures.sagittal_figure(plan, case.labels, volume, side), 50))
    except Exception as error:
        logger.warning("report figure failed: %s", type(error).__name__)
        row.append(Paragraph("(The sagittal figure could not be drawn.)", styles["small"]))
    return row


def _unplaced_story(
    case: CaseFile,
    side: Side,
    volume: Volume | None,
    meshes: dict[Any, Any],
    styles: dict[str, ParagraphStyle],
) -> list[Any]:
    """Return what a foramen that was not placed still shows: measurements and figures."""
    entry = case.plan["sides"][side.value]
    points = entry["points_lps_mm"]
    measures = [
        ["Measurement", "Value", "Paper (mean)"],
        ["Alpha, beta, Line B, points c and d", "not placed", ""],
        ["Line A (point a to the exiting root)", _number(entry["line_a_mm"], "mm"), "13.6 mm"],
    ]
    measures += [[f"Point {name} (LPS mm)", _point(points.get(name)), ""] for name in ("a", "b")]
    row = _view_figures(case, side, volume, meshes, styles)
    row.append(
        Paragraph(
            "(No feasibility map: a foramen that is not assessable is not mapped, since the "
            "parts it lacks would read as free.)",
            styles["small"],
        )
    )
    return [
        Spacer(1, 3 * mm),
        _table(measures, [70, 60, 30]),
        Spacer(1, 3 * mm),
        Table([row], colWidths=[64 * mm, 52 * mm, 64 * mm]),
        Paragraph(
            "Left: posterolateral 3-D view (10 cm around the foramen), without a channel (the "
            "foramen was not placed). Middle: sagittal slice through the foramen (anterior "
            "left), points a and b marked.",
            styles["small"],
        ),
    ]


class _NumberedCanvas(Canvas):
    """A canvas that writes "page N of M" and the disclaimer on every page (two passes)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for page in self._pages:
            self.__dict__.update(page)
            self.setFont("Helvetica", 7.5)
            self.setFillColor(colors.HexColor("#555555"))
            self.drawString(
                15 * mm,
                10 * mm,
                f"LumboPlan {__version__} - supports, and does not replace, the surgeon's "
                "judgement",
            )
            self.drawRightString(A4[0] - 15 * mm, 10 * mm, f"Page {self._pageNumber} of {total}")
            super().showPage()
        super().save()


def write_report(
    case: CaseFile,
    output: Path,
    volume: Volume | None = None,
    deidentify: bool = False,
    progress: ProgressCallback | None = None,
) -> None:
    """Write the PDF report of ``case`` to ``output`` atomically.

    ``volume`` is the scan, for the slice figures (without it they show the labels only).

    Raises
    ------
    PlanningError
        If the case holds no plan (saved before planning).
    WriteError
        If the disk is full or not writable; a previous report at ``output`` is kept.
    """
    styles = _styles()
    plan = case.plan
    if not plan.get("sides"):
        raise PlanningError(
            "This case has no plan yet (it was saved before planning): open it in LumboPlan, "
            "plan it and save it, then write the report."
        )
    if progress is not None:
        progress(0.05, "Writing the report")
    story: list[Any] = [
        Paragraph("LumboPlan - PELD planning at L5/S1", styles["title"]),
        Paragraph(DISCLAIMER, styles["small"]),
        Spacer(1, 3 * mm),
        _table(
            [[k, Paragraph(escape(v), styles["small"])] for k, v in _case_rows(case, deidentify)],
            [40, 140],
            header=False,
        ),
        Paragraph("Summary", styles["h2"]),
    ]
    summary = [
        [
            "Foramen",
            "Recommendation",
            "Alpha",
            "Line A",
            "Line B",
        ]
    ]
    for side in Side:
        entry = plan["sides"][side.value]
        recommendation = group_headline(entry["group"])
        if entry["group"] == "not_assessable" and entry["reasons"]:
            recommendation += f": {entry['reasons'][0]}"  # why, on the first page already
        summary.append(
            [
                side.value.title(),
                Paragraph(escape(recommendation), styles["small"]),
                _number(entry["alpha_deg"], "deg"),
                _number(entry["line_a_mm"], "mm"),
                _number(entry["line_b_mm"], "mm"),
            ]
        )
    story += [_table(summary, [20, 90, 22, 22, 26]), Spacer(1, 3 * mm)]
    if figures.has_frame(plan):
        placed = [side for side in Side if plan["sides"][side.value]["alpha_deg"] is not None]
        shown = (
            "both channels from point b, points a-d, the midline and Line B"
            if len(placed) == 2
            else "the midline, points a and b where found, and the channel of a placed foramen "
            "(a foramen that is not assessable has none)"
        )
        story += [
            _image(figures.axial_figure(plan, case.labels, volume), 120),
            Paragraph(
                "The disc mid-plane seen from below (the patient's left on the right, anterior "
                f"at the top): {shown}.",
                styles["small"],
            ),
        ]
    else:
        story += [
            _image(figures.overview_figure(case.labels, volume), 100),
            Paragraph(
                "No disc mid-plane: without the L5/S1 disc, L5 and S1 the planes cannot be "
                "placed (see the reasons above). The sagittal slice through the middle of what "
                "was segmented (anterior on the left, superior at the top) shows the labels.",
                styles["small"],
            ),
        ]
    if progress is not None:
        progress(0.3, "Report: figures")
    meshes = figures.report_meshes(case.labels)
    for index, side in enumerate(Side):
        story.append(PageBreak())
        story += _side_story(case, side, volume, meshes, styles)
        if progress is not None:
            progress(0.3 + 0.3 * (index + 1), f"Report: {side.value} foramen")
    with atomic_output(output) as temporary:
        document = SimpleDocTemplate(
            str(temporary),
            pagesize=A4,
            leftMargin=15 * mm,
            rightMargin=15 * mm,
            topMargin=14 * mm,
            bottomMargin=16 * mm,
            title="LumboPlan planning report",
            author="LumboPlan",
            subject="PELD planning at L5/S1",
            creator=f"LumboPlan {__version__}",
            keywords="",
        )
        document.build(story, canvasmaker=_NumberedCanvas)
    if progress is not None:
        progress(1.0, "Report written")
