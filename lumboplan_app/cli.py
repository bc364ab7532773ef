"""The ``lumboplan`` command: the headless face of LumboPlan (DESIGN.md, "Command line").

Exit status: 0 on success, 2 for a usage error, 1 for bad input or a failure the message
explains (one line on stderr, starting ``lumboplan: error:``), 130 when interrupted, 141 when
the reader of the output closed it (``| head``), 70 for an internal fault. Heavy modules are
imported inside the commands so ``lumboplan --help`` is fast. Nothing printed carries a patient
identifier, and text from a file is printed with its control characters escaped.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lumboplan_app import __version__
from lumboplan_app.errors import (
    Cancelled,
    LoadError,
    LumboPlanError,
    SeriesChoiceRequired,
)
from lumboplan_app.labels import Structure
from lumboplan_app.logs import configure_logging
from lumboplan_app.phantom import CONTRASTS, FIELDS_OF_VIEW
from lumboplan_app.segmentation import SEGMENTER_DEVICES
from lumboplan_app.shipped import DEMO_SCAN
from lumboplan_app.text import shown_text

if TYPE_CHECKING:
    from lumboplan_app.io import SeriesInfo
    from lumboplan_app.volume import Volume

logger = logging.getLogger(__name__)

INFO_SCHEMA = "lumboplan.info/1"
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130
#: The reader of the output went away (``lumboplan info X | head -3``): 128 + SIGPIPE.
EXIT_BROKEN_PIPE = 141


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``lumboplan`` command line; return the exit status."""
    parser = _build_parser()
    arguments = parser.parse_args(argv)
    if arguments.selftest:
        arguments.handler = _command_selftest
    elif arguments.command is None:
        parser.error("the following arguments are required: COMMAND (or --selftest)")
    log_file = configure_logging(arguments.verbose)
    try:
        status: int = arguments.handler(arguments)
        sys.stdout.flush()  # a closed pipe is found here, not at the interpreter's exit
    except BrokenPipeError:
        # Python's recipe: point stdout at devnull so the exit's flush cannot fail again.
        logger.info("the reader of the output closed it")
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except SeriesChoiceRequired as error:
        print(f"lumboplan: error: {error} Add --series INDEX or --series UID:", file=sys.stderr)
        for info in error.series:
            print(f"  {info.summary()}", file=sys.stderr)
        return EXIT_FAILURE
    except (Cancelled, KeyboardInterrupt):
        print("lumboplan: interrupted; nothing was written.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except LumboPlanError as error:
        print(f"lumboplan: error: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as error:
        logger.exception("internal error")
        where = f"the log {log_file}" if log_file is not None else "the output of a run with -vv"
        print(
            f"lumboplan: internal error ({type(error).__name__}). Send {where} to LumboPlan's "
            "support.",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    return status


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lumboplan",
        description="Plan percutaneous endoscopic lumbar discectomy (PELD) at L5/S1 from MR.",
        epilog=f"A demo scan to try: {DEMO_SCAN}",
    )
    parser.add_argument("--version", action="version", version=f"lumboplan {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log messages on stderr too (-vv: debug, with tracebacks); all go to the log file",
    )
    parser.add_argument(
        "--selftest",
        action="store_true",
        help="check this installation (libraries, 3-D view, the shipped model on the demo case, "
        "planning, report) and print a JSON summary; exit 1 says what failed",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    info = commands.add_parser(
        "info",
        help="what a scan is: series, size, spacing, orientation, modality",
        description="Describe a scan. A folder with several series is listed; choose one with "
        "--series to see its volume.",
    )
    info.add_argument("scan", type=Path, help="DICOM folder, DICOMDIR, DICOM or volume file")
    _add_series_option(info)
    info.add_argument("--json", action="store_true", help=f"print JSON ({INFO_SCHEMA})")
    info.set_defaults(handler=_command_info)

    convert = commands.add_parser(
        "convert",
        help="any supported input -> canonical volume file",
        description="Read a scan and write it as a canonical LPS volume (NIfTI, NRRD or MHA, "
        "chosen by the output's ending).",
    )
    convert.add_argument("scan", type=Path, help="DICOM folder, DICOMDIR, DICOM or volume file")
    convert.add_argument("output", type=Path, help="output file, e.g. OUT.nii.gz")
    _add_series_option(convert)
    convert.set_defaults(handler=_command_convert)

    phantom = commands.add_parser(
        "phantom",
        help="synthetic MR cases with true labels, parts, landmarks",
        description="Generate synthetic lumbosacral 3-D T2 cases with their ground truth: one "
        "folder per case (image.nii.gz, labels.nii.gz, parts.nii.gz, truth.json). Case i uses "
        "seed S+i, so any case can be made again alone. Finished cases are skipped on a rerun.",
    )
    phantom.add_argument("output", type=Path, help="folder to write the cases into")
    phantom.add_argument("--count", type=_positive_int, default=1, help="number of cases (1)")
    phantom.add_argument("--seed", type=int, default=0, help="seed of the first case (0)")
    phantom.add_argument(
        "--anatomy",
        choices=("random", "symmetric", "group-a", "group-b"),
        default="random",
        help="random population (default); symmetric: left mirrors right; group-a/group-b: "
        "foramina open / blocked for the paper's placement",
    )
    phantom.add_argument(
        "--contrast",
        choices=CONTRASTS,
        default="t2",
        help="t2 (default): T2 weighting with its variations; random: every tissue's intensity "
        "drawn at random (SynthSeg-style training data for other contrasts)",
    )
    phantom.add_argument(
        "--field-of-view",
        choices=FIELDS_OF_VIEW,
        default="drawn",
        help="drawn (default): wide enough for the iliac crests and the posterior skin; slab: a "
        "clinic's sagittal lumbar slab, 60-92 mm from left to right (training data like the "
        "scans clinics bring)",
    )
    phantom.add_argument("--dicom", action="store_true", help="also write dicom/ (a DICOM series)")
    phantom.add_argument("--preview", action="store_true", help="also write preview.png")
    phantom.add_argument(
        "--demo",
        action="store_true",
        help="the bundled demo's form: a DICOM series instead of image.nii.gz, a compact "
        "sagittal 3-D T2 with the default contrast, preview.png",
    )
    phantom.add_argument(
        "--workers", type=_positive_int, default=1, help="cases generated in parallel (1)"
    )
    phantom.set_defaults(handler=_command_phantom)

    mesh = commands.add_parser(
        "mesh",
        help="one surface mesh per structure from a label map",
        description="Build the surface of each structure in LABELS (LPS mm, smoothed without "
        "shrinking, decimated) and write one file per structure into DIR.",
    )
    mesh.add_argument("labels", type=Path, help="label map (NIfTI, NRRD or MetaImage)")
    mesh.add_argument("-o", "--output", type=Path, required=True, help="folder for the meshes")
    mesh.add_argument("--format", choices=("stl", "ply", "obj", "vtp"), default="stl", help="(stl)")
    mesh.set_defaults(handler=_command_mesh)

    segment = commands.add_parser(
        "segment",
        help="label L5, the L5/S1 disc, S1, nerves, ilium and skin with the 3-D U-Net",
        description="Segment a lumbar MR scan; the labels come out on the scan's own grid, each "
        "structure's confidence (agreement of the direct and mirrored passes, 0-1) beside them "
        "in NAME.confidence.json.",
    )
    segment.add_argument("scan", type=Path, help="DICOM folder, DICOMDIR, DICOM or volume file")
    segment.add_argument("-o", "--output", type=Path, required=True, help="LABELS.nii.gz")
    _add_series_option(segment)
    _add_device_option(segment)
    segment.add_argument("--weights", type=Path, help="model .safetensors (its card beside it)")
    segment.set_defaults(handler=_command_segment)

    plan = commands.add_parser(
        "plan",
        help="assess both L5/S1 foramina: placement, Group A/B, best free trajectory",
        description="Plan a scan: derive the parts and landmarks from the labels (or segment "
        "first when --labels is not given), place the working channel by the paper's protocol on "
        "each side, classify the foramen, map the free poses, and write the case file.",
    )
    plan.add_argument("scan", type=Path, help="DICOM folder, DICOMDIR, DICOM or volume file")
    plan.add_argument("--labels", type=Path, help="label map on the scan's grid (else: segment)")
    plan.add_argument(
        "-o", "--output", type=Path, required=True, help="CASE.lumboplan (the case file)"
    )
    plan.add_argument("--json", type=Path, help="also write the plan JSON (lumboplan.plan/1)")
    _add_series_option(plan)
    plan.add_argument("--diameter", type=float, default=8.0, help="channel diameter, mm (8)")
    plan.add_argument("--length", type=float, default=150.0, help="channel length, mm (150)")
    plan.add_argument("--weights", type=Path, help="model .safetensors, when segmenting")
    _add_device_option(plan)
    plan.set_defaults(handler=_command_plan)

    pose = commands.add_parser(
        "pose",
        help="what a channel at a given pose meets (the window's dragged channel, headless)",
        description="Plan the labels, turn one side's channel about point b to the pose given "
        "(alpha from the coronal plane toward posterior, beta toward cranial, degrees) and list "
        "what it touches or passes within 3 mm, point d and Line B.",
    )
    pose.add_argument("labels", type=Path, help="structure label map (NIfTI, NRRD, MetaImage)")
    pose.add_argument("--side", choices=("left", "right"), required=True)
    pose.add_argument("--alpha", type=float, required=True, help="degrees")
    pose.add_argument("--beta", type=float, default=0.0, help="degrees (0)")
    pose.add_argument("--json", action="store_true", help="print JSON instead of text")
    pose.set_defaults(handler=_command_pose)

    report = commands.add_parser(
        "report",
        help="the PDF report of a planned case",
        description="Write the PDF report of a case file: recommendation per foramen with its "
        "reasons, measurements, contacts, the best free trajectory and figures.",
    )
    report.add_argument("case", type=Path, help="CASE.lumboplan")
    report.add_argument("-o", "--output", type=Path, required=True, help="REPORT.pdf")
    report.add_argument(
        "--deidentify",
        action="store_true",
        help="leave out the patient's name, ID, birth date, the study date and the case key",
    )
    report.add_argument("--scan", type=Path, help="the scan, when it has moved since planning")
    report.set_defaults(handler=_command_report)

    export = commands.add_parser(
        "export",
        help="a case's labels, plan, report or meshes for 3D Slicer or PACS",
        description="Export a case file in the format OUT's name ends with: .seg.nrrd (labels as "
        "a Slicer segmentation), .dcm (labels as DICOM SEG on the case's DICOM series), "
        ".pdf.dcm (the report as DICOM Encapsulated PDF), .markups.json (points a-d, Line A, "
        "Line B and the channels as Slicer markups), .stl/.ply/.obj/.vtp (one mesh per "
        "structure, OUT's name and the structure's). All in patient LPS mm.",
    )
    export.add_argument("case", type=Path, help="CASE.lumboplan")
    export.add_argument("-o", "--output", type=Path, required=True, help="OUT (see the endings)")
    export.add_argument(
        "--deidentify",
        action="store_true",
        help="leave out the patient's name, ID, birth date (DICOM objects and the report)",
    )
    export.add_argument("--scan", type=Path, help="the scan, when it has moved since planning")
    export.set_defaults(handler=_command_export)

    training_export = commands.add_parser(
        "export-training",
        help="corrected cases -> training data for 'lumboplan train' (the site's learning loop)",
        description="Write each case's scan and labels into DATA_DIR as a training case: "
        "site_<case key>/ with image.nii.gz (the scan, canonical LPS) and labels.nii.gz, named "
        "without patient identifiers. Only labels known to be right are exported: a draft "
        "whose every structure was confirmed in the Review tab, and, with --reviewed, cases "
        "whose labels you reviewed. A rerun skips cases exported unchanged and rewrites those "
        "corrected since; a case that cannot be exported is listed and the others go on. Then "
        "fine-tune: lumboplan train DATA_DIR [PHANTOMS_DIR] -o MODEL_DIR --init-weights "
        "<model> --learning-rate 2e-4.",
    )
    training_export.add_argument("cases", type=Path, nargs="+", help="CASE.lumboplan files")
    training_export.add_argument(
        "-o", "--output", type=Path, required=True, help="DATA_DIR (created if needed)"
    )
    training_export.add_argument(
        "--reviewed",
        action="store_true",
        help="the labels of cases that are no draft (the model's accepted segmentations, "
        "labels opened from a file) were reviewed by hand: export them too",
    )
    training_export.set_defaults(handler=_command_export_training)

    run = commands.add_parser(
        "run",
        help="scan -> labels, meshes, plan, report, in one go",
        description="Read the scan, segment it (or take --labels), and write labels.nii.gz, "
        "meshes/, case.lumboplan, plan.json and report.pdf into OUT_DIR.",
    )
    run.add_argument("scan", type=Path, help="DICOM folder, DICOMDIR, DICOM or volume file")
    run.add_argument("-o", "--output", type=Path, required=True, help="OUT_DIR")
    run.add_argument("--labels", type=Path, help="label map of the scan (else: segment)")
    _add_run_options(run)
    _add_series_option(run)
    run.set_defaults(handler=_command_run)

    batch = commands.add_parser(
        "batch",
        help="every scan of a cohort folder; resumable, one CSV row per foramen",
        description="Run every case of COHORT_DIR (one DICOM folder, case folder with "
        "image.nii.gz, or volume file per case) into OUT_DIR/<case>/. A rerun skips finished "
        "cases; a case that fails is recorded in failures.csv and the batch goes on. "
        "foramina.csv holds one row per foramen.",
    )
    batch.add_argument("cohort", type=Path, help="COHORT_DIR")
    batch.add_argument("-o", "--output", type=Path, required=True, help="OUT_DIR")
    batch.add_argument("--workers", type=_positive_int, default=1, help="cases in parallel (1)")
    batch.add_argument(
        "--labels-name",
        help="use this label file inside each case folder instead of segmenting "
        "(e.g. labels.nii.gz for phantoms)",
    )
    _add_run_options(batch)
    batch.set_defaults(handler=_command_batch)

    train = commands.add_parser(
        "train",
        help="train the model on labelled scans (k-fold, resumable)",
        description="Train on one or more DATA_DIRs, mixed: case folders with image.nii.gz and "
        "labels.nii.gz (all seven structures, e.g. 'lumboplan phantom' output) or "
        "partial_labels.nii.gz (only some structures drawn: 0 = not labelled, 255 = another "
        "vertebral level), or imagesTr/ and labelsTr/. Rerunning the same command resumes from "
        "the last checkpoint.",
    )
    train.add_argument("data", type=Path, nargs="+", help="folder(s) of labelled cases")
    train.add_argument("-o", "--output", type=Path, required=True, help="MODEL_DIR")
    train.add_argument("--folds", type=_positive_int, default=5, help="cross-validation folds (5)")
    train.add_argument("--fold", type=int, help="train only this fold (0-based)")
    train.add_argument("--steps", type=_positive_int, default=3000, help="steps per fold (3000)")
    train.add_argument("--batch-size", type=_positive_int, default=2, help="(2)")
    train.add_argument("--patch", type=_positive_int, default=96, help="cubic patch, voxels (96)")
    train.add_argument("--spacing", type=float, default=1.5, help="model voxel size, mm (1.5)")
    train.add_argument(
        "--features",
        type=lambda text: tuple(int(v) for v in text.split(",")),
        default=(16, 32, 64, 128, 256, 16),
        help="U-Net channels per level, 6 numbers (16,32,64,128,256,16)",
    )
    train.add_argument(
        "--learning-rate", type=float, default=1e-3, help="initial (1e-3; fine-tuning: 2e-4)"
    )
    train.add_argument("--validate-every", type=_positive_int, default=100, help="steps (100)")
    train.add_argument("--seed", type=int, default=0, help="(0)")
    train.add_argument(
        "--device", choices=("auto", "cpu", "cuda", "mps"), default="auto", help="(auto)"
    )
    train.add_argument("--data-description", default="", help="training data, for the card")
    train.add_argument(
        "--init-weights",
        type=Path,
        help="start from these weights (.safetensors with its card; fine-tuning): their "
        "network, voxel size and normalisation are kept",
    )
    train.add_argument(
        "--partial-share",
        type=_share,
        help="share of patches drawn from partially labelled cases, 0-1 (default: every case "
        "equally often)",
    )
    train.add_argument(
        "--workers",
        type=_non_negative_int,
        default=0,
        help="processes making the augmented patches ahead of the network (0: none; on a GPU "
        "give it the CPU cores less one: the patches, not the GPU, limit a step)",
    )
    train.set_defaults(handler=_command_train)

    pseudo = commands.add_parser(
        "pseudo-label",
        help="add a model's sure voxels of undrawn structures to partially labelled scans",
        description="Copy each case of DATA_DIR with partial_labels.nii.gz into OUT_DIR, its "
        "map also holding the model's segmentation of the given structures where it is sure: "
        "one voxel in from the structure's surface, only where the map says 'not labelled' and "
        "its drawn structures allow it, only on scans the plausibility check accepts (a refused "
        "scan is copied unchanged). Partial labels never say where an undrawn structure is, "
        "and fine-tuning on them alone wears it down; train on OUT_DIR instead of DATA_DIR.",
    )
    pseudo.add_argument("data", type=Path, help="DATA_DIR of partially labelled cases")
    pseudo.add_argument("-o", "--output", type=Path, required=True, help="OUT_DIR")
    pseudo.add_argument(
        "--structures",
        nargs="+",
        type=_pseudo_label_structure,
        default=[Structure.S1],
        help="structure names to add (s1; any of s1 nerves ilium skin: a partial map's L5 is "
        "the drawn body and its disc is drawn whole, so neither is added)",
    )
    pseudo.add_argument("--weights", type=Path, help="model .safetensors (its card beside it)")
    _add_device_option(pseudo)
    pseudo.set_defaults(handler=_command_pseudo_label)

    validate = commands.add_parser(
        "validate",
        help="the paper's validation study: AI segmentation and plans vs the true labels",
        description="Compare every labelled case of DATA_DIR (folders with image.nii.gz and "
        "labels.nii.gz, or partial labels truth.nii.gz): segmentation scores per structure, "
        "and the plans made on the AI labels vs on the true labels (fully labelled cases "
        "only). Writes segmentation.csv, plans.csv, summary.json and report.pdf into OUT_DIR; "
        "resumable, a failing case is listed in failures.csv and the rest go on. Needs the "
        "'study' extra (pingouin).",
    )
    validate.add_argument("data", type=Path, help="DATA_DIR")
    validate.add_argument("-o", "--output", type=Path, required=True, help="OUT_DIR")
    validate.add_argument("--workers", type=_positive_int, default=1, help="cases in parallel (1)")
    validate.add_argument("--weights", type=Path, help="model .safetensors (else the shipped one)")
    validate.add_argument(
        "--folds-from",
        type=Path,
        metavar="MODEL_DIR",
        help="cross-validation: segment each case with the fold of this 'lumboplan train' "
        "folder that did not train on it",
    )
    validate.add_argument(
        "--predictions",
        type=Path,
        metavar="DIR",
        help="take the AI labels from DIR (<case>.nii.gz or <case>/labels.nii.gz) instead of "
        "segmenting",
    )
    _add_device_option(validate)
    validate.set_defaults(handler=_command_validate)

    export = commands.add_parser(
        "export-onnx",
        help="export model weights to ONNX, the runtime the app segments with without PyTorch",
        description="Export WEIGHTS (the shipped model by default) to an .onnx file beside them, "
        "check that ONNX Runtime computes what PyTorch does, and record the file and its SHA-256 "
        "in the model card. Run it whenever weights are shipped; needs the 'train' extra.",
    )
    export.add_argument(
        "weights", type=Path, nargs="?", help="model .safetensors with its card (the shipped one)"
    )
    export.set_defaults(handler=_command_export_onnx)
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must lie between 0 and 1")
    return value


def _pseudo_label_structure(text: str) -> Structure:
    # learning.pseudo_labels.PSEUDO_LABEL_STRUCTURES, named here to keep `lumboplan` light.
    names = ("s1", "nerves", "ilium", "skin")
    if text.lower() not in names:
        raise argparse.ArgumentTypeError(f"must be one of {' '.join(names)}")
    return Structure[text.upper()]


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--deidentify", action="store_true", help="de-identified reports")
    parser.add_argument("--weights", type=Path, help="model .safetensors (else the shipped one)")
    _add_device_option(parser)


def _add_device_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device",
        choices=SEGMENTER_DEVICES,
        default="auto",
        help="where the model runs (auto: a GPU through PyTorch if there is one, else the CPU "
        "through ONNX Runtime; cpu: ONNX Runtime; torch-cpu: the CPU through PyTorch)",
    )


def _add_series_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--series",
        metavar="INDEX|UID",
        help="which series when the folder holds several (index from 'lumboplan info', or UID)",
    )


@contextmanager
def _progress_bar(description: str) -> Iterator[Callable[[float, str], None] | None]:
    """Yield a progress callback drawing a bar on a terminal (None when not a terminal)."""
    if not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=100, desc=description, unit="%", leave=False, file=sys.stderr) as bar:

        def report(fraction: float, text: str) -> None:
            bar.set_postfix_str(text, refresh=False)
            bar.update(max(0, round(100 * fraction) - bar.n))

        yield report


