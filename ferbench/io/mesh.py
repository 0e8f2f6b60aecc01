"""Generic meshes: Wavefront ``.obj`` (+ ``.mtl`` + texture) and Stanford ``.ply``.

OBJ: ``v`` (optionally ``x y z r g b``), ``vt``, and ``f`` with ``v``, ``v/vt``,
``v/vt/vn`` or ``v//vn`` corners, 1-based or negative (relative) indices, polygons
fan-triangulated. The texture is the ``map_Kd`` of the first material in the first
``mtllib`` (base name only, looked up beside the ``.mtl``). When every face uses the
same index for position and texture coordinate and the counts agree, texcoords are
returned per vertex (``texcoord_faces is None``).

PLY: ``ascii``, ``binary_little_endian`` and ``binary_big_endian``; ``vertex`` with
``x y z``, optional ``red green blue`` and ``s t``/``u v``/``texture_u texture_v``;
``face`` with a ``vertex_indices`` (or ``vertex_index``) list; other elements and
properties are skipped. A texture named by a ``comment TextureFile <name>`` header line
(MeshLab's convention) is read. Element counts are checked against the file size
before anything is allocated, and data left over after the declared elements is refused
(a header that under-counts faces must not give a silently truncated mesh).

Missing texture files are not errors: ``meta.extra["texture_missing"]`` records the path.
"""
from __future__ import annotations

import os
import struct

import numpy as np

from ferbench.errors import ScanFormatError
from ferbench.io._common import (
    fan_triangulate, find_sibling, fmt_rows, parsing, read_bytes, read_text, to_floats, to_ints,
)
from ferbench.io.scan import Scan, ScanMeta

__all__ = ["read_obj", "write_obj", "read_ply", "write_ply"]


# --- OBJ ------------------------------------------------------------------------------------
def _resolve_obj_index(idx: np.ndarray, n_before: np.ndarray, p: str, what: str) -> np.ndarray:
    """1-based / negative OBJ indices -> 0-based (negative ones count back from the last defined)."""
    if np.any(idx == 0):
        raise ScanFormatError(p, f"{what} index 0 (OBJ indices start at 1)")
    return np.where(idx > 0, idx - 1, n_before + idx)


_CORNER_CHUNK = 1 << 20


def _corner_fields(corners: list[str]) -> tuple[list[str], list[str]]:
    """First and second ``/``-separated fields of OBJ face corners (``v``, ``v/vt``, ``v/vt/vn``, ``v//vn``).

    Vectorised over the bytes of the joined corners (a per-corner ``split("/")`` took
    5 s for one 3M-corner face): bytes of the wanted field are kept, all others blanked,
    and one ``str.split`` yields the tokens. Each corner gives at most one token per
    field, so a count below ``len(corners)`` means some corners lack that field.
    """
    if "/" not in "".join(corners):
        return corners, []
    first: list[str] = []
    second: list[str] = []
    for a in range(0, len(corners), _CORNER_CHUNK):  # bounded temporaries (~20 bytes per byte)
        b = np.frombuffer(" ".join(corners[a:a + _CORNER_CHUNK]).encode("latin-1"), np.uint8)
        blank, slash = b == 32, b == 47
        n_slash = np.cumsum(slash, dtype=np.int32)
        # slashes before the byte within its corner: subtract the count at the last blank
        field = n_slash - np.maximum.accumulate(np.where(blank, n_slash, 0))
        text = ~(blank | slash)
        for k, out in ((0, first), (1, second)):
            out.extend(np.where(text & (field == k), b, 32).astype(np.uint8).tobytes().decode("latin-1").split())
    return first, second


def _read_mtl_texture(mtl_path: str) -> str | None:
    text = read_text(mtl_path)
    for line in text.splitlines():
        tok = line.split()
        if len(tok) >= 2 and tok[0] == "map_Kd":
            return tok[-1]  # options such as "-s 1 1 1" come before the file name
    return None


