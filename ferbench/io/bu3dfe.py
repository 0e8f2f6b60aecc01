"""BU-3DFE files: VRML 2.0 ``_F3D.wrl`` meshes, ``.bnd`` landmarks, file-name labels.

Layout (see ``docs/data.md`` §6.1): ``<SID>_<EX><LL><RACE>_<KIND>.<ext>``, e.g.
``F0001_AN03WH_F3D.wrl`` with its texture ``F0001_AN03WH_F3D.bmp`` and 83 landmarks in
``F0001_AN03WH_F3D.bnd`` (one ``vertex_index x y z`` line each).

The VRML reader is a tolerant hand parser restricted to what face scanners write:
``IndexedFaceSet`` nodes with ``Coordinate``/``TextureCoordinate``/``Color`` lists,
``coordIndex``/``texCoordIndex`` with ``-1`` terminators, and an ``ImageTexture`` url.
It copes with commas or blanks as separators, arbitrary line wrapping, ``#`` comments,
polygons with more than three corners (fan-triangulated) and several ``IndexedFaceSet``
nodes (merged). ``Transform`` nodes are *not* applied (BU-3DFE has none) and ``USE``
references are refused. Parsing takes time linear in the file size, however hostile the
file (no backtracking regex, no rescan per repeated keyword).

The ``.bnd`` read beside a mesh must name vertices of that mesh (ids in ``[0, n)``, or
``-1`` for unknown); a count other than 83 is kept but warned about.

Texture policy: the ``url`` is reduced to its base name and looked up beside the
``.wrl`` (case-insensitively), then ``<stem>.bmp``; if nothing is found the geometry is
returned with ``meta.extra["texture_missing"]`` set to the path that was expected.
A texture file that exists but is corrupt raises ScanFormatError naming that file.
"""
from __future__ import annotations

import os
import re
import warnings
from typing import Iterator

import numpy as np

from ferbench.errors import ScanFormatError
from ferbench.io._common import (
    find_sibling, fmt_rows, parsing, read_text, to_floats, to_ints, triangulate_terminated,
)
from ferbench.io.scan import Scan, ScanMeta
from ferbench.labels import BU3DFE_CODES, CODE_OF

__all__ = [
    "BU3DFE_LANDMARK_NAMES", "BU3DFE_LANDMARK_GROUPS", "BU3DFE_RACES", "read_wrl", "write_wrl",
    "read_bnd", "write_bnd", "parse_bu3dfe_name", "bu3dfe_filename",
]

BU3DFE_LANDMARK_GROUPS: dict[str, range] = {
    "left_eye": range(0, 8),
    "right_eye": range(8, 16),
    "left_eyebrow": range(16, 26),
    "right_eyebrow": range(26, 36),
    "nose": range(36, 48),
    "mouth": range(48, 68),
    "chin": range(68, 83),
}
"""Index ranges of the 83 BU-3DFE landmarks (menpo3d's grouping; "left" = the subject's left)."""

BU3DFE_LANDMARK_NAMES: tuple[str, ...] = tuple(
    f"{group}_{i:02d}" for group, rng in BU3DFE_LANDMARK_GROUPS.items() for i in range(len(rng))
)
"""83 names ``left_eye_00 ... chin_14`` in file order."""

BU3DFE_RACES: tuple[str, ...] = ("WH", "BL", "AE", "AM", "IN", "LA")

_NAME_RE = re.compile(r"^([FM]\d{4})_([A-Z]{2})(\d{2})([A-Z]{2})_([A-Z0-9]+)(?:\.[A-Z0-9]+)?$", re.IGNORECASE)

# --- VRML tokenising -------------------------------------------------------------------
# Keyword search uses str.find (C speed); regexes over a multi-megabyte file are ~10x slower.
# Every scan below moves forward from a keyword's own position and stops at the first blank
# gap or bracket, so the regions scanned for different keywords never overlap and parsing
# stays linear in the file size however often a keyword repeats (issue 13, item 4).
_STRING_BODY = re.compile(r'(?:[^"\\\n]+|\\.)*')  # anchored .match, nothing after: never backtracks
_BLANKS = re.compile(r"\s*")
_BRACKET_CHAR = re.compile(r"[\[\]{}]")
_BRACE_CHAR = re.compile(r"[{}]")


def _is_word(c: str) -> bool:
    return c.isalnum() or c == "_"


