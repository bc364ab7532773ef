"""Whether this machine's OpenGL can draw the 3-D pane: VTK needs OpenGL 3.2 or newer.

Windows Remote Desktop on an ordinary graphics card offers only Microsoft's OpenGL 1.1, and old
or virtual GPUs may offer 2.1: VTK then fails, or takes the process down, when the 3-D pane
first draws. :func:`opengl_support` runs VTK's own test (``vtkRenderWindow.SupportsOpenGL``) in
a child process (:func:`~lumboplan_app.io.isolated.run_isolated`), so a driver that crashes
makes the answer "no" instead of crashing the caller. The installed window runs it before the
window opens (installer/entry.py) and says so plainly instead of crashing; the window's 3-D pane
asks :func:`opengl_check` (the same test, once per process, in the background while its first
surfaces are built) before it first draws, and shows the message in its place where the answer
is "no", the slice views working on.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from lumboplan_app.errors import LumboPlanError

logger = logging.getLogger(__name__)

#: The oldest OpenGL VTK's renderer runs on.
MINIMUM_OPENGL = "3.2"
#: Words in the renderer string of OpenGL drawn by the CPU, not a graphics card (Mesa's
#: llvmpipe and softpipe, SwiftShader, Windows' basic display driver).
_SOFTWARE_RENDERERS = ("llvmpipe", "softpipe", "swrast", "software", "swiftshader", "basic render")


@dataclass(frozen=True)
class OpenGLSupport:
    """The answer of :func:`opengl_support`.

    Attributes
    ----------
    supported
        Whether VTK can render here (OpenGL 3.2 or newer).
    version
        The driver's OpenGL version string, empty where the test could not read it.
    renderer
        The driver's renderer string (the graphics card, or e.g. "llvmpipe"), empty if unknown.
    """

    supported: bool
    version: str = ""
    renderer: str = ""

    @property
    def software(self) -> bool:
        """Whether the CPU draws (a software renderer); False where the renderer is unknown."""
        renderer = self.renderer.lower()
        return any(word in renderer for word in _SOFTWARE_RENDERERS)

    def message(self) -> str:
        """Return what the user is told when the 3-D view cannot work here."""
        found = f" (this computer offers OpenGL {self.version})" if self.version else ""
        return (
            f"The 3-D view needs OpenGL {MINIMUM_OPENGL} or newer{found}. This happens over "
            "Windows Remote Desktop, in some virtual machines and with old graphics drivers. "
            "Run LumboPlan on the workstation itself, or update its graphics driver. The "
            "slice views, the plan and the report (without its 3-D figures) work without it."
        )


def opengl_support() -> OpenGLSupport:
    """Test, in a child process, whether VTK can render with this machine's OpenGL."""
    from lumboplan_app.io.isolated import run_isolated  # the readers: not at the window's start

    try:
        supported, version, renderer = run_isolated(_probe)
    except LumboPlanError as error:  # the child died: the driver crashed VTK's test
        logger.warning("the OpenGL test stopped unexpectedly (%s)", type(error).__name__)
        return OpenGLSupport(False)
    logger.info(
        "OpenGL %s (%s): %s",
        version or "(version unknown)",
        renderer or "renderer unknown",
        "enough" if supported else "too old",
    )
    return OpenGLSupport(bool(supported), str(version), str(renderer))


_check: Future[OpenGLSupport] | None = None
_check_lock = threading.Lock()


def opengl_check() -> Future[OpenGLSupport]:
    """Return the answer of :func:`opengl_support` for this process, started in the background.

    The first call starts the test in a thread (a second or two, spent while surfaces are
    built); later calls return the same future. An unexpected failure of the test answers "no":
    a 3-D pane that is not drawn is better than a window that crashes.
    """
    global _check
    with _check_lock:
        if _check is None:
            executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="opengl-check")
            _check = executor.submit(_support_or_no)
            executor.shutdown(wait=False)
        return _check


def known_opengl_support() -> OpenGLSupport | None:
    """Return the answer of a check started or remembered here (waiting for it), else None.

    Off-screen renderers (the report's 3-D figure) ask this: in the window, where the check
    runs, a "no" means they must not draw; a command-line run that never checked draws as before.
    """
    with _check_lock:
        check = _check
    return None if check is None else check.result()


def remember_opengl_support(support: OpenGLSupport) -> None:
    """Make ``support`` this process's answer (the caller has just tested, or knows)."""
    global _check
    answer: Future[OpenGLSupport] = Future()
    answer.set_result(support)
    with _check_lock:
        _check = answer


def _support_or_no() -> OpenGLSupport:
    try:
        return opengl_support()
    except Exception as error:  # any failure of the test means: do not draw
        logger.warning("the OpenGL test failed (%s)", type(error).__name__)
        return OpenGLSupport(False)


def _probe() -> tuple[bool, str, str]:
    """Return VTK's verdict on this machine's OpenGL and the driver's version and renderer."""
    import vtkmodules.vtkRenderingOpenGL2  # noqa: F401  (registers the OpenGL render window)
    from vtkmodules.vtkRenderingCore import vtkRenderWindow

    window = vtkRenderWindow()
    window.SetOffScreenRendering(True)
    window.SetSize(8, 8)
    supported = bool(window.SupportsOpenGL())
    found = {"version": "", "renderer": ""}
    if supported:
        window.Render()  # the capabilities are known once a context drew
        for line in str(window.ReportCapabilities()).splitlines():
            for name in found:
                if line.startswith(f"OpenGL {name} string:"):
                    found[name] = line.split(":", 1)[1].strip()
    window.Finalize()
    return supported, found["version"], found["renderer"]
