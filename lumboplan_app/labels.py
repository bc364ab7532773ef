"""Structure and part ids, names and colours: the one source of truth (DESIGN.md, "Structures").

The segmentation model predicts the seven :class:`Structure` classes. :class:`Part` ids are finer
(left and right pedicle, the L5 inferior articular process, the exiting L5 root, ...); the planner
derives them from the structures by geometry and the phantom writes them as ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum


class Side(Enum):
    """The patient's side. ``LEFT`` is +x (LPS) of the mid-sagittal plane."""

    LEFT = "left"
    RIGHT = "right"

    @property
    def lps_sign(self) -> int:
        """+1 for the left side (toward +x in LPS), -1 for the right side."""
        return 1 if self is Side.LEFT else -1


class Structure(IntEnum):
    """Label ids of the segmented structures, as stored in label maps (uint8)."""

    BACKGROUND = 0
    L5 = 1
    DISC = 2
    S1 = 3
    NERVES = 4
    ILIUM = 5
    SKIN = 6

    @property
    def display_name(self) -> str:
        """Name shown to the surgeon."""
        return _STRUCTURE_INFO[self].display_name

    @property
    def paper_name(self) -> str:
        """Name used by Zhu et al. 2024 (Pain Physician 27:E245)."""
        return _STRUCTURE_INFO[self].paper_name

    @property
    def colour_rgb(self) -> tuple[int, int, int]:
        """Display colour, 0-255 per channel."""
        return _STRUCTURE_INFO[self].colour_rgb


@dataclass(frozen=True, slots=True)
class _StructureInfo:
    display_name: str
    paper_name: str
    colour_rgb: tuple[int, int, int]


_STRUCTURE_INFO: dict[Structure, _StructureInfo] = {
    Structure.BACKGROUND: _StructureInfo("Background", "background", (0, 0, 0)),
    Structure.L5: _StructureInfo("L5 vertebra", "L5 vertebrae bone", (241, 214, 145)),
    Structure.DISC: _StructureInfo("L5/S1 disc", "disc", (111, 184, 210)),
    Structure.S1: _StructureInfo("S1 vertebra (sacrum)", "S1 vertebrae bone", (216, 160, 120)),
    Structure.NERVES: _StructureInfo("Lumbosacral nerves", "lumbosacral nerve", (244, 214, 49)),
    Structure.ILIUM: _StructureInfo("Iliac bone", "iliac bone", (177, 122, 101)),
    Structure.SKIN: _StructureInfo("Skin", "skin", (230, 180, 160)),
}

#: The structures the model segments, without the background.
SEGMENTED_STRUCTURES: tuple[Structure, ...] = tuple(s for s in Structure if s != 0)


class Part(IntEnum):
    """Part ids, finer than the structures (DESIGN.md, "Parts"); stored as uint8."""

    BACKGROUND = 0
    L5_BODY = 1
    L5_PEDICLE_LEFT = 2
    L5_PEDICLE_RIGHT = 3
    L5_LAMINA = 4
    L5_IAP_LEFT = 5
    L5_IAP_RIGHT = 6
    L5_TRANSVERSE_PROCESS_LEFT = 7
    L5_TRANSVERSE_PROCESS_RIGHT = 8
    L5_SPINOUS_PROCESS = 9
    DISC = 10
    S1_BODY = 11
    S1_SAP_LEFT = 12
    S1_SAP_RIGHT = 13
    S1_ALA_LEFT = 14
    S1_ALA_RIGHT = 15
    DURAL_SAC = 16
    L5_ROOT_LEFT = 17
    L5_ROOT_RIGHT = 18
    S1_ROOT_LEFT = 19
    S1_ROOT_RIGHT = 20
    ILIAC_CREST_LEFT = 21
    ILIAC_CREST_RIGHT = 22
    ILIAC_WING_LEFT = 23
    ILIAC_WING_RIGHT = 24
    SKIN = 25
    L5_SAP_LEFT = 26
    L5_SAP_RIGHT = 27
    S1_POSTERIOR_ARCH = 28

    @property
    def structure(self) -> Structure:
        """The structure this part belongs to."""
        return _PART_INFO[self][0]

    @property
    def side(self) -> Side | None:
        """The side of a paired part, ``None`` for a midline one."""
        return _PART_INFO[self][1]

    @property
    def display_name(self) -> str:
        """Name shown to the surgeon, e.g. "L5 inferior articular process (left)"."""
        name = _PART_INFO[self][2]
        side = self.side
        return f"{name} ({side.value})" if side is not None else name


