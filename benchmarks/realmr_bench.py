"""The model on REAL lumbar MR with expert labels of the L5 body or the L5/S1 disc.

Reads every ``labelled_*`` folder of ``../shared/realdata`` (``labelled_t2`` and
``labelled_waterfat``: PROVENANCE.md in each), or the folders given with ``--sets``, and, per
case: whether the plausibility check accepts the segmentation, the L5 body Dice (predicted L5
cut to the true body's box grown 5 mm, not behind its posterior face in each axial slice:
``partial_labels.l5_body_masks``), the L5/S1 disc Dice, the
share of predicted L5 and disc voxels on another labelled level, and seconds; medians at the
bottom of each set. The labels scored are the network's output after its component clean-up,
before the plausibility check (a refused case is still scored). Cases the weights were trained
or validated on (the card's ``extra.real_training_cases`` and ``real_validation_cases``; a case
of the same name, ``DATA_DIR/NAME`` there included) are marked "seen" and left out of the
held-out medians.

Run: `python benchmarks/realmr_bench.py [--weights FILE] [--device auto] [--sets DIR ...]
[--cases NAME ...] [--overlays docs/images/realmr] [--write-card] [--quick]
[--framings 12 24 36] [--slices 3 4] [--tilts -8 8] [--contrasts inverted gamma0.4 gamma2.5]`.
``--sets`` scores a site's own labelled scans: each folder holds one folder per case with
``image.nii.gz`` and ``truth.nii.gz`` coded as ``labelled_t2`` is (1 the L5 body, 2 the L5/S1 disc,
255 another level, 0 not labelled; the truth on the image's grid). ``--overlays`` writes one PNG per
case (sagittal through the spine, axial through the L5/S1 disc, coronal through the foramina, all
seven structures); ``--write-card`` stores the table in the card's ``metrics.real``. ``--framings``
also segments each scan framed differently: the given millimetres cut off its anterior and superior
edges (the same anatomy, so the model's windows fall elsewhere on it, as on a scan another site
frames otherwise), and prints per case whether each framing is accepted and its L5 body Dice.
``--slices`` does the same with the scan as a 2-D sagittal protocol gives it: left-right slices the
given millimetres thick (the 1 mm planes averaged in slabs; scored against the truth's plane nearest
each slab's centre), the clinic's usual lumbar T2. ``--tilts`` does the same with each scan's
content turned the given degrees in its sagittal plane (positive: the top goes back; the same spine
lying more or less lordotic to the scanner), cut to the largest box inside the turned field of view
(straight edges, as a scanner's) and scored with its labels carried back to the truth's grid.
``--contrasts`` does the same with the scan's intensities remapped (``inverted``, or ``gammaG``: the
1st-99.5th percentile range raised to the power G), a contrast the model has not seen on the same
anatomy and labels. Under the variants' table each refused variant is listed with the check's
reason, and ``--write-card`` keeps each variant's summary too (cases in view, accepted, L5 body
Dice median, the refusals' reasons).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import machine_header

from lumboplan_app.atomic import write_text_atomic
from lumboplan_app.errors import ModelError
from lumboplan_app.io import read_label_map, read_scan
from lumboplan_app.labels import Structure
from lumboplan_app.segmentation.inference import (
    DEFAULT_WEIGHTS,
    Segmenter,
    check_plausible,
)
from lumboplan_app.segmentation.model_card import card_path_for, read_card
from lumboplan_app.segmentation.partial_labels import disc_dice, l5_body_dice, wrong_level_share
from lumboplan_app.segmentation.postprocess import keep_main_components
from lumboplan_app.volume import Grid, LabelMap, Volume, resample_labels, resample_volume

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"


def labelled_sets(given: list[Path]) -> list[Path]:
    """The set folders to score: ``given``, else every ``labelled_*`` folder of the real data."""
    if given:
        return given
    return sorted(REALDATA.glob("labelled_*")) if REALDATA.is_dir() else []


def case_folders(set_folder: Path) -> list[Path]:
    """The set's case folders: those holding both ``image.nii.gz`` and ``truth.nii.gz``."""
    return sorted(
        p
        for p in set_folder.iterdir()
        if (p / "image.nii.gz").is_file() and (p / "truth.nii.gz").is_file()
    )