def _kw(text: str, word: str, start: int = 0, end: int | None = None) -> Iterator[int]:
    """Positions of ``word`` as a whole word in ``text[start:end]``."""
    end = len(text) if end is None else end
    i = text.find(word, start, end)
    while i >= 0:
        j = i + len(word)
        if (i == 0 or not _is_word(text[i - 1])) and (j >= len(text) or not _is_word(text[j])):
            yield i
        i = text.find(word, j, end)


class _Unterminated(Exception):
    pass


def _skip_blanks(text: str, pos: int) -> int:
    """First position at or after ``pos`` that is not white space (cost: the blanks skipped)."""
    return _BLANKS.match(text, pos).end()


def _bracket_after(text: str, pos: int) -> str | None:
    """Body of the ``[...]`` list that follows ``pos`` (only blanks between), else None."""
    b = _skip_blanks(text, pos)
    if b >= len(text) or text[b] != "[":
        return None
    e = text.find("]", b + 1)  # str.find: a point list can be megabytes long
    # a list never nests: '[', '{' or '}' before the ']' means truncation
    if e < 0 or any(text.find(c, b + 1, e) >= 0 for c in "[{}"):
        raise _Unterminated
    return text[b + 1:e]


def _field_list(seg: str, field: str) -> str | None:
    """Body of ``field [ ... ]`` in an IndexedFaceSet segment (e.g. coordIndex)."""
    for i in _kw(seg, field):
        body = _bracket_after(seg, i + len(field))
        if body is not None:
            return body
    return None


def _node_list(seg: str, node: str, field: str) -> str | None:
    """Body of ``node { ... field [ ... ] }`` (e.g. Coordinate { point [...] }).

    The field must come before any other bracket inside the node's braces, so only the
    text between the ``{`` and the next bracket character is searched for it.
    """
    for i in _kw(seg, node):
        k = _skip_blanks(seg, i + len(node))
        if k >= len(seg) or seg[k] != "{":
            continue
        m = _BRACKET_CHAR.search(seg, k + 1)
        if m is None:
            raise _Unterminated
        q = m.start()
        if seg[q] != "[":
            continue  # '{ }' or a nested node: no list at this level
        head = seg[k + 1:q].rstrip()
        if head.endswith(field) and (len(head) == len(field) or not _is_word(head[-len(field) - 1])):
            return _bracket_after(seg, q)
    return None


def _strip_comments(raw: str) -> str:
    """Replace ``#`` comments by a blank, keeping quoted strings (a url may hold ``#``).

    Same result as ``re.sub(r'("(?:[^"\\\\\\n]|\\\\.)*")|#[^\\n]*', group 1 or " ")``, in linear
    time: that regex retried every escaped quote of an unclosed string, so a line of
    100k ``\\"`` took minutes. A string that does not close on its line leaves its quote
    as plain text; every quote up to where it failed fails at the same place (their
    scans are in step after the escape), so only a ``#`` there can start something.
    """
    out: list[str] = []
    i, n = 0, len(raw)
    hash_at = quote_at = -1  # next '#' / '"' at or after i (str.find, cached until passed)
    while True:
        if hash_at < i:
            hash_at = raw.find("#", i)
            hash_at = n if hash_at < 0 else hash_at
        if quote_at < i:
            quote_at = raw.find('"', i)
            quote_at = n if quote_at < 0 else quote_at
        j = min(hash_at, quote_at)
        if j >= n:
            out.append(raw[i:])
            return "".join(out)
        if raw[j] == "#":
            out.append(raw[i:j])
            out.append(" ")
            e = raw.find("\n", j)
            i = n if e < 0 else e
            continue
        # the body stops at the closing quote, a newline, a backslash before a newline, or the end
        e = _STRING_BODY.match(raw, j + 1).end()
        if e < n and raw[e] == '"':
            out.append(raw[i:e + 1])
            i = e + 1
            continue
        h = raw.find("#", j + 1, e)
        if h < 0:
            out.append(raw[i:e])
            i = e
        else:
            out.append(raw[i:h])
            out.append(" ")
            nl = raw.find("\n", h)
            i = n if nl < 0 else nl


def _find_url(text: str) -> str | None:
    """The first ``ImageTexture { ... url [ "name" ] ... }`` file name, or None.

    Each ImageTexture's body runs from its ``{`` to the next brace; distinct nodes have
    disjoint bodies, so the whole search is linear (the regex it replaces backtracked
    quadratically over long blank runs).
    """
    for i in _kw(text, "ImageTexture"):
        k = _skip_blanks(text, i + len("ImageTexture"))
        if k >= len(text) or text[k] != "{":
            continue
        m = _BRACE_CHAR.search(text, k + 1)
        end = len(text) if m is None else m.start()
        for u in _kw(text, "url", k + 1, end):
            j = _skip_blanks(text, u + 3)
            if j < end and text[j] == "[":
                j = _skip_blanks(text, j + 1)
            if j < end and text[j] == '"':
                close = text.find('"', j + 1)
                if close >= 0:
                    return text[j + 1:close]
    return None


