"""Round trips through every writer/reader pair, plus files ferbench did not write."""
from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest

from _io_helpers import make_grid, make_scan
from ferbench.errors import DatasetError, ScanFormatError
from ferbench.io import (
    BOSPHORUS_LANDMARK_NAMES, BU3DFE_LANDMARK_NAMES, bosphorus_stem, bu3dfe_filename, index_dataset,
    parse_bosphorus_name, parse_bu3dfe_name, read_bnd, read_bnt, read_image, read_lm2, read_lm3, read_obj,
    read_ply, read_scan, read_wrl, write_bnd, write_bnt, write_image, write_lm2, write_lm3, write_ply,
    write_scan, write_wrl,
)
from ferbench.io.bosphorus import grid_to_mesh
from ferbench.labels import ALL_EXPRESSIONS, BU3DFE_CODES

def _assert_same_mesh(a, b, vtol, ttol):
    np.testing.assert_allclose(a.vertices, b.vertices, atol=vtol, rtol=0)
    np.testing.assert_array_equal(a.faces, b.faces)
    if a.texcoord_faces is None:
        assert b.texcoord_faces is None
    else:
        np.testing.assert_array_equal(a.texcoord_faces, b.texcoord_faces)
    np.testing.assert_allclose(a.texcoords, b.texcoords, atol=ttol, rtol=0)


# --- BU-3DFE ---------------------------------------------------------------------------------
@pytest.mark.parametrize("per_corner", [False, True])
def test_wrl_roundtrip_with_texture_landmarks_labels(tmp_path, per_corner):
    scan = make_scan(1, per_corner_uv=per_corner)
    ids = np.arange(83) * 2 % scan.n_vertices  # ids must name vertices of the mesh
    scan.meta.extra["landmark_vertex_ids"] = ids
    p = tmp_path / "F0007_SU04LA_F3D.wrl"
    write_scan(scan, p)
    assert (tmp_path / "F0007_SU04LA_F3D.bmp").is_file() and (tmp_path / "F0007_SU04LA_F3D.bnd").is_file()
    back = read_scan(p)
    _assert_same_mesh(scan, back, 5e-7, 5e-8)  # %.6f / %.7f
    np.testing.assert_array_equal(back.texture, scan.texture)
    np.testing.assert_array_equal(back.vertex_colors, scan.vertex_colors)  # 0-1 floats, rounded back
    np.testing.assert_allclose(back.landmarks, scan.landmarks, atol=5e-7, rtol=0)
    np.testing.assert_array_equal(back.meta.extra["landmark_vertex_ids"], ids)
    assert back.landmark_names == BU3DFE_LANDMARK_NAMES
    m = back.meta
    assert (m.dataset, m.subject, m.expression, m.intensity) == ("bu3dfe", "F0007", "surprise", 4)
    assert (m.extra["race"], m.extra["kind"]) == ("LA", "F3D")
    assert "texture_missing" not in m.extra


def test_wrl_missing_texture_is_recorded_not_raised(tmp_path):
    scan = make_scan(2, landmarks=0)
    p = tmp_path / "F0001_NE00WH_F3D.wrl"
    write_wrl(scan, p, write_texture=False)
    back = read_wrl(p)
    assert back.texture is None
    assert back.meta.extra["texture_missing"] == str(tmp_path / "F0001_NE00WH_F3D.bmp")
    assert (back.meta.expression, back.meta.intensity) == ("neutral", 0)
    assert read_wrl(p, load_texture=False).meta.extra.get("texture_missing") is None


HAND_WRL = """#VRML V2.0 utf8
# hand-written: blanks instead of commas, wrapped lines, a quad, a pentagon, no final -1
Shape {
  appearance Appearance { texture ImageTexture { url "does_not_exist.bmp" } }  # stale url
  geometry DEF face IndexedFaceSet {
    coord Coordinate { point [ 0 0 0  1 0 0
      1 1 0    0 1 0
      2 0 0.5 2.5 0.5 0.5 2 1
      0.5 ] }
    texCoord TextureCoordinate {
      point [ 0 0 1 0 1 1 0 1 0.8 0.1 0.9 0.5 0.8
              0.9 ]
    }
    coordIndex [ 0 1 2 3 -1 1 4
                 5 6 2 -1 # comment inside a list
                 0 3 1 ]
    texCoordIndex [ 0 1 2 3 -1 1 4 5 6 2 -1 0 3 1 ]
  }
}
"""


