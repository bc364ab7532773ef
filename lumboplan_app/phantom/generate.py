"""Generate many phantom cases: resumable, deterministic per seed, optionally in parallel."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path

from lumboplan_app.logs import configure_logging
from lumboplan_app.phantom.case import generate_case, is_complete, write_case
from lumboplan_app.phantom.mr import (
    Acquisition,
    Contrast,
    default_contrast,
    sample_acquisition,
    sample_random_contrast,
)
from lumboplan_app.phantom.parameters import (
    PhantomParameters,
    sample_parameters,
    surely_group_a,
    surely_group_b,
    symmetric_parameters,
)

logger = logging.getLogger(__name__)

#: The planning validation's scan (tests and benchmarks/planning_validation.py): 1 mm
#: isotropic, covering both foramina, the crests and the posterior skin (points d), and the
#: body's whole width: at 115 mm a side it cut the iliac wings and the flanks, where channels
#: near straight lateral leave the scan inside the body, and the planner, which must see a
#: channel's whole path inside the body, rightly called those foramina not assessable.
PLANNING_ACQUISITION = Acquisition(
    plane="axial",
    in_plane_mm=1.0,
    slice_mm=1.0,
    fov_half_mm=(200.0, 85.0, 65.0),
    fov_centre_mm=(0.0, 35.0, 10.0),
)
#: The demo's scan: a compact sagittal 3-D T2 that still holds both foramina, the iliac crests
#: and the posterior skin (points d), small enough to ship (under 10 MB as JPEG 2000 lossless).
DEMO_ACQUISITION = Acquisition(
    plane="sagittal",
    in_plane_mm=1.0,
    slice_mm=1.2,
    fov_half_mm=(125.0, 95.0, 80.0),
    fov_centre_mm=(0.0, 20.0, 10.0),
)

#: A sagittal lumbar slab's half width from left to right (mm): the real slabs of
#: ``../shared/realdata`` end 32-46 mm from the midline.
SLAB_HALF_WIDTH_MM = (30.0, 46.0)


@dataclass(frozen=True)
class CaseRequest:
    """One case to generate: its seed, folder and options."""

    seed: int
    folder: Path
    anatomy: str = "random"
    dicom: bool = False
    preview: bool = False
    demo: bool = False
    #: ``"t2"`` (T2 weighting with its variations) or ``"random"`` (every tissue's intensity
    #: drawn at random, SynthSeg-style: :func:`~lumboplan_app.phantom.mr.sample_random_contrast`).
    contrast: str = "t2"
    #: ``"drawn"`` (with the case) or ``"slab"`` (:func:`slab_acquisition`).
    field_of_view: str = "drawn"


def parameters_for(anatomy: str, seed: int) -> PhantomParameters | None:
    """Return the anatomy a request asks for (None: drawn from the seed with the case)."""
    import numpy as np

    if anatomy == "random":
        return None
    if anatomy == "symmetric":
        return symmetric_parameters(sample_parameters(np.random.default_rng(seed)))
    if anatomy == "group-a":
        return surely_group_a()
    if anatomy == "group-b":
        return surely_group_b()
    raise ValueError(f"unknown anatomy {anatomy!r}")


def slab_acquisition(seed: int) -> Acquisition:
    """Return the scan drawn for ``seed`` as a sagittal lumbar slab, 60-92 mm from left to right.

    The case's own drawn scan (resolution, slices, tilt, the other two fields of view) turned
    sagittal, its left-right half width drawn from :data:`SLAB_HALF_WIDTH_MM` and its centre
    within a few mm of the midline, from their own stream (the seed and 2): the anatomy and the
    contrast are those of the case with the same seed. A slab shows neither iliac crest nor the
    posterior skin beside the spine, as most clinics' lumbar MR does.
    """
    import numpy as np

    drawn_with_case = np.random.default_rng(seed)
    sample_parameters(drawn_with_case)  # generate_case's first draw, so the next is its scan's
    drawn = sample_acquisition(drawn_with_case)
    own = np.random.default_rng([seed, 2])
    half_width = float(own.uniform(*SLAB_HALF_WIDTH_MM))
    centre = float(own.normal(0.0, 3.0))
    return replace(
        drawn,
        plane="sagittal",
        fov_half_mm=(half_width, drawn.fov_half_mm[1], drawn.fov_half_mm[2]),
        fov_centre_mm=(centre, drawn.fov_centre_mm[1], drawn.fov_centre_mm[2]),
    )


def _options(request: CaseRequest) -> dict[str, object]:
    """Return what a request asks for beyond its seed (``truth.json``'s ``request``).

    The field of view is named only when it is not the drawn one, so that the folders written
    before it could be asked for are still found complete.
    """
    options: dict[str, object] = {
        "anatomy": request.anatomy,
        "dicom": request.dicom,
        "preview": request.preview,
        "demo": request.demo,
        "contrast": request.contrast,
    }
    if request.field_of_view != "drawn":
        options["field_of_view"] = request.field_of_view
    return options


def is_done(request: CaseRequest) -> bool:
    """Whether the folder already holds this very request's case, with every file it asks for."""
    required = ["labels.nii.gz", "parts.nii.gz", "truth.json"]
    required += [] if request.demo else ["image.nii.gz"]
    required += ["dicom"] if request.dicom else []
    required += ["preview.png"] if request.preview else []
    if not is_complete(request.folder, tuple(required)):
        return False
    try:
        truth = json.loads((request.folder / "truth.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return bool(truth.get("seed") == request.seed and truth.get("request") == _options(request))


def make_case(request: CaseRequest) -> bool:
    """Generate and write one case; return False when its folder already holds it."""
    if is_done(request):
        return False
    case = generate_case(
        request.seed,
        parameters=parameters_for(request.anatomy, request.seed),
        acquisition=_acquisition_for(request),
        contrast=_contrast_for(request),
    )
    case.truth["request"] = _options(request)
    write_case(
        case,
        request.folder,
        dicom=request.dicom,
        preview=request.preview,
        image_file=not request.demo,
    )
    logger.info("phantom %d written", request.seed)
    return True


def _acquisition_for(request: CaseRequest) -> Acquisition | None:
    """Return the scan a request fixes (None: drawn from the seed with the case)."""
    if request.demo:
        if request.field_of_view != "drawn":
            raise ValueError("the demo has its own field of view")
        return DEMO_ACQUISITION
    if request.field_of_view == "slab":
        return slab_acquisition(request.seed)
    if request.field_of_view == "drawn":
        return None
    raise ValueError(f"unknown field of view {request.field_of_view!r}")


def _contrast_for(request: CaseRequest) -> Contrast | None:
    """Return the contrast a request fixes (None: drawn from the seed with the case).

    A random contrast is drawn from its own stream (the seed and 1), so the case's anatomy and
    scan are those of the T2 case with the same seed.
    """
    import numpy as np

    if request.demo:
        return default_contrast()
    if request.contrast == "random":
        return sample_random_contrast(np.random.default_rng([request.seed, 1]))
    if request.contrast == "t2":
        return None
    raise ValueError(f"unknown contrast {request.contrast!r}")


def generate_cases(
    requests: list[CaseRequest],
    workers: int = 1,
    progress: Callable[[float, str], None] | None = None,
) -> int:
    """Generate the requested cases (skipping complete ones); return how many were written."""
    written = 0
    if workers <= 1:
        for number, request in enumerate(requests):
            written += make_case(request)
            if progress is not None:
                progress((number + 1) / len(requests), f"case {request.seed}")
        return written
    with ProcessPoolExecutor(
        workers, mp_context=get_context("spawn"), initializer=configure_logging
    ) as pool:
        futures = [pool.submit(make_case, request) for request in requests]
        for number, future in enumerate(as_completed(futures)):
            written += future.result()
            if progress is not None:
                progress((number + 1) / len(requests), "cases")
    return written