def parse_bu3dfe_name(filename: str | os.PathLike) -> dict:
    """Parse a BU-3DFE file name into its labels.

    Parameters
    ----------
    filename
        A file name or path such as ``F0001_AN01WH_F3D.wrl`` (case-insensitive).

    Returns
    -------
    dict
        ``subject`` ("F0001"), ``expression`` (canonical name, "neutral" for NE),
        ``intensity`` (0 for neutral, 1-4 otherwise), ``race`` ("WH") and ``kind`` ("F3D").

    Raises
    ------
    ScanFormatError
        If the name does not follow the BU-3DFE pattern, the code is unknown or the
        level does not fit the expression (NE needs 00, the others 01-04).
    """
    p = os.fspath(filename)
    base = os.path.basename(p)
    m = _NAME_RE.match(base)
    if not m:
        raise ScanFormatError(p, "not a BU-3DFE name <SID>_<EX><LL><RACE>_<KIND> (e.g. F0001_AN01WH_F3D.wrl)")
    subject, code, level, race, kind = m.groups()
    code, level_i = code.upper(), int(level)
    if code not in BU3DFE_CODES:
        raise ScanFormatError(p, f"unknown BU-3DFE expression code {code!r}")
    expression = BU3DFE_CODES[code]
    if (expression == "neutral") != (level_i == 0) or level_i > 4:
        raise ScanFormatError(p, f"level {level} does not fit expression {code} (NE00, or 01-04 for the others)")
    return dict(subject=subject.upper(), expression=expression, intensity=level_i, race=race.upper(),
                kind=kind.upper())


def bu3dfe_filename(subject: str, expression: str, intensity: int, race: str = "WH", kind: str = "F3D",
                    ext: str = "wrl") -> str:
    """Build a BU-3DFE file name, the inverse of :func:`parse_bu3dfe_name`.

    >>> bu3dfe_filename("F0001", "anger", 3)
    'F0001_AN03WH_F3D.wrl'
    """
    code = CODE_OF.get(expression.lower(), expression.upper())
    name = f"{subject}_{code}{int(intensity):02d}{race}_{kind}" + (f".{ext.lstrip('.')}" if ext else "")
    parse_bu3dfe_name(name)  # refuse what the reader would refuse
    return name