def read_obj(path: str | os.PathLike, load_texture: bool = True) -> Scan:
    """Read a Wavefront OBJ mesh (see module docstring for the subset supported).

    Raises
    ------
    ScanFormatError
        Non-numeric tokens, wrong component counts, index 0, indices out of range,
        faces mixing corners with and without texture coordinates, NaN/inf coordinates.
    """
    p = os.fspath(path)
    text = read_text(p)
    v_rows: list[list[str]] = []
    vt_rows: list[list[str]] = []
    f_toks: list[str] = []
    f_counts: list[int] = []
    f_nv: list[int] = []  # vertices defined before each face line (for negative indices)
    f_nvt: list[int] = []
    mtllib = None
    for line in text.splitlines():
        tok = line.split()
        if not tok:
            continue
        key = tok[0]
        if key == "v":
            v_rows.append(tok[1:])
        elif key == "vt":
            vt_rows.append(tok[1:])
        elif key == "f":
            f_toks.extend(tok[1:])
            f_counts.append(len(tok) - 1)
            f_nv.append(len(v_rows))
            f_nvt.append(len(vt_rows))
        elif key == "mtllib" and mtllib is None and len(tok) > 1:
            mtllib = line.split(None, 1)[1].strip()
    if not v_rows:
        raise ScanFormatError(p, "no vertices ('v' lines)")
    with parsing(p):
        lens = {len(r) for r in v_rows}
        colors = None
        if lens == {3} or lens == {4}:
            v = to_floats([t for r in v_rows for t in r], p, "vertex").reshape(len(v_rows), -1)[:, :3]
        elif lens == {6} or lens == {7}:
            a = to_floats([t for r in v_rows for t in r], p, "vertex").reshape(len(v_rows), -1)
            v, c = a[:, :3], a[:, -3:]
            if not np.all(np.isfinite(c)):
                raise ScanFormatError(p, "vertex colours contain NaN or infinity")
            scale = 255.0 if c.max(initial=0) <= 1.0 else 1.0
            colors = np.rint(np.clip(c, 0.0, 255.0 / scale) * scale).astype(np.uint8)
        else:
            if min(lens) < 3:
                raise ScanFormatError(p, "a 'v' line has fewer than 3 coordinates")
            v = to_floats([t for r in v_rows for t in r[:3]], p, "vertex").reshape(-1, 3)
        tc = None
        if vt_rows:
            if min(len(r) for r in vt_rows) < 2:
                raise ScanFormatError(p, "a 'vt' line has fewer than 2 coordinates")
            tc = to_floats([t for r in vt_rows for t in r[:2]], p, "texture coordinate").reshape(-1, 2)
        faces = np.zeros((0, 3), np.int64)
        tfaces = None
        n_degenerate = 0
        if f_toks:
            v_tok, t_tok = _corner_fields(f_toks)
            if len(v_tok) != len(f_toks):
                raise ScanFormatError(p, "a face corner has no vertex index")
            if t_tok and len(t_tok) != len(f_toks):
                raise ScanFormatError(p, "some face corners have texture coordinates and others do not")
            vi = to_ints(v_tok, p, "face vertex index")
            counts = np.asarray(f_counts, np.int64)
            corner_line = np.repeat(np.arange(len(counts)), counts)
            vi = _resolve_obj_index(vi, np.asarray(f_nv, np.int64)[corner_line], p, "vertex")
            pos = fan_triangulate(counts)
            n_degenerate = int(np.count_nonzero(counts < 3))
            faces = vi[pos]
            if t_tok:
                ti = to_ints(t_tok, p, "face texture index")
                ti = _resolve_obj_index(ti, np.asarray(f_nvt, np.int64)[corner_line], p, "texture")
                tfaces = ti[pos]
    if tc is not None and tfaces is None:
        tc = tc if len(tc) == len(v) else None  # vt without face references: per vertex if counts agree
    elif tc is not None and len(tc) == len(v) and np.array_equal(tfaces, faces):
        tfaces = None  # one texcoord per vertex: store per vertex
    meta = ScanMeta(dataset="obj", source_path=p)
    if n_degenerate:
        meta.extra["degenerate_polygons"] = n_degenerate
    scan = Scan(vertices=v, faces=faces, texcoords=tc, texcoord_faces=tfaces, vertex_colors=colors, meta=meta)
    scan.validate(p)
    if load_texture and mtllib:
        directory = os.path.dirname(p)
        mtl = find_sibling(directory, [mtllib])
        if mtl is None:
            meta.extra["texture_missing"] = os.path.join(directory, os.path.basename(mtllib))
        else:
            tex_name = _read_mtl_texture(mtl)
            if tex_name:
                _attach_texture(scan, os.path.dirname(mtl), tex_name)
    return scan.validate(p)


