"""Benchmark: the hostile reader inputs of issue 13 (items 4 and 8), at size n and 4n.

Times one read of each case at ``n`` and ``4 n`` units and prints the ratio: about 4
means linear in the file size (the old VRML parser gave ~16 for blank runs after
``url`` and ~10 for repeated keywords). Cases: ``url`` + n blanks, n repeated
``Coordinate`` / ``coordIndex`` words, a binary PLY of n mixed triangles and quads
(lists of varying length), and one OBJ face of n ``v/vt/vn`` corners. Issue 13's
figures were for n = 100k (VRML), a 6 MB PLY (n ~ 400k) and n = 3M (OBJ): pass
``--scale`` to reach them.

Usage: python benchmarks/bench_readers.py [--scale 1.0]
"""
from __future__ import annotations

import argparse
import os
import struct
import tempfile
import time

import numpy as np

from ferbench.io import read_obj, read_ply, read_wrl

_TAIL = (" geometry IndexedFaceSet {\n coord Coordinate { point [ 0 0 0, 1 0 0, 0 1 0 ] }\n"
         " coordIndex [ 0 1 2 -1 ] } }\n")


def _wrl(d: str, name: str, text: str) -> str:
    p = os.path.join(d, name + ".wrl")
    with open(p, "w") as fh:
        fh.write("#VRML V2.0 utf8\nShape {" + text + _TAIL)
    return p


def _ply(d: str, n: int) -> str:
    counts = np.random.default_rng(0).choice([3, 4], n)
    nv = 1000
    head = (f"ply\nformat binary_little_endian 1.0\nelement vertex {nv}\nproperty float x\nproperty float y\n"
            f"property float z\nelement face {n}\nproperty list uchar int vertex_indices\nend_header\n").encode()
    body = [np.random.default_rng(1).random((nv, 3)).astype("<f4").tobytes()]
    for i, k in enumerate(counts.tolist()):
        body.append(struct.pack(f"<B{k}i", k, *[(i + j) % nv for j in range(k)]))
    p = os.path.join(d, f"mixed{n}.ply")
    with open(p, "wb") as fh:
        fh.write(head + b"".join(body))
    return p


def _obj(d: str, n: int) -> str:
    p = os.path.join(d, f"face{n}.obj")
    idx = np.arange(n) % 1000 + 1
    with open(p, "w") as fh:
        fh.write("".join(f"v {np.cos(a):.4f} {np.sin(a):.4f} 0\nvt 0.5 0.5\n" for a in np.arange(1000)))
        fh.write("vn 0 0 1\nf " + " ".join(f"{i}/{i}/1" for i in idx.tolist()) + "\n")
    return p


def _time(fn, path: str) -> float:
    t = time.perf_counter()
    fn(path)
    return time.perf_counter() - t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies every n")
    a = ap.parse_args(argv)
    cases = [
        ("wrl: url + n blanks", 25_000, lambda d, n: _wrl(d, f"u{n}", " appearance Appearance { texture ImageTexture "
                                                                      "{ url" + " " * n + "} }"), read_wrl),
        ("wrl: n x 'Coordinate'", 25_000, lambda d, n: _wrl(d, f"c{n}", "Coordinate " * n), read_wrl),
        ("wrl: n x 'coordIndex'", 25_000, lambda d, n: _wrl(d, f"i{n}", "coordIndex " * n), read_wrl),
        ("ply: n mixed tri/quad faces", 100_000, _ply, read_ply),
        ("obj: one face of n corners", 250_000, _obj, read_obj),
    ]
    print(f"{'case':30s} {'n':>9s} {'MB':>6s} {'t(n) s':>8s} {'t(4n) s':>8s} {'ratio':>6s}")
    with tempfile.TemporaryDirectory() as d:
        for name, n0, make, read in cases:
            n = int(n0 * a.scale)
            p1, p4 = make(d, n), make(d, 4 * n)
            read(p1)  # warm-up
            t1, t4 = _time(read, p1), _time(read, p4)
            mb = os.path.getsize(p4) / 1e6
            print(f"{name:30s} {n:9d} {mb:6.2f} {t1:8.3f} {t4:8.3f} {t4 / max(t1, 1e-9):6.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
