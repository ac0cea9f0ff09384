"""Cancellation that survives libraries which swallow it.

redis-py 8 can turn a cancellation that lands inside a blocking read (XREADGROUP BLOCK on a
unix socket, seen in tests/test_openapi.py teardowns) into a later ``ConnectionError`` when
the connection closes: the task's ``CancelledError`` never surfaces, and a background loop
that logs errors and retries would then run forever, stalling shutdown. Python 3.11 keeps
the request count (``Task.cancelling()``), so every retrying loop calls
:func:`stop_if_cancelled` in its error handler.
"""

from __future__ import annotations

import asyncio


def stop_if_cancelled() -> None:
    """Raise ``CancelledError`` if the current task has been asked to stop (even when the
    ``CancelledError`` itself was lost); no-op otherwise or outside a task."""
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no running loop
        return
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
