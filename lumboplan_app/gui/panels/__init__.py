"""The case dock's panels: structures, label editing, the foramen (with its map), the scan."""
