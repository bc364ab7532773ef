"""What the window's controls do to the case: the channel, the brush, the 3-D surfaces.

Each controller is given the session and the widgets it drives; the window only creates and
wires them (:mod:`lumboplan_app.gui.main_window`).
"""