def _percent_lines(description: str) -> Callable[[float, str], None]:
    """Return a progress callback printing a line to stderr each time a whole percent is done."""
    shown = -1

    def report(fraction: float, text: str) -> None:
        nonlocal shown
        percent = int(100 * fraction)
        if percent > shown:
            shown = percent
            print(f"{description}: {percent}% {text}", file=sys.stderr, flush=True)

    return report


def _read(scan: Path, series: str | None) -> Volume:
    from lumboplan_app.io import read_scan

    with _progress_bar("Reading scan") as progress:
        return read_scan(scan, series=series, progress=progress)


def _command_info(arguments: argparse.Namespace) -> int:
    from lumboplan_app.io import ScanSource

    with _progress_bar("Reading headers") as progress:
        source = ScanSource(arguments.scan, progress)
    listing = source.series
    chosen = None
    if arguments.series is not None or len(listing) == 1:
        try:
            with _progress_bar("Reading scan") as progress:
                chosen = source.read(arguments.series, progress)
        except LoadError as error:
            if not arguments.json and not isinstance(error, SeriesChoiceRequired):
                print(_info_text(listing, None))  # main() lists the series of a choice itself
            raise
    if arguments.json:
        print(json.dumps(_info_json(listing, chosen), indent=2, allow_nan=False))
    else:
        print(_info_text(listing, chosen))
    return 0


