"""Independent work in threads: the order of the results, the errors, the thread count."""

from __future__ import annotations

import threading

import pytest

from lumboplan_app import threads


def test_results_keep_the_order_of_the_inputs_and_the_calls_run_side_by_side(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(threads, "thread_count", lambda tasks: min(tasks, 2))  # any machine
    seen: set[str] = set()
    barrier = threading.Barrier(2, timeout=10)

    def square(value: int) -> int:
        seen.add(threading.current_thread().name)
        if value < 2:  # the first two calls wait for each other: they run at the same time
            barrier.wait()
        return value * value

    assert threads.map_in_threads(square, range(6)) == [0, 1, 4, 9, 16, 25]
    assert len(seen) >= 2


def test_an_error_in_one_call_is_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail_on_three(value: int) -> int:
        if value == 3:
            raise ValueError("three")
        return value

    with pytest.raises(ValueError, match="three"):
        threads.map_in_threads(fail_on_three, range(5))
    monkeypatch.setattr(threads, "thread_count", lambda tasks: 1)
    with pytest.raises(ValueError, match="three"):
        threads.map_in_threads(fail_on_three, range(5))


def test_the_thread_count_follows_the_tasks_and_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    assert threads.thread_count(0) == 1
    assert threads.thread_count(3) == 3
    assert threads.thread_count(100) == threads.MAX_THREADS
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert threads.thread_count(16) == 1
