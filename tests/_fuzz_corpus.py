"""Seeded corpus of malformed scan files for ``test_fuzz_readers.py``.

:func:`make_corpus` writes small valid base files with ferbench's own writers (plus a few
hand-written variants that use what the writers never produce: quads, comments, negative
OBJ indices, big-endian PLY, lists of varying length) and derives ``n_per_format``
mutants per format from them. Every mutation family named in issue 13 is here:
truncations, byte flips, huge and negative counts, NaN and infinite values, out-of-range
indices, very long lines and repeated keywords. Files are round-robin over the
mutations of their format, so each family gets its share of every format.
"""
from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np

from _io_helpers import make_grid, make_scan
from ferbench.io import BOSPHORUS_LANDMARK_NAMES, write_bnd, write_bnt, write_lm2, write_lm3, write_obj, write_ply, \
    write_wrl

FORMATS = ("wrl", "bnd", "bnt", "lm3", "lm2", "obj", "ply_ascii", "ply_binary")
EXT = {"ply_ascii": "ply", "ply_binary": "ply"}

HOSTILE_NUMBERS = ["nan", "NaN", "inf", "-inf", "1e308", "-1e308", "1e400", "-1", "-2", "0", "99999999",
                   "2147483648", "4294967296", "-99999999999", "18446744073709551617", "1.5", "abc", "", "0x10",
                   "1e-320", "+3", "--1", "9" * 400]
BIG_COUNTS = ["-1", "-7", "0", "2147483647", "2147483648", "4294967297", "1000000000000", "9" * 30, "1e9", "x"]
KEYWORDS = {
    "wrl": ["Coordinate ", "coordIndex ", "point ", "url ", "ImageTexture { ", "IndexedFaceSet ",
            "TextureCoordinate ", "texCoordIndex ", "Color ", "colorPerVertex FALSE ", "[ ", "{ ", "} ", "] ",
            "# c\n", '"', "-1 ", "coord USE ", ", ", '\\"', '"#'],
    "obj": ["f ", "v ", "vt ", "mtllib ", "/", "f 1 2 3\n", "v 1 2 3\n", "1/1 ", "usemtl m\n", "f 1/1 2 3//3\n",
            "vt 0.5\n", "f -9 -1 0\n"],
    "bnd": ["1 2 3 4\n", "-1 0 0 0\n", "#\n", " ", "999 1 1 1\n", "\t"],
    "lm3": ["Nose tip\n", "1 2 3\n", "#\n", "22 landmarks:\n", "Nose tip\n1 2 3\n"],
    "lm2": ["Nose tip\n", "1 2\n", "#\n", "22 landmarks:\n", "Nose tip\n1 2\n"],
    "ply_ascii": ["comment x\n", "property float x\n", "element face 1\n", "end_header\n", "3 0 1 2\n",
                  "property list uchar int vertex_indices\n", "4 0 1 2 3\n"],
    "ply_binary": ["comment x\n", "property float x\n", "element face 1\n", "end_header\n",
                   "property list uchar int vertex_indices\n", "element vertex 2\n"],
}


# --- base files --------------------------------------------------------------------------------------
WRL_HAND = """#VRML V2.0 utf8
# hand-written: quads, comments, blanks as separators, url in brackets
Shape {
 appearance Appearance { texture ImageTexture { url [ "tex.bmp" ] } }
 geometry IndexedFaceSet {
  coord Coordinate { point [ 0 0 0  1 0 0  1 1 0  0 1 0  2 0 0  2 1 0 ] }  # six points
  texCoord TextureCoordinate { point [ 0 0, 1 0, 1 1, 0 1, 0.5 0.5, 0.2 0.8 ] }
  coordIndex [ 0 1 2 3 -1 1 4 5 2 -1 ]
  texCoordIndex [ 0 1 2 3 -1 1 4 5 2 -1 ]
 }
}
"""