def _command_convert(arguments: argparse.Namespace) -> int:
    from lumboplan_app.io import write_image

    volume = _read(arguments.scan, arguments.series)
    write_image(volume, arguments.output)
    print(f"Wrote {arguments.output.name}: {_size_text(volume)} voxels, {_spacing_text(volume)}")
    for warning in volume.meta.warnings:
        print(f"Warning: {warning}", file=sys.stderr)
    return 0


def _command_phantom(arguments: argparse.Namespace) -> int:
    from lumboplan_app.phantom.generate import CaseRequest, generate_cases

    if arguments.demo and arguments.field_of_view != "drawn":
        print(
            "lumboplan: error: --demo makes the demo's own scan: leave out --field-of-view.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    requests = [
        CaseRequest(
            seed=arguments.seed + index,
            folder=arguments.output / f"case_{arguments.seed + index:05d}",
            anatomy=arguments.anatomy,
            dicom=arguments.dicom or arguments.demo,
            preview=arguments.preview or arguments.demo,
            demo=arguments.demo,
            contrast=arguments.contrast,
            field_of_view=arguments.field_of_view,
        )
        for index in range(arguments.count)
    ]
    with _progress_bar("Generating phantoms") as progress:
        written = generate_cases(requests, workers=arguments.workers, progress=progress)
    skipped = len(requests) - written
    print(
        f"Wrote {written} case(s) into {arguments.output.name}"
        + (f"; {skipped} already complete, skipped" if skipped else "")
    )
    return 0


