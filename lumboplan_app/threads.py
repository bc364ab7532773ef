"""Independent NumPy/SciPy work spread over the CPU's cores, in threads.

SciPy's distance transforms and interpolation release the GIL, so independent calls (one
distance field per part, the two foramina of a plan) run side by side in threads without the
cost of processes. The results keep the order of the inputs; the first error raised is raised
here, after every call has ended.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: At most this many threads: beyond it the memory bandwidth, not the cores, sets the pace.
MAX_THREADS = 8


def thread_count(tasks: int) -> int:
    """Return how many threads ``tasks`` independent calls use here (1 to :data:`MAX_THREADS`)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(tasks, cores or 1, MAX_THREADS))


def map_in_threads(function: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """Return ``[function(item) for item in items]``, computed in threads (see module)."""
    listed = list(items)
    workers = thread_count(len(listed))
    if workers == 1:
        return [function(item) for item in listed]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lumboplan") as pool:
        return list(pool.map(function, listed))
