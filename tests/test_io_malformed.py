"""Hostile input: a seeded corpus of mutated files per format, plus explicit nasty cases.

Every read must either return something valid (a Scan passing ``validate()``, or a
uint8 RGB image) or raise one ScanFormatError whose one-line message starts with the
mutated file's path. Any other exception, a hang (timeout) or a large allocation
(tracemalloc peak) fails.
"""
from __future__ import annotations

import re
import struct
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest

from _io_helpers import make_grid, make_scan
from ferbench.errors import ScanFormatError
from ferbench.io import (
    BOSPHORUS_LANDMARK_NAMES, read_bnt, read_image, read_lm3, read_obj, read_ply, read_scan, read_wrl, write_bnd, write_bnt,
    write_image, write_lm3, write_obj, write_ply, write_wrl,
)
from ferbench.io.scan import Scan

N_PER_FORMAT = 200
SEED = 20260611

# (readable, refused) counts for the seeded corpus below; they change only if the mutator or
# a reader changes. Refusals must be a healthy share of every format.
EXPECTED_COUNTS = {
    "wrl": (40, 160), "bnd": (54, 146), "bnt": (71, 129), "lm3": (68, 132), "obj": (66, 134), "ply": (32, 168),
    "bmp": (93, 107), "png": (10, 190),
}

HOSTILE_NUMBERS = ["nan", "inf", "-inf", "1e308", "-1e308", "-1", "-2", "0", "99999999", "4294967296",
                   "-99999999999", "18446744073709551617", "1.5", "abc", "", "0x10", "1e-320"]


# --- mutations -------------------------------------------------------------------------------------
def _truncate(d: bytes, rng) -> bytes:
    return d[: int(rng.integers(0, len(d)))]


def _flip(d: bytes, rng) -> bytes:
    b = bytearray(d)
    for _ in range(int(rng.integers(1, 9))):
        i = int(rng.integers(0, len(b)))
        b[i] ^= 1 << int(rng.integers(0, 8))
    return bytes(b)


