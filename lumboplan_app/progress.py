"""The two callbacks every long core operation takes (STYLE.md, "Keeping the window responsive").

``progress(fraction, text)`` reports how far it is (0..1) and what it does, phrased for the
user; ``should_cancel()`` is polled between steps, and returning True makes the operation raise
:class:`~lumboplan_app.errors.Cancelled` without changing anything.
"""

from __future__ import annotations

from collections.abc import Callable

ProgressCallback = Callable[[float, str], None]
CancelCheck = Callable[[], bool]
