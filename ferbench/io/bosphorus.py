"""Bosphorus files: ``.bnt`` range grids, ``.lm3``/``.lm2`` landmarks, stem labels.

``.bnt`` layout (little-endian, ``docs/data.md`` §6.2)::

    uint16 nrows, uint16 ncols, float64 zmin,
    uint16 len, char[len] image file name,
    uint32 n5 (= 5 * nrows * ncols),
    float64[n5]  -- an (N, 5) array in Fortran order: all x, then all y, z, u, v

Point ``k`` of each plane sits at stored row ``k // ncols`` and column ``k % ncols``;
stored rows run bottom-up, so the reader flips them to put image row 0 at the top.
(A published reader takes the five columns in reverse order: this one does not.)
Background cells have ``z == zmin`` and become NaN in :attr:`Scan.grid`.

Texture coordinates ``u, v`` are taken as stored and assumed to follow the OpenGL
convention of :class:`~ferbench.io.scan.Scan` (v = 0 at the image bottom); this is
unverified against a licensed copy and is recorded as ``meta.extra["uv_convention"]``.
"""
from __future__ import annotations

import os
import re
import struct

import numpy as np

from ferbench.errors import ScanFormatError
from ferbench.io._common import find_sibling, fmt_rows, parsing, read_bytes, read_text, to_floats
from ferbench.io.scan import Scan, ScanMeta
from ferbench.labels import BOSPHORUS_CODE_OF, BOSPHORUS_CODES

__all__ = [
    "BOSPHORUS_LANDMARK_NAMES", "read_bnt", "write_bnt", "grid_to_mesh", "read_lm3", "write_lm3", "read_lm2",
    "write_lm2", "parse_bosphorus_name", "bosphorus_stem", "DEFAULT_ZMIN",
]

BOSPHORUS_LANDMARK_NAMES: tuple[str, ...] = (
    "Outer left eyebrow", "Middle left eyebrow", "Inner left eyebrow",
    "Inner right eyebrow", "Middle right eyebrow", "Outer right eyebrow",
    "Outer left eye corner", "Inner left eye corner", "Inner right eye corner", "Outer right eye corner",
    "Nose saddle left", "Nose saddle right", "Left nose peak", "Nose tip", "Right nose peak",
    "Left mouth corner", "Upper lip outer middle", "Right mouth corner",
    "Upper lip inner middle", "Lower lip inner middle", "Lower lip outer middle",
    "Chin middle",
)
"""The 22 Bosphorus landmark labels in file order ("left" = the subject's left)."""

DEFAULT_ZMIN = -1.0e9
"""Background sentinel written by :func:`write_bnt` when ``zmin`` is not given."""

_STEM_RE = re.compile(r"^(bs\d{3})_([A-Z]+)_([A-Z0-9]+)_(\d+)$", re.IGNORECASE)
_HEADER = struct.Struct("<HHd")


def parse_bosphorus_name(stem: str | os.PathLike) -> dict:
    """Parse a Bosphorus file stem such as ``bs000_E_HAPPY_0``.

    Returns
    -------
    dict
        ``subject`` ("bs000"), ``kind`` ("E", "N", "LFAU", "UFAU", "CAU", "YR", "O", ...),
        ``expression`` (canonical name for E, "neutral" for N, else None), ``code``
        ("HAPPY", "N", "12", ...) and ``take`` (the trailing number).

    Raises
    ------
    ScanFormatError
        If the stem does not match ``bsNNN_<KIND>_<CODE>_<n>`` or an ``E`` code is unknown.
    """
    p = os.fspath(stem)
    base = os.path.basename(p)
    for ext in (".bnt", ".png", ".lm2", ".lm3"):
        if base.lower().endswith(ext):
            base = base[: -len(ext)]
    m = _STEM_RE.match(base)
    if not m:
        raise ScanFormatError(p, "not a Bosphorus stem bsNNN_<KIND>_<CODE>_<n> (e.g. bs000_E_HAPPY_0)")
    subject, kind, code, take = m.groups()
    kind, code = kind.upper(), code.upper()
    if kind == "E":
        if code not in BOSPHORUS_CODES:
            raise ScanFormatError(p, f"unknown Bosphorus emotion code {code!r}")
        expression = BOSPHORUS_CODES[code]
    elif kind == "N":
        expression = "neutral"
    else:
        expression = None
    return dict(subject=subject.lower(), kind=kind, expression=expression, code=code, take=int(take))