def _overwrite(d: bytes, rng) -> bytes:
    b = bytearray(d)
    i = int(rng.integers(0, len(b)))
    n = int(rng.integers(1, 16))
    b[i:i + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
    return bytes(b)


def _splice(d: bytes, rng) -> bytes:
    i, j = sorted(int(x) for x in rng.integers(0, len(d), 2))
    if rng.random() < 0.5:
        return d[:i] + d[j:]  # delete a chunk
    return d[:j] + d[i:j] + d[j:]  # duplicate a chunk


_NUM = re.compile(rb"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def _token(d: bytes, rng) -> bytes:
    """Replace one number of a text file by a hostile one (NaN, inf, huge, negative, junk)."""
    ms = list(_NUM.finditer(d))
    if not ms:
        return _flip(d, rng)
    m = ms[int(rng.integers(0, len(ms)))]
    new = HOSTILE_NUMBERS[int(rng.integers(0, len(HOSTILE_NUMBERS)))].encode()
    return d[: m.start()] + new + d[m.end():]


def _put(d: bytes, off: int, fmt: str, value) -> bytes:
    b = bytearray(d)
    struct.pack_into(fmt, b, off, value)
    return bytes(b)


def _bnt_header(d: bytes, rng) -> bytes:
    name_len = struct.unpack_from("<H", d, 12)[0]
    k = int(rng.integers(0, 6))
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
    off = 18 + name_len + 8 * int(rng.integers(0, (len(d) - 18 - name_len) // 8))  # NaN/inf in the planes
    return _put(d, off, "<d", float(rng.choice([np.nan, np.inf, -np.inf])))


def _ply_header(d: bytes, rng) -> bytes:
    k = int(rng.integers(0, 5))
    if k == 0:  # absurd / negative element counts
        new = str(rng.choice(["-1", "0", "1000000000000", "2147483648", "99999", "abc"])).encode()
        which = rb"vertex" if rng.random() < 0.5 else rb"face"
        return re.sub(rb"(element " + which + rb") \d+", rb"\1 " + new, d, count=1)
    if k == 1:  # change the body format
        fmts = [b"ascii", b"binary_little_endian", b"binary_big_endian", b"binary_middle_endian"]
        return re.sub(rb"format \S+", b"format " + fmts[int(rng.integers(0, 4))], d, count=1)
    if k == 2:  # change a property type
        types = [b"char", b"uchar", b"short", b"int", b"uint", b"float", b"double", b"float128", b"list"]
        ms = list(re.finditer(rb"property (\w+)", d))
        m = ms[int(rng.integers(0, len(ms)))]
        return d[: m.start(1)] + types[int(rng.integers(0, len(types)))] + d[m.end(1):]
    if k == 3:  # remove the end of the header
        return d.replace(b"end_header", b"end_hdr", 1)
    end = d.index(b"end_header\n") + 11  # NaN/inf/huge values in the binary body
    if end >= len(d) - 8:
        return _token(d, rng)
    off = int(rng.integers(end, len(d) - 8))
    return _put(d, off, "<d", float(rng.choice([np.nan, np.inf, 1e300]))) if rng.random() < 0.5 else \
        _put(d, off, "<i", int(rng.choice([-1, 2**31 - 1, 1000])))


def _png_chunk_fix(b: bytearray) -> None:
    """Recompute the IHDR CRC so a size edit is not caught by the CRC check alone."""
    struct.pack_into(">I", b, 29, zlib.crc32(bytes(b[12:29])) & 0xFFFFFFFF)


def _image_header(d: bytes, rng) -> bytes:
    b = bytearray(d)
    sizes = [0, 1, 65535, 100000, 2**31 - 1, int(rng.integers(1, 20000))]
    if d[:2] == b"BM":
        field = int(rng.choice([18, 22, 28, 10, 30, 46]))
        value = int(rng.choice(sizes + [-1, -65535]))
        fmt = "<h" if field == 28 else "<i"
        value = max(min(value, 32767), -32768) if fmt == "<h" else value
        struct.pack_into(fmt, b, field, value)
    else:
        field = int(rng.choice([16, 20]))
        struct.pack_into(">I", b, field, int(rng.choice(sizes)))
        if rng.random() < 0.8:
            _png_chunk_fix(b)
    return bytes(b)


_GENERIC = (_truncate, _flip, _overwrite, _splice)


def _mutators(fmt: str):
    text = fmt in ("wrl", "bnd", "lm3", "obj")
    specific = {"bnt": _bnt_header, "ply": _ply_header, "bmp": _image_header, "png": _image_header}
    extra = [_token, _token] if text else [specific[fmt], specific[fmt]]
    if fmt == "ply":
        extra.append(_token)
    return list(_GENERIC) + extra


# --- valid base files -----------------------------------------------------------------------------
def _bases(d: Path) -> dict[str, list[bytes]]:
    scan = make_scan(11, h=5, w=6, landmarks=0)
    per_corner = make_scan(12, h=4, w=5, per_corner_uv=True, landmarks=0)
    out: dict[str, list[bytes]] = {}
    write_wrl(scan, d / "b1.wrl", write_texture=False)
    write_wrl(per_corner, d / "b2.wrl", write_texture=False)
    out["wrl"] = [(d / "b1.wrl").read_bytes(), (d / "b2.wrl").read_bytes()]
    # vertex ids must lie in the 30-vertex mesh the .bnd is read beside
    write_bnd(d / "b.bnd", np.random.default_rng(1).normal(0, 30, (83, 3)), np.arange(83) % scan.n_vertices)
    out["bnd"] = [(d / "b.bnd").read_bytes()]
    rng = np.random.default_rng(2)
    write_bnt(d / "b.bnt", make_grid(7, 6), rng.random((7, 6, 2)), "b.png")
    out["bnt"] = [(d / "b.bnt").read_bytes()]
    write_lm3(d / "b.lm3", rng.normal(0, 30, (22, 3)), BOSPHORUS_LANDMARK_NAMES)
    out["lm3"] = [(d / "b.lm3").read_bytes()]
    scan.texture = None
    write_obj(scan, d / "b1.obj")
    write_obj(per_corner.__class__(per_corner.vertices, per_corner.faces, per_corner.texcoords,
                                   per_corner.texcoord_faces), d / "b2.obj")
    out["obj"] = [(d / "b1.obj").read_bytes(), (d / "b2.obj").read_bytes()]
    write_ply(scan, d / "b1.ply", binary=True)
    write_ply(scan, d / "b2.ply", binary=False)
    out["ply"] = [(d / "b1.ply").read_bytes(), (d / "b2.ply").read_bytes()]
    img = np.random.default_rng(3).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    for ext in ("bmp", "png"):
        write_image(d / f"b.{ext}", img)
        out[ext] = [(d / f"b.{ext}").read_bytes()]
    return out


def _make_corpus(d: Path) -> list[tuple[str, str, Path, object]]:
    """Write the mutated files; return (format, mutation, mutated path, read callable)."""
    base_dir = d / "base"
    base_dir.mkdir()
    bases = _bases(base_dir)
    rng = np.random.default_rng(SEED)
    items = []
    for fmt, datas in bases.items():
        muts = _mutators(fmt)
        fdir = d / fmt
        fdir.mkdir()
        for i in range(N_PER_FORMAT):
            src = datas[i % len(datas)]
            mut = muts[i % len(muts)]
            data = mut(src, rng)
            if fmt == "bnd":  # landmark files are read as the sibling of a valid scan
                (fdir / f"s{i}.wrl").write_bytes(bases["wrl"][0])
                path = fdir / f"s{i}.bnd"
                reader = (lambda p: read_scan(p.with_suffix(".wrl"), load_texture=False))
            elif fmt == "lm3":
                (fdir / f"s{i}.bnt").write_bytes(bases["bnt"][0])
                path = fdir / f"s{i}.lm3"
                reader = (lambda p: read_scan(p.with_suffix(".bnt"), load_texture=False))
            elif fmt in ("bmp", "png"):
                path = fdir / f"s{i}.{fmt}"
                reader = read_image
            else:
                path = fdir / f"s{i}.{fmt}"
                reader = read_scan
            path.write_bytes(data)
            items.append((fmt, mut.__name__, path, reader))
    return items


def _check(path: Path, reader) -> tuple[str, str | None]:
    """'ok' / 'refused', or 'FAIL' with the reason."""
    try:
        out = reader(path)
    except ScanFormatError as e:
        msg = str(e)
        if not msg.startswith(f"{path}: ") or "\n" in msg:
            return "FAIL", f"bad message {msg[:200]!r}"
        return "refused", None
    except Exception as e:  # noqa: BLE001 - anything else is the bug this test looks for
        return "FAIL", f"{type(e).__name__}: {str(e)[:200]}"
    if isinstance(out, Scan):
        try:
            out.validate()
        except ScanFormatError as e:
            return "FAIL", f"returned an invalid Scan: {e}"
    else:
        a = np.asarray(out)
        if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
            return "FAIL", f"returned image {a.dtype} {a.shape}"
    return "ok", None


@pytest.mark.timeout(120)
def test_mutated_corpus(tmp_path):
    items = _make_corpus(tmp_path)
    per_fmt: dict[str, dict[str, int]] = {}
    failures = []
    tracemalloc.start()
    try:
        for fmt, mut, path, reader in items:
            size = path.stat().st_size
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            status, why = _check(path, reader)
            peak = tracemalloc.get_traced_memory()[1] - base
            if peak > 200 * max(size, 4096) + (4 << 20):
                status, why = "FAIL", f"allocated {peak} bytes for a {size}-byte file"
            c = per_fmt.setdefault(fmt, {"ok": 0, "refused": 0, "FAIL": 0})
            c[status] += 1
            if status == "FAIL":
                failures.append(f"{fmt}/{mut} {path.name}: {why}")
    finally:
        tracemalloc.stop()
    assert not failures, f"{len(failures)} failures, e.g.\n" + "\n".join(failures[:15])
    for fmt, c in per_fmt.items():
        assert c["ok"] + c["refused"] >= N_PER_FORMAT, fmt
        assert c["refused"] > 0, f"{fmt}: no mutation was refused"
    got = {fmt: (c["ok"], c["refused"]) for fmt, c in per_fmt.items()}
    print("corpus counts (readable, refused):", got)
    assert set(got) == set(EXPECTED_COUNTS)
    assert got == EXPECTED_COUNTS


# --- explicit cases ----------------------------------------------------------------------------------
def _peak_of(fn):
    tracemalloc.start()
    try:
        try:
            fn()
        finally:
            peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak


def _bnt_bytes(nrows: int, ncols: int, n5: int, payload: bytes = b"\0" * 64, name: bytes = b"x.png") -> bytes:
    return struct.pack("<HHdH", nrows, ncols, -1e9, len(name)) + name + struct.pack("<I", n5) + payload


@pytest.mark.timeout(30)
def test_bnt_absurd_header_refused_before_allocation(tmp_path):
    p = tmp_path / "huge.bnt"
    p.write_bytes(_bnt_bytes(65535, 65535, 2**32 - 1))
    with pytest.raises(ScanFormatError, match=r"huge\.bnt: value count 4294967295 is not 5 x 65535 x 65535"):
        read_bnt(p)
    # consistent header (20000 x 20000 x 5 doubles = 16 GB) in a 100-byte file
    p.write_bytes(_bnt_bytes(20000, 20000, 5 * 20000 * 20000))
    err = []
    peak = _peak_of(lambda: err.append(pytest.raises(ScanFormatError, read_bnt, p)))
    assert "truncated: header declares 20000x20000 grid" in str(err[0].value)
    assert peak < 1 << 20
    p.write_bytes(_bnt_bytes(2, 2, 20, name=b"y" * 40)[:30])
    with pytest.raises(ScanFormatError, match="image name of 40 bytes runs past the end"):
        read_bnt(p)


def test_bnt_nan_cells_refused(tmp_path):
    g = make_grid(4, 4, hole=False)
    write_bnt(tmp_path / "a.bnt", g, np.zeros((4, 4, 2)), "a.png")
    b = bytearray((tmp_path / "a.bnt").read_bytes())
    struct.pack_into("<d", b, 18 + 5 + 8 * 3, np.nan)  # x of one cell
    (tmp_path / "a.bnt").write_bytes(bytes(b))
    with pytest.raises(ScanFormatError, match="1 grid cells hold NaN or infinity"):
        read_bnt(tmp_path / "a.bnt")


WRL = ("#VRML V2.0 utf8\nShape {{ geometry IndexedFaceSet {{\n coord Coordinate {{ point [ {pts} ] }}\n"
       " coordIndex [ {idx} ] }} }}\n")


@pytest.mark.parametrize("fmt", ["wrl", "obj", "ply"])
def test_nan_vertices_refused(tmp_path, fmt):
    p = tmp_path / f"n.{fmt}"
    if fmt == "wrl":
        p.write_text(WRL.format(pts="0 0 0, 1 nan 0, 0 1 0", idx="0 1 2 -1"))
    elif fmt == "obj":
        p.write_text("v 0 0 0\nv 1 NaN 0\nv 0 1 0\nf 1 2 3\n")
    else:
        s = make_scan(0, landmarks=0)
        write_ply(s, p)
        b = bytearray(p.read_bytes())
        end = b.index(b"end_header\n") + 11
        struct.pack_into("<d", b, end + 8, np.inf)
        p.write_bytes(bytes(b))
    with pytest.raises(ScanFormatError, match=rf"n\.{fmt}: vertex coordinates contain NaN or infinity"):
        read_scan(p)


@pytest.mark.parametrize("fmt", ["wrl", "obj", "ply"])
def test_face_index_out_of_range_refused(tmp_path, fmt):
    p = tmp_path / f"f.{fmt}"
    if fmt == "wrl":
        p.write_text(WRL.format(pts="0 0 0, 1 0 0, 0 1 0", idx="0 1 3 -1"))
    elif fmt == "obj":
        p.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 4\n")
    else:
        p.write_text("ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
                     "property float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n"
                     "0 0 0\n1 0 0\n0 1 0\n3 0 1 3\n")
    with pytest.raises(ScanFormatError, match=rf"f\.{fmt}: face index out of range \[0, 2\]"):
        read_scan(p)
    if fmt == "obj":
        p.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 0 1 2\n")
        with pytest.raises(ScanFormatError, match="index 0"):
            read_obj(p)
        p.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf -1 -2 -4\n")
        with pytest.raises(ScanFormatError, match="out of range"):
            read_obj(p)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("binary", [True, False])
def test_ply_absurd_counts_refused_before_allocation(tmp_path, binary):
    p = tmp_path / "c.ply"
    write_ply(make_scan(0, landmarks=0), p, binary=binary)
    for field, count in (("vertex", 10**12), ("face", 2**31), ("vertex", -3)):
        data = re.sub(rf"element {field} \d+".encode(), f"element {field} {count}".encode(), p.read_bytes())
        q = tmp_path / f"c_{field}_{count}.ply"
        q.write_bytes(data)
        err = []
        peak = _peak_of(lambda: err.append(pytest.raises(ScanFormatError, read_ply, q)))
        msg = str(err[0].value)
        assert msg.startswith(f"{q}: ") and ("negative count" in msg or "declares" in msg), msg
        assert peak < 2 * len(data) + (1 << 20), peak


def test_text_declaring_many_faces_is_bounded(tmp_path):
    """A text file can only declare as many faces as it has tokens: one huge polygon is fine."""
    p = tmp_path / "poly.wrl"
    n = 2000
    ang = np.linspace(0, 2 * np.pi, n, endpoint=False)
    pts = ", ".join(f"{np.cos(a):.5f} {np.sin(a):.5f} 0" for a in ang)
    p.write_text(WRL.format(pts=pts, idx=" ".join(map(str, range(n)))))
    s = read_wrl(p)
    assert s.n_faces == n - 2 and s.faces[:, 0].max() == 0
    lm = tmp_path / "x.lm3"
    lm.write_text("999999999 landmarks:\nNose tip\n1 2 3\n")
    with pytest.raises(ScanFormatError, match="declares 999999999 landmarks but holds 2"):
        read_lm3(lm)


@pytest.mark.timeout(30)
def test_image_bombs_refused_before_decoding(tmp_path):
    img = np.zeros((8, 8, 3), np.uint8)
    write_image(tmp_path / "a.png", img)
    b = bytearray((tmp_path / "a.png").read_bytes())
    struct.pack_into(">II", b, 16, 100000, 100000)
    _png_chunk_fix(b)
    (tmp_path / "bomb.png").write_bytes(bytes(b))
    err = []
    peak = _peak_of(lambda: err.append(pytest.raises(ScanFormatError, read_image, tmp_path / "bomb.png")))
    assert "64000000-pixel limit" in str(err[0].value)
    assert peak < 1 << 20
    # under the pixel cap, but far more than a 100-byte file can hold
    struct.pack_into(">II", b, 16, 7000, 7000)
    _png_chunk_fix(b)
    (tmp_path / "bomb2.png").write_bytes(bytes(b))
    with pytest.raises(ScanFormatError, match="declares 7000x7000 pixels but the file has only"):
        read_image(tmp_path / "bomb2.png")
    write_image(tmp_path / "a.bmp", img)
    b = bytearray((tmp_path / "a.bmp").read_bytes())
    struct.pack_into("<ii", b, 18, 64, 64)  # uncompressed: >= 1 bit per pixel must be in the file
    (tmp_path / "t.bmp").write_bytes(bytes(b))
    with pytest.raises(ScanFormatError, match=r"t\.bmp: truncated: header declares 64x64"):
        read_image(tmp_path / "t.bmp")
    (tmp_path / "junk.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(ScanFormatError, match=r"junk\.png: not a recognised image format"):
        read_image(tmp_path / "junk.png")


def test_corrupt_sibling_texture_named_in_error(tmp_path):
    s = make_scan(0, landmarks=0)
    p = tmp_path / "F0001_AN01WH_F3D.wrl"
    write_wrl(s, p)
    bmp = tmp_path / "F0001_AN01WH_F3D.bmp"
    bmp.write_bytes(bmp.read_bytes()[:40])
    with pytest.raises(ScanFormatError) as e:
        read_wrl(p)
    assert str(e.value).startswith(f"{bmp}: ")
    assert read_wrl(p, load_texture=False).n_vertices == s.n_vertices


def test_wrl_structure_errors(tmp_path):
    p = tmp_path / "s.wrl"
    cases = {
        "#VRML V1.0 ascii\n": "unsupported VRML version",
        "solid foo\n": "not a VRML file",
        "#VRML V2.0 utf8\nShape { }\n": "no IndexedFaceSet",
        WRL.format(pts="0 0 0, 1 0", idx="0 1 2"): "not a multiple of 3",
        WRL.format(pts="0 0 0, 1 0 0, 0 1 0", idx="0 1 2.5"): "not an integer",
        WRL.format(pts="0 0 0, 1 0 0, 0 1 0", idx="0 1 2")[:-12]: "unbalanced",
        "#VRML V2.0 utf8\nShape { geometry IndexedFaceSet { coord USE c coordIndex [0 1 2] } }": "USE",
    }
    for text, msg in cases.items():
        p.write_text(text)
        with pytest.raises(ScanFormatError, match=msg) as e:
            read_wrl(p)
        assert str(e.value).startswith(f"{p}: ")
