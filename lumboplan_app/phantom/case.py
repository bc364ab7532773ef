"""A phantom case: MR image, structure labels, part labels and the truth, generated from a seed.

``generate_case(seed)`` is deterministic: the same seed gives the same bytes. A case folder holds
``image.nii.gz``, ``labels.nii.gz`` (structure ids), ``parts.nii.gz`` (part ids) and
``truth.json`` (DESIGN.md, "Synthetic phantoms"), optionally ``dicom/`` (the image as a DICOM
MR series) and ``preview.png`` (a montage with the label overlay).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from lumboplan_app import __version__
from lumboplan_app.atomic import write_text_atomic
from lumboplan_app.io import write_image
from lumboplan_app.io.dicom_export import SeriesHeader, write_dicom_series
from lumboplan_app.labels import structure_lookup_table
from lumboplan_app.phantom.anatomy import build_anatomy
from lumboplan_app.phantom.mr import (
    Acquisition,
    Contrast,
    acquisition_json,
    sample_acquisition,
    sample_contrast,
    synthesize,
)
from lumboplan_app.phantom.parameters import PhantomParameters, sample_parameters
from lumboplan_app.phantom.truth_plan import plan_truth
from lumboplan_app.volume import LabelMap, ScanMeta, Volume, case_key_for

TRUTH_SCHEMA = "lumboplan.phantom/1"
CASE_FILES = ("image.nii.gz", "labels.nii.gz", "parts.nii.gz", "truth.json")


@dataclass
class PhantomCase:
    """One generated case: image, labels and parts on the same canonical LPS grid.

    ``acquired`` is the same image in the scanner's slice order (e.g. sagittal slices), as a
    DICOM export would hold it.
    """

    image: Volume
    labels: LabelMap
    parts: LabelMap
    truth: dict[str, Any]
    acquired: Volume


def generate_case(
    seed: int,
    parameters: PhantomParameters | None = None,
    acquisition: Acquisition | None = None,
    contrast: Contrast | None = None,
) -> PhantomCase:
    """Generate a case; anything not given is drawn from ``seed``.

    Parameters
    ----------
    seed : int
        Seeds every random draw (anatomy, acquisition, contrast, texture, noise).
    parameters, acquisition, contrast : optional
        Fix the anatomy, the scan or the contrast instead of drawing them.
    """
    rng = np.random.default_rng(seed)
    drawn_parameters = sample_parameters(rng)
    drawn_acquisition = sample_acquisition(rng)
    drawn_contrast = sample_contrast(rng)
    parameters = parameters or drawn_parameters
    acquisition = acquisition or drawn_acquisition
    contrast = contrast or drawn_contrast
    anatomy = build_anatomy(parameters)
    image, parts = synthesize(anatomy, acquisition, contrast, rng)
    meta = ScanMeta(
        source_format="phantom",
        modality="MR",
        series_description=f"LumboPlan phantom {seed} {contrast.weighting} {acquisition.plane}",
        case_key=case_key_for(f"phantom-{seed}"),
        acquisition_type="2D" if acquisition.two_d else "3D",
        slice_thickness_mm=acquisition.slice_mm,
    )
    acquired = replace(image, meta=meta)
    image = acquired.to_canonical()
    parts = parts.to_canonical()
    lookup = np.asarray(structure_lookup_table(), dtype=np.uint8)
    labels = LabelMap(lookup[parts.array], parts.grid)
    landmarks = anatomy.landmarks
    truth = {
        "schema": TRUTH_SCHEMA,
        "seed": int(seed),
        "lumboplan_version": __version__,
        "parameters": parameters.to_json(),
        "acquisition": acquisition_json(acquisition),
        "contrast": asdict(contrast),
        "points_lps_mm": landmarks["points_lps_mm"],
        "planes": landmarks["planes"],
        "medial_pedicle_lines": landmarks["medial_pedicle_lines"],
        "plan": plan_truth(anatomy),
    }
    return PhantomCase(image=image, labels=labels, parts=parts, truth=truth, acquired=acquired)


def write_case(
    case: PhantomCase,
    folder: Path,
    dicom: bool = False,
    preview: bool = False,
    image_file: bool = True,
) -> None:
    """Write a case folder (files atomically; ``truth.json`` last, so its presence means done).

    Parameters
    ----------
    dicom : bool
        Also write the image as a DICOM MR series in ``dicom/`` (JPEG 2000 lossless).
    preview : bool
        Also write ``preview.png``, a montage with the label overlay.
    image_file : bool
        Write ``image.nii.gz`` (the demo case keeps only the DICOM series, to stay small).
    """
    folder.mkdir(parents=True, exist_ok=True)
    if image_file:
        write_image(case.image, folder / "image.nii.gz")
    write_image(case.labels, folder / "labels.nii.gz")
    write_image(case.parts, folder / "parts.nii.gz")
    if dicom:
        seed = case.truth["seed"]
        write_dicom_series(
            case.acquired,
            folder / "dicom",
            SeriesHeader(
                patient_name=f"Phantom^{seed}",
                patient_id=f"PHANTOM-{seed}",
                series_description=case.image.meta.series_description,
                mr_acquisition_type=case.image.meta.acquisition_type,
                study_date="20260101",
                uid_seed=f"lumboplan-phantom-{seed}",
                compression="jpeg2000",
            ),
        )
    if preview:
        from lumboplan_app.phantom.preview import montage

        montage(case.image, case.labels, case.truth).save(folder / "preview.png")
    write_text_atomic(folder / "truth.json", json.dumps(case.truth, indent=2))


def is_complete(folder: Path, required: tuple[str, ...] = CASE_FILES) -> bool:
    """Whether a case folder holds every ``required`` file or folder (a rerun can skip it)."""
    return all((folder / name).exists() for name in required)