def read_case(folder: Path) -> tuple[Volume, np.ndarray]:
    """The case's scan and its partial truth on the scan's grid, both in L, P, S axis order."""
    volume = read_scan(folder / "image.nii.gz").to_canonical()
    truth = read_label_map(folder / "truth.nii.gz", reference=volume.grid).array
    return volume, truth


def reframed(volume: Volume, truth: np.ndarray, cut_mm: float) -> tuple[Volume, np.ndarray]:
    """``volume`` and ``truth`` (L, P, S axis order) without ``cut_mm`` at the front and the top.

    The anatomy stays where it was in LPS; only the field of view's anterior and superior edges
    move, so a sliding-window model sees the spine at other places in its windows.
    """
    grid = volume.grid
    cut_y = round(cut_mm / grid.spacing_xyz_mm[1])
    cut_z = round(cut_mm / grid.spacing_xyz_mm[2])
    keep = (slice(0, grid.shape_zyx[0] - cut_z), slice(cut_y, None), slice(None))
    origin = np.asarray(grid.origin_lps_mm) + grid.direction[:, 1] * cut_y * grid.spacing_xyz_mm[1]
    array = volume.array[keep]
    smaller = replace(grid, shape_zyx=array.shape, origin_lps_mm=tuple(origin))
    return Volume(array, smaller, volume.meta), truth[keep]


