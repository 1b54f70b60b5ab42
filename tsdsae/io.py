"""Files and processes that lose nothing: atomic writes, folder locks, workers that die with their parent.

An atomic write goes to a temporary file in the same folder, then a rename: a reader never
sees a half-written file, and an interrupted writer leaves the previous version in place.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import TsdsaeError


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=2, default=str))
    os.replace(tmp, path)


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def folder_lock(folder: str | os.PathLike, what: str = "used") -> Iterator[None]:
    """Hold ``folder/.lock`` (this process's PID) inside the block; a one-line error while another
    living process holds it. The lock of a process that died (kill -9) is taken over."""
    lock = Path(folder) / ".lock"
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            text = lock.read_text().strip() if lock.exists() else ""
            holder = int(text) if text.isdigit() else None
            if holder is not None and holder != os.getpid() and pid_alive(holder):
                raise TsdsaeError(f"{folder} is being {what} by process {holder}: wait for it to end, "
                                  f"or stop it (kill {holder})") from None
            lock.unlink(missing_ok=True)  # stale: its process is gone
            continue
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        break
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def die_with_parent(parent: int, poll_s: float = 0.5) -> None:
    """Make this worker process exit as soon as its parent ``parent`` (a PID) is gone, even after ``kill -9``.

    A worker pool's initialiser calls it with the PID the parent passed (``initargs=(os.getpid(),)``):
    a worker that starts after its parent died exits at once, and a daemon thread watches the
    parent's PID (a killed parent's children are handed to another process, so it changes).
    """
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)

    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()
