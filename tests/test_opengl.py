"""The OpenGL check behind the window's plain message on Remote Desktop (issue 20)."""

import pytest


def test_opengl_check_finds_this_machines_opengl_enough() -> None:
    from lumboplan_app.reconstruction.opengl import opengl_support

    support = opengl_support()
    assert support.supported
    assert support.version
    assert support.renderer  # the graphics card's name, or the software renderer's


def test_opengl_check_says_what_to_do_when_the_driver_crashes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lumboplan_app.errors import CorruptFileError
    from lumboplan_app.reconstruction import opengl

    def crash(*args: object, **kwargs: object) -> None:
        raise CorruptFileError("the child died")

    monkeypatch.setattr("lumboplan_app.io.isolated.run_isolated", crash)
    support = opengl.opengl_support()
    assert not support.supported
    assert "OpenGL 3.2" in support.message()
    assert "Remote Desktop" in support.message()
    assert "slice views" in opengl.OpenGLSupport(False, "1.1.0").message()


def test_a_software_renderer_is_told_from_a_graphics_card() -> None:
    from lumboplan_app.reconstruction.opengl import OpenGLSupport

    assert OpenGLSupport(True, "4.5 (Core Profile) Mesa 22.3.6", "llvmpipe (LLVM 15.0.6)").software
    assert OpenGLSupport(True, "1.1.0", "GDI Generic").software is False  # too old anyway
    assert OpenGLSupport(True, "4.6", "Microsoft Basic Render Driver").software
    assert not OpenGLSupport(True, "4.6.0 NVIDIA 550.54", "NVIDIA RTX A2000/PCIe/SSE2").software
    assert not OpenGLSupport(True).software  # unknown: the graphics card is assumed