def test_wrl_written_by_hand(tmp_path):
    """A file ferbench did not write: free formatting, polygons, texture found by stem."""
    p = tmp_path / "M0003_HA02AE_F3D.wrl"
    p.write_text(HAND_WRL)
    tex = np.zeros((4, 6, 3), np.uint8)
    tex[1, 2] = (255, 0, 7)
    write_image(tmp_path / "M0003_HA02AE_F3D.BMP", tex)  # upper-case extension on disk
    s = read_scan(p)
    np.testing.assert_array_equal(s.vertices[[0, 4, 6]], [[0, 0, 0], [2, 0, 0.5], [2, 1, 0.5]])
    assert s.n_vertices == 7
    # quad -> 2 fan triangles, pentagon -> 3, unterminated triangle -> 1
    np.testing.assert_array_equal(s.faces, [[0, 1, 2], [0, 2, 3], [1, 4, 5], [1, 5, 6], [1, 6, 2], [0, 3, 1]])
    np.testing.assert_array_equal(s.texcoord_faces, s.faces)
    np.testing.assert_allclose(s.texcoords[6], [0.8, 0.9])
    np.testing.assert_array_equal(s.texture, tex)
    assert (s.meta.subject, s.meta.expression, s.meta.intensity, s.meta.extra["race"]) == ("M0003", "happiness", 2, "AE")


def test_wrl_commas_and_several_shapes(tmp_path):
    text = ("#VRML V2.0 utf8\nGroup { children [\n"
            "Shape { geometry IndexedFaceSet { coord Coordinate { point [0,0,0, 1,0,0, 0,1,0,] }\n"
            "  coordIndex [0,1,2,-1,] } }\n"
            "Shape { geometry IndexedFaceSet { coord Coordinate { point [5 5 5, 6 5 5, 5 6 5, 6 6 5] }\n"
            "  coordIndex [0, 1, 3, 2, -1] } }\n] }\n")
    p = tmp_path / "two.wrl"
    p.write_text(text)
    s = read_wrl(p)
    assert s.n_vertices == 7 and s.meta.extra["n_shapes"] == 2
    np.testing.assert_array_equal(s.faces, [[0, 1, 2], [3, 4, 6], [3, 6, 5]])
    assert s.meta.subject is None  # not a BU-3DFE name: no labels, no error


def test_bnd_roundtrip(tmp_path):
    rng = np.random.default_rng(3)
    lm = rng.normal(0, 40, (83, 3))
    write_bnd(tmp_path / "a.bnd", lm)
    back, ids = read_bnd(tmp_path / "a.bnd")
    np.testing.assert_allclose(back, lm, atol=5e-7, rtol=0)
    np.testing.assert_array_equal(ids, -np.ones(83))
    assert len(BU3DFE_LANDMARK_NAMES) == 83 == len(set(BU3DFE_LANDMARK_NAMES))
    assert BU3DFE_LANDMARK_NAMES[0] == "left_eye_00" and BU3DFE_LANDMARK_NAMES[82] == "chin_14"
    assert BU3DFE_LANDMARK_NAMES[48] == "mouth_00" and BU3DFE_LANDMARK_NAMES[36] == "nose_00"


def test_bu3dfe_names():
    assert parse_bu3dfe_name("F0001_AN01WH_F3D.wrl") == dict(
        subject="F0001", expression="anger", intensity=1, race="WH", kind="F3D")
    assert parse_bu3dfe_name("/x/y/M0044_NE00BL_RAW.wrl")["expression"] == "neutral"
    assert parse_bu3dfe_name("F0001_AN01WH_F3D.wrl")["intensity"] == 1
    n = 0
    for code, name in BU3DFE_CODES.items():
        for level in ([0] if code == "NE" else [1, 2, 3, 4]):
            fn = bu3dfe_filename("M0012", name, level, race="IN", kind="F2D", ext="bmp")
            assert fn == f"M0012_{code}{level:02d}IN_F2D.bmp"
            assert parse_bu3dfe_name(fn) == dict(subject="M0012", expression=name, intensity=level, race="IN",
                                                 kind="F2D")
            n += 1
    assert n == 25  # the 25 scans of one subject
    for bad in ["F0001_AN05WH_F3D.wrl", "F0001_NE01WH_F3D.wrl", "F0001_AN00WH_F3D.wrl", "F0001_XX01WH_F3D.wrl",
                "X0001_AN01WH_F3D.wrl", "F001_AN01WH_F3D.wrl", "model.wrl", ""]:
        with pytest.raises(ScanFormatError):
            parse_bu3dfe_name(bad)