def _attach_texture(scan: Scan, directory: str, name: str) -> None:
    from ferbench.io.images import read_image

    tex = find_sibling(directory, [name])
    if tex is None:
        scan.meta.extra["texture_missing"] = os.path.join(directory, os.path.basename(name.replace("\\", "/")))
    else:
        scan.texture = read_image(tex)
        scan.meta.extra["texture_path"] = tex


def write_obj(scan: Scan, path: str | os.PathLike) -> None:
    """Write a scan as OBJ; with a texture also ``<stem>.mtl`` (``map_Kd <stem>.png``) and ``<stem>.png``.

    Coordinates use ``%.6f``, texture coordinates ``%.7f``; vertex colours are written
    as the common ``v x y z r g b`` extension (0-1 floats).
    """
    p = os.fspath(path)
    scan.validate(p)
    directory, stem = os.path.dirname(p), os.path.splitext(os.path.basename(p))[0]
    out = ["# written by ferbench\n"]
    if scan.texture is not None:
        out.append(f"mtllib {stem}.mtl\n")
    if scan.vertex_colors is not None:
        a = np.concatenate([scan.vertices, scan.vertex_colors.astype(np.float64) / 255.0], axis=1)
        out.append(fmt_rows(a, "v %.6f %.6f %.6f %.6f %.6f %.6f"))
    else:
        out.append(fmt_rows(scan.vertices, "v %.6f %.6f %.6f"))
    if scan.texcoords is not None:
        out.append(fmt_rows(scan.texcoords, "vt %.7f %.7f"))
    if scan.texture is not None:
        out.append("usemtl face\n")
    f1 = scan.faces + 1
    if scan.texcoords is None:
        out.append(fmt_rows(f1, "f %d %d %d"))
    else:
        t1 = f1 if scan.texcoord_faces is None else scan.texcoord_faces + 1
        out.append(fmt_rows(np.stack([f1, t1], axis=2).reshape(-1, 6), "f %d/%d %d/%d %d/%d"))
    with open(p, "w", encoding="ascii", newline="\n") as fh:
        fh.write("".join(out))
    if scan.texture is not None:
        from ferbench.io.images import write_image

        with open(os.path.join(directory, stem + ".mtl"), "w", encoding="ascii", newline="\n") as fh:
            fh.write(f"# written by ferbench\nnewmtl face\nKa 1 1 1\nKd 1 1 1\nmap_Kd {stem}.png\n")
        write_image(os.path.join(directory, stem + ".png"), scan.texture)


# --- PLY --------------------------------------------------------------------------------------
_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
    "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}
_MAX_HEADER = 65536
_UV_NAMES = (("s", "t"), ("u", "v"), ("texture_u", "texture_v"), ("texture_s", "texture_t"))


def _parse_ply_header(p: str, data: bytes):
    if not data.startswith(b"ply"):
        raise ScanFormatError(p, "not a PLY file (missing 'ply' magic)")
    end = data.find(b"end_header", 0, _MAX_HEADER)
    if end < 0:
        raise ScanFormatError(p, "no 'end_header' within the first 64 KiB")
    nl = data.find(b"\n", end)
    body_start = len(data) if nl < 0 else nl + 1
    lines = data[:end].decode("latin-1").splitlines()[1:]
    fmt = None
    elements: list[dict] = []
    comments: list[str] = []
    for ln in lines:
        tok = ln.split()
        if not tok:
            continue
        if tok[0] == "format":
            if len(tok) < 2 or tok[1] not in ("ascii", "binary_little_endian", "binary_big_endian"):
                raise ScanFormatError(p, f"unsupported PLY format line {ln.strip()[:40]!r}")
            fmt = tok[1]
        elif tok[0] in ("comment", "obj_info"):
            comments.append(ln.strip())
        elif tok[0] == "element":
            if len(tok) != 3:
                raise ScanFormatError(p, f"bad element line {ln.strip()[:40]!r}")
            try:
                count = int(tok[2])
            except ValueError:
                raise ScanFormatError(p, f"element {tok[1][:20]!r} count {tok[2][:20]!r} is not an integer") from None
            if count < 0:
                raise ScanFormatError(p, f"element {tok[1][:20]!r} has negative count {count}")
            elements.append({"name": tok[1], "count": count, "props": []})
        elif tok[0] == "property":
            if not elements:
                raise ScanFormatError(p, "property before any element")
            if len(tok) == 5 and tok[1] == "list":
                if tok[2] not in _PLY_TYPES or tok[3] not in _PLY_TYPES:
                    raise ScanFormatError(p, f"unknown list type in {ln.strip()[:40]!r}")
                if _PLY_TYPES[tok[2]][0] == "f":
                    raise ScanFormatError(p, "list count type must be an integer")
                elements[-1]["props"].append((tok[4], _PLY_TYPES[tok[2]], _PLY_TYPES[tok[3]]))
            elif len(tok) == 3 and tok[1] in _PLY_TYPES:
                elements[-1]["props"].append((tok[2], _PLY_TYPES[tok[1]], None))
            else:
                raise ScanFormatError(p, f"bad property line {ln.strip()[:40]!r}")
        else:
            raise ScanFormatError(p, f"unknown header keyword {tok[0][:20]!r}")
    if fmt is None:
        raise ScanFormatError(p, "no 'format' line in header")
    return fmt, elements, comments, body_start