def bosphorus_stem(subject: str, expression: str, take: int = 0) -> str:
    """Build a Bosphorus stem: ``bosphorus_stem("bs000", "happiness") == "bs000_E_HAPPY_0"``.

    ``expression`` may be a canonical name, a Bosphorus code (``"HAPPY"``) or ``"neutral"``.
    """
    e = expression.lower()
    if e in ("neutral", "n"):
        stem = f"{subject}_N_N_{int(take)}"
    else:
        code = BOSPHORUS_CODE_OF.get(e, expression.upper())
        stem = f"{subject}_E_{code}_{int(take)}"
    parse_bosphorus_name(stem)
    return stem


# --- .bnt ----------------------------------------------------------------------------------
def _parse_bnt_header(p: str, data: bytes) -> tuple[int, int, float, str, int]:
    n = len(data)
    if n < _HEADER.size + 2:
        raise ScanFormatError(p, f"truncated .bnt header ({n} bytes)")
    nrows, ncols, zmin = _HEADER.unpack_from(data, 0)
    (name_len,) = struct.unpack_from("<H", data, _HEADER.size)
    off = _HEADER.size + 2
    if off + name_len + 4 > n:
        raise ScanFormatError(p, f"truncated .bnt header: image name of {name_len} bytes runs past the end")
    name = data[off:off + name_len].decode("latin-1")
    off += name_len
    (n5,) = struct.unpack_from("<I", data, off)
    off += 4
    if nrows == 0 or ncols == 0:
        raise ScanFormatError(p, f"empty grid {nrows}x{ncols}")
    if n5 != 5 * nrows * ncols:
        raise ScanFormatError(p, f"value count {n5} is not 5 x {nrows} x {ncols}")
    # compare with the file size BEFORE allocating anything
    need = off + 8 * n5
    if need != n:
        what = "truncated" if need > n else f"{n - need} trailing bytes"
        raise ScanFormatError(p, f"{what}: header declares {nrows}x{ncols} grid ({need} bytes), file has {n}")
    if not np.isfinite(zmin):
        raise ScanFormatError(p, f"background value zmin is {zmin}")
    return nrows, ncols, float(zmin), name, off