# --- Bosphorus -------------------------------------------------------------------------------
def test_bnt_hand_built_fixture_orientation(tmp_path):
    """Planes built by hand in the stored (bottom-up, row-major, x y z u v) order."""
    h, w, zmin = 3, 4, -1e9
    r, c = np.mgrid[0:h, 0:w].astype(float)  # image orientation, row 0 = top
    planes = {"x": c * 10.0, "y": -r * 10.0, "z": 100 + r * w + c, "u": c / (w - 1), "v": 1 - r / (h - 1)}
    for k in planes:  # background at the image's top-left (all five values = zmin, as write_bnt does)
        planes[k][0, 0] = zmin
    name = b"bs012_E_FEAR_0.png"
    body = b"".join(np.ascontiguousarray(planes[k][::-1]).astype("<f8").tobytes() for k in "xyzuv")
    raw = struct.pack("<HHd", h, w, zmin) + struct.pack("<H", len(name)) + name + struct.pack("<I", 5 * h * w) + body
    p = tmp_path / "bs012_E_FEAR_0.bnt"
    p.write_bytes(raw)
    s = read_bnt(p)
    assert s.grid.shape == (3, 4, 3)
    assert np.isnan(s.grid[0, 0]).all()
    np.testing.assert_array_equal(s.grid[2, 3], [30.0, -20.0, 100 + 11])  # bottom-right
    np.testing.assert_array_equal(s.grid[1:, 0, 0], [0, 0])                # x grows with the column
    np.testing.assert_array_equal(s.grid[:, 1, 1], [0, -10, -20])           # y falls with the row
    assert s.n_vertices == 11 and s.n_faces == 2 * 5                        # 6 cells, one touches the hole
    e1 = s.vertices[s.faces[:, 1]] - s.vertices[s.faces[:, 0]]
    e2 = s.vertices[s.faces[:, 2]] - s.vertices[s.faces[:, 0]]
    assert np.all(np.cross(e1, e2)[:, 2] > 0)                               # normals toward the viewer
    np.testing.assert_array_equal(s.meta.extra["grid_uv"][1, 2], [2 / 3, 0.5])
    assert (s.meta.subject, s.meta.expression, s.meta.intensity) == ("bs012", "fear", None)
    assert s.meta.extra["image_name"] == name.decode() and "texture_missing" in s.meta.extra
    # the writer is the exact inverse of this hand-built layout
    write_bnt(tmp_path / "w.bnt", s.grid, s.meta.extra["grid_uv"], name.decode(), zmin=zmin)
    assert (tmp_path / "w.bnt").read_bytes() == raw


def test_bnt_roundtrip_with_png_and_lm3(tmp_path):
    rng = np.random.default_rng(4)
    grid = make_grid(9, 8)
    uv = rng.random((9, 8, 2))
    stem = bosphorus_stem("bs044", "happiness")
    assert stem == "bs044_E_HAPPY_0"
    write_bnt(tmp_path / f"{stem}.bnt", grid, uv, f"{stem}.png")
    tex = rng.integers(0, 256, (9, 8, 3), dtype=np.uint8)
    write_image(tmp_path / f"{stem}.png", tex)
    lm = rng.normal(0, 20, (22, 3))
    lm[[3, 17]] = np.nan  # occluded: omitted from the file
    write_lm3(tmp_path / f"{stem}.lm3", lm, BOSPHORUS_LANDMARK_NAMES)
    s = read_scan(tmp_path / f"{stem}.bnt")
    valid = np.isfinite(grid).all(axis=2)
    np.testing.assert_array_equal(np.isnan(s.grid).any(axis=2), ~valid)
    np.testing.assert_array_equal(s.grid[valid], grid[valid])
    np.testing.assert_array_equal(s.texcoords, uv[valid])
    v, f, _ = grid_to_mesh(grid)
    np.testing.assert_array_equal(s.vertices, v)
    np.testing.assert_array_equal(s.faces, f)
    np.testing.assert_array_equal(s.texture, tex)
    assert s.landmark_names == BOSPHORUS_LANDMARK_NAMES
    np.testing.assert_array_equal(np.isnan(s.landmarks).any(axis=1), np.isin(np.arange(22), [3, 17]))
    np.testing.assert_allclose(s.landmarks[~np.isnan(lm[:, 0])], lm[~np.isnan(lm[:, 0])], atol=5e-7, rtol=0)
    raw_lm, raw_names = read_lm3(tmp_path / f"{stem}.lm3")
    assert len(raw_lm) == 20 and "Nose tip" in raw_names and BOSPHORUS_LANDMARK_NAMES[3] not in raw_names
    # write_scan of what was read reproduces the .bnt byte for byte (default zmin)
    (tmp_path / "out").mkdir()
    write_scan(s, tmp_path / "out" / f"{stem}.bnt")
    assert (tmp_path / "out" / f"{stem}.bnt").read_bytes() == (tmp_path / f"{stem}.bnt").read_bytes()