def _ply_binary_element(p: str, data: bytes, off: int, el: dict, endian: str):
    """Read one binary element; returns (dict of name -> array or list data, new offset)."""
    n = el["count"]
    props = el["props"]
    remaining = len(data) - off
    if not any(pr[2] for pr in props):
        dt = np.dtype([(f"p{i}_{pr[0]}", endian + pr[1]) for i, pr in enumerate(props)])
        if dt.itemsize == 0 and n:
            raise ScanFormatError(p, f"element {el['name'][:20]!r} has no properties")
        if n * dt.itemsize > remaining:
            raise ScanFormatError(p, f"element {el['name'][:20]!r} declares {n} items ({n * dt.itemsize} bytes), "
                                     f"only {remaining} bytes left")
        arr = np.frombuffer(data, dtype=dt, count=n, offset=off)
        return {pr[0]: arr[f"p{i}_{pr[0]}"] for i, pr in enumerate(props)}, off + n * dt.itemsize
    # elements with lists: each item needs at least the bytes of its scalars and list counts
    min_item = sum(np.dtype(pr[1]).itemsize for pr in props)
    if n * min_item > remaining:
        raise ScanFormatError(p, f"element {el['name'][:20]!r} declares {n} items, only {remaining} bytes left")
    # fast path: exactly one list whose length is the same for every item (all-triangle faces)
    list_ids = [i for i, pr in enumerate(props) if pr[2]]
    if len(list_ids) == 1 and n:
        li = list_ids[0]
        pre = sum(np.dtype(pr[1]).itemsize for pr in props[:li])
        cnt_dt = np.dtype(endian + props[li][1])
        if off + pre + cnt_dt.itemsize > len(data):
            raise ScanFormatError(p, f"truncated data in element {el['name'][:20]!r}")
        k0 = int(np.frombuffer(data, dtype=cnt_dt, count=1, offset=off + pre)[0])
        if 0 <= k0 <= 256:
            fields = []
            for i, (name, t, lt) in enumerate(props):
                fields.append((f"p{i}", endian + t))
                if lt is not None and k0:
                    fields.append((f"l{i}", endian + lt, (k0,)))
            dt = np.dtype(fields)
            if n * dt.itemsize <= remaining:
                arr = np.frombuffer(data, dtype=dt, count=n, offset=off)
                if np.all(arr[f"p{li}"] == k0):
                    out = {}
                    for i, (name, t, lt) in enumerate(props):
                        if lt is None:
                            out[name] = arr[f"p{i}"]
                        else:
                            lst = arr[f"l{i}"].reshape(n, k0) if k0 else np.zeros((n, 0), endian + lt)
                            out[name] = (lst.reshape(-1), np.full(n, k0, np.int64))
                    return out, off + n * dt.itemsize
    # general path: lists of varying length
    return _ply_binary_varying(p, data, off, el, endian)


_STRUCT_OF = {"i1": "b", "u1": "B", "i2": "h", "u2": "H", "i4": "i", "u4": "I"}


def _unaligned(data: bytes, dtype: np.dtype) -> np.ndarray:
    """View where element ``j`` is the ``dtype`` value stored at byte ``j`` (overlapping, no copy)."""
    n = len(data) - dtype.itemsize + 1
    if n <= 0:
        return np.zeros(0, dtype)
    return np.ndarray(shape=(n,), dtype=dtype, buffer=data, offset=0, strides=(1,))


