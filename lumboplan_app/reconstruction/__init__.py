"""Surface meshes of the structures, from a label map (DESIGN.md, "reconstruction/")."""
