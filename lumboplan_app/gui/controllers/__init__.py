"""What the window's commands do: open a scan, run the tasks, move the channel, paint, ...

Each controller is given the session and the widgets it drives; the window only creates and
wires them (:mod:`lumboplan_app.gui.main_window`).
"""
