"""Files and processes that lose nothing: atomic writes, folders published whole, folder locks,
workers that die with their parent.

An atomic write goes to a temporary file in the same folder, then a rename: a reader never
sees a half-written file, and an interrupted writer leaves the previous version in place.
A folder (a dataset cache) is built under a temporary name and renamed when complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import FolderBusyError


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` (same suffix) for the block to write; renamed onto ``path``
    when the block ends normally, deleted when it raises.

    >>> with atomic_path("figure.png") as tmp:
    ...     fig.savefig(tmp)  # doctest: +SKIP
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    write_text_atomic(path, json.dumps(obj, indent=2, default=str))


@contextmanager
def building_folder(final: str | os.PathLike) -> Iterator[Path]:
    """An empty temporary folder beside ``final`` for the block to fill; published as ``final`` in one
    rename when the block ends normally (replacing an older copy), deleted when it raises.

    Partial builds that processes which no longer run left behind are removed first.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f"{final.name}.partial-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    tmp = final.with_name(f"{final.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if final.exists():
        old = final.with_name(f"{final.name}.old-{os.getpid()}")
        os.replace(final, old)
    try:
        os.replace(tmp, final)
    except OSError:  # another process published the same build in between
        shutil.rmtree(tmp, ignore_errors=True)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file's bytes (hex), read in 1-MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lock_holder(folder: str | os.PathLike) -> int | None:
    """The PID of the living process that holds ``folder/.lock`` (:func:`folder_lock`), else ``None``."""
    try:
        text = (Path(folder) / ".lock").read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() and pid_alive(int(text)) else None


@contextmanager
def folder_lock(folder: str | os.PathLike, what: str = "used") -> Iterator[None]:
    """Hold ``folder/.lock`` (this process's PID) inside the block; a one-line error while another
    living process holds it. The lock of a process that died (kill -9) is taken over."""
    lock = Path(folder) / ".lock"
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            holder = lock_holder(folder)
            if holder is not None and holder != os.getpid():
                raise FolderBusyError(f"{folder} is being {what} by process {holder}: wait for it to end, "
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
