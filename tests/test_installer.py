"""The installer's sources, checked without building the bundle (that is `make installer`).

The spec's contents (installer/bundle.py), the packaging script on a stub bundle (the .deb's
layout and Depends, the .run installing into a prefix as IT runs it), the menu entry
(desktop-file-validate) and the Windows NSIS script compiled against a stub payload. Each
packaging check takes well under a second; a tool missing here (not Debian) skips its test.
"""

import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
INSTALLER = ROOT / "installer"


def load_bundle():
    spec = importlib.util.spec_from_file_location("bundle", INSTALLER / "bundle.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (scripts/install-system-deps.sh installs it)")
    return path


def test_spec_takes_its_contents_from_bundle_py() -> None:
    spec = (INSTALLER / "lumboplan.spec").read_text(encoding="utf-8")
    for use in ("bundle.package_data()", "bundle.package_modules()", "bundle.EXCLUDES"):
        assert use in spec
    assert "COLLECT(" in spec  # one folder, not --onefile


def test_bundle_excludes_torch_and_training() -> None:
    bundle = load_bundle()
    assert {"torch", "monai", "safetensors", "onnx"} <= set(bundle.EXCLUDES)
    assert "onnxruntime" not in bundle.EXCLUDES


def test_bundle_holds_every_module_and_the_package_data() -> None:
    bundle = load_bundle()
    modules = bundle.package_modules()
    for name in ("lumboplan_app.cli", "lumboplan_app.gui.app", "lumboplan_app.report"):
        assert name in modules
    datas = {
        (Path(source).relative_to(ROOT).as_posix(), target)
        for source, target in bundle.package_data()
    }
    assert ("model_weights/lumboplan_unet.onnx", "lumboplan_app/model_weights") in datas
    assert ("model_weights/lumboplan_unet.json", "lumboplan_app/model_weights") in datas
    assert ("resources", "lumboplan_app/resources") in datas
    assert ("lumboplan_app/gui/ui/lumboplan.qss", "lumboplan_app/gui/ui") in datas
    for source, _ in bundle.package_data():
        assert Path(source).exists()


def test_bundle_ships_the_model_files_the_wheel_ships() -> None:
    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    wheel = next(
        ast.literal_eval(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.AnnAssign | ast.Assign)
        and "MODEL_FILES"
        in ast.unparse(node.target if isinstance(node, ast.AnnAssign) else node.targets[0])
    )
    assert tuple(wheel) == load_bundle().MODEL_FILES


