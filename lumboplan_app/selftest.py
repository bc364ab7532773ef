"""``lumboplan --selftest``: does this installation work? (issue 20, item 4).

What the installer's check and a clinic's IT person run: the libraries import, OpenGL can draw
the 3-D pane (VTK's test in a child process, :mod:`lumboplan_app.reconstruction.opengl`) and an
off-screen render of it is not blank, the shipped model segments the bundled demo case, the
labels plan, and the report is written. Everything goes into a temporary folder that is removed
afterwards (the log goes to the app's usual log folder); nothing touches the network.

Each check gives a :class:`Check` (name, ok, seconds, message). A check that raises fails with
a one-line message; the traceback goes to the log only. A check whose input an earlier failed
check should have made fails with "not run". No Qt here: the render is VTK's off-screen window.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lumboplan_app.errors import LumboPlanError
from lumboplan_app.text import shown_text

if TYPE_CHECKING:
    from lumboplan_app.session import CaseFile
    from lumboplan_app.volume import LabelMap, Volume

logger = logging.getLogger(__name__)

SELFTEST_SCHEMA = "lumboplan.selftest/1"
#: The libraries the command line and the report need, imported by the first check.
REQUIRED_MODULES = (
    "numpy",
    "scipy",
    "SimpleITK",
    "pydicom",
    "onnxruntime",
    "vtkmodules.vtkRenderingOpenGL2",
    "pyvista",
    "reportlab",
    "PIL",
    "lumboplan_app.io",
    "lumboplan_app.segmentation.inference",
    "lumboplan_app.planning.plan",
    "lumboplan_app.reconstruction.scene",
    "lumboplan_app.report.pdf",
)
#: The window's packages: found, not imported (the core never imports Qt).
WINDOW_MODULES = ("PySide6", "pyvistaqt")
#: Share of the rendered picture that must differ from the background.
MINIMUM_DRAWN_SHARE = 0.01
_REINSTALL = "Reinstall LumboPlan."


class SelftestError(LumboPlanError):
    """A check found something wrong; the message says what and what to do."""


@dataclass
class Check:
    """One check's outcome, as printed in the JSON summary."""

    name: str
    ok: bool
    seconds: float
    message: str


@dataclass
class SelftestResult:
    """All checks, in the order run."""

    checks: list[Check]

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return all(check.ok for check in self.checks)

    def first_failure(self) -> Check | None:
        """Return the first check that failed (the cause of the later ones' "not run"), or None."""
        return next((check for check in self.checks if not check.ok), None)

    def to_json(self) -> dict[str, Any]:
        """Return the summary printed by ``lumboplan --selftest``."""
        return {
            "schema": SELFTEST_SCHEMA,
            "ok": self.ok,
            "seconds": round(sum(check.seconds for check in self.checks), 2),
            "checks": [asdict(check) for check in self.checks],
        }


@dataclass
class _State:
    """What the checks hand on to each other."""

    folder: Path
    volume: Volume | None = None
    labels: LabelMap | None = None
    case: CaseFile | None = None
    model: dict[str, Any] = field(default_factory=dict)


