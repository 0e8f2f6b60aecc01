"""Private helpers shared by the scan readers: guarded file access, tokenising, triangulation.

Every reader funnels low-level parse failures through :func:`parsing`, so a hostile file
gives one :class:`~ferbench.errors.ScanFormatError` naming the file, never a bare
``ValueError``/``struct.error`` from deep inside numpy.
"""
from __future__ import annotations

import os
import struct
from contextlib import contextmanager
from typing import Iterator, Sequence

import numpy as np

from ferbench.errors import FerbenchError, ScanFormatError

MAX_FILE_BYTES = 2 * 1024**3
"""Refuse files larger than this (2 GiB): no real face scan comes near it."""

_MSG_LEN = 160


def clip(text: object, n: int = _MSG_LEN) -> str:
    """Shorten a message (numpy errors can quote a whole megabyte-long token)."""
    s = " ".join(str(text).split())
    return s if len(s) <= n else s[: n - 3] + "..."


@contextmanager
def parsing(path: str) -> Iterator[None]:
    """Turn the low-level errors of a parser into one ScanFormatError naming ``path``.

    Only the exception types that malformed data can provoke are mapped; anything
    else (TypeError, KeyError, ...) is a bug in ferbench and propagates unchanged.
    """
    try:
        yield
    except FerbenchError:
        raise
    except (ValueError, IndexError, OverflowError, struct.error, UnicodeError, EOFError) as e:
        raise ScanFormatError(path, f"cannot parse: {clip(e)}") from e
    except MemoryError as e:  # pragma: no cover - guarded by size checks before allocation
        raise ScanFormatError(path, "file asks for more memory than is available") from e
    except OSError as e:
        raise ScanFormatError(path, f"cannot read: {clip(e.strerror or e)}") from e


def read_bytes(path: str | os.PathLike) -> bytes:
    """Read a whole file, refusing missing, non-regular and absurdly large files."""
    p = os.fspath(path)
    try:
        st = os.stat(p)
    except OSError:
        raise ScanFormatError(p, "no such file") from None
    if not os.path.isfile(p):
        raise ScanFormatError(p, "not a regular file")
    if st.st_size > MAX_FILE_BYTES:
        raise ScanFormatError(p, f"file is {st.st_size} bytes, more than the {MAX_FILE_BYTES}-byte limit")
    with parsing(p):
        with open(p, "rb") as fh:
            return fh.read()


def read_text(path: str | os.PathLike) -> str:
    """Read a text file as latin-1 (never fails to decode; garbage becomes unparseable tokens)."""
    return read_bytes(path).decode("latin-1")


def to_floats(tokens: Sequence[str], path: str, what: str) -> np.ndarray:
    """Convert string tokens to float64, naming ``what`` on failure."""
    try:
        return np.array(tokens, dtype=np.float64)
    except (ValueError, OverflowError) as e:
        raise ScanFormatError(path, f"{what}: not a number ({clip(e, 80)})") from None


def to_ints(tokens: Sequence[str], path: str, what: str) -> np.ndarray:
    """Convert string tokens to int64, naming ``what`` on failure (floats are refused)."""
    try:
        return np.array(tokens, dtype=np.int64)
    except (ValueError, OverflowError) as e:
        raise ScanFormatError(path, f"{what}: not an integer ({clip(e, 80)})") from None


def fan_triangulate(counts: np.ndarray) -> np.ndarray:
    """Corner positions (m, 3) that fan-triangulate polygons stored back to back.

    Parameters
    ----------
    counts
        Number of corners of each polygon; the corners of polygon ``i`` occupy positions
        ``sum(counts[:i]) ... sum(counts[:i+1]) - 1`` of a flat index array.

    Returns
    -------
    np.ndarray
        int64 (m, 3) positions into that flat array: polygon ``(p0, ..., pk-1)`` gives
        triangles ``(p0, pj, pj+1)`` for ``j = 1..k-2``; polygons with < 3 corners give none.
    """
    counts = np.asarray(counts, dtype=np.int64)
    if counts.size == 0:
        return np.zeros((0, 3), np.int64)
    starts = np.cumsum(counts) - counts
    ntri = np.maximum(counts - 2, 0)
    total = int(ntri.sum())
    out = np.empty((total, 3), np.int64)
    out[:, 0] = np.repeat(starts, ntri)
    # triangle t of polygon i has middle corner starts[i] + (t - first_triangle[i]) + 1
    out[:, 1] = np.arange(total, dtype=np.int64) + np.repeat(starts - (np.cumsum(ntri) - ntri) + 1, ntri)
    out[:, 2] = out[:, 1] + 1
    return out


def triangulate_terminated(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Split a ``-1``-terminated polygon index list (VRML ``coordIndex``) into a flat list.

    Returns
    -------
    flat, positions, n_degenerate
        ``flat`` holds the indices without terminators, ``positions`` (m, 3) indexes
        ``flat`` (see :func:`fan_triangulate`), ``n_degenerate`` counts polygons with
        fewer than three corners (dropped).
    """
    idx = np.asarray(idx, dtype=np.int64)
    if idx.size and idx[-1] != -1:
        idx = np.append(idx, -1)  # the last terminator is optional in VRML
    term = np.flatnonzero(idx == -1)
    counts = np.diff(np.concatenate([[-1], term])) - 1
    flat = idx[idx != -1]
    return flat, fan_triangulate(counts), int(np.count_nonzero(counts < 3))


def find_sibling(directory: str, names: Sequence[str]) -> str | None:
    """First existing file in ``directory`` among ``names``, compared case-insensitively.

    Only base names are used, so a hostile ``url "../../etc/passwd"`` cannot leave the folder.
    """
    wanted = [os.path.basename(n.replace("\\", "/")) for n in names if n]
    for n in wanted:
        p = os.path.join(directory, n)
        if n and os.path.isfile(p):
            return p
    try:
        entries = os.listdir(directory or ".")
    except OSError:
        return None
    lower = {e.lower(): e for e in entries}
    for n in wanted:
        e = lower.get(n.lower())
        if e is not None and os.path.isfile(os.path.join(directory, e)):
            return os.path.join(directory, e)
    return None


def fmt_rows(arr: np.ndarray, fmt: str, sep: str = "\n") -> str:
    """Format a 2-D array row by row with one C-level ``%`` (much faster than np.savetxt)."""
    arr = np.asarray(arr)
    if arr.size == 0:
        return ""
    row = fmt + sep
    return (row * len(arr)) % tuple(arr.ravel().tolist())
