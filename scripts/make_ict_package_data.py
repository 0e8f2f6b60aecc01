"""Make ferbench's shipped ICT face model (ferbench/synth/data/ict_face/) from the full compact copy.

    .venv/bin/python scripts/make_ict_package_data.py [/path/to/shared/models/ict_face] [--out DIR]

What is reduced (lossless for everything kept):

* the back of the head (material ``M_BackHead``: skull behind the ears, never inside a frontal
  scan's crop) is dropped with the vertices only it uses; the face, neck, ears and both
  eyeballs (sclera + iris) stay: 12549 of 14388 vertices;
* all 100 identity modes and all 53 expression blendshapes are kept **bit for bit** (float16 as
  in the source), stored byte-shuffled (high and low bytes of each float16 in separate uint8
  planes, coordinate-major), which deflate compresses to ~6.5 MB instead of ~9 MB;
* everything else (neutral mesh in cm, triangles, per-corner UVs, materials, iBUG-68 vertices)
  is copied and re-indexed; ``source_vertices`` maps each kept vertex to the full copy.

The output is deterministic (same input -> same arrays); the loader is
:func:`ferbench.synth.model.read_ict_npz`.
"""
from __future__ import annotations

import argparse
import hashlib
import shutil
from pathlib import Path

import numpy as np

OUT_NAME = "ict_face_ferbench.npz"
DROP_MATERIALS = ("M_BackHead",)


def shuffle_f16(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(k, n, 3) float16 -> high and low byte planes (k, 3, n) uint8 (lossless)."""
    u = np.ascontiguousarray(np.asarray(a, np.float16).transpose(0, 2, 1)).view(np.uint16)
    return (u >> 8).astype(np.uint8), (u & 0xFF).astype(np.uint8)


def reduce_model(src: Path) -> dict[str, np.ndarray]:
    d = np.load(src)
    faces, mat = d["faces"], d["face_material"]
    materials = [str(m) for m in d["materials"]]
    drop = np.isin(mat, [materials.index(m) for m in DROP_MATERIALS])
    keep_f = ~drop
    used = np.unique(faces[keep_f])
    remap = np.full(len(d["neutral"]), -1, np.int64)
    remap[used] = np.arange(len(used))
    lm = d["landmarks_68"]
    if np.any(remap[lm] < 0):
        raise SystemExit(f"{src}: a landmark vertex would be dropped")
    tf = d["texcoord_faces"][keep_f]
    used_tc = np.unique(tf)
    tc_remap = np.full(len(d["texcoords"]), -1, np.int64)
    tc_remap[used_tc] = np.arange(len(used_tc))
    id_hi, id_lo = shuffle_f16(d["identity_modes"][:, used])
    ex_hi, ex_lo = shuffle_f16(d["expression_modes"][:, used])
    return dict(
        neutral=d["neutral"][used].astype(np.float32),
        faces=remap[faces[keep_f]].astype(np.int32),
        texcoords=d["texcoords"][used_tc].astype(np.float32),
        texcoord_faces=tc_remap[tf].astype(np.int32),
        face_material=mat[keep_f].astype(np.int16),
        materials=np.asarray(materials),
        identity_hi=id_hi, identity_lo=id_lo, identity_names=d["identity_names"],
        expression_hi=ex_hi, expression_lo=ex_lo, expression_names=d["expression_names"],
        landmarks_68=remap[lm].astype(np.int32),
        source_vertices=d["kept_source_vertices"][used].astype(np.int32),
        full_copy_vertices=used.astype(np.int32),
        full_copy_sha256=np.asarray(hashlib.sha256(src.read_bytes()).hexdigest()),
    )


def main(argv=None) -> int:
    here = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", nargs="?", default=str(here.parent / "shared" / "models" / "ict_face"))
    ap.add_argument("--out", default=str(here / "ferbench" / "synth" / "data" / "ict_face"))
    a = ap.parse_args(argv)
    src, out = Path(a.src), Path(a.out)
    arrays = reduce_model(src / "ict_face_light.npz")
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / OUT_NAME, **arrays)
    shutil.copyfile(src / "LICENSE", out / "LICENSE")
    print(f"{out / OUT_NAME}: {(out / OUT_NAME).stat().st_size / 1e6:.2f} MB, "
          f"{len(arrays['neutral'])} vertices, {len(arrays['faces'])} triangles")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
