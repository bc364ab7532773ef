"""Correction speed (issue 22): damaged phantom labels made right again with scripted strokes.

The demo phantom's true labels are damaged in a known way and corrected with each tool of
:mod:`lumboplan_app.editing`, strokes placed by a script that acts like a surgeon: it looks at
the biggest remaining error and strokes there. The table reports, per tool and damage, how
many strokes it took, the seconds of compute per update (median and worst) and the Dice of the
corrected structures against the truth before and after (target > 0.9).

Damages: ``disc removed`` (the L5/S1 disc set to background), ``L5 bled into disc`` (disc
voxels within 3 mm of L5 labelled L5), ``specks`` (200 stray blobs of 1-8 voxels of every
structure), ``ragged L5`` (L5's outline voxels flipped at random, one in three).

Strokes: a stroke is one press-drag-release in one slice: up to 6 brush dabs (2 mm radius for
seeds, 4 mm for painting) on the eroded largest error in the axial slice through its centre.
For "fill between slices" a stroke is one sagittal slice of the disc drawn in full. The
intensity range of the limited brush is the 5th-95th percentile of the scan in the true disc
(what a surgeon reads off the window). ``--large`` adds grow from seeds on the demo resampled
to 300 x 320 x 320 voxels (the issue's size); ``--real`` grows the expert's disc or L5 body
back on four real T2 scans after removing it.
Run: `python benchmarks/correction_bench.py [--large] [--real]`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import machine_header

from lumboplan_app.editing import (
    IntensityRange,
    LabelEditor,
    SeedGrower,
    fill_between_slices,
    remove_small_islands,
    smooth_structure,
)
from lumboplan_app.io import read_label_map, read_scan
from lumboplan_app.labels import Structure
from lumboplan_app.volume import Grid, LabelMap, Volume

DEMO = Path(__file__).resolve().parents[1] / "resources/demo/case_00057"
TARGET_DICE = 0.9
MAX_STROKES = 40
#: Dabs per stroke: a short scribble for seeds, a drag across the slice for painting.
SEED_DABS, PAINT_DABS = 6, 12
#: The scripted surgeon strokes within this distance of the damage (mm).
NEAR_MM = 10.0
LARGE_SHAPE = (300, 320, 320)


@dataclass
class Row:
    """One tool on one damage: strokes, compute seconds per update, Dice before and after."""

    tool: str
    damage: str
    shape: tuple[int, ...]
    strokes: int = 0
    seconds: list[float] = field(default_factory=list)
    dice_before: float = 0.0
    dice_after: float = 0.0


def dice(labels: np.ndarray, truth: np.ndarray, structures: tuple[Structure, ...]) -> float:
    """Smallest Dice over ``structures`` of ``labels`` against ``truth``."""
    scores = []
    for s in structures:
        a, b = labels == s, truth == s
        scores.append(2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b)))
    return float(min(scores))


# -- damages --------------------------------------------------------------------------------------


def remove_disc(truth: np.ndarray, grid: Grid) -> np.ndarray:
    damaged = truth.copy()
    damaged[damaged == Structure.DISC] = 0
    return damaged


def remove_l5(truth: np.ndarray, grid: Grid) -> np.ndarray:
    damaged = truth.copy()
    damaged[damaged == Structure.L5] = 0
    return damaged


def bleed_l5(truth: np.ndarray, grid: Grid) -> np.ndarray:
    damaged = truth.copy()
    near = ndimage.distance_transform_edt(truth != Structure.L5, sampling=grid.spacing_xyz_mm[::-1])
    damaged[(truth == Structure.DISC) & (near <= 3.0)] = Structure.L5
    return damaged


def specks(truth: np.ndarray, grid: Grid) -> np.ndarray:
    damaged = truth.copy()
    rng = np.random.default_rng(1)
    body = np.argwhere(truth != 0)
    for n in range(200):
        z, y, x = body[rng.integers(len(body))] + rng.integers(-15, 16, 3)
        size = rng.integers(1, 3, 3)
        damaged[z : z + size[0], y : y + size[1], x : x + size[2]] = 1 + n % 6
    return damaged


def ragged_l5(truth: np.ndarray, grid: Grid) -> np.ndarray:
    damaged = truth.copy()
    l5 = truth == Structure.L5
    outline = l5 ^ ndimage.binary_erosion(l5)
    outside = ndimage.binary_dilation(l5) & ~l5 & (truth == 0)
    rng = np.random.default_rng(2)
    damaged[outline & (rng.random(truth.shape) < 1 / 3)] = 0
    damaged[outside & (rng.random(truth.shape) < 1 / 3)] = Structure.L5
    return damaged


# -- the scripted surgeon ------------------------------------------------------------------------


def stroke_points(region: np.ndarray, count: int, spacing: float) -> list[tuple[int, int, int]]:
    """Up to ``count`` dab centres, ``spacing`` voxels apart, deepest first, in the axial slice
    that holds most of ``region``."""
    z = int(np.argmax(region.sum(axis=(1, 2))))
    depth = ndimage.distance_transform_edt(region[z])
    points = np.argwhere(region[z])
    points = points[np.argsort(-depth[region[z]], kind="stable")]
    chosen: list[np.ndarray] = []
    for point in points:
        if all(np.hypot(*(point - c)) >= spacing for c in chosen):
            chosen.append(point)
            if len(chosen) == count:
                break
    return [(z, int(y), int(x)) for y, x in chosen]


def biggest_error(
    labels: np.ndarray, truth: np.ndarray, wanted: np.ndarray
) -> tuple[np.ndarray, int]:
    """The largest connected region within ``wanted`` wrongly labelled, of one true id; the id.

    One true id per region, so that a stroke of that id placed anywhere in it is right.
    """
    best, best_id, best_size = np.zeros_like(wanted), 0, 0
    wrong = (labels != truth) & wanted
    for true_id in np.unique(truth[wrong]):
        pieces, count = ndimage.label(wrong & (truth == true_id))
        sizes = np.bincount(pieces.reshape(-1))[1:]
        if count and sizes.max() > best_size:
            best, best_id = pieces == 1 + int(np.argmax(sizes)), int(true_id)
            best_size = int(sizes.max())
    return best, best_id


def near_damage(truth: np.ndarray, damaged: np.ndarray, grid: Grid) -> np.ndarray:
    """The voxels within :data:`NEAR_MM` of a damaged voxel: where the surgeon works."""
    far = ndimage.distance_transform_edt(truth == damaged, sampling=grid.spacing_xyz_mm[::-1])
    return far <= NEAR_MM


def grow_from_seeds(
    volume: Volume, labels: LabelMap, truth: np.ndarray, case: Case, row: Row
) -> None:
    editor = LabelEditor(labels)
    grower = SeedGrower(volume, labels)
    near = near_damage(truth, labels.array, labels.grid)
    kinds = [int(s) for s in case.seeds]
    for structure in case.seeds:
        region = near & (truth == structure)
        if structure is Structure.BACKGROUND:  # the fat around, not up against the structures
            region &= ~ndimage.binary_dilation(truth != 0, iterations=3)
        for point in stroke_points(region, SEED_DABS, 4.0):
            grower.paint(structure, point, "axial", 2.0)
        row.strokes += 1
    allowed = near & np.isin(truth, kinds)
    while True:
        grower.update(editor)
        row.seconds.append(grower.last_seconds)
        if dice(labels.array, truth, case.targets) > TARGET_DICE or row.strokes >= MAX_STROKES:
            return
        region, true_id = biggest_error(labels.array, truth, allowed)
        for point in stroke_points(region, SEED_DABS, 4.0):
            grower.paint(Structure(true_id), point, "axial", 2.0)
        row.strokes += 1


def paint_in_range(
    volume: Volume, labels: LabelMap, truth: np.ndarray, case: Case, row: Row
) -> None:
    editor = LabelEditor(labels)
    disc = volume.array[truth == Structure.DISC]
    bright = IntensityRange(volume.array, *np.percentile(disc, [5, 95]))
    wanted = truth == Structure.DISC
    while dice(labels.array, truth, case.targets) <= TARGET_DICE and row.strokes < MAX_STROKES:
        region, _ = biggest_error(labels.array, truth, wanted)
        start = time.perf_counter()
        editor.begin_stroke()
        for point in stroke_points(region, PAINT_DABS, 5.0):
            editor.paint(Structure.DISC, point, "axial", 4.0, intensity=bright)
        editor.end_stroke()
        row.seconds.append(time.perf_counter() - start)
        row.strokes += 1


def fill_slices(volume: Volume, labels: LabelMap, truth: np.ndarray, case: Case, row: Row) -> None:
    disc = truth == Structure.DISC
    drawn = np.flatnonzero(disc.any(axis=(0, 1)))
    for step in (12, 8, 6, 4, 3, 2):
        labels.array[:] = remove_disc(truth, labels.grid)
        keep = sorted({*drawn[::step].tolist(), int(drawn[-1])})
        for x in keep:
            labels.array[:, :, x][disc[:, :, x]] = Structure.DISC
        start = time.perf_counter()
        fill_between_slices(LabelEditor(labels), Structure.DISC, "sagittal")
        row.seconds = [time.perf_counter() - start]
        row.strokes = len(keep)
        if dice(labels.array, truth, case.targets) > TARGET_DICE:
            return


def one_step(tool: Callable[[LabelEditor], object]) -> Callable[..., None]:
    def run(volume: Volume, labels: LabelMap, truth: np.ndarray, case: Case, row: Row) -> None:
        start = time.perf_counter()
        tool(LabelEditor(labels))
        row.seconds.append(time.perf_counter() - start)
        row.strokes = 0

    return run


@dataclass(frozen=True)
class Case:
    """A tool on a damage: the structures it must get right and the kinds it strokes."""

    tool: str
    damage: str
    damage_fn: Callable[[np.ndarray, Grid], np.ndarray]
    targets: tuple[Structure, ...]
    run: Callable[[Volume, LabelMap, np.ndarray, Case, Row], None]
    seeds: tuple[Structure, ...] = ()


DISC, L5 = Structure.DISC, Structure.L5
CASES = (
    Case(
        "grow from seeds",
        "disc removed",
        remove_disc,
        (DISC,),
        grow_from_seeds,
        (DISC, Structure.BACKGROUND),
    ),
    Case("grow from seeds", "L5 bled into disc", bleed_l5, (DISC, L5), grow_from_seeds, (DISC, L5)),
    Case("paint in range", "disc removed", remove_disc, (DISC,), paint_in_range),
    Case("paint in range", "L5 bled into disc", bleed_l5, (DISC,), paint_in_range),
    Case("fill between slices", "disc removed", remove_disc, (DISC,), fill_slices),
    Case(
        "remove small islands",
        "specks",
        specks,
        (L5, DISC, Structure.S1, Structure.NERVES),
        one_step(lambda editor: remove_small_islands(editor, min_volume_mm3=50.0)),
    ),
    Case(
        "smooth (median 1 mm)",
        "ragged L5",
        ragged_l5,
        (L5,),
        one_step(lambda editor: smooth_structure(editor, L5, 1.0, "median")),
    ),
)


#: Real scans (``../shared/realdata/labelled_t2``): the expert's structure removed, grown back.
REAL = Path(__file__).resolve().parents[2] / "shared/realdata/labelled_t2"
REAL_CASES = {
    "IVD_11": Case(
        "grow from seeds",
        "real: disc removed",
        remove_disc,
        (DISC,),
        grow_from_seeds,
        (DISC, Structure.BACKGROUND),
    ),
    "IVD_20": Case(
        "grow from seeds",
        "real: disc removed",
        remove_disc,
        (DISC,),
        grow_from_seeds,
        (DISC, Structure.BACKGROUND),
    ),
    "VBs_VB2_02": Case(
        "grow from seeds",
        "real: L5 body removed",
        remove_l5,
        (L5,),
        grow_from_seeds,
        (L5, Structure.BACKGROUND),
    ),
    "VBs_VB2_05": Case(
        "grow from seeds",
        "real: L5 body removed",
        remove_l5,
        (L5,),
        grow_from_seeds,
        (L5, Structure.BACKGROUND),
    ),
}


def resampled(
    volume: Volume, truth: LabelMap, shape: tuple[int, int, int]
) -> tuple[Volume, LabelMap]:
    """The demo scan and labels on a finer grid of ``shape`` voxels (same field of view)."""
    factors = np.asarray(shape) / np.asarray(volume.array.shape)
    spacing = tuple(float(s) for s in np.asarray(volume.grid.spacing_xyz_mm) / factors[::-1])
    grid = Grid(shape, spacing, volume.grid.origin_lps_mm, volume.grid.direction)
    image = ndimage.zoom(
        volume.array, factors, order=1, output=np.float32, grid_mode=True, mode="nearest"
    )
    labels = ndimage.zoom(truth.array, factors, order=0, grid_mode=True, mode="nearest")
    return Volume(image[: shape[0], : shape[1], : shape[2]], grid), LabelMap(
        labels[: shape[0], : shape[1], : shape[2]], grid
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--large", action="store_true", help="grow from seeds at 300x320x320 too")
    parser.add_argument("--real", action="store_true", help="grow from seeds on real T2 scans")
    arguments = parser.parse_args()
    volume = read_scan(DEMO / "dicom")
    truth = read_label_map(DEMO / "labels.nii.gz")
    scans = [(volume, truth, CASES)]
    if arguments.large:
        scans.append((*resampled(volume, truth, LARGE_SHAPE), CASES[:2]))
    if arguments.real:  # 255 marks other levels: neither stroked nor changed (a wall)
        for name, case in REAL_CASES.items():
            scan = read_scan(REAL / name / "image.nii.gz")
            scans.append((scan, read_label_map(REAL / name / "truth.nii.gz", scan.grid), (case,)))
    rows = []
    for scan, true_labels, cases in scans:
        for case in cases:
            damaged = case.damage_fn(true_labels.array, true_labels.grid)
            labels = LabelMap(damaged, true_labels.grid)
            row = Row(case.tool, case.damage, scan.array.shape)
            row.dice_before = dice(labels.array, true_labels.array, case.targets)
            case.run(scan, labels, true_labels.array, case, row)
            row.dice_after = dice(labels.array, true_labels.array, case.targets)
            rows.append(row)
            print(f"done: {case.tool} / {case.damage} {scan.array.shape}", file=sys.stderr)
    print(machine_header())
    print(
        "| tool | damage | voxels (z,y,x) | strokes | updates | s/update median | s/update max "
        "| Dice before | Dice after |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r.tool} | {r.damage} | {'x'.join(map(str, r.shape))} | {r.strokes} "
            f"| {len(r.seconds)} | {np.median(r.seconds):.3f} | {max(r.seconds):.3f} "
            f"| {r.dice_before:.3f} | {r.dice_after:.3f} |"
        )


if __name__ == "__main__":
    main()
