"""Coded names of the structures (SNOMED CT), shared by the ``.seg.nrrd`` and DICOM SEG exports.

Each :class:`~lumboplan_app.labels.Structure` carries a segmented property category and type, as
DICOM SEG (PS3.3 C.8.20.2) and 3D Slicer's terminologies (``TerminologyEntry`` segment tag)
name them. The codes are those of DICOM's CID 7151 "Segmentation Property Types" (checked
against pydicom's code dictionary in ``tests/test_exchange.py``); the category is Slicer's
"Anatomical Structure", so that Slicer shows the segments with its anatomy colours and names.

The nerves label (dural sac, cauda equina, L5 and S1 roots) has no single code: it is a
"Nerve" in the anatomic region "Lumbo-sacral spine".
"""

from __future__ import annotations

from dataclasses import dataclass

from lumboplan_app.labels import SEGMENTED_STRUCTURES, Structure


@dataclass(frozen=True, slots=True)
class Code:
    """A coded concept: value, coding scheme designator (``SCT`` = SNOMED CT), meaning."""

    value: str
    scheme: str
    meaning: str

    def parts(self) -> list[str]:
        """Return the ``[scheme, value, meaning]`` triple of a Slicer terminology entry."""
        return [self.scheme, self.value, self.meaning]


@dataclass(frozen=True, slots=True)
class StructureCodes:
    """The category, type and (optional) anatomic region of one structure."""

    category: Code
    type: Code
    region: Code | None = None


ANATOMICAL_STRUCTURE = Code("123037004", "SCT", "Anatomical Structure")
#: Slicer's names of the terminology contexts the codes come from.
SLICER_TYPE_CONTEXT = "Segmentation category and type - DICOM master list"
SLICER_REGION_CONTEXT = "Anatomic codes - DICOM master list"

STRUCTURE_CODES: dict[Structure, StructureCodes] = {
    Structure.L5: StructureCodes(ANATOMICAL_STRUCTURE, Code("49668003", "SCT", "L5 vertebra")),
    Structure.DISC: StructureCodes(ANATOMICAL_STRUCTURE, Code("715056000", "SCT", "L5/S1 disc")),
    Structure.S1: StructureCodes(ANATOMICAL_STRUCTURE, Code("54735007", "SCT", "Sacrum")),
    Structure.NERVES: StructureCodes(
        ANATOMICAL_STRUCTURE,
        Code("91728009", "SCT", "Nerve"),
        Code("1217253001", "SCT", "Lumbo-sacral spine"),
    ),
    Structure.ILIUM: StructureCodes(ANATOMICAL_STRUCTURE, Code("22356005", "SCT", "Ilium")),
    Structure.SKIN: StructureCodes(ANATOMICAL_STRUCTURE, Code("39937001", "SCT", "Skin")),
}

if set(STRUCTURE_CODES) != set(SEGMENTED_STRUCTURES):  # a new structure needs its code
    raise RuntimeError("every segmented structure needs its codes in STRUCTURE_CODES")


def slicer_terminology(structure: Structure) -> dict[str, object]:
    """Return a structure's terminology as slicerio writes it into a segment's tags."""
    codes = STRUCTURE_CODES[structure]
    entry: dict[str, object] = {
        "contextName": SLICER_TYPE_CONTEXT,
        "category": codes.category.parts(),
        "type": codes.type.parts(),
        "anatomicContextName": SLICER_REGION_CONTEXT,
    }
    if codes.region is not None:
        entry["anatomicRegion"] = codes.region.parts()
    return entry


def structure_of_type(scheme: str, value: str, region_value: str | None) -> Structure | None:
    """Return the structure a coded type (and anatomic region, if any) names, or None."""
    for structure, codes in STRUCTURE_CODES.items():
        if (codes.type.scheme, codes.type.value) != (scheme, value):
            continue
        if codes.region is None or region_value in (None, codes.region.value):
            return structure
    return None
