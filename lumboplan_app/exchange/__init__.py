"""Exchange with 3D Slicer and PACS: labels, plan, report and meshes in their formats."""