def sagittal_slices(
    volume: Volume, truth: np.ndarray, slice_mm: float
) -> tuple[Volume, np.ndarray]:
    """``volume`` (L, P, S axis order) as left-right slices ``slice_mm`` thick, and its truth.

    Each run of sagittal planes spanning ``slice_mm`` (the nearest whole number of planes, at
    least one, at most the scan's width) is averaged into one slice at the run's centre (a 2-D
    sagittal protocol without gaps); the truth keeps the plane nearest each centre. Planes left
    over at the right edge are dropped.
    """
    grid = volume.grid
    step_mm = float(grid.spacing_xyz_mm[0])
    per_slice = min(max(1, int(slice_mm / step_mm + 0.5)), grid.shape_zyx[2])
    count = grid.shape_zyx[2] // per_slice
    kept = count * per_slice
    slabs = volume.array[:, :, :kept].astype(np.float32)
    array = slabs.reshape(*slabs.shape[:2], count, per_slice).mean(axis=3)
    centres = truth[:, :, per_slice // 2 : kept : per_slice]
    origin = np.asarray(grid.origin_lps_mm) + grid.direction[:, 0] * (per_slice - 1) / 2 * step_mm
    thick = replace(
        grid,
        shape_zyx=array.shape,
        spacing_xyz_mm=(step_mm * per_slice, *grid.spacing_xyz_mm[1:]),
        origin_lps_mm=tuple(origin),
    )
    return Volume(array, thick, volume.meta), centres


def tilted(volume: Volume, degrees: float) -> tuple[Volume, Callable[[np.ndarray], np.ndarray]]:
    """``volume`` (L, P, S axis order) turned ``degrees`` about the left-right axis, and a way back.

    The scan's content turns in its sagittal plane about the scan's centre (positive: its top
    goes back), as the same spine lying more or less lordotic to the scanner, and is cut to the
    largest box that lies wholly inside the turned field of view: its edges stay straight, as a
    scanner's are. The scan is resampled onto a grid whose axes are turned the other way and
    handed on with the scan's own axes. The second value carries labels on the turned grid back
    to the scan's grid (nearest label; 0 outside the box).
    """
    grid = volume.grid
    angle = np.deg2rad(degrees)
    # Columns: the turned grid's x, y, z axes in the scan's index frame (x is the turning axis).
    turn = np.array(
        [[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]]
    )
    direction = grid.direction @ turn
    spacing = np.array(grid.spacing_xyz_mm)
    centre = grid.index_to_lps((np.array(grid.shape_zyx) - 1) / 2)
    corners_xyz = np.array([[0, y, z] for y in (-1, 1) for z in (-1, 1)]) * (
        np.array(grid.extent_xyz_mm) / 2
    )
    reach_mm = np.abs(corners_xyz @ (grid.direction.T @ direction)).max(axis=0)
    sizes_xyz = [grid.shape_zyx[2], *(np.floor(2 * reach_mm[1:] / spacing[1:]).astype(int) + 1)]
    half_mm = (np.array(sizes_xyz) - 1) / 2 * spacing
    full = Grid(
        shape_zyx=(int(sizes_xyz[2]), int(sizes_xyz[1]), int(sizes_xyz[0])),
        spacing_xyz_mm=grid.spacing_xyz_mm,
        origin_lps_mm=tuple(centre - direction @ half_mm),
        direction=direction,
    )
    ones = Volume(np.ones(grid.shape_zyx, np.float32), grid, volume.meta)
    inside = resample_volume(ones, full, "nearest").array[:, :, 0] > 0.5
    (z0, z1), (y0, y1) = _largest_box(inside)
    box = replace(
        full,
        shape_zyx=(z1 - z0, y1 - y0, full.shape_zyx[2]),
        origin_lps_mm=tuple(full.index_to_lps((z0, y0, 0))),
    )
    array = resample_volume(volume, box).array
    turned = replace(grid, shape_zyx=array.shape)  # the scan's own axes: the patient lies turned

    def back(labels: np.ndarray) -> np.ndarray:
        return resample_labels(LabelMap(labels, box), grid, "nearest").array

    return Volume(array, turned, volume.meta), back


def around_labelled(truth: np.ndarray, grid: Grid, margin_mm: float = 40.0) -> tuple[slice, ...]:
    """The labelled body's or disc's bounding box grown ``margin_mm`` (S1 lies within it).

    Without a labelled body or disc: the whole scan (nothing may be cut).
    """
    indices = np.argwhere((truth == Structure.L5) | (truth == Structure.DISC))
    if not indices.size:
        return tuple(slice(0, n) for n in truth.shape)
    spacing_zyx = np.array(grid.spacing_xyz_mm[::-1])
    grow = np.ceil(margin_mm / spacing_zyx).astype(int)
    low = np.maximum(indices.min(axis=0) - grow, 0)
    high = indices.max(axis=0) + grow + 1
    return tuple(slice(int(a), int(b)) for a, b in zip(low, high, strict=True))


def _largest_box(inside: np.ndarray) -> tuple[tuple[int, int], tuple[int, int]]:
    """The largest axis-aligned rectangle of a 2-D mask whose rows are intervals (a turned box)."""
    rows = inside.any(axis=1)
    low = np.where(rows, inside.argmax(axis=1), inside.shape[1])
    high = np.where(rows, inside.shape[1] - inside[:, ::-1].argmax(axis=1), 0)
    best, found = -1, ((0, 1), (0, 1))
    for z0 in np.flatnonzero(rows):
        widths = np.minimum.accumulate(high[z0:]) - np.maximum.accumulate(low[z0:])
        heights = np.arange(1, widths.size + 1)
        areas = np.where(widths > 0, widths * heights, 0)
        z1 = int(areas.argmax())
        if areas[z1] > best:
            best = int(areas[z1])
            lo = int(np.maximum.accumulate(low[z0:])[z1])
            found = ((int(z0), int(z0) + z1 + 1), (lo, lo + int(widths[z1])))
    return found


def remapped(volume: Volume, contrast: str) -> Volume:
    """``volume`` with its intensities remapped: ``inverted`` or ``gammaG`` (e.g. ``gamma2.5``).

    The 1st-99.5th percentile range is scaled to 0-1000 first; the anatomy and grid are kept.
    """
    curve = contrast_curve(contrast)
    values = volume.array.astype(np.float32)
    low, high = np.percentile(values, [1.0, 99.5])
    unit = np.clip((values - low) / max(float(high - low), 1e-6), 0.0, 1.0)
    return Volume((curve(unit) * 1000.0).astype(np.float32), volume.grid, volume.meta)


def contrast_curve(contrast: str) -> Callable[[np.ndarray], np.ndarray]:
    """The remapping of 0-1 intensities ``contrast`` names: ``inverted`` or ``gammaG`` (G > 0).

    Raises
    ------
    ValueError
        If ``contrast`` is neither.
    """
    if contrast == "inverted":
        return lambda unit: 1.0 - unit
    try:
        power = float(contrast.removeprefix("gamma")) if contrast.startswith("gamma") else 0.0
    except ValueError:
        power = 0.0
    if not power > 0:
        raise ValueError(f"unknown contrast {contrast!r}: 'inverted' or 'gammaG' with G above 0")
    return lambda unit: unit**power


def score_case(
    segmenter: Segmenter,
    volume: Volume,
    truth: np.ndarray,
    overlays: Path | None = None,
    back: Callable[[np.ndarray], np.ndarray] | None = None,
) -> dict:
    """Segment one case and score it against its partial truth (``overlays``: a PNG path).

    ``back`` carries labels on ``volume``'s grid to ``truth``'s (a :func:`tilted` scan), whose
    spacing is then ``volume``'s too.
    """
    start = time.perf_counter()
    raw = segmenter.predict_labels(volume)
    labels = LabelMap(keep_main_components(raw.array), raw.grid)
    reason = ""
    try:
        check_plausible(labels)
    except ModelError as error:
        reason = str(error).split(":")[0]
    seconds = time.perf_counter() - start
    x_mm, y_mm, z_mm = (float(s) for s in volume.grid.spacing_xyz_mm)
    spacing_zyx = (z_mm, y_mm, x_mm)
    if overlays is not None:
        from overlays import write_overlay

        write_overlay(volume, labels, truth, overlays)
    scored = labels.array if back is None else back(labels.array)
    return {
        "accepted": not reason,
        "refusal": reason,
        "l5_body_dice": l5_body_dice(scored, truth, spacing_zyx),
        "disc_dice": disc_dice(scored, truth),
        "l5_wrong_level": wrong_level_share(scored, truth, Structure.L5),
        "disc_wrong_level": wrong_level_share(scored, truth, Structure.DISC),
        "seconds": seconds,
    }


def _cell(value: float) -> str:
    return "-" if np.isnan(value) else f"{value:.3f}"


def _median(rows: Iterable[dict], key: str) -> float:
    """Median of ``key`` over ``rows``, NaN (not scored) left out; NaN if none is scored."""
    values = [r[key] for r in rows if not np.isnan(r[key])]
    return float(np.median(values)) if values else float("nan")


def _summary(rows: dict[str, dict]) -> dict:
    """Medians and counts over ``rows``."""
    return {
        "cases": len(rows),
        "accepted": sum(r["accepted"] for r in rows.values()),
        "l5_body_dice_median": _median(rows.values(), "l5_body_dice"),
        "disc_dice_median": _median(rows.values(), "disc_dice"),
        "cases_on_wrong_level": sum(
            r["l5_wrong_level"] > 0.05 or r["disc_wrong_level"] > 0.05 for r in rows.values()
        ),
        "seconds_median": _median(rows.values(), "seconds"),
    }


def print_set(name: str, rows: dict[str, dict], trained: set[str]) -> dict:
    """Print one set's table; return its summaries (all cases, and held out)."""
    print(f"\n### {name}\n")
    print(
        "| case | seen in training | accepted | L5 body Dice | disc Dice | L5 on other level | "
        "disc on other level | s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for case, r in rows.items():
        accepted = "yes" if r["accepted"] else f"no: {r['refusal']}"
        print(
            f"| {case} | {'yes' if case in trained else 'no'} | {accepted} | "
            f"{_cell(r['l5_body_dice'])} | {_cell(r['disc_dice'])} | {r['l5_wrong_level']:.3f} | "
            f"{r['disc_wrong_level']:.3f} | {r['seconds']:.1f} |"
        )
    summaries = {"all": _summary(rows)}
    held_out = {case: r for case, r in rows.items() if case not in trained}
    if trained and held_out:
        summaries["held_out"] = _summary(held_out)
    for which, s in summaries.items():
        print(
            f"| median ({which}, {s['cases']} cases) | | {s['accepted']}/{s['cases']} | "
            f"{_cell(s['l5_body_dice_median'])} | {_cell(s['disc_dice_median'])} | "
            f"{s['cases_on_wrong_level']} case(s) > 5 % | | {s['seconds_median']:.1f} |"
        )
    return summaries


def print_variants(
    title: str, as_given: dict[str, dict], variants: dict[str, dict[str, dict]], trained: set[str]
) -> dict[str, dict]:
    """Print, per case, the verdict and L5 body Dice as given and under each variant.

    Return each variant's summary: cases in view, accepted, L5 body Dice median, and the reason
    each refused case was refused (the plausibility check's first sentence).
    """
    names = list(next(iter(variants.values())))
    print(f"\n### {title}\n")
    print("| case | seen in training | " + " | ".join(["as given", *names]) + " |")
    print("|---|---|" + "---|" * (len(names) + 1))
    for case, rows in variants.items():
        cells = [as_given[case], *(rows[n] for n in names)]
        text = [
            f"{'yes' if r['accepted'] else 'REFUSED'} {_cell(r['l5_body_dice'])}"
            + ("" if np.isnan(r["disc_dice"]) else f" (disc {_cell(r['disc_dice'])})")
            + ("" if r.get("in_view", True) else " (cut within 40 mm)")
            for r in cells
        ]
        print(f"| {case} | {'yes' if case in trained else 'no'} | " + " | ".join(text) + " |")
    columns = [
        [as_given[c] for c in variants],
        *([rows[n] for rows in variants.values()] for n in names),
    ]
    counts = [
        f"{sum(r['accepted'] for r in column if r.get('in_view', True))} of "
        f"{sum(r.get('in_view', True) for r in column)}"
        if any(r.get("in_view", True) for r in column)
        else "- (none in view)"
        for column in columns
    ]
    print("| accepted (in view) | | " + " | ".join(counts) + " |")
    every = [(case, "as given", r) for case, r in as_given.items()] + [
        (case, name, r) for case, rows in variants.items() for name, r in rows.items()
    ]
    share, case, name = max(
        (np.nan_to_num(max(r["l5_wrong_level"], r["disc_wrong_level"])), case, name)
        for case, name, r in every
    )
    print(f"\nLargest share of L5 or disc on another labelled level: {share:.3f} ({case}, {name})")
    refused = [(case, name, r) for case, name, r in every if not r["accepted"]]
    if refused:
        print("\nRefused:\n")
        for case, name, r in refused:
            view = "" if r.get("in_view", True) else " (cut within 40 mm)"
            print(f"- {case}, {name}{view}: {r['refusal']}")
    return {
        name: _variant_summary([rows[name] for rows in variants.values()], list(variants))
        for name in names
    }


def _variant_summary(rows: list[dict], cases: list[str]) -> dict:
    """One variant over every case: counts in view, L5 body Dice median, refusal reasons."""
    in_view = [(case, r) for case, r in zip(cases, rows, strict=True) if r.get("in_view", True)]
    return {
        "cases_in_view": len(in_view),
        "accepted": sum(r["accepted"] for _, r in in_view),
        "l5_body_dice_median": _median((r for _, r in in_view), "l5_body_dice"),
        "refused": {case: r["refusal"] for case, r in in_view if not r["accepted"]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--sets",
        nargs="*",
        type=Path,
        default=[],
        metavar="DIR",
        help="folders of labelled cases (default: every labelled_* folder of ../shared/realdata)",
    )
    parser.add_argument("--cases", nargs="*", help="only these case folders (names)")
    parser.add_argument("--overlays", type=Path, help="write one overlay PNG per case here")
    parser.add_argument("--write-card", action="store_true", help="store the table in the card")
    parser.add_argument("--quick", action="store_true", help="one case of each set")
    parser.add_argument(
        "--framings",
        nargs="*",
        type=float,
        default=[],
        metavar="MM",
        help="also segment each scan with MM cut off its front and top (e.g. 12 24 36)",
    )
    parser.add_argument(
        "--slices",
        nargs="*",
        type=float,
        default=[],
        metavar="MM",
        help="also segment each scan as 2-D sagittal slices MM thick (e.g. 3 4)",
    )
    parser.add_argument(
        "--tilts",
        nargs="*",
        type=float,
        default=[],
        metavar="DEG",
        help="also segment each scan turned DEG degrees in its sagittal plane (e.g. -8 8)",
    )
    parser.add_argument(
        "--contrasts",
        nargs="*",
        default=[],
        metavar="REMAP",
        help="also segment each scan remapped: inverted, gammaG (e.g. inverted gamma2.5)",
    )
    arguments = parser.parse_args()
    sets = labelled_sets(arguments.sets)
    missing = [str(folder) for folder in sets if not folder.is_dir()]
    if missing:
        parser.error(f"not a folder: {', '.join(missing)}")
    if not sets:
        print(f"No labelled real data at {REALDATA}: nothing to measure.")
        return
    if any(mm <= 0 for mm in arguments.slices):
        parser.error("--slices takes thicknesses in mm above 0")
    for contrast in arguments.contrasts:
        try:
            contrast_curve(contrast)
        except ValueError as error:
            parser.error(str(error))
    names = [folder.resolve().name for folder in sets]
    if len(set(names)) < len(names):  # two sites' "labelled" folders: name them by their path
        names = [str(folder.resolve()) for folder in sets]
    if arguments.overlays is not None:
        arguments.overlays.mkdir(parents=True, exist_ok=True)
    segmenter = Segmenter(arguments.weights, device=arguments.device)
    card = read_card(arguments.weights)
    seen = card.extra.get("real_training_cases", []) + card.extra.get("real_validation_cases", [])
    # "DATA_DIR/NAME" where two training folders held a case of that name: seen either way.
    trained = {name.rsplit("/", 1)[-1] for name in seen}
    print(machine_header() + f", device {segmenter.device}, model {arguments.weights.name}")
    results: dict[str, dict] = {}
    variants: dict[str, dict[str, dict[str, dict]]] = {}
    for set_folder, set_name in zip(sets, names, strict=True):
        rows = {}
        folders = case_folders(set_folder)
        if not folders:
            print(f"\n{set_folder}: no case folder (image.nii.gz and truth.nii.gz) to measure.")
        for folder in folders[:1] if arguments.quick else folders:
            if arguments.cases and folder.name not in arguments.cases:
                continue
            volume, truth = read_case(folder)
            overlay = arguments.overlays / f"{folder.name}.png" if arguments.overlays else None
            rows[folder.name] = score_case(segmenter, volume, truth, overlay)
            print(f"{folder.name}: {json.dumps(rows[folder.name])}", flush=True)
            case_variants = variants.setdefault(set_name, {}).setdefault(folder.name, {})
            for cut_mm in arguments.framings:
                row = score_case(segmenter, *reframed(volume, truth, cut_mm))
                case_variants[f"{cut_mm:g} mm cut off front and top"] = row
            for slice_mm in arguments.slices:
                row = score_case(segmenter, *sagittal_slices(volume, truth, slice_mm))
                case_variants[f"{slice_mm:g} mm sagittal slices"] = row
            for degrees in arguments.tilts:
                turned, back = tilted(volume, degrees)
                row = score_case(segmenter, turned, truth, back=back)
                kept = back(np.ones(turned.array.shape, np.uint8)).astype(bool)
                row["in_view"] = bool(kept[around_labelled(truth, volume.grid)].all())
                case_variants[f"turned {degrees:+g} deg"] = row
            for contrast in arguments.contrasts:
                row = score_case(segmenter, remapped(volume, contrast), truth)
                case_variants[contrast] = row
        if rows:
            results[set_name] = {"cases": rows, "summary": print_set(set_name, rows, trained)}
    for set_name, cases in variants.items():
        if any(cases.values()):
            title = f"{set_name}: other framings, slices, tilts and contrasts"
            summary = print_variants(title, results[set_name]["cases"], cases, trained)
            results[set_name]["variants"] = summary
    if arguments.write_card and not results:
        print("Nothing measured: the card is left as it was.")
    elif arguments.write_card:
        metrics = dict(card.metrics)
        metrics["real"] = {
            "data": f"{', '.join(results)}: real lumbar MR with the L5 body or the L5/S1 disc "
            "labelled (1 the L5 body, 2 the disc, 255 another level; PROVENANCE.md of each set)",
            "pipeline": "Segmenter.predict_labels + keep_main_components, scored before the "
            "plausibility check; 'accepted' is the check's verdict",
            "l5_body_dice": "predicted L5 cut to the true body's box grown 5 mm, not behind "
            "its posterior face in each axial slice (the face follows the body's tilt; the "
            "arch is not scored)",
            "sets": _rounded(results),
            "machine": machine_header(),
        }
        write_text_atomic(
            card_path_for(arguments.weights),
            json.dumps(replace(card, metrics=metrics).to_json(), indent=2) + "\n",
        )
        print(f"Stored in {card_path_for(arguments.weights).name}")


def _rounded(value: object) -> object:
    """``value`` with floats rounded to 4 places and NaN as None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, float):
        return None if np.isnan(value) else round(value, 4)
    return value


if __name__ == "__main__":
    main()
