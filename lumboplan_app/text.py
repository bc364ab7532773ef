"""Text from files, made safe to show in messages, logs and the window."""

from __future__ import annotations


def shown_text(text: str, limit: int | None = 80) -> str:
    """Return text from a file, safe to show: control characters escaped, at most ``limit``.

    Escaping is idempotent (an escaped text is printable); ``limit`` None keeps all of it.
    """
    cut = text if limit is None else text[:limit]
    shown = "".join(
        c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode("ascii")
        for c in cut
    )
    return shown + ("..." if len(cut) < len(text) else "")