_L, _R = Side.LEFT, Side.RIGHT
_PART_INFO: dict[Part, tuple[Structure, Side | None, str]] = {
    Part.BACKGROUND: (Structure.BACKGROUND, None, "Background"),
    Part.L5_BODY: (Structure.L5, None, "L5 body"),
    Part.L5_PEDICLE_LEFT: (Structure.L5, _L, "L5 pedicle"),
    Part.L5_PEDICLE_RIGHT: (Structure.L5, _R, "L5 pedicle"),
    Part.L5_LAMINA: (Structure.L5, None, "L5 lamina"),
    Part.L5_IAP_LEFT: (Structure.L5, _L, "L5 inferior articular process"),
    Part.L5_IAP_RIGHT: (Structure.L5, _R, "L5 inferior articular process"),
    Part.L5_TRANSVERSE_PROCESS_LEFT: (Structure.L5, _L, "L5 transverse process"),
    Part.L5_TRANSVERSE_PROCESS_RIGHT: (Structure.L5, _R, "L5 transverse process"),
    Part.L5_SPINOUS_PROCESS: (Structure.L5, None, "L5 spinous process"),
    Part.DISC: (Structure.DISC, None, "L5/S1 disc"),
    Part.S1_BODY: (Structure.S1, None, "S1 body"),
    Part.S1_SAP_LEFT: (Structure.S1, _L, "S1 superior articular process"),
    Part.S1_SAP_RIGHT: (Structure.S1, _R, "S1 superior articular process"),
    Part.S1_ALA_LEFT: (Structure.S1, _L, "Sacral ala"),
    Part.S1_ALA_RIGHT: (Structure.S1, _R, "Sacral ala"),
    Part.DURAL_SAC: (Structure.NERVES, None, "Dural sac"),
    Part.L5_ROOT_LEFT: (Structure.NERVES, _L, "Exiting L5 root"),
    Part.L5_ROOT_RIGHT: (Structure.NERVES, _R, "Exiting L5 root"),
    Part.S1_ROOT_LEFT: (Structure.NERVES, _L, "Traversing S1 root"),
    Part.S1_ROOT_RIGHT: (Structure.NERVES, _R, "Traversing S1 root"),
    Part.ILIAC_CREST_LEFT: (Structure.ILIUM, _L, "Iliac crest"),
    Part.ILIAC_CREST_RIGHT: (Structure.ILIUM, _R, "Iliac crest"),
    Part.ILIAC_WING_LEFT: (Structure.ILIUM, _L, "Iliac wing"),
    Part.ILIAC_WING_RIGHT: (Structure.ILIUM, _R, "Iliac wing"),
    Part.SKIN: (Structure.SKIN, None, "Skin"),
    Part.L5_SAP_LEFT: (Structure.L5, _L, "L5 superior articular process"),
    Part.L5_SAP_RIGHT: (Structure.L5, _R, "L5 superior articular process"),
    Part.S1_POSTERIOR_ARCH: (Structure.S1, None, "Sacral lamina and median crest"),
}


def parts_of(structure: Structure) -> tuple[Part, ...]:
    """Return the parts that make up ``structure``, in id order."""
    return tuple(p for p in Part if p.structure == structure and p != Part.BACKGROUND)


def structure_lookup_table() -> tuple[int, ...]:
    """Return a table mapping every part id (index) to its structure id, for ``np.take``."""
    return tuple(int(Part(i).structure) for i in range(len(Part)))
