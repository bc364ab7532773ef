"""Whether this machine's OpenGL can draw the 3-D pane: VTK needs OpenGL 3.2 or newer.

Windows Remote Desktop on an ordinary graphics card offers only Microsoft's OpenGL 1.1, and old
or virtual GPUs may offer 2.1: VTK then fails, or takes the process down, when the 3-D pane
first draws. :func:`opengl_support` runs VTK's own test (``vtkRenderWindow.SupportsOpenGL``) in
a child process (:func:`~lumboplan_app.io.isolated.run_isolated`), so a driver that crashes
makes the answer "no" instead of crashing the caller. The installed window runs it before the
window opens (installer/entry.py) and says so plainly instead of crashing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from lumboplan_app.errors import LumboPlanError
from lumboplan_app.io.isolated import run_isolated

logger = logging.getLogger(__name__)

#: The oldest OpenGL VTK's renderer runs on.
MINIMUM_OPENGL = "3.2"


@dataclass(frozen=True)
class OpenGLSupport:
    """The answer of :func:`opengl_support`.

    Attributes
    ----------
    supported
        Whether VTK can render here (OpenGL 3.2 or newer).
    version
        The driver's OpenGL version string, empty where the test could not read it.
    """

    supported: bool
    version: str = ""

    def message(self) -> str:
        """Return what the user is told when the 3-D view cannot work here."""
        found = f" (this computer offers OpenGL {self.version})" if self.version else ""
        return (
            f"The 3-D view needs OpenGL {MINIMUM_OPENGL} or newer{found}. This happens over "
            "Windows Remote Desktop, in some virtual machines and with old graphics drivers. "
            "Run LumboPlan on the workstation itself, or update its graphics driver. The "
            "slice views, the measurements and the report do not need it."
        )


def opengl_support() -> OpenGLSupport:
    """Test, in a child process, whether VTK can render with this machine's OpenGL."""
    try:
        supported, version = run_isolated(_probe)
    except LumboPlanError as error:  # the child died: the driver crashed VTK's test
        logger.warning("the OpenGL test stopped unexpectedly (%s)", type(error).__name__)
        return OpenGLSupport(False)
    logger.info(
        "OpenGL %s: %s", version or "(version unknown)", "enough" if supported else "too old"
    )
    return OpenGLSupport(bool(supported), str(version))


def _probe() -> tuple[bool, str]:
    """Return VTK's verdict on this machine's OpenGL and the driver's version string."""
    import vtkmodules.vtkRenderingOpenGL2  # noqa: F401  (registers the OpenGL render window)
    from vtkmodules.vtkRenderingCore import vtkRenderWindow

    window = vtkRenderWindow()
    window.SetOffScreenRendering(True)
    window.SetSize(8, 8)
    supported = bool(window.SupportsOpenGL())
    version = ""
    if supported:
        window.Render()  # the capabilities are known once a context drew
        for line in str(window.ReportCapabilities()).splitlines():
            if line.startswith("OpenGL version string:"):
                version = line.split(":", 1)[1].strip()
    window.Finalize()
    return supported, version