def _command_mesh(arguments: argparse.Namespace) -> int:
    from lumboplan_app.io import read_label_map
    from lumboplan_app.reconstruction.meshes import structure_meshes, write_meshes

    meshes = structure_meshes(read_label_map(arguments.labels))
    paths = write_meshes(meshes, arguments.output, arguments.format)
    names = ", ".join(path.name for path in paths)
    print(f"Wrote {len(paths)} mesh(es) into {arguments.output.name}: {names}")
    return 0


def _command_pseudo_label(arguments: argparse.Namespace) -> int:
    from lumboplan_app.learning.pseudo_labels import pseudo_label_cases
    from lumboplan_app.segmentation.inference import Segmenter

    segmenter = Segmenter(arguments.weights, device=arguments.device)
    with _progress_bar("Pseudo-labels") as progress:
        result = pseudo_label_cases(
            arguments.data,
            arguments.output,
            arguments.structures,
            segmenter.segment,
            segmenter.card.sha256,
            progress,
        )
    for name, added in result.added_cm3.items():
        amounts = ", ".join(f"{structure} {cm3:.1f} cm3" for structure, cm3 in added.items())
        print(f"{shown_text(name)}: added {amounts}")
    for name, reason in result.refused.items():
        print(f"{shown_text(name)}: copied without pseudo-labels ({reason})")
    for name, reason in result.failed.items():
        print(f"{shown_text(name)}: not written: {reason}", file=sys.stderr)
    print(
        f"{len(result.added_cm3) + len(result.refused)} case(s) written into "
        f"{shown_text(arguments.output.name)}, {len(result.failed)} not written"
    )
    return 1 if result.failed else 0


