"""Segmentation of the seven structures with a 3-D U-Net (DESIGN.md, model contract)."""
