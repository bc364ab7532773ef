"""Synthetic lumbosacral MR phantoms with ground truth (DESIGN.md, "Synthetic phantoms")."""