def _command_segment(arguments: argparse.Namespace) -> int:
    from lumboplan_app.atomic import write_text_atomic
    from lumboplan_app.io import write_image
    from lumboplan_app.pipeline import confidence_json
    from lumboplan_app.segmentation.inference import Segmenter

    segmenter = Segmenter(arguments.weights, device=arguments.device)
    volume = _read(arguments.scan, arguments.series)
    with _progress_bar("Segmenting") as progress:
        labels, confidence = segmenter.segment_with_confidence(volume, progress=progress)
    write_image(labels, arguments.output)
    sidecar = arguments.output.with_name(arguments.output.name.split(".")[0] + ".confidence.json")
    write_text_atomic(sidecar, confidence_json(confidence))
    print(
        f"Wrote {arguments.output.name}: labels on the scan's grid ({_size_text(volume)}), and "
        f"each structure's confidence in {sidecar.name}"
    )
    return 0


def _command_plan(arguments: argparse.Namespace) -> int:
    from lumboplan_app.atomic import write_text_atomic
    from lumboplan_app.io import read_label_map
    from lumboplan_app.planning.plan import ChannelSize, plan_from_labels
    from lumboplan_app.session import CASE_SUFFIX, case_from_plan, write_case

    if arguments.output.suffix != CASE_SUFFIX:
        raise LoadError(
            f"Name the case file with the ending {CASE_SUFFIX}, e.g. CASE{CASE_SUFFIX}."
        )
    if arguments.diameter <= 0 or arguments.length <= 0:
        raise LoadError("The channel's --diameter and --length must be positive (mm).")
    volume = _read(arguments.scan, arguments.series)
    model = None
    if arguments.labels is not None:
        labels = read_label_map(arguments.labels, reference=volume.grid)
    else:
        from lumboplan_app.segmentation.inference import Segmenter
        from lumboplan_app.segmentation.model_card import case_record

        segmenter = Segmenter(arguments.weights, device=arguments.device)
        with _progress_bar("Segmenting") as progress:
            labels = segmenter.segment(volume, progress=progress)
        model = case_record(segmenter.weights, segmenter.card)
    channel = ChannelSize(arguments.diameter, arguments.length)
    with _progress_bar("Planning") as progress:
        plan = plan_from_labels(labels, channel, progress=progress)
    case = case_from_plan(plan, labels, volume, str(arguments.scan), model)
    write_case(case, arguments.output)
    if arguments.json is not None:
        write_text_atomic(arguments.json, json.dumps(case.plan, indent=2) + "\n")
    for side, entry in case.plan["sides"].items():
        print(f"{side.title()} L5/S1 foramen: {_side_summary(entry)}")
    print(f"Wrote {arguments.output.name}")
    return 0


