"""Plain-callback observers for the core's state models: views subscribe, the model notifies.

The models are :class:`~lumboplan_app.viewing.ViewState` and
:class:`~lumboplan_app.case_session.CaseSession`.

Observers are called synchronously, in the order they subscribed, after the state has changed,
with what changed (a short string each model documents).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

ChangeT = TypeVar("ChangeT", bound=str)


class Observable(Generic[ChangeT]):
    """A model whose changes are announced to subscribed callbacks ``observer(change)``."""

    def __init__(self) -> None:
        self._observers: list[Callable[[ChangeT], None]] = []

    def subscribe(self, observer: Callable[[ChangeT], None]) -> None:
        """Call ``observer(change)`` after each change; subscribing twice calls it once."""
        if observer not in self._observers:
            self._observers.append(observer)

    def unsubscribe(self, observer: Callable[[ChangeT], None]) -> None:
        """Stop calling ``observer``; unknown observers are ignored."""
        if observer in self._observers:
            self._observers.remove(observer)

    @property
    def observer_count(self) -> int:
        """Number of subscribed observers."""
        return len(self._observers)

    def _notify(self, change: ChangeT) -> None:
        for observer in list(self._observers):
            observer(change)