OBJ_HAND = """# hand-written: colours, quads, negative indices, v//vn and v/vt/vn corners
mtllib missing.mtl
v 0 0 0 1 0 0
v 1 0 0 0 1 0
v 1 1 0 0 0 1
v 0 1 0 1 1 1
v 2 0 0 0.5 0.5 0.5
vt 0 0
vt 1 0
vt 1 1
vt 0 1
vt 0.5 0.5
vn 0 0 1
f 1/1/1 2/2/1 3/3/1 4/4/1
f -4/-4/1 -1/-1/1 -3/-3/1
f 2/2 5/5 3/3
"""


def _ply_varying(endian: str) -> bytes:
    """Binary PLY with a flags byte, varying-length vertex lists and a second (texcoord) list."""
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [2, 0, 0], [2, 1, 0]], np.float32)
    fmt = "binary_little_endian" if endian == "<" else "binary_big_endian"
    head = (f"ply\nformat {fmt} 1.0\ncomment varying lists\nelement vertex 6\nproperty float x\nproperty float y\n"
            "property float z\nelement face 3\nproperty uchar flags\nproperty list uchar int vertex_indices\n"
            "property list ushort float texcoord\nend_header\n").encode()
    body = v.astype(endian + "f4").tobytes()
    for flags, idx in ((1, [0, 1, 2, 3]), (2, [1, 4, 5]), (3, [1, 5, 2])):
        body += struct.pack(endian + "BB", flags, len(idx)) + struct.pack(endian + f"{len(idx)}i", *idx)
        tc = [0.5] * (2 * len(idx))
        body += struct.pack(endian + "H", len(tc)) + struct.pack(endian + f"{len(tc)}f", *tc)
    return head + body


PLY_ASCII_HAND = """ply
format ascii 1.0
comment hand-written: quads and an extra element
element vertex 5
property float x
property float y
property float z
property uchar red
property uchar green
property uchar blue
element face 2
property list uchar int vertex_indices
element edge 1
property int vertex1
property int vertex2
end_header
0 0 0 255 0 0
1 0 0 0 255 0
1 1 0 0 0 255
0 1 0 9 9 9
2 0 0 1 2 3
4 0 1 2 3
3 1 4 2
0 1
"""


def _bases(d: Path) -> dict[str, list[bytes]]:
    d.mkdir(parents=True, exist_ok=True)
    scan = make_scan(21, h=5, w=6, landmarks=0)
    per_corner = make_scan(22, h=4, w=5, per_corner_uv=True, landmarks=0)
    out: dict[str, list[bytes]] = {}
    write_wrl(scan, d / "b1.wrl", write_texture=False)
    write_wrl(per_corner, d / "b2.wrl", write_texture=False)
    out["wrl"] = [(d / "b1.wrl").read_bytes(), (d / "b2.wrl").read_bytes(), WRL_HAND.encode()]
    rng = np.random.default_rng(5)
    write_bnd(d / "b.bnd", rng.normal(0, 30, (83, 3)), rng.integers(-1, scan.n_vertices, 83))
    out["bnd"] = [(d / "b.bnd").read_bytes()]
    out["bnd_mesh"] = [(d / "b1.wrl").read_bytes()]
    write_bnt(d / "b.bnt", make_grid(7, 6), rng.random((7, 6, 2)), "b.png")
    write_bnt(d / "c.bnt", make_grid(5, 9, hole=False), rng.random((5, 9, 2)), "")
    out["bnt"] = [(d / "b.bnt").read_bytes(), (d / "c.bnt").read_bytes()]
    write_lm3(d / "b.lm3", rng.normal(0, 30, (22, 3)), BOSPHORUS_LANDMARK_NAMES)
    lm = rng.normal(0, 30, (22, 3))
    lm[[3, 7]] = np.nan  # occluded landmarks are omitted from the file
    write_lm3(d / "c.lm3", lm, BOSPHORUS_LANDMARK_NAMES)
    out["lm3"] = [(d / "b.lm3").read_bytes(), (d / "c.lm3").read_bytes()]
    write_lm2(d / "b.lm2", rng.random((22, 2)) * 500, BOSPHORUS_LANDMARK_NAMES)
    out["lm2"] = [(d / "b.lm2").read_bytes()]
    scan.texture = None
    write_obj(scan, d / "b1.obj")
    per_corner.texture = None
    write_obj(per_corner, d / "b2.obj")
    out["obj"] = [(d / "b1.obj").read_bytes(), (d / "b2.obj").read_bytes(), OBJ_HAND.encode()]
    write_ply(scan, d / "a.ply", binary=False)
    out["ply_ascii"] = [(d / "a.ply").read_bytes(), PLY_ASCII_HAND.encode()]
    write_ply(scan, d / "b.ply", binary=True)
    out["ply_binary"] = [(d / "b.ply").read_bytes(), _ply_varying("<"), _ply_varying(">")]
    return out


