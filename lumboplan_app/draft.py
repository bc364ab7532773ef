"""An unverified draft: refused labels kept for correction, and what the surgeon confirmed.

A segmentation the plausibility check refuses (:class:`~lumboplan_app.errors.
ImplausibleSegmentationError`) is not thrown away: it can be shown as a :class:`Draft`, with
the reason and the structures that failed. The surgeon corrects it and confirms, structure by
structure, that it is right. Every foramen's assessment rests on all the structures the plan
reads (:data:`PLAN_RESTS_ON`: bone, disc, nerves, ilium and skin), so while any of them is
unconfirmed, :func:`restrict_plan` makes both sides "not assessable" (DESIGN.md: a
classification that rests on a doubtful structure is never Group A). Structures changed by hand
are recorded as corrected.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from lumboplan_app.labels import SEGMENTED_STRUCTURES, Structure

if TYPE_CHECKING:
    from lumboplan_app.planning.plan import CasePlan

#: The structures every side's assessment reads (placement, contacts, ilium sweep, skin entry).
PLAN_RESTS_ON: tuple[Structure, ...] = tuple(SEGMENTED_STRUCTURES)


@dataclass
class Draft:
    """Labels shown as an unverified draft: why, what failed, what was confirmed or corrected.

    Attributes
    ----------
    reason : str
        Why the segmentation was refused (the check's message).
    failed : tuple of Structure
        The structures the check found missing, implausibly sized or misplaced.
    confirmed, corrected : set of Structure
        Confirmed by the surgeon as right; changed by hand since the draft was shown.
    """

    reason: str
    failed: tuple[Structure, ...] = ()
    confirmed: set[Structure] = field(default_factory=set)
    corrected: set[Structure] = field(default_factory=set)
    #: The labels as the model drew them (a copy), to tell what was corrected; not saved.
    original: npt.NDArray[np.uint8] | None = field(default=None, repr=False, compare=False)

    def note_corrections(self, labels: npt.NDArray[np.uint8]) -> None:
        """Add to :attr:`corrected` every structure whose voxels differ from :attr:`original`."""
        if self.original is None:
            return
        changed = labels != self.original
        ids = set(np.unique(labels[changed]).tolist()) | set(
            np.unique(self.original[changed]).tolist()
        )
        self.corrected |= {Structure(i) for i in ids if i != Structure.BACKGROUND}

    @property
    def unconfirmed(self) -> tuple[Structure, ...]:
        """The structures the plan rests on that are not confirmed yet, in label order."""
        return tuple(s for s in PLAN_RESTS_ON if s not in self.confirmed)

    def to_json(self) -> dict[str, Any]:
        """Return the draft as a case file and a plan record it (structure names, sorted)."""

        def names(structures: set[Structure] | tuple[Structure, ...]) -> list[str]:
            return [s.name.lower() for s in sorted(structures)]

        return {
            "reason": self.reason,
            "failed": names(self.failed),
            "confirmed": names(self.confirmed),
            "corrected": names(self.corrected),
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> Draft:
        """Read :meth:`to_json`'s form.

        Raises
        ------
        ValueError
            If a structure is not one LumboPlan knows.
        """

        def structures(key: str) -> list[Structure]:
            try:
                return [Structure[name.upper()] for name in data.get(key, [])]
            except KeyError as error:
                raise ValueError(f"unknown structure {error} in the draft's {key!r}") from None

        return Draft(
            str(data.get("reason", "")),
            tuple(structures("failed")),
            set(structures("confirmed")),
            set(structures("corrected")),
        )


def restrict_plan(plan: CasePlan, draft: Draft) -> CasePlan:
    """Return ``plan`` with every side "not assessable" while ``draft`` has unconfirmed structures.

    A side keeps what a not-assessable side shows (Line A; points a and b stay in the plan's
    landmarks); its placement, contacts and map go. The plan is returned as is once every
    structure in :data:`PLAN_RESTS_ON` is confirmed.
    """
    from lumboplan_app.planning.placement import SidePlan

    unconfirmed = draft.unconfirmed
    if not unconfirmed:
        return plan
    reason = (
        "The labels are an unverified draft and the plan rests on structures not confirmed: "
        f"{', '.join(s.display_name for s in unconfirmed)}. Correct them where needed, confirm "
        "each in the Review tab, and plan again."
    )
    sides = {
        side: SidePlan("not_assessable", (reason,), line_a_mm=found.line_a_mm)
        for side, found in plan.sides.items()
    }
    return dataclasses.replace(plan, sides=sides, maps={})