def test_lm2_and_lm3_hand_written(tmp_path):
    p = tmp_path / "x.lm3"
    p.write_text("# LANDMARKS 3D\n# Bosphorus\n\n2 landmarks:\nNose tip\n1.5 -2 30\nChin middle\n0 -60 10.25\n")
    lm, names = read_lm3(p)
    assert names == ("Nose tip", "Chin middle")
    np.testing.assert_array_equal(lm, [[1.5, -2, 30], [0, -60, 10.25]])
    write_lm2(tmp_path / "y.lm2", lm[:, :2], names)
    lm2, names2 = read_lm2(tmp_path / "y.lm2")
    assert names2 == names
    np.testing.assert_array_equal(lm2, lm[:, :2])
    with pytest.raises(ScanFormatError, match="declares 3 landmarks"):
        p.write_text("3 landmarks:\nNose tip\n1 2 3\n")
        read_lm3(p)


def test_bosphorus_names():
    assert parse_bosphorus_name("bs000_E_HAPPY_0") == dict(subject="bs000", kind="E", expression="happiness",
                                                           code="HAPPY", take=0)
    assert parse_bosphorus_name("bs000_N_N_0")["expression"] == "neutral"
    au = parse_bosphorus_name("bs001_LFAU_12_0.bnt")
    assert (au["kind"], au["code"], au["expression"]) == ("LFAU", "12", None)
    assert parse_bosphorus_name("bs104_CAU_A22_0")["code"] == "A22"
    assert bosphorus_stem("bs000", "neutral") == "bs000_N_N_0"
    for e in ALL_EXPRESSIONS:
        assert parse_bosphorus_name(bosphorus_stem("bs007", e))["expression"] == e
    for bad in ["bs000_E_JOY_0", "bs00_E_HAPPY_0", "bs000_E_HAPPY", "F0001_AN01WH_F3D"]:
        with pytest.raises(ScanFormatError):
            parse_bosphorus_name(bad)


# --- OBJ / PLY ---------------------------------------------------------------------------------
@pytest.mark.parametrize("per_corner", [False, True])
def test_obj_roundtrip(tmp_path, per_corner):
    scan = make_scan(5, per_corner_uv=per_corner, landmarks=0)
    write_scan(scan, tmp_path / "m.obj")
    assert (tmp_path / "m.mtl").is_file() and (tmp_path / "m.png").is_file()
    back = read_scan(tmp_path / "m.obj")
    _assert_same_mesh(scan, back, 5e-7, 5e-8)
    np.testing.assert_array_equal(back.texture, scan.texture)
    np.testing.assert_array_equal(back.vertex_colors, scan.vertex_colors)


def test_obj_written_by_hand(tmp_path):
    (tmp_path / "h.mtl").write_text("newmtl skin\nKd 1 1 1\nmap_Kd -s 1 1 1 skin.png\n")
    tex = np.full((2, 3, 3), 9, np.uint8)
    write_image(tmp_path / "skin.png", tex)
    (tmp_path / "h.obj").write_text(
        "mtllib h.mtl\no face\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\nvn 0 0 1\n"
        "usemtl skin\ns off\nf 1/1/1 2/2/1 3/3/1 4/4/1\nf -4/-4 -2/-2 -1/-1\nv 2 2 2\nf -1/1 1/2 2/3\n")
    s = read_obj(tmp_path / "h.obj")
    np.testing.assert_array_equal(s.faces, [[0, 1, 2], [0, 2, 3], [0, 2, 3], [4, 0, 1]])
    np.testing.assert_array_equal(s.texcoord_faces, [[0, 1, 2], [0, 2, 3], [0, 2, 3], [0, 1, 2]])
    np.testing.assert_array_equal(s.texture, tex)
    (tmp_path / "n.obj").write_text("v 0 0 0 1\nv 1 0 0 1\nv 0 1 0 1\nvn 0 0 1\nf 1//1 2//1 3//1\nf 3//1 2//1 1//1\n")
    s = read_obj(tmp_path / "n.obj")
    np.testing.assert_array_equal(s.faces, [[0, 1, 2], [2, 1, 0]])
    assert s.texcoords is None and s.texture is None