def _ply_binary_varying(p: str, data: bytes, off: int, el: dict, endian: str):
    """Binary element whose lists vary in length from item to item.

    Each item's start depends on the counts of all items before it, so one loop reads
    the list counts (one integer read per list and item, no numpy or struct call when
    the count type is a byte; the old loop made several numpy calls per value and took
    7.9 s on 6 MB of mixed triangles and quads, this one well under a second, see
    ``benchmarks/bench_readers.py``). Every value is then gathered at once from unaligned
    views of the buffer.
    """
    n, props, end = el["count"], el["props"], len(data)
    what = el["name"][:20]
    # layout: fixed bytes before each list's count, the count reader, the list value size
    lists, fixed = [], 0
    for name, t, lt in props:
        if lt is None:
            fixed += np.dtype(t).itemsize
        else:
            lists.append((fixed, np.dtype(endian + t), np.dtype(endian + lt).itemsize))
            fixed = 0
    tail = fixed
    counts = [np.zeros(n, np.int64) for _ in lists]
    o = off
    if len(lists) == 1 and lists[0][1].itemsize == 1:
        pre, cdt, ls = lists[0]
        step, signed = pre + 1 + tail, cdt.kind == "i"
        ks = bytearray(n)
        for i in range(n):
            q = o + pre
            if q >= end:
                raise ScanFormatError(p, f"truncated data in element {what!r} (item {i} of {n})")
            k = data[q]
            ks[i] = k
            o += step + k * ls
        c = np.frombuffer(bytes(ks), np.int8 if signed else np.uint8).astype(np.int64)
        if signed and c.min(initial=0) < 0:
            raise ScanFormatError(p, f"negative list count in element {what!r}")
        counts[0] = c
    else:
        readers = [(pre, struct.Struct(endian + _STRUCT_OF[cdt.str[1:]]).unpack_from, cdt.itemsize, ls)
                   for pre, cdt, ls in lists]
        for i in range(n):
            for j, (pre, unpack, cs, ls) in enumerate(readers):
                q = o + pre
                if q + cs > end:
                    raise ScanFormatError(p, f"truncated data in element {what!r} (item {i} of {n})")
                k = unpack(data, q)[0]
                if k < 0:
                    raise ScanFormatError(p, f"negative list count {k} in element {what!r}")
                counts[j][i] = k
                o = q + cs + k * ls
            o += tail
    if o > end:
        raise ScanFormatError(p, f"list of element {what!r} runs past the end of the file")
    # item starts and the offset of every property within its item, all vectorised
    sizes = np.full(n, fixed + sum(pre + cdt.itemsize for pre, cdt, _ in lists), np.int64)
    for c, (_, _, ls) in zip(counts, lists):
        sizes += c * ls
    pos = off + np.cumsum(sizes) - sizes
    out, li = {}, 0
    for name, t, lt in props:
        dt = np.dtype(endian + t)
        if lt is None:
            out[name] = _unaligned(data, dt)[pos] if n else np.zeros(0, dt)
            pos = pos + dt.itemsize
            continue
        c, ldt = counts[li], np.dtype(endian + lt)
        li += 1
        first = pos + dt.itemsize
        total = int(c.sum())
        flat_pos = np.repeat(first - (np.cumsum(c) - c) * ldt.itemsize, c) + np.arange(total) * ldt.itemsize
        out[name] = (_unaligned(data, ldt)[flat_pos] if total else np.zeros(0, ldt), c)
        pos = first + c * ldt.itemsize
    return out, o


