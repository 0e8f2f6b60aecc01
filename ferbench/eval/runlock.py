"""One writer per results folder: a lock file naming its owner, and a token that fences out stale workers.

:class:`RunLock` is held by the process that runs a protocol (``ferbench train``) for the whole
run. It is an ``flock`` on ``<results>/run.lock`` (the kernel drops it when the owner dies, even
after ``kill -9``), and the file names the owner (pid, host, start time) and a fresh random token.
A second run on the same folder is refused with one line naming the owner's pid; a lock file
left behind by a dead owner is simply taken over.

Workers never take the lock. They carry the owner's token and call :func:`check_owner` before
every checkpoint write: when the run that started them is gone and another run owns the folder
(or nobody does), the token no longer matches and the worker stops instead of racing the new
owner on the same checkpoint files. This fencing also works for Dask workers on other machines
(the results folder is on a shared file system); local worker processes additionally exit as
soon as their parent dies (see :mod:`ferbench.eval.runner`).
"""
from __future__ import annotations

import json
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any

from ferbench.errors import FerbenchError

__all__ = ["RunLock", "RunLockError", "check_owner", "LOCK_NAME", "pid_alive"]

LOCK_NAME = "run.lock"

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: pid check only
    fcntl = None


class RunLockError(FerbenchError):
    """The results folder is in use by another run, or this worker's run no longer owns it."""


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read(path: Path) -> dict[str, Any]:
    try:
        d = json.loads(path.read_text(encoding="utf-8") or "{}")
        return d if isinstance(d, dict) else {}
    except (OSError, ValueError):
        return {}


def _owner_text(folder: Path, info: dict[str, Any]) -> str:
    pid = info.get("pid", "?")
    host = info.get("host")
    where = f" on host {host}" if host and host != socket.gethostname() else ""
    return f"results folder {folder} is in use by pid {pid}{where}"


class RunLock:
    """Exclusive ownership of a results folder (a context manager).

    Parameters
    ----------
    folder
        The results folder (created).

    Attributes
    ----------
    path
        The lock file, ``folder/run.lock``.
    token
        Random token of this ownership (handed to workers for :func:`check_owner`).
    took_over
        Pid named by a stale lock file that was taken over, else None.
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.token = uuid.uuid4().hex
        self.took_over: int | None = None
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        """Take the lock or raise :class:`RunLockError` ("results folder X is in use by pid N")."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for _ in range(20):  # retried only when the file was replaced between open and lock
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if fcntl is not None:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except OSError:
                        raise RunLockError(_owner_text(self.folder, _read(self.path))) from None
                    try:  # the holder may have unlinked the file after we opened it: lock the live one
                        if os.fstat(fd).st_ino != os.stat(self.path).st_ino:
                            os.close(fd)
                            fd = None
                            continue
                    except FileNotFoundError:
                        os.close(fd)
                        fd = None
                        continue
                old = _read(self.path)
                if fcntl is None and old.get("pid") and old.get("host") == socket.gethostname() \
                        and pid_alive(int(old["pid"])) and int(old["pid"]) != os.getpid():
                    raise RunLockError(_owner_text(self.folder, old))
                if old.get("pid"):
                    self.took_over = int(old["pid"])  # flock was free: that owner is gone
                info = {"pid": os.getpid(), "host": socket.gethostname(), "token": self.token,
                        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
                data = json.dumps(info).encode()
                os.ftruncate(fd, 0)
                os.pwrite(fd, data, 0)
                os.fsync(fd)
                self._fd, fd = fd, None
                return self
            finally:
                if fd is not None:
                    os.close(fd)
        raise RunLockError(f"results folder {self.folder}: cannot take {LOCK_NAME} (it keeps changing)")

    def release(self) -> None:
        """Give the folder up (the lock file is removed, then the flock dropped)."""
        if self._fd is None:
            return
        try:
            if _read(self.path).get("token") == self.token:
                os.unlink(self.path)
        except OSError:
            pass
        finally:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def check_owner(lock_path: str | os.PathLike, token: str) -> None:
    """Raise :class:`RunLockError` unless the lock file still names ``token`` (called by workers)."""
    path = Path(lock_path)
    info = _read(path)
    if info.get("token") != token:
        if not path.exists():
            raise RunLockError(f"results folder {path.parent} is owned by no run (no {LOCK_NAME}): its run has "
                               f"ended, or the folder is not on a file system shared with this worker; "
                               f"this worker stops without writing")
        who = f"pid {info['pid']}" if info.get("pid") else "no run"
        raise RunLockError(f"results folder {path.parent} is now owned by {who}; this worker's run has ended, "
                           f"so it stops without writing")