# --- .bnd landmarks ----------------------------------------------------------------------
def read_bnd(path: str | os.PathLike, n_vertices: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read a BU-3DFE ``.bnd`` landmark file.

    Parameters
    ----------
    path
        The ``.bnd`` file.
    n_vertices
        Vertex count of the mesh the landmarks belong to; when given, every vertex id
        must lie in ``[0, n_vertices)`` (or be ``-1``, ferbench's "unknown").

    Returns
    -------
    landmarks, vertex_ids
        float64 (k, 3) coordinates (83 rows in a real file; NaN allowed) and int64 (k,)
        vertex indices into the F3D mesh (-1 = unknown).

    Raises
    ------
    ScanFormatError
        Lines without exactly four numbers, non-integer vertex ids, ids below -1 or (with
        ``n_vertices``) past the mesh, infinities, no rows.
    """
    p = os.fspath(path)
    text = read_text(p)
    rows = [ln.split() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not rows:
        raise ScanFormatError(p, "no landmark lines")
    bad = next((i for i, r in enumerate(rows) if len(r) != 4), None)
    if bad is not None:
        raise ScanFormatError(p, f"landmark line {bad + 1} has {len(rows[bad])} fields, expected 'vertex_index x y z'")
    with parsing(p):
        vals = to_floats([t for r in rows for t in r], p, "landmark values").reshape(-1, 4)
    ids = vals[:, 0]
    if not np.all(np.isfinite(ids)) or np.any(ids != np.round(ids)) or np.any(np.abs(ids) > 2**40):
        raise ScanFormatError(p, "vertex index column holds non-integer values")
    lm = vals[:, 1:]
    if np.isinf(lm).any():
        raise ScanFormatError(p, "landmark coordinates contain infinity")
    ids = ids.astype(np.int64)
    if ids.min() < -1:
        i = int(np.argmin(ids))
        raise ScanFormatError(p, f"landmark line {i + 1} has negative vertex id {ids[i]} (-1 means unknown)")
    if n_vertices is not None and ids.max() >= n_vertices:
        i = int(np.argmax(ids))
        raise ScanFormatError(p, f"landmark line {i + 1} names vertex {ids[i]}, the mesh has {n_vertices} vertices")
    return np.ascontiguousarray(lm), ids


def write_bnd(path: str | os.PathLike, landmarks: np.ndarray, vertex_ids: np.ndarray | None = None) -> None:
    """Write landmarks as ``vertex_index x y z`` lines (vertex_index -1 when unknown)."""
    p = os.fspath(path)
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 2 or lm.shape[1] != 3 or len(lm) == 0:
        raise ScanFormatError(p, f"landmarks must have shape (k, 3), got {lm.shape}")
    if np.isinf(lm).any():
        raise ScanFormatError(p, "landmark coordinates contain infinity")
    ids = np.full(len(lm), -1, np.int64) if vertex_ids is None else np.asarray(vertex_ids, dtype=np.int64)
    if ids.shape != (len(lm),):
        raise ScanFormatError(p, f"{ids.shape} vertex ids for {len(lm)} landmarks")
    with open(p, "w", encoding="ascii", newline="\n") as fh:
        fh.write("".join(f"{i} {x:.6f} {y:.6f} {z:.6f}\n" for i, (x, y, z) in zip(ids.tolist(), lm.tolist())))


# --- VRML ---------------------------------------------------------------------------------
def _numbers(body: str) -> list[str]:
    return body.replace(",", " ").split()


def _check_balanced(p: str, text: str) -> None:
    if text.count("{") != text.count("}") or text.count("[") != text.count("]"):
        raise ScanFormatError(p, "unbalanced brackets or braces (truncated file?)")


def _parse_ifs(p: str, seg: str, k: int) -> dict:
    """Parse one IndexedFaceSet segment into arrays (not yet validated)."""
    where = f"IndexedFaceSet {k}"
    if any(seg[i:i + 20].split()[1:2] == ["USE"] for i in _kw(seg, "coord")):
        raise ScanFormatError(p, f"{where}: 'coord USE' references are not supported")
    try:
        coords = _node_list(seg, "Coordinate", "point")
        cindex = _field_list(seg, "coordIndex")
        tcoords = _node_list(seg, "TextureCoordinate", "point")
        tindex = _field_list(seg, "texCoordIndex")
        colors = _node_list(seg, "Color", "color")
    except _Unterminated:
        raise ScanFormatError(p, f"{where}: unterminated list (truncated file?)") from None
    if coords is None:
        raise ScanFormatError(p, f"{where}: no 'Coordinate {{ point [...] }}' list")
    tok = _numbers(coords)
    if len(tok) % 3:
        raise ScanFormatError(p, f"{where}: {len(tok)} coordinate values is not a multiple of 3")
    v = to_floats(tok, p, f"{where} coordinates").reshape(-1, 3)
    out: dict = {"v": v, "f": np.zeros((0, 3), np.int64), "tc": None, "tf": None, "col": None, "degenerate": 0}
    flat = pos = None
    if cindex is not None:
        idx = to_ints(_numbers(cindex), p, f"{where} coordIndex")
        flat, pos, out["degenerate"] = triangulate_terminated(idx)
        out["f"] = flat[pos]
    if tcoords is not None:
        tok = _numbers(tcoords)
        if len(tok) % 2:
            raise ScanFormatError(p, f"{where}: {len(tok)} texture-coordinate values is not a multiple of 2")
        tc = to_floats(tok, p, f"{where} texture coordinates").reshape(-1, 2)
        if tindex is not None and flat is not None:
            tidx = to_ints(_numbers(tindex), p, f"{where} texCoordIndex")
            tflat, tpos, _ = triangulate_terminated(tidx)
            if len(tflat) != len(flat) or not np.array_equal(tpos, pos):
                raise ScanFormatError(p, f"{where}: texCoordIndex polygons do not match coordIndex polygons")
            out["tc"], out["tf"] = tc, tflat[tpos]
        elif len(tc) == len(v):
            out["tc"] = tc  # per-vertex
        else:  # VRML: an empty texCoordIndex means coordIndex indexes the texture coordinates
            out["tc"], out["tf"] = tc, out["f"].copy()
    per_vertex = not any(seg[i:i + 40].split()[1:2] == ["FALSE"] for i in _kw(seg, "colorPerVertex"))
    if colors is not None and per_vertex and next(_kw(seg, "colorIndex"), None) is None:
        tok = _numbers(colors)
        if len(tok) == 3 * len(v):
            c = to_floats(tok, p, f"{where} colours").reshape(-1, 3)
            if not np.all(np.isfinite(c)):
                raise ScanFormatError(p, f"{where}: colours contain NaN or infinity")
            out["col"] = np.rint(np.clip(c, 0.0, 1.0) * 255.0).astype(np.uint8)
    return out


def _merge(parts: list[dict]) -> dict:
    if len(parts) == 1:
        return parts[0]
    vs, fs, tcs, tfs, cols = [], [], [], [], []
    nv = nt = 0
    with_tc = all(q["tc"] is not None for q in parts)
    with_col = all(q["col"] is not None for q in parts)
    for q in parts:
        vs.append(q["v"])
        fs.append(q["f"] + nv)
        if with_tc:
            tf = q["f"] if q["tf"] is None else q["tf"]  # per-vertex -> per-corner
            tcs.append(q["tc"])
            tfs.append(tf + nt)
            nt += len(q["tc"])
        if with_col:
            cols.append(q["col"])
        nv += len(q["v"])
    return {"v": np.concatenate(vs), "f": np.concatenate(fs), "tc": np.concatenate(tcs) if with_tc else None,
            "tf": np.concatenate(tfs) if with_tc else None, "col": np.concatenate(cols) if with_col else None,
            "degenerate": sum(q["degenerate"] for q in parts)}


def read_wrl(path: str | os.PathLike, load_texture: bool = True) -> Scan:
    """Read a VRML 2.0 mesh (BU-3DFE ``_F3D.wrl``) with its texture, landmarks and labels.

    Parameters
    ----------
    path
        The ``.wrl`` file. Labels come from the file name when it follows the BU-3DFE
        pattern (else they stay ``None``); ``<stem>.bnd`` beside it is read as landmarks.
    load_texture
        Read the ``ImageTexture`` (or ``<stem>.bmp``) image; False skips it.

    Returns
    -------
    Scan
        ``meta.dataset == "bu3dfe"``; ``meta.extra`` holds ``race``, ``kind``,
        ``landmark_vertex_ids`` (from the .bnd), ``texture_url`` and, when no texture
        file was found, ``texture_missing`` (the path looked for).

    Raises
    ------
    ScanFormatError
        Missing header, unbalanced brackets (truncation), non-numeric tokens, counts that
        do not divide, indices out of range, NaN/inf coordinates; or a corrupt sibling
        ``.bnd``/texture file (the message then names that file), including a ``.bnd``
        whose vertex ids fall outside the mesh.

    Warns
    -----
    UserWarning
        When the ``.bnd`` holds a number of landmarks other than 83 (they are kept,
        with empty ``landmark_names``).
    """
    p = os.fspath(path)
    raw = read_text(p)
    head = raw.lstrip("\ufeff\r\n\t ")[:16]
    if not head.startswith("#VRML"):
        raise ScanFormatError(p, "not a VRML file (missing '#VRML V2.0' header)")
    if not head.startswith("#VRML V2.0"):
        raise ScanFormatError(p, f"unsupported VRML version {head.split(chr(10))[0]!r}; only V2.0 is read")
    with parsing(p):
        # drop comments but keep quoted strings (a url may contain '#'); skip the slow
        # regex pass when the only '#' is the header line
        nl = raw.find("\n")
        text = _strip_comments(raw) if "#" in raw[max(nl, 0):] or nl < 0 \
            else raw[nl:]
        _check_balanced(p, re.sub(r'"[^"]*"', " ", text) if '"' in text else text)
        starts = list(_kw(text, "IndexedFaceSet"))
        if not starts:
            raise ScanFormatError(p, "no IndexedFaceSet node")
        bounds = starts[1:] + [len(text)]
        parts = [_parse_ifs(p, text[a:b], k) for k, (a, b) in enumerate(zip(starts, bounds))]
        g = _merge(parts)
        url = _find_url(text)
    scan = Scan(vertices=g["v"], faces=g["f"], texcoords=g["tc"], texcoord_faces=g["tf"], vertex_colors=g["col"],
                meta=ScanMeta(dataset="bu3dfe", source_path=p))
    if g["degenerate"]:
        scan.meta.extra["degenerate_polygons"] = g["degenerate"]
    if len(parts) > 1:
        scan.meta.extra["n_shapes"] = len(parts)
    scan.validate(p)

    stem, directory = os.path.splitext(os.path.basename(p))[0], os.path.dirname(p)
    try:
        labels = parse_bu3dfe_name(p)
    except ScanFormatError:
        labels = None
    if labels is not None:
        scan.meta.subject, scan.meta.expression = labels["subject"], labels["expression"]
        scan.meta.intensity = labels["intensity"]
        scan.meta.extra.update(race=labels["race"], kind=labels["kind"])

    if url:
        scan.meta.extra["texture_url"] = url
    if load_texture:
        from ferbench.io.images import read_image

        tex_path = find_sibling(directory, [url or "", stem + ".bmp"])
        if tex_path is None:
            scan.meta.extra["texture_missing"] = os.path.join(directory, os.path.basename(url or stem + ".bmp"))
        else:
            scan.texture = read_image(tex_path)
            scan.meta.extra["texture_path"] = tex_path

    bnd = find_sibling(directory, [stem + ".bnd"])
    if bnd is not None:
        lm, ids = read_bnd(bnd, n_vertices=scan.n_vertices)
        if len(lm) != len(BU3DFE_LANDMARK_NAMES):  # spec §6.1: 83 per scan; keep them, but unnamed
            warnings.warn(f"{bnd}: {len(lm)} landmarks, the BU-3DFE layout has {len(BU3DFE_LANDMARK_NAMES)}; "
                          "read without landmark names", UserWarning, stacklevel=2)
        scan.landmarks = lm
        scan.landmark_names = BU3DFE_LANDMARK_NAMES if len(lm) == len(BU3DFE_LANDMARK_NAMES) else ()
        scan.meta.extra["landmark_vertex_ids"] = ids
        scan.meta.extra["landmark_path"] = bnd
    return scan.validate(p)


def write_wrl(scan: Scan, path: str | os.PathLike, write_texture: bool = True) -> None:
    """Write a scan as a BU-3DFE-style VRML 2.0 ``IndexedFaceSet``.

    Coordinates are written with ``%.6f`` (micrometre precision in mm), texture
    coordinates with ``%.7f``. The ``ImageTexture`` url is ``<stem>.bmp``; that file is
    written when ``scan.texture`` is set and ``write_texture`` is true. Landmarks are not
    written here (see :func:`write_bnd` / :func:`ferbench.io.write_scan`).
    """
    p = os.fspath(path)
    scan.validate(p)
    stem = os.path.splitext(os.path.basename(p))[0]
    out = ["#VRML V2.0 utf8\n\n# written by ferbench (BU-3DFE F3D layout)\n"]
    out.append("Transform {\n children [\n  Shape {\n")
    if scan.texture is not None or scan.texcoords is not None:
        out.append(f'   appearance Appearance {{\n    texture ImageTexture {{\n     url "{stem}.bmp"\n    }}\n   }}\n')
    out.append("   geometry IndexedFaceSet {\n    ccw TRUE\n    solid FALSE\n")
    if scan.vertex_colors is not None:
        out.append("    colorPerVertex TRUE\n")
    out.append("    coord Coordinate {\n     point [\n")
    out.append(fmt_rows(scan.vertices, "      %.6f %.6f %.6f", ",\n"))
    out.append("     ]\n    }\n")
    if scan.texcoords is not None:
        out.append("    texCoord TextureCoordinate {\n     point [\n")
        out.append(fmt_rows(scan.texcoords, "      %.7f %.7f", ",\n"))
        out.append("     ]\n    }\n")
    if scan.vertex_colors is not None:
        out.append("    color Color {\n     color [\n")
        out.append(fmt_rows(scan.vertex_colors.astype(np.float64) / 255.0, "      %.6f %.6f %.6f", ",\n"))
        out.append("     ]\n    }\n")
    out.append("    coordIndex [\n")
    out.append(fmt_rows(scan.faces, "      %d, %d, %d, -1", ",\n"))
    out.append("    ]\n")
    if scan.texcoords is not None and scan.texcoord_faces is not None:
        out.append("    texCoordIndex [\n")
        out.append(fmt_rows(scan.texcoord_faces, "      %d, %d, %d, -1", ",\n"))
        out.append("    ]\n")
    out.append("   }\n  }\n ]\n}\n")
    with open(p, "w", encoding="ascii", newline="\n") as fh:
        fh.write("".join(out))
    if write_texture and scan.texture is not None:
        from ferbench.io.images import write_image

        write_image(os.path.join(os.path.dirname(p), stem + ".bmp"), scan.texture)
