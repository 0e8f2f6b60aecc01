"""Scan readers and writers: BU-3DFE ``.wrl``/``.bnd``, Bosphorus ``.bnt``/``.lm3``/``.lm2``,
OBJ, PLY, texture images, and dataset indexing.

Every reader returns a validated :class:`~ferbench.io.scan.Scan` or raises one
:class:`~ferbench.errors.ScanFormatError` whose message is ``"<path>: <problem>"``.
"""
from __future__ import annotations

import os

import numpy as np

from ferbench.errors import ScanFormatError
from ferbench.io.bosphorus import (
    BOSPHORUS_LANDMARK_NAMES, bosphorus_stem, parse_bosphorus_name, read_bnt, read_lm2, read_lm3, write_bnt,
    write_lm2, write_lm3,
)
from ferbench.io.bu3dfe import (
    BU3DFE_LANDMARK_NAMES, bu3dfe_filename, parse_bu3dfe_name, read_bnd, read_wrl, write_bnd, write_wrl,
)
from ferbench.io.dataset import DatasetIndex, ScanRecord, index_dataset
from ferbench.io.images import read_image, write_image
from ferbench.io.mesh import read_obj, read_ply, write_obj, write_ply
from ferbench.io.scan import Scan, ScanMeta

__all__ = [
    "Scan", "ScanMeta", "read_scan", "write_scan", "SCAN_EXTENSIONS",
    "read_wrl", "write_wrl", "read_bnd", "write_bnd", "parse_bu3dfe_name", "bu3dfe_filename",
    "BU3DFE_LANDMARK_NAMES",
    "read_bnt", "write_bnt", "read_lm3", "write_lm3", "read_lm2", "write_lm2", "parse_bosphorus_name",
    "bosphorus_stem", "BOSPHORUS_LANDMARK_NAMES",
    "read_obj", "write_obj", "read_ply", "write_ply", "read_image", "write_image",
    "ScanRecord", "DatasetIndex", "index_dataset",
]

SCAN_EXTENSIONS = (".wrl", ".vrml", ".bnt", ".obj", ".ply")


def read_scan(path: str | os.PathLike, *, load_texture: bool = True) -> Scan:
    """Read any supported scan file, dispatching on its extension.

    ``.wrl``/``.vrml`` -> :func:`read_wrl` (plus sibling ``.bnd`` and labels from the
    BU-3DFE name), ``.bnt`` -> :func:`read_bnt` (plus ``.lm3`` and ``.png``),
    ``.obj`` -> :func:`read_obj`, ``.ply`` -> :func:`read_ply`.

    A texture the file names but that is not beside it is not an error: the scan is read without
    texture, ``meta.extra["texture_missing"]`` keeps the path looked for, and one
    :class:`~ferbench.errors.TextureMissingWarning` names it.

    Raises
    ------
    ScanFormatError
        Unsupported extension, missing file, or any problem the reader finds.
    """
    p = os.fspath(path)
    ext = os.path.splitext(p)[1].lower()
    readers = {".wrl": read_wrl, ".vrml": read_wrl, ".bnt": read_bnt, ".obj": read_obj, ".ply": read_ply}
    if ext not in readers:
        raise ScanFormatError(p, f"unsupported scan extension {ext or '(none)'!r}; expected one of {SCAN_EXTENSIONS}")
    scan = readers[ext](p, load_texture=load_texture)
    _warn_texture_missing(scan, p)
    if _in_synthetic_tree(p):
        scan.meta.synthetic = True
    return scan


def _warn_texture_missing(scan: Scan, path: str) -> None:
    import warnings

    from ferbench.errors import TextureMissingWarning
    from ferbench.io.scan import texture_missing_reason

    why = texture_missing_reason(scan)
    if why:
        warnings.warn(f"{path}: texture {why}; read without texture (texture maps will be missing)",
                      TextureMissingWarning, stacklevel=3)


SYNTHETIC_MARKER = "SYNTHETIC_DATA.txt"
"""File that :func:`ferbench.synth.generate_dataset` writes at the root of every synthetic dataset."""


def _in_synthetic_tree(path: str, levels: int = 3) -> bool:
    """Whether a synthetic-dataset marker sits in the scan's folder or up to ``levels`` folders above.

    So that a scan read on its own (``ferbench maps FILE``) is still labelled synthetic.
    """
    d = os.path.dirname(os.path.abspath(path))
    for _ in range(levels + 1):
        if os.path.isfile(os.path.join(d, SYNTHETIC_MARKER)):
            return True
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    return False


def write_scan(scan: Scan, path: str | os.PathLike) -> None:
    """Write a scan, dispatching on the extension, with its sibling files.

    * ``.wrl``: :func:`write_wrl` + ``<stem>.bmp`` texture + ``<stem>.bnd`` landmarks
      (vertex ids from ``meta.extra["landmark_vertex_ids"]`` when present, else -1).
    * ``.bnt``: needs ``scan.grid``; u, v from ``meta.extra["grid_uv"]`` (zeros if absent);
      writes ``<stem>.png`` and ``<stem>.lm3`` (NaN landmarks omitted).
    * ``.obj`` / ``.ply``: :func:`write_obj` / :func:`write_ply`.
    """
    p = os.fspath(path)
    ext = os.path.splitext(p)[1].lower()
    directory, stem = os.path.dirname(p), os.path.splitext(os.path.basename(p))[0]
    if ext in (".wrl", ".vrml"):
        write_wrl(scan, p)
        if scan.landmarks is not None and len(scan.landmarks):
            ids = scan.meta.extra.get("landmark_vertex_ids")
            if ids is not None and len(ids) != len(scan.landmarks):
                ids = None
            write_bnd(os.path.join(directory, stem + ".bnd"), scan.landmarks, ids)
    elif ext == ".bnt":
        if scan.grid is None:
            raise ScanFormatError(p, "cannot write .bnt: the scan has no range grid (scan.grid)")
        uv = scan.meta.extra.get("grid_uv")
        if uv is None or np.shape(uv) != scan.grid.shape[:2] + (2,):
            uv = np.zeros(scan.grid.shape[:2] + (2,))
        write_bnt(p, scan.grid, np.nan_to_num(uv, nan=0.0), stem + ".png")
        if scan.texture is not None:
            write_image(os.path.join(directory, stem + ".png"), scan.texture)
        if scan.landmarks is not None and len(scan.landmarks):
            names = scan.landmark_names or tuple(f"landmark {i}" for i in range(len(scan.landmarks)))
            write_lm3(os.path.join(directory, stem + ".lm3"), scan.landmarks, names)
    elif ext == ".obj":
        write_obj(scan, p)
    elif ext == ".ply":
        write_ply(scan, p)
    else:
        raise ScanFormatError(p, f"unsupported scan extension {ext or '(none)'!r}; expected one of {SCAN_EXTENSIONS}")
