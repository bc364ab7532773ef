"""The views of the scan: the three linked slice views and the 3-D pane."""
