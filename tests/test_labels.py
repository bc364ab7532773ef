from lumboplan_app.labels import (
    SEGMENTED_STRUCTURES,
    Part,
    Side,
    Structure,
    parts_of,
    structure_lookup_table,
)


def test_structure_ids_are_those_of_design() -> None:
    assert {s.name: int(s) for s in Structure} == {
        "BACKGROUND": 0,
        "L5": 1,
        "DISC": 2,
        "S1": 3,
        "NERVES": 4,
        "ILIUM": 5,
        "SKIN": 6,
    }
    assert Structure.NERVES.paper_name == "lumbosacral nerve"
    assert len(SEGMENTED_STRUCTURES) == 6


def test_every_structure_has_a_distinct_colour_and_name() -> None:
    colours = [s.colour_rgb for s in SEGMENTED_STRUCTURES]
    assert len(set(colours)) == len(colours)
    assert all(0 <= c <= 255 for colour in colours for c in colour)
    assert len({s.display_name for s in Structure}) == len(Structure)


def test_parts_belong_to_structures_and_pair_by_side() -> None:
    for part in Part:
        if part.name.endswith("_LEFT"):
            twin = Part[part.name.replace("_LEFT", "_RIGHT")]
            assert part.side is Side.LEFT
            assert twin.side is Side.RIGHT
            assert part.structure == twin.structure
    assert Part.L5_IAP_LEFT.structure is Structure.L5
    assert Part.L5_ROOT_RIGHT.structure is Structure.NERVES
    assert Part.ILIAC_CREST_LEFT.display_name == "Iliac crest (left)"
    # Every structure but the background is made of at least one part.
    assert all(parts_of(s) for s in SEGMENTED_STRUCTURES)


def test_lookup_table_maps_parts_to_structures() -> None:
    table = structure_lookup_table()
    assert len(table) == len(Part)
    assert all(table[int(p)] == int(p.structure) for p in Part)


def test_side_sign_follows_lps() -> None:
    assert Side.LEFT.lps_sign == 1
    assert Side.RIGHT.lps_sign == -1
