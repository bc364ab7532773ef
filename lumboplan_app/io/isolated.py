"""Run a reader in a child process, so a crash in native decoding code cannot take us down.

GDCM, ITK and the JPEG decoders are C/C++: a crafted or corrupt file has crashed such readers
before. The window and the batch read scans through :func:`run_isolated`; if the child dies,
the caller gets a :class:`CorruptFileError` and goes on. Progress is relayed from the child and
cancel terminates it.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from lumboplan_app.errors import Cancelled, CorruptFileError, LoadError, LumboPlanError
from lumboplan_app.io.series import CancelCheck, ProgressCallback
from lumboplan_app.logs import configure_logging

logger = logging.getLogger(__name__)

T = TypeVar("T")
_POLL_SECONDS = 0.05


def run_isolated(
    target: Callable[..., T],
    *args: Any,
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
    **kwargs: Any,
) -> T:
    """Call ``target(*args, **kwargs)`` in a fresh child process and return its result.

    ``target`` must be importable by name (a module-level function). When ``progress`` is given,
    the child calls ``target(..., progress=relay)`` and every report reaches ``progress`` here.

    Raises
    ------
    CorruptFileError
        If the child process dies (a crash in native code) before returning.
    Cancelled
        If ``should_cancel`` returns True; the child is terminated.
    LumboPlanError
        Whatever typed error the target raised, unchanged.
    """
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(
        target=_child_main,
        args=(sender, target, args, kwargs, progress is not None),
        daemon=True,
    )
    child.start()
    sender.close()
    try:
        while True:
            if should_cancel is not None and should_cancel():
                child.terminate()
                raise Cancelled()
            if receiver.poll(_POLL_SECONDS):
                try:
                    kind, payload = receiver.recv()
                except EOFError:
                    break
                if kind == "progress" and progress is not None:
                    progress(*payload)
                elif kind == "result":
                    return payload
                elif kind == "error":
                    raise payload
            elif not child.is_alive():
                break
    finally:
        receiver.close()
        child.join(timeout=5)
        if child.is_alive():
            child.kill()
    logger.error("reader process ended without a result (exit code %s)", child.exitcode)
    raise CorruptFileError(
        "The image reader stopped unexpectedly while reading this scan (exit code "
        f"{child.exitcode}): a file is probably damaged or malformed. LumboPlan is unaffected; "
        "export the series again or choose another one."
    )


def _child_main(
    sender: Connection,
    target: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    relay_progress: bool,
) -> None:
    configure_logging()  # a spawned child starts bare: decoder noise to the log, not stderr
    if relay_progress:
        kwargs = {**kwargs, "progress": lambda f, text: sender.send(("progress", (f, text)))}
    try:
        result = target(*args, **kwargs)
    except LumboPlanError as error:
        sender.send(("error", error))
    except Exception as error:  # unexpected: report the type, not the text (it may hold paths)
        sender.send(
            (
                "error",
                LoadError(
                    f"The scan could not be read ({type(error).__name__}). Export the series "
                    "again, or report this to LumboPlan's support."
                ),
            )
        )
    else:
        sender.send(("result", result))
    finally:
        sender.close()
