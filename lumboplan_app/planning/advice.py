"""What a foramen's group advises, worded once for the command line, the window and the report.

The group is a :class:`~lumboplan_app.planning.placement.SidePlan`'s ``group``: ``"A"``,
``"B"`` or ``"not_assessable"`` (DESIGN.md, "Classification").
"""

from __future__ import annotations

#: The group's name, as a chip or a heading shows it.
GROUP_NAME = {"A": "Group A", "B": "Group B", "not_assessable": "Not assessable"}

#: The approach each group advises (DESIGN.md, "Classification"), for the middle of a sentence.
GROUP_ADVICE = {
    "A": "transforaminal approach (TF-PELD) advised",
    "B": "interlaminar approach (IL-PELD) or open microdiscectomy advised",
    "not_assessable": "no recommendation",
}


def group_advice(group: str) -> str:
    """Return the advice of ``group`` as a sentence start ("Transforaminal approach ...")."""
    advice = GROUP_ADVICE[group]
    return advice[0].upper() + advice[1:]


def group_headline(group: str) -> str:
    """Return the group and its advice in one line ("Group A: transforaminal approach ...")."""
    return f"{GROUP_NAME[group]}: {GROUP_ADVICE[group]}"
