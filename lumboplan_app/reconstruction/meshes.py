"""Label map -> one surface mesh per structure, in LPS mm.

VTK's surface nets (through pyvista's ``contour_labels``) extract each structure's boundary
from its own binary mask, on its own bounding box, so structures that touch (the disc on L5 and
S1) each get a closed surface. Surface nets' constrained smoothing keeps the surface within half
a voxel of the voxel boundary: it removes the staircase without shrinking the structure (a
sphere keeps its volume within 5 %). Decimation (VTK's decimate-pro, topology kept) halves the
triangles for the 3-D view and the planner. The label map's geometry (spacing, origin, oblique
direction) carries into the meshes: they are in patient LPS millimetres.

Surface nets leave a few non-manifold edges where voxels of a label touch only along an edge
(thin, diagonal parts): harmless for display; a planner computing volumes from meshes should
know it (the demo's L5 mesh has about 100 such edges among 11,000 triangles).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from lumboplan_app.atomic import atomic_output
from lumboplan_app.errors import Cancelled, LumboPlanError
from lumboplan_app.labels import Structure
from lumboplan_app.progress import CancelCheck
from lumboplan_app.volume import Grid, LabelMap

if TYPE_CHECKING:
    import pyvista

logger = logging.getLogger(__name__)

#: Mesh file formats ``lumboplan mesh`` writes (STL as the paper used).
MESH_FORMATS = ("stl", "ply", "obj", "vtp")
#: Fraction of triangles removed by decimation.
DECIMATION = 0.5
#: Surface-nets smoothing iterations (VTK's default is 16).
SMOOTHING_ITERATIONS = 16
#: Voxels of background kept around a structure's box (surface nets needs one).
_MARGIN = 2


def structure_meshes(
    labels: LabelMap,
    structures: tuple[Structure, ...] | None = None,
    should_cancel: CancelCheck | None = None,
) -> dict[Structure, pyvista.PolyData]:
    """Extract, smooth and decimate the surface of each structure present in ``labels``.

    Parameters
    ----------
    labels : LabelMap
        Structure ids on any grid (oblique and anisotropic included).
    structures : tuple of Structure, optional
        Which to mesh; every structure present by default. Absent ones are left out.
    should_cancel : callable, optional
        Polled before each structure is meshed (each takes under a second on the demo case);
        returning True raises :class:`~lumboplan_app.errors.Cancelled`.

    Returns
    -------
    dict of Structure to pyvista.PolyData
        Closed triangle meshes in LPS mm.

    Raises
    ------
    Cancelled
        If ``should_cancel`` returns True; the surfaces built so far are dropped.
    """
    present = set(labels.present_ids())
    wanted = [
        s
        for s in (structures or tuple(Structure))
        if s is not Structure.BACKGROUND and int(s) in present
    ]
    meshes: dict[Structure, pyvista.PolyData] = {}
    for structure in wanted:
        stop_if_cancelled(should_cancel)
        meshes[structure] = _finished(_binary_surface(labels, int(structure)))
    logger.info("%d structure mesh(es) built", len(meshes))
    return meshes


def stop_if_cancelled(should_cancel: CancelCheck | None) -> None:
    """Raise :class:`~lumboplan_app.errors.Cancelled` if ``should_cancel`` says so.

    The one cancel point of every surface-building step (meshing, decimation for display).
    """
    if should_cancel is not None and should_cancel():
        raise Cancelled("Building the surfaces cancelled; nothing was changed.")


def mask_surface(mask: npt.NDArray[np.bool_], grid: Grid) -> pyvista.PolyData | None:
    """Return the smoothed, decimated closed surface (LPS mm) of a boolean mask; None if empty."""
    if not mask.any():
        return None
    return _finished(_binary_surface(LabelMap(mask.astype(np.uint8), grid), 1))


def _finished(surface: pyvista.PolyData) -> pyvista.PolyData:
    """Merge duplicate points, decimate large surfaces, drop the per-cell labels."""
    surface = surface.clean()
    if surface.n_cells > 1000:
        surface = surface.decimate_pro(DECIMATION, preserve_topology=True)
    surface.cell_data.clear()
    return surface


def _binary_surface(labels: LabelMap, label_id: int) -> pyvista.PolyData:
    """Return the closed surface of one label, meshed on its own box (plus a margin).

    Each structure is meshed as a binary mask: where it touches another structure (the disc on
    L5 and S1), that face belongs to both closed surfaces, and the box keeps the work small.
    """
    mask = labels.array == label_id
    occupied = [np.flatnonzero(mask.any(axis=other)) for other in ((1, 2), (0, 2), (0, 1))]
    start = [int(axis[0]) - _MARGIN for axis in occupied]
    stop = [int(axis[-1]) + _MARGIN + 1 for axis in occupied]
    # Pad with background where the box reaches past the image (a structure cut by the field of
    # view gets a closed surface along the cut).
    padded = np.pad(mask, _MARGIN)
    window = tuple(slice(a + _MARGIN, b + _MARGIN) for a, b in zip(start, stop, strict=True))
    box = Grid(
        shape_zyx=tuple(b - a for a, b in zip(start, stop, strict=True)),  # type: ignore[arg-type]
        spacing_xyz_mm=labels.grid.spacing_xyz_mm,
        origin_lps_mm=tuple(labels.grid.index_to_lps(start)),
        direction=labels.grid.direction,
    )
    image = LabelMap(padded[window].astype(np.uint8), box).to_pyvista()
    return image.contour_labels(
        boundary_style="external",
        scalars="labels",
        output_mesh_type="triangles",
        smoothing=True,
        smoothing_iterations=SMOOTHING_ITERATIONS,
    )


def write_meshes(
    meshes: Mapping[Structure, pyvista.PolyData],
    folder: Path,
    file_format: str = "stl",
    prefix: str = "",
) -> list[Path]:
    """Write each mesh as ``<prefix><structure>.<format>`` into ``folder`` (atomically).

    Each file names its coordinate system as 3D Slicer reads it (``SPACE=LPS``): in the binary
    STL header, a PLY ``comment``, an OBJ comment line, a VTP field ``SPACE``. Returns the paths.

    Raises
    ------
    LumboPlanError
        For an unknown format or a folder that cannot be written.
    """
    if file_format not in MESH_FORMATS:
        raise LumboPlanError(
            f"Unknown mesh format '{file_format}': choose one of {', '.join(MESH_FORMATS)}."
        )
    paths = []
    for structure, mesh in meshes.items():
        path = folder / f"{prefix}{structure.name.lower()}.{file_format}"
        try:
            with atomic_output(path) as temporary:
                if file_format == "vtp":
                    mesh = mesh.copy(deep=False)
                    mesh.field_data["SPACE"] = np.array([COORDINATE_SYSTEM])
                mesh.save(str(temporary))
                _name_coordinate_system(temporary, file_format)
        except OSError as error:
            raise LumboPlanError(
                f"'{path.name}' could not be written ({error.strerror or 'the writer failed'}); "
                "check that the folder exists, is writable and has free space."
            ) from error
        paths.append(path)
    return paths


#: The meshes' coordinate system, as Slicer's model files name it (``SPACE=LPS``).
COORDINATE_SYSTEM = "LPS"


def _name_coordinate_system(path: Path, file_format: str) -> None:
    """Write ``SPACE=LPS`` into the header of a mesh file just saved (STL, PLY, OBJ)."""
    tag = f"SPACE={COORDINATE_SYSTEM}".encode("ascii")
    if file_format == "stl":
        with path.open("r+b") as handle:
            if handle.read(5) != b"solid":  # binary: an 80-byte header of free text
                handle.seek(0)
                handle.write((tag + b" LumboPlan, patient LPS mm").ljust(80, b" "))
    elif file_format == "ply":
        data = path.read_bytes()
        first_line_end = data.index(b"\n", data.index(b"format")) + 1
        path.write_bytes(data[:first_line_end] + b"comment " + tag + b"\n" + data[first_line_end:])
    elif file_format == "obj":
        path.write_bytes(b"# " + tag + b"\n" + path.read_bytes())