def _ply_ascii_elements(p: str, data: bytes, start: int, elements: list[dict]) -> list[dict]:
    lines = data[start:].decode("latin-1").split("\n")
    while lines and not lines[-1].strip():  # trailing blank lines are harmless
        lines.pop()
    total = sum(el["count"] for el in elements)
    if total != len(lines):
        raise ScanFormatError(p, f"header declares {_declared(elements)} ({total} lines) but the body has "
                                 f"{len(lines)} lines")
    res = []
    pos = 0
    for el in elements:
        n = el["count"]
        chunk = lines[pos:pos + n]
        pos += n
        props = el["props"]
        out = {}
        if not any(pr[2] for pr in props):
            rows = [ln.split() for ln in chunk]
            if any(len(r) != len(props) for r in rows):
                raise ScanFormatError(p, f"a {el['name'][:20]!r} line does not have {len(props)} values")
            a = to_floats([t for r in rows for t in r], p, el["name"][:20]).reshape(n, len(props))
            for i, pr in enumerate(props):
                out[pr[0]] = a[:, i]
        else:
            # lists: parse each line's tokens in order (scalars, then count + items)
            cols: dict[str, list] = {pr[0]: [] for pr in props}
            counts: dict[str, list] = {pr[0]: [] for pr in props}
            for ln in chunk:
                tok = ln.split()
                j = 0
                for name, t, lt in props:
                    if j >= len(tok):
                        raise ScanFormatError(p, f"short {el['name'][:20]!r} line")
                    if lt is None:
                        cols[name].append(tok[j])
                        j += 1
                    else:
                        k = int(tok[j]) if tok[j].lstrip("-").isdigit() else -1
                        if k < 0 or j + 1 + k > len(tok):
                            raise ScanFormatError(p, f"bad list count {tok[j][:20]!r} in {el['name'][:20]!r} line")
                        cols[name].extend(tok[j + 1:j + 1 + k])
                        counts[name].append(k)
                        j += 1 + k
            for name, t, lt in props:
                if lt is None:
                    out[name] = to_floats(cols[name], p, name[:20])
                elif lt[0] == "f":
                    out[name] = (to_floats(cols[name], p, name[:20]), np.asarray(counts[name], np.int64))
                else:
                    out[name] = (to_ints(cols[name], p, name[:20]), np.asarray(counts[name], np.int64))
        res.append(out)
    return res


def _declared(elements: list[dict]) -> str:
    """``"3 'vertex', 1 'face'"``: the element counts of a header, for messages."""
    return ", ".join(f"{el['count']} {el['name'][:20]!r}" for el in elements) or "no elements"


def read_ply(path: str | os.PathLike, load_texture: bool = True) -> Scan:
    """Read a PLY mesh (ascii or binary; see module docstring).

    Raises
    ------
    ScanFormatError
        Wrong magic, unknown format/types, element counts larger than the file can hold
        (checked before allocating), truncated data, data left over after the declared
        elements (a header that under-counts), missing x/y/z, bad face lists,
        out-of-range indices, NaN/inf coordinates.
    """
    p = os.fspath(path)
    data = read_bytes(p)
    fmt, elements, comments, start = _parse_ply_header(p, data)
    with parsing(p):
        if fmt == "ascii":
            parsed = _ply_ascii_elements(p, data, start, elements)
        else:
            endian = "<" if fmt == "binary_little_endian" else ">"
            parsed, off = [], start
            for el in elements:
                d, off = _ply_binary_element(p, data, off, el, endian)
                parsed.append(d)
            if off != len(data):  # like .bnt: a header that under-counts must not pass silently
                raise ScanFormatError(p, f"{len(data) - off} trailing bytes after the {_declared(elements)} "
                                         "the header declares")
    by_name = {el["name"]: d for el, d in zip(elements, parsed)}
    vert = by_name.get("vertex")
    if vert is None or not all(k in vert for k in ("x", "y", "z")):
        raise ScanFormatError(p, "no 'vertex' element with x, y, z properties")
    lists = [k for k, val in vert.items() if isinstance(val, tuple)]
    if lists:
        raise ScanFormatError(p, f"vertex property {lists[0][:20]!r} is a list")
    with parsing(p):
        v = np.stack([np.asarray(vert[k], dtype=np.float64) for k in ("x", "y", "z")], axis=1)
        colors = None
        if all(k in vert for k in ("red", "green", "blue")):
            c = np.stack([np.asarray(vert[k], dtype=np.float64) for k in ("red", "green", "blue")], axis=1)
            if not np.all(np.isfinite(c)):
                raise ScanFormatError(p, "vertex colours contain NaN or infinity")
            if c.size and c.max() <= 1.0 and any(t[0] == "f" for _, t, _ in _props(elements, "vertex", "red")):
                c = c * 255.0
            colors = np.clip(np.rint(c), 0, 255).astype(np.uint8)
        tc = None
        for su, sv in _UV_NAMES:
            if su in vert and sv in vert:
                tc = np.stack([np.asarray(vert[su], np.float64), np.asarray(vert[sv], np.float64)], axis=1)
                break
        faces = np.zeros((0, 3), np.int64)
        n_degenerate = 0
        face = by_name.get("face")
        if face is not None:
            key = "vertex_indices" if "vertex_indices" in face else "vertex_index" if "vertex_index" in face else None
            if key is None or not isinstance(face[key], tuple):
                raise ScanFormatError(p, "'face' element has no vertex_indices list")
            flat, counts = face[key]
            if flat.dtype.kind == "f":
                raise ScanFormatError(p, "face indices must be integers")
            flat = flat.astype(np.int64)
            faces = flat[fan_triangulate(counts)]
            n_degenerate = int(np.count_nonzero(counts < 3))
    meta = ScanMeta(dataset="ply", source_path=p)
    if n_degenerate:
        meta.extra["degenerate_polygons"] = n_degenerate
    scan = Scan(vertices=v, faces=faces, texcoords=tc, vertex_colors=colors, meta=meta)
    scan.validate(p)
    tex_name = next((c.split(None, 2)[2] for c in comments
                     if len(c.split(None, 2)) == 3 and c.split()[1].lower() == "texturefile"), None)
    if load_texture and tex_name:
        _attach_texture(scan, os.path.dirname(p), tex_name.strip())
    return scan.validate(p)