# --- mutations ---------------------------------------------------------------------------------------
def truncate(d: bytes, rng, fmt) -> bytes:
    return d[: int(rng.integers(0, len(d)))]


def truncate_line(d: bytes, rng, fmt) -> bytes:
    nl = [m.end() for m in re.finditer(rb"\n", d)] or [len(d) // 2]
    return d[: nl[int(rng.integers(0, len(nl)))] - int(rng.integers(0, 2))]


def flip(d: bytes, rng, fmt) -> bytes:
    b = bytearray(d)
    for _ in range(int(rng.integers(1, 9))):
        i = int(rng.integers(0, len(b)))
        b[i] ^= 1 << int(rng.integers(0, 8))
    return bytes(b)


def overwrite(d: bytes, rng, fmt) -> bytes:
    b = bytearray(d)
    i, n = int(rng.integers(0, len(b))), int(rng.integers(1, 24))
    b[i:i + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
    return bytes(b)


def splice(d: bytes, rng, fmt) -> bytes:
    i, j = sorted(int(x) for x in rng.integers(0, len(d), 2))
    return d[:i] + d[j:] if rng.random() < 0.5 else d[:j] + d[i:j] + d[j:]


_NUM = re.compile(rb"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")
_INT = re.compile(rb"(?<![\w.\-])-?\d+(?![\w.])")


def _body_start(d: bytes, fmt: str) -> int:
    if fmt.startswith("ply"):
        e = d.find(b"end_header\n")
        return 0 if e < 0 else e + 11
    return 0


def hostile_number(d: bytes, rng, fmt) -> bytes:
    """Replace one to three numbers by NaN, inf, huge, negative or junk."""
    ms = list(_NUM.finditer(d))
    if not ms:
        return flip(d, rng, fmt)
    for _ in range(int(rng.integers(1, 4))):
        m = ms[int(rng.integers(0, len(ms)))]
        new = HOSTILE_NUMBERS[int(rng.integers(0, len(HOSTILE_NUMBERS)))].encode()
        d = d[: m.start()] + new + d[m.end():]
        ms = list(_NUM.finditer(d)) or ms
    return d


def nan_inf_values(d: bytes, rng, fmt) -> bytes:
    """Every number of one line becomes NaN or (+/-)infinity."""
    lines = d.split(b"\n")
    start = d[: _body_start(d, fmt)].count(b"\n")
    cand = [i for i in range(start, len(lines)) if _NUM.search(lines[i])]
    if not cand:
        return hostile_number(d, rng, fmt)
    i = cand[int(rng.integers(0, len(cand)))]
    word = [b"nan", b"inf", b"-inf", b"NaN", b"Infinity"][int(rng.integers(0, 5))]
    lines[i] = _NUM.sub(word, lines[i])
    return b"\n".join(lines)


def out_of_range_index(d: bytes, rng, fmt) -> bytes:
    """Replace an integer (a face index, vertex id, count) by a value just or far out of range."""
    start = _body_start(d, fmt)
    ms = [m for m in _INT.finditer(d, start)]
    if not ms:
        return hostile_number(d, rng, fmt)
    m = ms[int(rng.integers(0, len(ms)))]
    n = int(len(ms))
    new = str(int(rng.choice([n, n + 1, 10 * n, -2, -n - 5, 2**31, 2**31 - 1, 2**63 - 1, -(2**63), 2**64])))
    return d[: m.start()] + new.encode() + d[m.end():]


def huge_count(d: bytes, rng, fmt) -> bytes:
    """Huge, negative or junk declared counts (PLY elements, .lm3/.lm2 count lines; else the first integer)."""
    new = BIG_COUNTS[int(rng.integers(0, len(BIG_COUNTS)))].encode()
    if fmt.startswith("ply"):
        which = [rb"vertex", rb"face", rb"\w+"][int(rng.integers(0, 3))]
        return re.sub(rb"(element " + which + rb") \S+", rb"\1 " + new, d, count=1)
    if fmt in ("lm3", "lm2"):
        return re.sub(rb"(?m)^\d+", new, d, count=1)
    return out_of_range_index(d, rng, fmt)


def long_line(d: bytes, rng, fmt) -> bytes:
    """Insert one very long line (10k-200k characters) at a line start."""
    n = int(rng.integers(10_000, 200_000))
    units = [b"9", b" ", b"1 ", b"-", b"/", b"1/", b"nan ", b"\t", b",", b'\\"', b"#"]
    unit = units[int(rng.integers(0, len(units)))]
    line = (unit * (n // len(unit) + 1))[:n]
    if rng.random() < 0.5:
        line = (b"f " if fmt == "obj" else b"v " if rng.random() < 0.3 else b"") + line
    nl = [0] + [m.end() for m in re.finditer(rb"\n", d)]
    i = nl[int(rng.integers(0, len(nl)))]
    return d[:i] + line + b"\n" + d[i:]


def repeat_keyword(d: bytes, rng, fmt) -> bytes:
    """Insert a keyword or line of the format repeated 1k-20k times."""
    words = KEYWORDS[fmt]
    w = words[int(rng.integers(0, len(words)))].encode()
    rep = w * int(rng.integers(1_000, 20_000))
    if fmt.startswith("ply") and rng.random() < 0.7:  # mostly into the header
        e = d.find(b"end_header")
        i = d.find(b"\n", 0, max(e, 0)) + 1 if e > 0 else 0
    else:
        nl = [0] + [m.end() for m in re.finditer(rb"\n", d)]
        i = nl[int(rng.integers(0, len(nl)))] if rng.random() < 0.7 else int(rng.integers(0, len(d)))
    return d[:i] + rep + d[i:]


def _put(d: bytes, off: int, fmt: str, value) -> bytes:
    b = bytearray(d)
    if off + struct.calcsize(fmt) <= len(b):
        struct.pack_into(fmt, b, off, value)
    return bytes(b)


def bnt_header(d: bytes, rng, fmt) -> bytes:
    """Huge, zero or inconsistent .bnt header fields, NaN/inf background or cells, trailing bytes."""
    name_len = struct.unpack_from("<H", d, 12)[0]
    k = int(rng.integers(0, 7))
    if k == 0:
        return _put(d, 0, "<H", int(rng.choice([0, 1, 7, 65535, int(rng.integers(0, 65536))])))
    if k == 1:
        return _put(d, 2, "<H", int(rng.choice([0, 1, 65535, int(rng.integers(0, 65536))])))
    if k == 2:
        return _put(d, 4, "<d", float(rng.choice([np.nan, np.inf, -np.inf, 1e308, 0.0])))
    if k == 3:
        return _put(d, 12, "<H", int(rng.choice([0, 65535, name_len + 1, int(rng.integers(0, 65536))])))
    if k == 4:
        return _put(d, 14 + name_len, "<I", int(rng.choice([0, 2**32 - 1, 5, int(rng.integers(0, 2**32))])))
    if k == 5:
        return d + bytes(int(rng.integers(1, 64)))
    off = 18 + name_len + 8 * int(rng.integers(0, (len(d) - 18 - name_len) // 8))
    return _put(d, off, "<d", float(rng.choice([np.nan, np.inf, -np.inf, 1e308])))


def bnt_values(d: bytes, rng, fmt) -> bytes:
    """NaN/inf/huge doubles in the five planes (several at once)."""
    name_len = struct.unpack_from("<H", d, 12)[0]
    for _ in range(int(rng.integers(1, 6))):
        off = 18 + name_len + 8 * int(rng.integers(0, max(1, (len(d) - 18 - name_len) // 8)))
        d = _put(d, off, "<d", float(rng.choice([np.nan, np.inf, -np.inf, 1e308, -1e308, 5e-324])))
    return d


def ply_binary_body(d: bytes, rng, fmt) -> bytes:
    """NaN/inf coordinates, out-of-range or negative face indices and list counts in the binary body."""
    start = _body_start(d, fmt)
    if start >= len(d) - 8:
        return flip(d, rng, fmt)
    endian = ">" if b"binary_big_endian" in d[:start] else "<"
    off = int(rng.integers(start, len(d) - 8))
    k = int(rng.integers(0, 3))
    if k == 0:
        return _put(d, off, endian + "f", float(rng.choice([np.nan, np.inf, -np.inf, 3e38])))
    if k == 1:
        return _put(d, off, endian + "d", float(rng.choice([np.nan, np.inf, 1e300])))
    return _put(d, off, endian + "i", int(rng.choice([-1, -2**31, 2**31 - 1, 1000, 7])))


def ply_header(d: bytes, rng, fmt) -> bytes:
    """Body format, property types, missing end_header, counts off by one (under- and over-counts)."""
    k = int(rng.integers(0, 4))
    if k == 0:
        fmts = [b"ascii", b"binary_little_endian", b"binary_big_endian", b"binary_middle_endian"]
        return re.sub(rb"format \S+", b"format " + fmts[int(rng.integers(0, 4))], d, count=1)
    if k == 1:
        types = [b"char", b"uchar", b"short", b"int", b"uint", b"float", b"double", b"float128", b"list"]
        ms = list(re.finditer(rb"property (\w+)", d))
        m = ms[int(rng.integers(0, len(ms)))]
        return d[: m.start(1)] + types[int(rng.integers(0, len(types)))] + d[m.end(1):]
    if k == 2:
        return d.replace(b"end_header", b"end_hdr", 1)
    ms = list(re.finditer(rb"element \w+ (\d+)", d))
    m = ms[int(rng.integers(0, len(ms)))]
    new = str(max(0, int(m.group(1)) + int(rng.choice([-2, -1, 1, 2])))).encode()
    return d[: m.start(1)] + new + d[m.end(1):]


_GENERIC = [truncate, truncate_line, flip, overwrite, splice]
_TEXT = [hostile_number, nan_inf_values, out_of_range_index, huge_count, long_line, repeat_keyword]
MUTATORS = {
    "wrl": _GENERIC + _TEXT,
    "bnd": _GENERIC + _TEXT,
    "lm3": _GENERIC + _TEXT,
    "lm2": _GENERIC + _TEXT,
    "obj": _GENERIC + _TEXT,
    "ply_ascii": _GENERIC + _TEXT + [ply_header, ply_header],
    "ply_binary": _GENERIC + [ply_header, ply_header, ply_binary_body, ply_binary_body, huge_count,
                              repeat_keyword, long_line],
    "bnt": [truncate, flip, overwrite, splice, bnt_header, bnt_header, bnt_values, bnt_values],
}


def make_corpus(root: Path, n_per_format: int, seed: int) -> list[dict]:
    """Write ``n_per_format`` mutants of every format under ``root``.

    Returns
    -------
    list of dict
        ``fmt``, ``mutation``, ``path`` (the mutated file, named in any refusal) and
        ``read`` (the file the child process opens: the mutant itself, or for ``.bnd``
        and ``.lm3`` a valid sibling ``.wrl``/``.bnt`` whose reader picks the mutant up).
    """
    bases = _bases(root / "base")
    rng = np.random.default_rng(seed)
    jobs = []
    for fmt in FORMATS:
        fdir = root / fmt
        fdir.mkdir()
        muts = MUTATORS[fmt]
        ext = EXT.get(fmt, fmt)
        for i in range(n_per_format):
            src = bases[fmt][i % len(bases[fmt])]
            mut = muts[i % len(muts)]
            path = fdir / f"s{i}.{ext}"
            path.write_bytes(mut(src, rng, fmt))
            read = path
            if fmt == "bnd":
                read = path.with_suffix(".wrl")
                read.write_bytes(bases["bnd_mesh"][0])
            elif fmt == "lm3":
                read = path.with_suffix(".bnt")
                read.write_bytes(bases["bnt"][0])
            jobs.append({"fmt": fmt, "mutation": mut.__name__, "path": str(path), "read": str(read)})
    return jobs