def _command_pose(arguments: argparse.Namespace) -> int:
    from lumboplan_app.io import read_label_map
    from lumboplan_app.labels import Side
    from lumboplan_app.planning.interactive import ChannelPlanner
    from lumboplan_app.planning.placement import in_sentence
    from lumboplan_app.planning.plan import plan_from_labels

    labels = read_label_map(arguments.labels)
    with _progress_bar("Planning") as progress:
        plan = plan_from_labels(labels, with_maps=False, progress=progress)
    side = Side(arguments.side)
    planner = ChannelPlanner(plan)
    assessment = planner.assess(side, arguments.alpha, arguments.beta)
    if arguments.json:
        print(json.dumps(assessment.to_json(), indent=2))
        return 0
    print(
        f"{side.value.title()} channel at alpha {assessment.alpha_deg:.1f}, "
        f"beta {assessment.beta_deg:.1f} deg: {assessment.summary()}"
    )
    for contact in assessment.contacts:
        print(f"  {in_sentence(contact.part)}: {contact.clearance_mm:+.1f} mm")
    line_b = assessment.line_b_mm
    if line_b is None:
        print("  Line B not measured (the skin entry lies outside the scan)")
    else:
        print(f"  Line B {line_b:.1f} mm")
    return 0


def _side_summary(entry: dict[str, Any]) -> str:
    """One line per foramen: group, advice, the first reason, alpha and Line B, best free pose."""
    from lumboplan_app.planning.advice import group_headline

    group = entry["group"]
    if group == "not_assessable":
        return f"{group_headline(group)} - {entry['reasons'][0]}"
    text = group_headline(group)
    if entry["reasons"]:
        text += f" - {entry['reasons'][0].rstrip('.')}"
    text += f"; alpha {entry['alpha_deg']:.1f} deg"
    if entry["line_b_mm"] is not None:
        text += f", Line B {entry['line_b_mm']:.1f} mm"
    else:
        text += ", Line B not measured (the skin entry lies outside the scan)"
    best = entry.get("best_free")
    if best is not None:
        text += (
            f"; best free trajectory alpha {best['alpha_deg']:.0f}, beta {best['beta_deg']:.0f} "
            f"deg ({best['min_clearance_mm']:.1f} mm clear)"
        )
    else:
        text += "; no free trajectory"
    return text


def _command_report(arguments: argparse.Namespace) -> int:
    from lumboplan_app.report.pdf import write_report
    from lumboplan_app.session import read_case

    case = read_case(arguments.case)
    volume = None
    reference = arguments.scan or (case.scan or {}).get("reference")
    if reference is not None:
        try:
            volume = _read(Path(reference), None)
        except LoadError as error:
            print(
                f"Warning: the scan could not be read ({error}); the slice figures show the "
                "labels only. Give the scan with --scan.",
                file=sys.stderr,
            )
    with _progress_bar("Report") as progress:
        write_report(case, arguments.output, volume, arguments.deidentify, progress)
    print(f"Wrote {arguments.output.name}")
    return 0


