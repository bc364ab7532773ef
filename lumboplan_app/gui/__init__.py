"""The LumboPlan window (PySide6): main window, slice views, workers, dialogs.

Only this package imports Qt. It shows and edits the core's state (:mod:`lumboplan_app.viewing`)
and runs core calls in workers; it holds no logic the command line could not reach.
"""
