"""Volumes and label maps: an array on a grid in patient LPS millimetres.

Conventions, written once here and used everywhere:

- Arrays are indexed ``[z, y, x]`` (slowest to fastest), as SimpleITK's ``GetArrayFromImage``
  returns them. After :func:`to_canonical` the axes point ``z``: inferior -> superior,
  ``y``: anterior -> posterior, ``x``: right -> left, so axial, coronal and sagittal views are
  plain array slices.
- Spacing and origin are ``(x, y, z)`` as SimpleITK gives them (the classic trap: the array is
  z, y, x but the spacing is x, y, z). Names carry the order: ``spacing_xyz_mm``.
- ``direction`` is a 3x3 matrix whose *columns* are the LPS unit vectors of the x, y and z index
  axes (ITK's convention; SimpleITK stores it row-major as 9 numbers).
- A continuous index is given in array order ``(z, y, x)``; point sets are ``(N, 3)`` float64
  LPS mm. Only :meth:`Grid.index_to_lps` and :meth:`Grid.lps_to_index` cross between the two.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk

from lumboplan_app.errors import LoadError

if TYPE_CHECKING:
    import pyvista

logger = logging.getLogger(__name__)

#: Largest direction-matrix deviation from orthonormal that is accepted as rounding error.
_ORTHONORMAL_TOLERANCE = 1e-3


@dataclass(frozen=True, eq=False)
class Grid:
    """The geometry of a 3-D image: shape, spacing, origin and direction in LPS mm.

    Parameters
    ----------
    shape_zyx : tuple of int
        Number of voxels along z, y, x (array order).
    spacing_xyz_mm : tuple of float
        Voxel size along the x, y, z index axes in mm, all > 0.
    origin_lps_mm : tuple of float
        LPS position in mm of the centre of voxel ``[0, 0, 0]``.
    direction : ndarray, shape (3, 3)
        Columns are the LPS unit vectors of the x, y, z index axes.
    """

    shape_zyx: tuple[int, int, int]
    spacing_xyz_mm: tuple[float, float, float]
    origin_lps_mm: tuple[float, float, float]
    direction: npt.NDArray[np.float64] = field(default_factory=lambda: np.eye(3))

    def __post_init__(self) -> None:
        direction = np.asarray(self.direction, dtype=np.float64).reshape(3, 3)
        if len(self.shape_zyx) != 3 or any(int(n) < 1 for n in self.shape_zyx):
            raise ValueError(f"shape_zyx must be three positive sizes, got {self.shape_zyx}")
        if len(self.spacing_xyz_mm) != 3 or not all(
            np.isfinite(s) and s > 0 for s in self.spacing_xyz_mm
        ):
            raise ValueError(
                f"spacing_xyz_mm must be three positive sizes, got {self.spacing_xyz_mm}"
            )
        if not np.allclose(direction.T @ direction, np.eye(3), atol=_ORTHONORMAL_TOLERANCE):
            raise ValueError("direction must be an orthonormal 3x3 matrix")
        direction.setflags(write=False)
        object.__setattr__(self, "shape_zyx", tuple(int(n) for n in self.shape_zyx))
        object.__setattr__(self, "spacing_xyz_mm", tuple(float(s) for s in self.spacing_xyz_mm))
        object.__setattr__(self, "origin_lps_mm", tuple(float(o) for o in self.origin_lps_mm))
        object.__setattr__(self, "direction", direction)

    @property
    def affine(self) -> npt.NDArray[np.float64]:
        """4x4 matrix mapping a homogeneous index ``(x, y, z, 1)`` to LPS mm."""
        matrix = np.eye(4)
        matrix[:3, :3] = self.direction * np.asarray(self.spacing_xyz_mm)[None, :]
        matrix[:3, 3] = self.origin_lps_mm
        return matrix

    @property
    def voxel_count(self) -> int:
        """Number of voxels."""
        return int(np.prod(self.shape_zyx))

    @property
    def extent_xyz_mm(self) -> tuple[float, float, float]:
        """Size of the image along its x, y, z index axes in mm (voxel centre to centre)."""
        sizes_xyz = self.shape_zyx[::-1]
        return tuple(  # type: ignore[return-value]
            float((n - 1) * s) for n, s in zip(sizes_xyz, self.spacing_xyz_mm, strict=True)
        )

    @property
    def field_of_view_xyz_mm(self) -> tuple[float, float, float]:
        """What the image covers along its x, y, z index axes in mm: voxel count times spacing.

        Along the image's own axes, not the patient's: a tilted slab of a few slices is as thin
        as its slices make it, whereas its bounding box in patient coordinates grows with the tilt.
        """
        sizes_xyz = self.shape_zyx[::-1]
        return tuple(  # type: ignore[return-value]
            float(n * s) for n, s in zip(sizes_xyz, self.spacing_xyz_mm, strict=True)
        )

    def index_to_lps(self, index_zyx: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Map continuous indices ``(..., 3)`` in array order (z, y, x) to LPS mm ``(..., 3)``."""
        index = np.asarray(index_zyx, dtype=np.float64)
        index_xyz = index[..., ::-1]
        return index_xyz @ self.affine[:3, :3].T + self.affine[:3, 3]

    def lps_to_index(self, points_lps_mm: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Map LPS mm points ``(..., 3)`` to continuous indices in array order (z, y, x)."""
        points = np.asarray(points_lps_mm, dtype=np.float64)
        index_xyz = (points - self.affine[:3, 3]) @ np.linalg.inv(self.affine[:3, :3]).T
        return index_xyz[..., ::-1]

    def orientation_code(self) -> str:
        """Three letters naming where each index axis x, y, z points, e.g. ``"LPS"``."""
        return str(
            sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(
                self.direction.flatten().tolist()
            )
        )

    def is_oblique(self, tolerance_deg: float = 1.0) -> bool:
        """Whether an index axis is more than ``tolerance_deg`` off its nearest patient axis."""
        cosines = np.abs(self.direction).max(axis=0)
        return bool(np.any(cosines < np.cos(np.deg2rad(tolerance_deg))))

    def matches(self, other: Grid, tolerance_mm: float = 1e-3) -> bool:
        """Whether ``other`` describes the same voxels (shape equal, geometry within tolerance)."""
        return (
            self.shape_zyx == other.shape_zyx
            and np.allclose(self.spacing_xyz_mm, other.spacing_xyz_mm, atol=tolerance_mm)
            and np.allclose(self.origin_lps_mm, other.origin_lps_mm, atol=tolerance_mm)
            and np.allclose(self.direction, other.direction, atol=1e-4)
        )

    def with_spacing(self, spacing_xyz_mm: tuple[float, float, float]) -> Grid:
        """Return a grid over the same region and direction with another voxel size.

        The new grid's first voxel centre stays at this grid's first voxel centre; it has as many
        voxels as fit into this grid's extent (at least one per axis).
        """
        sizes_xyz = [
            max(1, int(np.floor(extent / new + 1e-6)) + 1)
            for extent, new in zip(self.extent_xyz_mm, spacing_xyz_mm, strict=True)
        ]
        return Grid(
            shape_zyx=(sizes_xyz[2], sizes_xyz[1], sizes_xyz[0]),
            spacing_xyz_mm=spacing_xyz_mm,
            origin_lps_mm=self.origin_lps_mm,
            direction=self.direction,
        )

    def to_sitk_reference(self) -> sitk.Image:
        """Return an empty SimpleITK image on this grid, for resampling."""
        image = sitk.Image([int(n) for n in self.shape_zyx[::-1]], sitk.sitkUInt8)
        _set_sitk_geometry(image, self)
        return image

    @staticmethod
    def from_sitk(image: sitk.Image) -> Grid:
        """Return the grid of a 3-D SimpleITK image."""
        if image.GetDimension() != 3:
            raise ValueError(f"expected a 3-D image, got {image.GetDimension()}-D")
        size_xyz = image.GetSize()
        return Grid(
            shape_zyx=(size_xyz[2], size_xyz[1], size_xyz[0]),
            spacing_xyz_mm=tuple(image.GetSpacing()),
            origin_lps_mm=tuple(image.GetOrigin()),
            direction=np.asarray(image.GetDirection(), dtype=np.float64).reshape(3, 3),
        )


def _set_sitk_geometry(image: sitk.Image, grid: Grid) -> None:
    image.SetSpacing(grid.spacing_xyz_mm)
    image.SetOrigin(grid.origin_lps_mm)
    image.SetDirection(grid.direction.flatten().tolist())


@dataclass(frozen=True)
class PatientInfo:
    """Identifying data read from a DICOM header. Never logged; ``repr`` hides it."""

    name: str = field(default="", repr=False)
    patient_id: str = field(default="", repr=False)
    birth_date: str = field(default="", repr=False)
    sex: str = field(default="", repr=False)


@dataclass(frozen=True)
class ScanMeta:
    """What is known about where a volume came from (no patient identifiers but in ``patient``).

    Parameters
    ----------
    source_format : str
        ``"DICOM"``, ``"NIfTI"``, ``"NRRD"``, ``"MetaImage"``, or ``"memory"``.
    modality : str
        DICOM modality (``"MR"``, ``"CT"``, ...) or ``"unknown"`` where the format has none.
    series_description : str
        DICOM SeriesDescription, or the file's stem for other formats.
    case_key : str
        Short, non-identifying hash of the series UID (or of the file's content header), for logs.
    acquisition_type : str
        DICOM MRAcquisitionType: ``"2D"``, ``"3D"`` or ``""`` when unknown.
    slice_thickness_mm : float or None
        Nominal slice thickness from the header.
    study_date : str
        DICOM StudyDate (YYYYMMDD) or ``""``.
    manufacturer : str
        Scanner manufacturer or ``""``.
    body_part : str
        DICOM BodyPartExamined (e.g. ``"LSPINE"``) or ``""``.
    warnings : tuple of str
        Things the surgeon should know before trusting a plan built on this scan.
    patient : PatientInfo
        Identifiers, for the report only.
    """

    source_format: str = "memory"
    modality: str = "unknown"
    series_description: str = ""
    case_key: str = ""
    acquisition_type: str = ""
    slice_thickness_mm: float | None = None
    study_date: str = ""
    manufacturer: str = ""
    body_part: str = ""
    warnings: tuple[str, ...] = ()
    patient: PatientInfo = field(default_factory=PatientInfo)


def case_key_for(identifier: str) -> str:
    """Return an 8-character key for logs that identifies a series but not a patient."""
    return hashlib.sha256(identifier.encode("utf-8")).hexdigest()[:8]


@dataclass(eq=False)
class Volume:
    """A scalar image: ``array`` (Z, Y, X) float32 on ``grid``, with its ``meta``.

    Raises
    ------
    ValueError
        If the array is not 3-D or its shape differs from the grid's.
    """

    array: npt.NDArray[np.float32]
    grid: Grid
    meta: ScanMeta = field(default_factory=ScanMeta)

    def __post_init__(self) -> None:
        self.array = np.asarray(self.array, dtype=np.float32)
        _check_shape(self.array, self.grid)

    def to_sitk(self) -> sitk.Image:
        """Return a SimpleITK image (float32) with this volume's geometry."""
        image = sitk.GetImageFromArray(self.array)
        _set_sitk_geometry(image, self.grid)
        return image

    @staticmethod
    def from_sitk(image: sitk.Image, meta: ScanMeta | None = None) -> Volume:
        """Return a volume from a 3-D scalar SimpleITK image (any pixel type, cast to float32)."""
        grid = Grid.from_sitk(image)
        array = sitk.GetArrayFromImage(sitk.Cast(image, sitk.sitkFloat32))
        return Volume(array=array, grid=grid, meta=meta or ScanMeta())

    def to_pyvista(self) -> pyvista.ImageData:
        """Return a pyvista ImageData in LPS mm with the voxel values as point data ``"values"``."""
        return _to_pyvista(self.array, self.grid, "values")

    def to_canonical(self) -> Volume:
        """Return this volume with axes pointing L, P, S (see :func:`reorient_to_lps`)."""
        array, grid = reorient_to_lps(self.array, self.grid)
        return Volume(array=array, grid=grid, meta=self.meta)

    def with_array(self, array: npt.ArrayLike) -> Volume:
        """Return a volume on the same grid and meta with another array."""
        return replace(self, array=np.asarray(array, dtype=np.float32))


@dataclass(eq=False)
class LabelMap:
    """Structure or part ids: ``array`` (Z, Y, X) uint8 on ``grid``.

    Raises
    ------
    ValueError
        If the array is not 3-D or its shape differs from the grid's.
    """

    array: npt.NDArray[np.uint8]
    grid: Grid

    def __post_init__(self) -> None:
        array = np.asarray(self.array)
        if array.dtype != np.uint8:
            if array.size and (
                array.min() < 0 or array.max() > 255 or not np.array_equal(array, np.round(array))
            ):
                raise ValueError("label ids must be whole numbers in 0..255")
            array = array.astype(np.uint8)
        self.array = array
        _check_shape(self.array, self.grid)

    def to_sitk(self) -> sitk.Image:
        """Return a SimpleITK image (uint8) with this label map's geometry."""
        image = sitk.GetImageFromArray(self.array)
        _set_sitk_geometry(image, self.grid)
        return image

    @staticmethod
    def from_sitk(image: sitk.Image) -> LabelMap:
        """Return a label map from a 3-D integer SimpleITK image.

        Raises
        ------
        LoadError
            If the voxel values are not whole numbers in 0..255.
        """
        grid = Grid.from_sitk(image)
        values = sitk.GetArrayFromImage(image)
        if values.size and (
            not np.all(np.isfinite(values))
            or values.min() < 0
            or values.max() > 255
            or not np.array_equal(values, np.round(values))
        ):
            raise LoadError(
                "This file is not a label map: its values are not whole numbers from 0 to 255. "
                "Choose the segmentation file, not the scan."
            )
        return LabelMap(array=values.astype(np.uint8), grid=grid)

    def to_pyvista(self) -> pyvista.ImageData:
        """Return a pyvista ImageData in LPS mm with the ids as point data ``"labels"``."""
        return _to_pyvista(self.array, self.grid, "labels")

    def to_canonical(self) -> LabelMap:
        """Return this label map with axes pointing L, P, S (see :func:`reorient_to_lps`)."""
        array, grid = reorient_to_lps(self.array, self.grid)
        return LabelMap(array=array, grid=grid)

    def present_ids(self) -> tuple[int, ...]:
        """Return the ids that occur in the map, background included, ascending."""
        return tuple(int(v) for v in np.unique(self.array))


def _check_shape(array: np.ndarray, grid: Grid) -> None:
    if array.ndim != 3:
        raise ValueError(f"expected a 3-D (z, y, x) array, got {array.ndim}-D")
    if tuple(array.shape) != grid.shape_zyx:
        raise ValueError(f"array shape {array.shape} differs from grid shape {grid.shape_zyx}")


def _to_pyvista(array: np.ndarray, grid: Grid, name: str) -> pyvista.ImageData:
    import pyvista

    image = pyvista.ImageData(
        dimensions=grid.shape_zyx[::-1],
        spacing=grid.spacing_xyz_mm,
        origin=grid.origin_lps_mm,
        direction_matrix=grid.direction,
    )
    # VTK point order is x fastest, which is C order of a (z, y, x) array.
    image.point_data[name] = np.ascontiguousarray(array).ravel(order="C")
    return image


def canonical_axes(grid: Grid) -> tuple[tuple[int, int, int], tuple[bool, bool, bool]]:
    """Return which index axis (0=x, 1=y, 2=z) serves each of L, P, S, and whether it is flipped.

    Same rule as ``sitk.DICOMOrient(image, "LPS")``: each index axis goes to the patient axis
    its direction cosine is largest on.
    """
    cosines = np.abs(grid.direction)  # rows: L, P, S; columns: index axes x, y, z
    axis_for_patient = [-1, -1, -1]
    for _ in range(3):
        masked = cosines.copy()
        for patient_axis, index_axis in enumerate(axis_for_patient):
            if index_axis >= 0:
                masked[patient_axis, :] = -1.0
                masked[:, index_axis] = -1.0
        best_patient, best_index = np.unravel_index(np.argmax(masked), masked.shape)
        axis_for_patient[int(best_patient)] = int(best_index)
    flips = tuple(
        bool(grid.direction[patient_axis, index_axis] < 0)
        for patient_axis, index_axis in enumerate(axis_for_patient)
    )
    return tuple(axis_for_patient), flips  # type: ignore[return-value]


def reorient_to_lps(array: npt.NDArray[Any], grid: Grid) -> tuple[npt.NDArray[Any], Grid]:
    """Permute and flip a (Z, Y, X) array so its x, y, z axes point L, P, S (no resampling).

    Oblique images keep their direction matrix: the axes are only permuted and flipped to the
    closest of L, P, S (as ``sitk.DICOMOrient``). Returns a C-contiguous array and its grid.
    """
    axis_for_patient, flips = canonical_axes(grid)
    if axis_for_patient == (0, 1, 2) and not any(flips):
        return np.ascontiguousarray(array), grid
    sizes_xyz = grid.shape_zyx[::-1]
    first_index_xyz = [0.0, 0.0, 0.0]
    for index_axis, flip in zip(axis_for_patient, flips, strict=True):
        if flip:
            first_index_xyz[index_axis] = sizes_xyz[index_axis] - 1
    origin = grid.index_to_lps(first_index_xyz[::-1])
    signs = np.where(flips, -1.0, 1.0)
    direction = grid.direction[:, list(axis_for_patient)] * signs[None, :]
    # Array axes are (z, y, x) = index axes (2, 1, 0): the new array axis for patient axis S, P, L.
    array_axes = [2 - axis_for_patient[patient] for patient in (2, 1, 0)]
    reordered = np.transpose(array, array_axes)
    slices = tuple(
        slice(None, None, -1) if flips[patient] else slice(None) for patient in (2, 1, 0)
    )
    new_grid = Grid(
        shape_zyx=tuple(reordered.shape),
        spacing_xyz_mm=tuple(grid.spacing_xyz_mm[i] for i in axis_for_patient),  # type: ignore[arg-type]
        origin_lps_mm=tuple(origin),
        direction=direction,
    )
    return np.ascontiguousarray(reordered[slices]), new_grid


Interpolation = Literal["linear", "bspline", "nearest", "label"]

_SITK_INTERPOLATORS: dict[str, Any] = {
    "linear": sitk.sitkLinear,
    "bspline": sitk.sitkBSpline,
    "nearest": sitk.sitkNearestNeighbor,
    "label": sitk.sitkLabelGaussian,
}


def resample_volume(
    volume: Volume, grid: Grid, interpolation: Interpolation = "linear", fill_value: float = 0.0
) -> Volume:
    """Resample a volume onto another grid (in LPS space; voxels outside get ``fill_value``)."""
    resampled = sitk.Resample(
        volume.to_sitk(),
        grid.to_sitk_reference(),
        sitk.Transform(),
        _SITK_INTERPOLATORS[interpolation],
        float(fill_value),
        sitk.sitkFloat32,
    )
    return Volume(array=sitk.GetArrayFromImage(resampled), grid=grid, meta=volume.meta)


def resample_labels(
    labels: LabelMap, grid: Grid, interpolation: Literal["nearest", "label"] = "label"
) -> LabelMap:
    """Resample a label map onto another grid; ``"label"`` smooths each label's boundary."""
    resampled = sitk.Resample(
        labels.to_sitk(),
        grid.to_sitk_reference(),
        sitk.Transform(),
        _SITK_INTERPOLATORS[interpolation],
        0,
        sitk.sitkUInt8,
    )
    return LabelMap(array=sitk.GetArrayFromImage(resampled), grid=grid)