def _command_export(arguments: argparse.Namespace) -> int:
    from lumboplan_app.exchange.export import EXPORT_FORMATS, export_case, export_format
    from lumboplan_app.session import read_case

    ending = export_format(arguments.output)
    case = read_case(arguments.case)
    volume = None
    reference = arguments.scan or (case.scan or {}).get("reference")
    if ending == ".pdf.dcm" and reference is not None:
        try:
            volume = _read(Path(reference), (case.scan or {}).get("series_id"))
        except LoadError as error:
            print(
                f"Warning: the scan could not be read ({error}); the slice figures show the "
                "labels only. Give the scan with --scan.",
                file=sys.stderr,
            )
    with _progress_bar("Export") as progress:
        written = export_case(
            case, arguments.output, arguments.deidentify, volume, arguments.scan, progress
        )
    names = ", ".join(path.name for path in written)
    print(f"Wrote {EXPORT_FORMATS[ending]}: {names}")
    return 0


def _command_export_training(arguments: argparse.Namespace) -> int:
    from lumboplan_app.learning.training_cases import export_training_cases
    from lumboplan_app.shipped import SHIPPED_WEIGHTS

    with _progress_bar("Training cases") as progress:
        result = export_training_cases(
            arguments.cases, arguments.output, arguments.reviewed, progress
        )
    for title, done in (
        ("written", result.written),
        ("updated", result.updated),
        ("unchanged", result.unchanged),
    ):
        for name, folder in done.items():
            print(f"{name} -> {folder} ({title})")
    for reason in result.failed.values():  # each names its case file
        print(f"Not exported: {reason}", file=sys.stderr)
    exported = len(result.written) + len(result.updated) + len(result.unchanged)
    print(
        f"{len(result.written)} case(s) written, {len(result.updated)} updated, "
        f"{len(result.unchanged)} unchanged, {len(result.failed)} not exported into "
        f"{shown_text(arguments.output.name)}"
    )
    if exported:
        print(
            f"Fine-tune: lumboplan train {shown_text(str(arguments.output))} -o MODEL_DIR "
            f"--init-weights {SHIPPED_WEIGHTS} --learning-rate 2e-4"
        )
    return 1 if result.failed else 0


def _command_run(arguments: argparse.Namespace) -> int:
    from lumboplan_app.pipeline import RunOptions, run_case

    options = RunOptions(
        labels=arguments.labels,
        weights=arguments.weights,
        device=arguments.device,
        series=arguments.series,
        deidentify=arguments.deidentify,
    )
    with _progress_bar("Scan to report") as progress:
        result = run_case(arguments.scan, arguments.output, options, progress)
    for side, entry in result.plan["sides"].items():
        print(f"{side.title()} L5/S1 foramen: {_side_summary(entry)}")
    stages = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.seconds.items())
    print(f"Wrote labels, meshes, case, plan and report into {arguments.output.name} ({stages})")
    return 0


def _command_batch(arguments: argparse.Namespace) -> int:
    from lumboplan_app.pipeline import FAILURES_CSV, FORAMINA_CSV, RunOptions, run_batch

    options = RunOptions(
        weights=arguments.weights, device=arguments.device, deidentify=arguments.deidentify
    )
    with _progress_bar("Cohort") as progress:
        summary = run_batch(
            arguments.cohort,
            arguments.output,
            arguments.workers,
            options,
            arguments.labels_name,
            progress,
        )
    print(
        f"{len(summary.ran)} case(s) run, {len(summary.skipped)} already finished, "
        f"{len(summary.failed)} failed; one row per foramen in {FORAMINA_CSV}"
    )
    for name, reason in sorted(summary.failed.items()):
        print(f"Failed: {shown_text(name, None)}: {shown_text(reason, None)}", file=sys.stderr)
    if summary.failed:
        print(f"The failures are listed in {FAILURES_CSV}; rerun to retry them.", file=sys.stderr)
    return 1 if summary.failed else 0


def _command_validate(arguments: argparse.Namespace) -> int:
    from lumboplan_app.study.cases import LabelSource
    from lumboplan_app.study.validate import REPORT_HTML, REPORT_PDF, validate

    source = LabelSource(
        weights=arguments.weights,
        device=arguments.device,
        folds_from=arguments.folds_from,
        predictions=arguments.predictions,
    )
    with _progress_bar("Validation") as progress:
        result = validate(arguments.data, arguments.output, source, arguments.workers, progress)
    batch, summary = result.batch, result.summary
    for name, seconds in sorted(batch.seconds.items()):
        state = "failed" if name in batch.failed else "done"
        print(f"{shown_text(name, None)}: {seconds:.1f} s ({state})")
    median = summary["seconds_per_case_median"]
    timing = "" if median is None else f"; median {median:.1f} s per case"
    print(
        f"{len(batch.ran)} case(s) compared, {len(batch.skipped)} already finished, "
        f"{len(batch.failed)} failed{timing}; tables, summary.json, {REPORT_PDF} and "
        f"{REPORT_HTML} in "
        f"{arguments.output.name}"
    )
    for name, reason in sorted(batch.failed.items()):
        print(f"Failed: {shown_text(name, None)}: {shown_text(reason, None)}", file=sys.stderr)
    return 1 if batch.failed else 0