def test_build_requirements_are_pinned_and_hold_no_torch() -> None:
    lines = [
        line
        for line in (INSTALLER / "requirements.txt").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    assert all("==" in line for line in lines)
    names = {line.split("==")[0].lower() for line in lines}
    assert {
        "pyinstaller",
        "pyinstaller-hooks-contrib",
        "onnxruntime",
        "pyside6_essentials",
    } <= names
    assert not names & {"torch", "monai"}


def test_deb_depends_on_the_system_libraries_qt_needs() -> None:
    depends = (INSTALLER / "linux" / "deb-depends.txt").read_text(encoding="utf-8")
    assert "libxcb-cursor0" in depends.split()
    system = (ROOT / "scripts" / "install-system-deps.sh").read_text(encoding="utf-8")
    libraries = system.split("packages=(")[1].split(")")[0].split()
    for package in libraries:
        if package.startswith("lib"):
            assert package in depends, package


def package_stub(work: Path, compression: str = "xz") -> subprocess.CompletedProcess[str]:
    """Run package.sh on a stub bundle (two shell scripts) in ``work``, into ``work/out``."""
    need("dpkg-deb")
    need("makeself")
    bundle = work / "LumboPlan"
    (bundle / "_internal").mkdir(parents=True)
    (bundle / "_internal" / "data.txt").write_text("stub\n")
    for name in ("lumboplan", "lumboplan-gui"):
        (bundle / name).write_text(f'#!/bin/sh\necho "{name} $*"\n')
        (bundle / name).chmod(0o755)
    return subprocess.run(
        [INSTALLER / "linux" / "package.sh", bundle, work / "out", "9.8.7"],
        env={**os.environ, "COMPRESSION": compression},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def stub_packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The .deb and .run that package.sh makes of a stub bundle, as a release (xz)."""
    work = tmp_path_factory.mktemp("stub")
    made = package_stub(work)
    assert made.returncode == 0, made.stderr
    return work / "out"


def test_release_packages_are_xz_and_fast_ones_gzip(stub_packages: Path, tmp_path: Path) -> None:
    """CI's COMPRESSION=fast changes only the compression; an unknown value is refused."""
    ar = need("ar")
    members = subprocess.run(
        [ar, "t", stub_packages / "lumboplan_9.8.7_amd64.deb"], capture_output=True, text=True
    ).stdout.split()
    assert "data.tar.xz" in members
    header = (stub_packages / "LumboPlan-9.8.7-linux-x86_64.run").read_text(errors="ignore")
    assert "COMPRESS=xz" in header[:20000]

    (tmp_path / "fast").mkdir()
    made = package_stub(tmp_path / "fast", "fast")
    assert made.returncode == 0, made.stderr
    out = tmp_path / "fast" / "out"
    members = subprocess.run(
        [ar, "t", out / "lumboplan_9.8.7_amd64.deb"], capture_output=True, text=True
    ).stdout.split()
    assert "data.tar.gz" in members
    header = (out / "LumboPlan-9.8.7-linux-x86_64.run").read_text(errors="ignore")[:20000]
    assert "COMPRESS=gzip" in header

    (tmp_path / "odd").mkdir()
    refused = package_stub(tmp_path / "odd", "lz4")
    assert refused.returncode == 2
    assert "COMPRESSION is xz (release) or fast (checks), not lz4" in refused.stderr


def test_deb_installs_into_opt_with_menu_entry_and_command(stub_packages: Path) -> None:
    deb = stub_packages / "lumboplan_9.8.7_amd64.deb"
    listing = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True, check=True)
    paths = listing.stdout
    for path in (
        "./opt/lumboplan/lumboplan\n",
        "./opt/lumboplan/_internal/data.txt\n",
        "./usr/share/applications/lumboplan.desktop\n",
        "./usr/share/icons/hicolor/scalable/apps/lumboplan.svg\n",
        "./usr/bin/lumboplan -> /opt/lumboplan/lumboplan\n",
        "./usr/bin/lumboplan-gui -> /opt/lumboplan/lumboplan-gui\n",
    ):
        assert path in paths
    control = subprocess.run(
        ["dpkg-deb", "-f", deb, "Package", "Version", "Depends"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Version: 9.8.7" in control
    assert "libxcb-cursor0," in control


def test_deb_menu_entry_is_valid(stub_packages: Path, tmp_path: Path) -> None:
    validate = need("desktop-file-validate")
    deb = stub_packages / "lumboplan_9.8.7_amd64.deb"
    subprocess.run(["dpkg-deb", "-x", deb, tmp_path], check=True)
    entry = tmp_path / "usr" / "share" / "applications" / "lumboplan.desktop"
    assert "Exec=/opt/lumboplan/lumboplan-gui %f" in entry.read_text()
    result = subprocess.run([validate, entry], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    assert not result.stdout.strip()


def test_run_installs_for_one_user_into_the_prefix_without_questions(
    stub_packages: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    prefix = tmp_path / "apps" / "LumboPlan"
    run = stub_packages / "LumboPlan-9.8.7-linux-x86_64.run"
    environment = {"HOME": str(home), "PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path)}
    result = subprocess.run(
        ["bash", run, "--", "--prefix", prefix],
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert os.access(prefix / "lumboplan", os.X_OK)
    assert (prefix / "_internal" / "data.txt").is_file()
    assert not (prefix / "install.sh").exists()
    command = subprocess.run([prefix / "lumboplan", "--version"], capture_output=True, text=True)
    assert command.stdout == "lumboplan --version\n"
    entry = home / ".local" / "share" / "applications" / "lumboplan.desktop"
    assert f"Exec={prefix}/lumboplan-gui %f" in entry.read_text()
    assert (home / ".local" / "bin" / "lumboplan").resolve() == prefix / "lumboplan"
    if shutil.which("desktop-file-validate"):
        subprocess.run(["desktop-file-validate", entry], check=True)
    # Nothing outside the prefix, HOME and the unpacking folder (TMPDIR, removed afterwards).
    assert sorted(p.name for p in tmp_path.iterdir()) == ["apps", "home"]

    # Again into the same prefix (an update), then the uninstaller removes all it made.
    subprocess.run(
        ["bash", run, "--", "--prefix", prefix], env=environment, check=True, capture_output=True
    )
    subprocess.run([prefix / "uninstall.sh"], env=environment, check=True, capture_output=True)
    assert not prefix.exists()
    assert not entry.exists()
    assert not (home / ".local" / "bin" / "lumboplan").exists()


def test_run_refuses_a_folder_that_is_not_lumboplan(stub_packages: Path, tmp_path: Path) -> None:
    (tmp_path / "documents").mkdir()
    (tmp_path / "documents" / "letter.txt").write_text("keep me")
    result = subprocess.run(
        [
            "bash",
            stub_packages / "LumboPlan-9.8.7-linux-x86_64.run",
            "--",
            "--prefix",
            tmp_path / "documents",
        ],
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert (tmp_path / "documents" / "letter.txt").read_text() == "keep me"


def test_windows_installer_script_compiles(tmp_path: Path) -> None:
    makensis = need("makensis")
    payload = tmp_path / "LumboPlan"
    (payload / "_internal").mkdir(parents=True)
    for name in ("lumboplan.exe", "lumboplan-gui.exe", "_internal/python311.dll"):
        (payload / name).write_bytes(b"stub")
    setup = tmp_path / "LumboPlan-setup.exe"
    result = subprocess.run(
        [
            makensis,
            "-V2",
            "-WX",
            f"-DPAYLOAD={payload}",
            f"-DOUTFILE={setup}",
            "-DVERSION=9.8.7",
            INSTALLER / "windows" / "lumboplan.nsi",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert setup.read_bytes()[:2] == b"MZ"


def load_entry() -> ModuleType:
    """Load installer/entry.py, the bundle's entry point (not a package module)."""
    spec = importlib.util.spec_from_file_location("entry", INSTALLER / "entry.py")
    assert spec is not None
    assert spec.loader is not None
    entry = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(entry)
    return entry


def test_entry_point_picks_the_window_by_the_executable_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entry = load_entry()
    called = []
    monkeypatch.setattr("lumboplan_app.cli.main", lambda: called.append("cli") or 0)
    monkeypatch.setattr(sys, "executable", "/opt/lumboplan/lumboplan")
    assert entry.main() == 0
    assert called == ["cli"]


def test_the_installed_app_remembers_the_opengl_renderer_between_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The OpenGL test runs once per version; its renderer still chooses the 3-D pane later."""
    import platformdirs

    from lumboplan_app.reconstruction import opengl

    entry = load_entry()
    monkeypatch.setattr(opengl, "_check", None)
    monkeypatch.setattr(platformdirs, "user_state_dir", lambda *args, **kwargs: str(tmp_path))
    monkeypatch.delenv("SESSIONNAME", raising=False)
    tests = []

    def tested() -> opengl.OpenGLSupport:
        tests.append(1)
        return opengl.OpenGLSupport(True, "4.5 (Core Profile) Mesa", "llvmpipe (LLVM 15.0.6)")

    monkeypatch.setattr(opengl, "opengl_support", tested)
    entry.check_opengl()
    entry.check_opengl()  # a later start: the remembered answer, not a new test
    assert tests == [1]
    support = opengl.known_opengl_support()
    assert support is not None
    assert support.supported
    assert support.software


def test_build_requirements_pin_every_runtime_dependency() -> None:
    """A dependency missing from the build environment is missing from the bundle.

    The app then fails at its first import of it, as `--selftest` found for threadpoolctl.
    """
    tomllib = pytest.importorskip("tomllib")  # Python 3.11 and newer

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

    def name(requirement: str) -> str:
        return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower().replace("-", "_")

    pinned = {
        name(line)
        for line in (INSTALLER / "requirements.txt").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    }
    missing = {name(requirement) for requirement in project["dependencies"]} - pinned
    assert not missing, f"add to installer/requirements.txt: {sorted(missing)}"


#: Run in a child process: block the VTK modules the bundle leaves out (argv[1], space-separated),
#: then do what argv[2] says.
VTK_BLOCKED_CHILD = """
import importlib, pkgutil, sys
blocked = set(sys.argv[1].split())
class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name in blocked:
            raise ImportError(f"{name} is left out of the bundle")
        return None
sys.meta_path.insert(0, Blocked())
import vtkmodules
if sys.argv[2] == "kept":
    present = {f"vtkmodules.{m.name}" for m in pkgutil.iter_modules(vtkmodules.__path__)}
    assert blocked <= present, f"not in this VTK: {sorted(blocked - present)}"
    failed = []
    for name in sorted(present - blocked):
        if name.startswith("vtkmodules.vtk"):
            try:
                importlib.import_module(name)
            except ImportError as error:
                failed.append(f"{name}: {error}")
    assert not failed, failed
else:
    from lumboplan_app.cli import main
    demo, out = sys.argv[3], sys.argv[4]
    code = main(["run", f"{demo}/dicom", "--labels", f"{demo}/labels.nii.gz", "-o", out])
    assert code == 0, code
    import pyvistaqt  # noqa: F401  (the native 3-D pane)
    leaked = blocked & set(sys.modules)
    assert not leaked, leaked
"""


def run_with_vtk_blocked(*arguments: str) -> None:
    blocked = " ".join(name for name in load_bundle().EXCLUDES if name.startswith("vtkmodules."))
    child = subprocess.run(
        [sys.executable, "-c", VTK_BLOCKED_CHILD, blocked, *arguments],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert child.returncode == 0, child.stderr[-3000:]


def test_every_vtk_module_the_bundle_keeps_loads_without_those_it_leaves_out() -> None:
    """The VTK modules left out (installer/bundle.py ``VTK_UNUSED``) exist in this VTK, and no
    module the bundle keeps imports one of them (VTK's modules import their dependencies)."""
    pytest.importorskip("vtkmodules")
    run_with_vtk_blocked("kept")


def test_the_app_runs_scan_to_report_without_the_vtk_modules_the_bundle_leaves_out(
    tmp_path: Path,
) -> None:
    """Surfaces, their files, the plan, the report's 3-D figures and the native pane's module,
    with the left-out VTK modules unimportable."""
    pytest.importorskip("pyvistaqt")
    demo = ROOT / "resources" / "demo" / "case_00057"
    run_with_vtk_blocked("app", str(demo), str(tmp_path / "out"))
    assert (tmp_path / "out" / "report.pdf").stat().st_size > 0