def grid_to_mesh(grid_xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Triangulate a range grid: two triangles per 2x2 cell whose four corners are valid.

    Parameters
    ----------
    grid_xyz
        (H, W, 3), row 0 at the top, NaN where there is no data.

    Returns
    -------
    vertices, faces, index
        Valid cells in row-major order (n, 3); int64 (m, 3) triangles wound so that
        normals face +z when x grows with the column and y with the row going up; and
        the (H, W) int64 map from cell to vertex index (-1 for background).
    """
    g = np.asarray(grid_xyz, dtype=np.float64)
    valid = np.all(np.isfinite(g), axis=2)
    index = np.full(valid.shape, -1, np.int64)
    index[valid] = np.arange(int(valid.sum()))
    a, b = index[:-1, :-1], index[:-1, 1:]  # top-left, top-right
    c, d = index[1:, :-1], index[1:, 1:]  # bottom-left, bottom-right
    ok = (a >= 0) & (b >= 0) & (c >= 0) & (d >= 0)
    t1 = np.stack([a[ok], c[ok], b[ok]], axis=1)
    t2 = np.stack([b[ok], c[ok], d[ok]], axis=1)
    faces = np.stack([t1, t2], axis=1).reshape(-1, 3)
    return g[valid], faces, index


def read_bnt(path: str | os.PathLike, load_texture: bool = True) -> Scan:
    """Read a Bosphorus ``.bnt`` range scan with its ``.png`` texture and ``.lm3`` landmarks.

    Returns
    -------
    Scan
        ``grid`` is (H, W, 3) xyz with row 0 = image top and NaN on background; the mesh
        has one vertex per valid cell (row-major) and per-vertex ``texcoords`` from the
        u, v planes. ``meta.extra`` holds ``grid_uv`` (H, W, 2), ``grid_index`` (H, W),
        ``zmin``, ``image_name``, ``uv_convention`` and, when no texture file was found,
        ``texture_missing``. Landmarks from ``<stem>.lm3`` are expanded to the 22 named
        Bosphorus points (NaN rows for those the file omits) when all labels are known.

    Raises
    ------
    ScanFormatError
        Truncated or oversized header fields (checked against the file size before any
        allocation), NaN/inf in data cells, or a corrupt sibling ``.png``/``.lm3``.
    """
    p = os.fspath(path)
    data = read_bytes(p)
    nrows, ncols, zmin, name, off = _parse_bnt_header(p, data)
    with parsing(p):
        cols = np.frombuffer(data, dtype="<f8", count=5 * nrows * ncols, offset=off).reshape(5, nrows, ncols)
        planes = cols[:, ::-1, :].astype(np.float64)  # stored bottom-up -> row 0 at top
    bg = planes[2] == zmin
    fg = ~bg
    bad = fg & ~np.all(np.isfinite(planes), axis=0)
    if bad.any():
        raise ScanFormatError(p, f"{int(bad.sum())} grid cells hold NaN or infinity")
    if not fg.any():
        raise ScanFormatError(p, "grid holds only background")
    grid = np.moveaxis(planes[:3], 0, -1).copy()
    grid[bg] = np.nan
    uv = np.moveaxis(planes[3:], 0, -1).copy()
    uv[bg] = np.nan
    verts, faces, index = grid_to_mesh(grid)
    meta = ScanMeta(dataset="bosphorus", source_path=p, extra=dict(
        grid_uv=uv, grid_index=index, zmin=zmin, image_name=name, uv_convention="as stored (assumed v=0 at bottom)"))
    scan = Scan(vertices=verts, faces=faces, texcoords=uv[fg], grid=grid, meta=meta)
    scan.validate(p)

    stem, directory = os.path.splitext(os.path.basename(p))[0], os.path.dirname(p)
    try:
        labels = parse_bosphorus_name(stem)
    except ScanFormatError:
        labels = None
    if labels is not None:
        meta.subject, meta.expression = labels["subject"], labels["expression"]
        meta.extra.update(kind=labels["kind"], code=labels["code"], take=labels["take"])
    if name and os.path.splitext(os.path.basename(name))[0].lower() != stem.lower():
        meta.extra["image_name_mismatch"] = True
    if load_texture:
        from ferbench.io.images import read_image

        tex = find_sibling(directory, [name, stem + ".png"])
        if tex is None:
            meta.extra["texture_missing"] = os.path.join(directory, os.path.basename(name or stem + ".png"))
        else:
            scan.texture = read_image(tex)
            meta.extra["texture_path"] = tex
    lm3 = find_sibling(directory, [stem + ".lm3"])
    if lm3 is not None:
        lm, names = read_lm3(lm3)
        scan.landmarks, scan.landmark_names = _expand_landmarks(lm3, lm, names)
        meta.extra["landmark_path"] = lm3
    return scan.validate(p)


def _expand_landmarks(p: str, lm: np.ndarray, names: tuple[str, ...]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Put landmarks in canonical 22-point order with NaN rows for omitted ones (if all names are known)."""
    canon = {n.lower(): i for i, n in enumerate(BOSPHORUS_LANDMARK_NAMES)}
    keys = [n.strip().lower() for n in names]
    if not all(k in canon for k in keys):
        return lm, names
    if len(set(keys)) != len(keys):
        raise ScanFormatError(p, "a landmark label occurs twice")
    full = np.full((len(BOSPHORUS_LANDMARK_NAMES), lm.shape[1]), np.nan)
    full[[canon[k] for k in keys]] = lm
    return full, BOSPHORUS_LANDMARK_NAMES


def write_bnt(path: str | os.PathLike, grid_xyz: np.ndarray, grid_uv: np.ndarray, image_name: str,
              zmin: float | None = None) -> None:
    """Write a ``.bnt`` file, the exact inverse of :func:`read_bnt`.

    Parameters
    ----------
    grid_xyz
        (H, W, 3) coordinates, row 0 = image top, NaN (any component) on background.
    grid_uv
        (H, W, 2) normalised texture coordinates (NaN allowed on background).
    image_name
        The texture file name stored in the header (e.g. ``"bs000_E_HAPPY_0.png"``).
    zmin
        Background value; default :data:`DEFAULT_ZMIN`. Must be below every valid z.
    """
    p = os.fspath(path)
    g = np.asarray(grid_xyz, dtype=np.float64)
    uv = np.asarray(grid_uv, dtype=np.float64)
    if g.ndim != 3 or g.shape[2] != 3 or g.shape[0] == 0 or g.shape[1] == 0:
        raise ScanFormatError(p, f"grid_xyz must be (H, W, 3), got {g.shape}")
    if uv.shape != g.shape[:2] + (2,):
        raise ScanFormatError(p, f"grid_uv must be {g.shape[:2] + (2,)}, got {uv.shape}")
    h, w = g.shape[:2]
    if h > 0xFFFF or w > 0xFFFF or 5 * h * w > 0xFFFFFFFF:
        raise ScanFormatError(p, f"grid {h}x{w} is too large for the .bnt format")
    name = image_name.encode("latin-1")
    if len(name) > 0xFFFF:
        raise ScanFormatError(p, "image name too long")
    valid = np.all(np.isfinite(g), axis=2)
    if not valid.any():
        raise ScanFormatError(p, "grid holds no valid cell")
    if not np.all(np.isfinite(uv[valid])):
        raise ScanFormatError(p, "texture coordinates of valid cells contain NaN or infinity")
    zmin = DEFAULT_ZMIN if zmin is None else float(zmin)
    if not np.isfinite(zmin) or np.any(g[valid][:, 2] <= zmin):
        raise ScanFormatError(p, f"zmin {zmin} must be finite and below every valid z")
    planes = np.concatenate([g, uv], axis=2)
    planes[~valid] = zmin
    stored = np.moveaxis(planes[::-1], -1, 0)  # (5, H, W), rows bottom-up
    with open(p, "wb") as fh:
        fh.write(_HEADER.pack(h, w, zmin))
        fh.write(struct.pack("<H", len(name)) + name)
        fh.write(struct.pack("<I", 5 * h * w))
        fh.write(np.ascontiguousarray(stored, dtype="<f8").tobytes())


# --- .lm3 / .lm2 -------------------------------------------------------------------------------
def _read_lm(path: str | os.PathLike, dim: int) -> tuple[np.ndarray, tuple[str, ...]]:
    p = os.fspath(path)
    lines = [ln.strip() for ln in read_text(p).splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if not lines:
        raise ScanFormatError(p, "no landmark count line")
    head = lines[0].split()
    try:
        count = int(head[0])
    except ValueError:
        raise ScanFormatError(p, f"first line {lines[0][:40]!r} is not a landmark count") from None
    body = lines[1:]
    if count < 0 or 2 * count != len(body):
        raise ScanFormatError(p, f"declares {count} landmarks but holds {len(body)} label/coordinate lines")
    names = tuple(body[0::2])
    rows = [ln.split() for ln in body[1::2]]
    bad = next((i for i, r in enumerate(rows) if len(r) != dim), None)
    if bad is not None:
        raise ScanFormatError(p, f"landmark {names[bad][:40]!r} has {len(rows[bad])} coordinates, expected {dim}")
    with parsing(p):
        lm = to_floats([t for r in rows for t in r], p, "landmark coordinates").reshape(count, dim)
    if np.isinf(lm).any():
        raise ScanFormatError(p, "landmark coordinates contain infinity")
    return lm, names


def _write_lm(path: str | os.PathLike, landmarks: np.ndarray, names, dim: int, title: str) -> None:
    p = os.fspath(path)
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 2 or lm.shape[1] != dim:
        raise ScanFormatError(p, f"landmarks must have shape (k, {dim}), got {lm.shape}")
    names = tuple(names)
    if len(names) != len(lm):
        raise ScanFormatError(p, f"{len(names)} names for {len(lm)} landmarks")
    if any(("\n" in n or "\r" in n or not n.strip() or n.strip().startswith("#")) for n in names):
        raise ScanFormatError(p, "landmark names must be single non-empty lines not starting with '#'")
    keep = ~np.isnan(lm).any(axis=1)  # the format omits missing landmarks
    if np.isinf(lm[keep]).any():
        raise ScanFormatError(p, "landmark coordinates contain infinity")
    kept = [n.strip() for n, k in zip(names, keep) if k]
    coords = fmt_rows(lm[keep], " ".join(["%.6f"] * dim), "\n").splitlines()
    body = "".join(f"{n}\n{c}\n" for n, c in zip(kept, coords))
    with open(p, "w", encoding="latin-1", newline="\n") as fh:
        fh.write(f"# {title}\n# written by ferbench\n\n{len(kept)} landmarks:\n{body}")


def read_lm3(path: str | os.PathLike) -> tuple[np.ndarray, tuple[str, ...]]:
    """Read a Bosphorus ``.lm3`` file: ``#`` comments, a count line, then label / ``x y z`` pairs.

    Returns the (k, 3) landmarks and their k labels in file order (omitted landmarks
    are simply absent; see :func:`read_bnt` for the expanded 22-point form).
    """
    return _read_lm(path, 3)


def write_lm3(path: str | os.PathLike, landmarks: np.ndarray, names) -> None:
    """Write a ``.lm3`` file; rows containing NaN are omitted (as Bosphorus does for occlusions)."""
    _write_lm(path, landmarks, names, 3, "3D landmarks (Bosphorus lm3 layout)")


def read_lm2(path: str | os.PathLike) -> tuple[np.ndarray, tuple[str, ...]]:
    """Read a Bosphorus ``.lm2`` file (same layout as ``.lm3`` with ``x y`` in PNG pixels)."""
    return _read_lm(path, 2)


def write_lm2(path: str | os.PathLike, landmarks: np.ndarray, names) -> None:
    """Write a ``.lm2`` file (2D pixel coordinates); rows containing NaN are omitted."""
    _write_lm(path, landmarks, names, 2, "2D landmarks (Bosphorus lm2 layout)")