def _command_selftest(arguments: argparse.Namespace) -> int:
    from lumboplan_app.selftest import run_selftest

    result = run_selftest()
    print(json.dumps(result.to_json(), indent=2))
    failure = result.first_failure()
    if failure is None:
        return 0
    print(
        f"lumboplan: error: self-test failed at {failure.name}: {failure.message}", file=sys.stderr
    )
    return EXIT_FAILURE


def _command_export_onnx(arguments: argparse.Namespace) -> int:
    from lumboplan_app.segmentation.export import export_onnx

    path, difference = export_onnx(arguments.weights)
    print(
        f"Wrote {path.name} (logits within {difference:.2g} of PyTorch) and recorded it in "
        f"{path.with_suffix('.json').name}"
    )
    return 0


def _command_train(arguments: argparse.Namespace) -> int:
    from lumboplan_app.segmentation.training import FINAL_WEIGHTS, TrainingConfig, train

    config = TrainingConfig(
        folds=arguments.folds,
        fold=arguments.fold,
        max_steps=arguments.steps,
        batch_size=arguments.batch_size,
        learning_rate=arguments.learning_rate,
        validate_every=arguments.validate_every,
        seed=arguments.seed,
        device=arguments.device,
        spacing_mm=arguments.spacing,
        patch_size=(arguments.patch,) * 3,
        features=arguments.features,
        training_data=arguments.data_description,
        init_weights=str(arguments.init_weights or ""),
        partial_share=arguments.partial_share,
        workers=arguments.workers,
    )
    with _progress_bar("Training") as bar:
        # Off a terminal (a batch job's log), one line per whole percent instead of a bar.
        progress = bar if bar is not None else _percent_lines("Training")
        card = train(arguments.data, arguments.output, config, progress=progress)
    mean = card.metrics.get("cross_validation_dice", {}).get("mean", {}).get("mean")
    print(
        f"Wrote {FINAL_WEIGHTS} and its card into {arguments.output.name}"
        + (f"; cross-validation mean Dice {mean:.3f}" if mean is not None else "")
    )
    return 0


def _size_text(volume: Volume) -> str:
    return " x ".join(str(n) for n in volume.grid.shape_zyx[::-1])


def _spacing_text(volume: Volume) -> str:
    return " x ".join(f"{s:.3g}" for s in volume.grid.spacing_xyz_mm) + " mm"


def _info_text(listing: Sequence[SeriesInfo], volume: Volume | None) -> str:
    lines = []
    if len(listing) > 1:
        lines.append(f"{len(listing)} series:")
        lines.extend(f"  {info.summary()}" for info in listing)
        if volume is None:
            lines.append("Choose one with --series INDEX to see its volume.")
    if volume is None:
        if len(listing) == 1:
            lines.append(listing[0].summary())
        return "\n".join(lines)
    from lumboplan_app.io.checks import segmentation_refusal

    grid = volume.grid
    meta = volume.meta
    refusal = segmentation_refusal(volume)
    if lines:
        lines.append("")
    rows = [
        ("Series", meta.series_description or "(no description)"),
        ("Format", meta.source_format),
        ("Modality", meta.modality),
        ("Acquisition", meta.acquisition_type or "unknown"),
        ("Size (x, y, z)", f"{_size_text(volume)} voxels"),
        ("Spacing (x, y, z)", _spacing_text(volume)),
        ("Orientation", f"{grid.orientation_code()}{' (oblique)' if grid.is_oblique() else ''}"),
        ("Origin (LPS)", " ".join(f"{v:.1f}" for v in grid.origin_lps_mm) + " mm"),
        ("Extent (x, y, z)", " x ".join(f"{e:.0f}" for e in grid.extent_xyz_mm) + " mm"),
        ("Intensity", f"{volume.array.min():.4g} to {volume.array.max():.4g}"),
        ("Segmentable", "yes" if refusal is None else f"no - {refusal}"),
    ]
    width = max(len(name) for name, _ in rows)
    lines.extend(f"{name + ':':<{width + 2}}{shown_text(value, None)}" for name, value in rows)
    lines.extend(f"Warning: {warning}" for warning in meta.warnings)
    return "\n".join(lines)


def _info_json(listing: Sequence[SeriesInfo], volume: Volume | None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "schema": INFO_SCHEMA,
        "series": [info.to_json() for info in listing],
        "volume": None,
    }
    if volume is not None:
        from lumboplan_app.io.checks import segmentation_refusal

        grid, meta = volume.grid, volume.meta
        refusal = segmentation_refusal(volume)
        result["volume"] = {
            "format": meta.source_format,
            "modality": meta.modality,
            "series_description": meta.series_description,
            "acquisition_type": meta.acquisition_type or None,
            "size_xyz": list(grid.shape_zyx[::-1]),
            "spacing_xyz_mm": list(grid.spacing_xyz_mm),
            "origin_lps_mm": list(grid.origin_lps_mm),
            "direction": grid.direction.tolist(),
            "orientation": grid.orientation_code(),
            "oblique": grid.is_oblique(),
            "intensity_range": [float(volume.array.min()), float(volume.array.max())],
            "segmentable": refusal is None,
            "segmentation_refusal": refusal,
            "warnings": list(meta.warnings),
            "case_key": meta.case_key,
        }
    return result


if __name__ == "__main__":
    sys.exit(main())