def _props(elements: list[dict], el_name: str, prop: str):
    return [pr for el in elements if el["name"] == el_name for pr in el["props"] if pr[0] == prop]


def write_ply(scan: Scan, path: str | os.PathLike, binary: bool = True) -> None:
    """Write a scan as PLY (binary little-endian by default, or ascii).

    Vertices are written as doubles (exact round trip in binary, ``%.9g``-free ``repr``
    precision is not needed in ascii: ``%.6f``), colours as ``uchar red green blue``,
    per-vertex texture coordinates as ``double s t`` (per-corner texcoords: seam vertices are
    duplicated with :meth:`Scan.split_seams`), faces as ``list uchar int vertex_indices``. With a
    texture, ``<stem>.png`` is written and named in a ``comment TextureFile`` line.
    """
    p = os.fspath(path)
    scan.validate(p)
    if scan.texcoord_faces is not None:
        scan = scan.split_seams()  # PLY texcoords are per vertex: one vertex per (vertex, uv) pair
    directory, stem = os.path.dirname(p), os.path.splitext(os.path.basename(p))[0]
    n, m = scan.n_vertices, scan.n_faces
    uv = scan.texcoords
    head = ["ply", f"format {'binary_little_endian' if binary else 'ascii'} 1.0", "comment written by ferbench"]
    if scan.texture is not None:
        head.append(f"comment TextureFile {stem}.png")
    head += [f"element vertex {n}", "property double x", "property double y", "property double z"]
    fields = [("x", "<f8"), ("y", "<f8"), ("z", "<f8")]
    if scan.vertex_colors is not None:
        head += ["property uchar red", "property uchar green", "property uchar blue"]
        fields += [("r", "u1"), ("g", "u1"), ("b", "u1")]
    if uv is not None:
        head += ["property double s", "property double t"]
        fields += [("s", "<f8"), ("t", "<f8")]
    head += [f"element face {m}", "property list uchar int vertex_indices", "end_header"]
    vrec = np.zeros(n, dtype=fields)
    vrec["x"], vrec["y"], vrec["z"] = scan.vertices.T
    if scan.vertex_colors is not None:
        vrec["r"], vrec["g"], vrec["b"] = scan.vertex_colors.T
    if uv is not None:
        vrec["s"], vrec["t"] = uv.T
    with open(p, "wb") as fh:
        fh.write(("\n".join(head) + "\n").encode("ascii"))
        if binary:
            fh.write(vrec.tobytes())
            frec = np.zeros(m, dtype=[("k", "u1"), ("i", "<i4", (3,))])
            frec["k"] = 3
            frec["i"] = scan.faces
            fh.write(frec.tobytes())
        else:
            cols = [scan.vertices]
            fmt = "%.6f %.6f %.6f"
            if scan.vertex_colors is not None:
                cols.append(scan.vertex_colors.astype(np.float64))
                fmt += " %d %d %d"
            if uv is not None:
                cols.append(uv)
                fmt += " %.7f %.7f"
            fh.write(fmt_rows(np.concatenate(cols, axis=1), fmt).encode("ascii"))
            fh.write(fmt_rows(scan.faces, "3 %d %d %d").encode("ascii"))
    if scan.texture is not None:
        from ferbench.io.images import write_image

        write_image(os.path.join(directory, stem + ".png"), scan.texture)