def check_imports(state: _State) -> str:
    """Import the libraries the app needs; find the window's."""
    for name in REQUIRED_MODULES:
        try:
            importlib.import_module(name)
        except Exception as error:  # an ImportError, or a library failing as it loads
            logger.exception("importing %s failed", name)
            raise SelftestError(
                f"The library {name} cannot be loaded ({type(error).__name__}). {_REINSTALL}"
            ) from error
    missing = [name for name in WINDOW_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise SelftestError(f"The window's library {missing[0]} is missing. {_REINSTALL}")
    return f"{len(REQUIRED_MODULES)} modules imported; window libraries present"


def check_render(state: _State) -> str:
    """Test OpenGL in a child process, then render the 3-D pane off-screen and look at it."""
    import numpy as np

    from lumboplan_app.labels import Structure
    from lumboplan_app.reconstruction.opengl import opengl_support
    from lumboplan_app.reconstruction.scene import BACKGROUND_RGB, PlanScene

    support = opengl_support()
    if not support.supported:
        raise SelftestError(support.message())
    import pyvista

    scene = PlanScene((160, 120))
    try:
        scene.set_meshes({Structure.L5: pyvista.Sphere(radius=20.0)})
        scene.camera_preset("posterolateral")
        image = scene.render()
    finally:
        scene.plotter.close()
    background = np.round(np.asarray(BACKGROUND_RGB) * 255)
    drawn = np.abs(image.astype(np.float64) - background).max(axis=-1) > 8
    share = float(drawn.mean())
    if share < MINIMUM_DRAWN_SHARE:
        raise SelftestError(
            "The 3-D view renders a blank picture. Update the graphics driver, or run LumboPlan "
            "on the workstation itself rather than over Remote Desktop."
        )
    version = f"OpenGL {support.version}; " if support.version else ""
    return f"{version}3-D picture {image.shape[1]} x {image.shape[0]}, {share:.0%} drawn"


def check_segmentation(state: _State) -> str:
    """Read the bundled demo case and segment it with the shipped model."""
    from lumboplan_app.io import read_scan
    from lumboplan_app.segmentation.inference import Segmenter
    from lumboplan_app.segmentation.model_card import case_record
    from lumboplan_app.shipped import DEMO_SCAN

    if not DEMO_SCAN.is_dir():
        raise SelftestError(f"The demo case is missing from the installation. {_REINSTALL}")
    state.volume = read_scan(DEMO_SCAN)
    segmenter = Segmenter(None, device="auto")
    state.labels = segmenter.segment(state.volume)
    state.model = case_record(segmenter.weights, segmenter.card)
    import numpy as np

    found = [int(value) for value in np.unique(state.labels.array) if value != 0]
    if not found:
        raise SelftestError(f"The shipped model found nothing in the demo case. {_REINSTALL}")
    return f"demo case segmented with {segmenter.weights.name}: {len(found)} structures"


def check_plan(state: _State) -> str:
    """Plan both foramina of the demo case's labels."""
    from lumboplan_app.planning.plan import plan_from_labels
    from lumboplan_app.session import case_from_plan

    if state.labels is None:
        raise SelftestError("not run: segmentation failed")
    plan = plan_from_labels(state.labels)
    state.case = case_from_plan(plan, state.labels, state.volume, "demo", state.model)
    groups = ", ".join(
        f"{side} {entry['group']}" for side, entry in state.case.plan["sides"].items()
    )
    return f"both sides planned ({groups})"


def check_report(state: _State) -> str:
    """Write the demo case's PDF report into the temporary folder."""
    from lumboplan_app.report.pdf import write_report

    if state.case is None:
        raise SelftestError("not run: planning failed")
    path = state.folder / "report.pdf"
    write_report(state.case, path, state.volume, deidentify=True)
    with path.open("rb") as file:
        if file.read(5) != b"%PDF-":
            raise SelftestError("The report written is not a PDF. " + _REINSTALL)
    return f"report written ({path.stat().st_size // 1024} KiB)"


#: A check: takes the state the checks share, returns its success message or raises.
CheckFunction = Callable[[Any], str]
#: The checks in the order run: (name, function).
CHECKS: tuple[tuple[str, CheckFunction], ...] = (
    ("imports", check_imports),
    ("render_3d", check_render),
    ("segment", check_segmentation),
    ("plan", check_plan),
    ("report", check_report),
)


def run_selftest(progress: Callable[[str], None] | None = None) -> SelftestResult:
    """Run every check in a temporary folder (removed afterwards); return their outcomes."""
    checks = []
    with tempfile.TemporaryDirectory(prefix="lumboplan-selftest-") as folder:
        state = _State(Path(folder))
        for name, function in CHECKS:
            if progress is not None:
                progress(name)
            start = time.perf_counter()
            try:
                message, ok = function(state), True
            except LumboPlanError as error:
                message, ok = str(error), False
                logger.warning("self-test check %s failed: %s", name, error)
            except Exception as error:  # the summary says which check; the log has the trace
                logger.exception("self-test check %s failed", name)
                message = f"unexpected {type(error).__name__}: {_one_line(str(error))}"
                ok = False
            seconds = round(time.perf_counter() - start, 2)
            checks.append(Check(name, ok, seconds, shown_text(message, None)))
    return SelftestResult(checks)


def _one_line(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else "no message"
    return shown_text(first, 200)