def test_sfm_reference_obj_counts(sfm_dir):
    """A real OBJ ferbench did not write: the Surrey Face Model reference shape.

    The task brief quoted 3,448 vertices / 6,736 triangles (the sfm_shape_3448 model), but
    the shipped sfm_reference.obj (sha256 1ac929fc...) is the 845-vertex low-resolution
    reference mesh; the counts below are those of the file, checked independently by
    counting its 'v' / 'f' lines.
    """
    p = sfm_dir / "sfm_reference.obj"
    if not p.is_file():
        pytest.skip(f"Surrey Face Model reference OBJ not found at {p}")
    data = p.read_bytes()
    assert hashlib.sha256(data).hexdigest().startswith("1ac929fc7db5a2ec")
    lines = data.decode().splitlines()
    n_v = sum(ln.startswith("v ") for ln in lines)
    n_f = sum(ln.startswith("f ") for ln in lines)
    s = read_scan(p)
    assert (s.n_vertices, s.n_faces) == (n_v, n_f) == (845, 1610)
    assert s.faces.min() == 0 and s.faces.max() == 844
    assert np.isfinite(s.vertices).all() and s.texcoords is None


@pytest.mark.parametrize("binary", [True, False])
def test_ply_roundtrip(tmp_path, binary):
    scan = make_scan(6, landmarks=0)
    write_ply(scan, tmp_path / "m.ply", binary=binary)
    back = read_ply(tmp_path / "m.ply")
    _assert_same_mesh(scan, back, 0 if binary else 5e-7, 0 if binary else 5e-8)
    np.testing.assert_array_equal(back.vertex_colors, scan.vertex_colors)
    np.testing.assert_array_equal(back.texture, scan.texture)


def test_ply_big_endian_quads_and_extra_elements(tmp_path):
    head = ("ply\nformat binary_big_endian 1.0\ncomment made by hand\nelement vertex 5\nproperty float x\n"
            "property float y\nproperty float z\nproperty float nx\nelement face 2\n"
            "property uchar flags\nproperty list uchar uint vertex_indices\nelement edge 1\n"
            "property int vertex1\nproperty int vertex2\nend_header\n").encode()
    verts = np.arange(20, dtype=">f4").reshape(5, 4)
    faces = struct.pack(">BB4I", 7, 4, 0, 1, 2, 3) + struct.pack(">BB3I", 7, 3, 4, 0, 1)
    (tmp_path / "q.ply").write_bytes(head + verts.tobytes() + faces + struct.pack(">ii", 0, 1))
    s = read_ply(tmp_path / "q.ply")
    np.testing.assert_array_equal(s.vertices, verts[:, :3].astype(float))
    np.testing.assert_array_equal(s.faces, [[0, 1, 2], [0, 2, 3], [4, 0, 1]])


# --- images / dispatch -----------------------------------------------------------------------------
def test_images_convert_grey_and_rgba(tmp_path):
    from PIL import Image

    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    Image.fromarray(grey).save(tmp_path / "g.png")
    np.testing.assert_array_equal(read_image(tmp_path / "g.png"), np.repeat(grey[:, :, None], 3, axis=2))
    rgba = np.random.default_rng(7).integers(0, 256, (5, 6, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), rgba[:, :, :3])
    for ext in ("bmp", "png"):
        write_image(tmp_path / f"c.{ext}", rgba[:, :, :3])
        np.testing.assert_array_equal(read_image(tmp_path / f"c.{ext}"), rgba[:, :, :3])


def test_read_scan_dispatch_errors(tmp_path):
    (tmp_path / "a.stl").write_text("solid x")
    with pytest.raises(ScanFormatError, match=r"a\.stl: unsupported scan extension"):
        read_scan(tmp_path / "a.stl")
    with pytest.raises(ScanFormatError, match="no such file"):
        read_scan(tmp_path / "missing.wrl")
    with pytest.raises(ScanFormatError, match="no range grid"):
        write_scan(make_scan(0), tmp_path / "x.bnt")


# --- dataset index -------------------------------------------------------------------------------
def _tiny(seed):
    s = make_scan(seed, h=3, w=3, colors=False, landmarks=0)
    s.texture = None
    return s


def test_index_dataset_both_layouts_and_manifest(tmp_path):
    bu = tmp_path / "BU3DFE"
    bu_files = []
    for sid in ("F0002", "M0001"):
        (bu / sid).mkdir(parents=True)
        for ex, lv in (("anger", 3), ("anger", 4), ("happiness", 3), ("neutral", 0)):
            fn = bu / sid / bu3dfe_filename(sid, ex, lv)
            write_wrl(_tiny(len(bu_files)), fn)
            bu_files.append(fn)
    write_wrl(_tiny(0), bu / "M0001" / "M0001_AN03WH_RAW.wrl")       # other kind: ignored
    (bu / "M0001" / "notes.wrl").write_text("#VRML V2.0 utf8\n")      # bad name: skipped
    bos = tmp_path / "Bosphorus"
    for sid in ("bs001", "bs000"):
        (bos / sid).mkdir(parents=True)
        for ex in ("happiness", "fear", "neutral"):
            write_bnt(bos / sid / f"{bosphorus_stem(sid, ex)}.bnt", make_grid(3, 3, hole=False),
                      np.zeros((3, 3, 2)), "x.png")
    (bos / "bs000" / "bs000_E_JOY_0.bnt").write_bytes(b"")            # bad code: skipped
    rows = ["path,dataset,subject,expression,intensity,source,seed"]
    for i, f in enumerate(bu_files[:4]):
        lab = parse_bu3dfe_name(f.name)
        rows.append(f"{f.relative_to(tmp_path).as_posix()},bu3dfe,{lab['subject']},{lab['expression']},"
                    f"{lab['intensity']},synthetic-sfm,{i}")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")

    idx = index_dataset(tmp_path)
    assert len(idx) == 8 + 6 and idx.skipped == 2
    assert sorted(Path(p).name for p in idx.skipped_paths) == ["bs000_E_JOY_0.bnt", "notes.wrl"]
    assert idx.subjects() == ["F0002", "M0001", "bs000", "bs001"]
    bu_idx = index_dataset(tmp_path, dataset="BU-3DFE")
    assert len(bu_idx) == 8 and {r.dataset for r in bu_idx} == {"bu3dfe"}
    assert bu_idx.counts() == {"anger": {3: 2, 4: 2}, "happiness": {3: 2}, "neutral": {0: 2}}
    assert list(bu_idx.counts()) == ["anger", "happiness", "neutral"]
    syn = idx.filter(synthetic=True)
    assert len(syn) == 4 and {r.subject for r in syn} == {"F0002"}
    assert sorted(r.extra["seed"] for r in syn) == ["0", "1", "2", "3"]
    assert len(idx.filter(dataset="bosphorus", expression=["fear", "happiness"])) == 4
    assert len(idx.filter(intensity=lambda i: i is not None and i >= 3, subject="M0001")) == 3
    assert len(idx.filter(kind="E")) == 4  # extra key
    bos_idx = index_dataset(bos)
    assert len(bos_idx) == 6 and bos_idx.counts() == {"fear": {None: 2}, "happiness": {None: 2},
                                                     "neutral": {None: 2}}
    assert bos_idx[0].subject == "bs000" and isinstance(bos_idx[:2], type(bos_idx)) and len(bos_idx[:2]) == 2
    text = idx.summary().splitlines()
    assert text[0] == "14 scans, 4 subjects (4 synthetic), 2 files skipped (names did not parse)"
    assert "  bu3dfe: 8 scans, 2 subjects" in text and "    anger      3: 2, 4: 2" in text
    s = syn[0].load()
    assert s.meta.synthetic and s.meta.subject == "F0002"
    # manifest that contradicts the file name
    (tmp_path / "manifest.csv").write_text(rows[0] + "\n" + rows[1].replace(",anger,", ",fear,") + "\n")
    with pytest.raises(DatasetError, match="expression"):
        index_dataset(tmp_path)
    with pytest.raises(DatasetError):
        index_dataset(tmp_path / "nope")
    with pytest.raises(DatasetError):
        index_dataset(tmp_path, dataset="ck+")
