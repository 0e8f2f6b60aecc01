"""Texture through UV seams, the missing-texture warning and the scanner traits of synthetic scans (issue 14).

Tolerances: the seamed atlas moves every island by whole texels, so per-corner sampling reads the same
texels with the same bilinear weights: equal to float rounding (1e-6). After a file round trip the
texture coordinates are rounded to 1e-6 (``%.6f``), i.e. < 2e-4 texel for a 140-texel atlas; the
bilinear colour changes by at most that fraction of one texel step (<= 1), so 1e-3 bounds it.
"""
from __future__ import annotations

import csv
import warnings

import numpy as np
import pytest

from ferbench.errors import FerbenchError, ScanFormatError, TextureMissingWarning
from ferbench.geometry import rasterize
from ferbench.io import read_scan, write_scan
from ferbench.io.scan import Scan
from ferbench.maps import compute_maps, missing_map_reasons
from ferbench.preprocess import preprocess_scan
from ferbench.synth import generate_dataset, procedural_model, sample_subject, subject_texture, synthesize_scan
from ferbench.synth.scanner import (
    TRAITS, add_holes, add_seamed_atlas, add_spikes, apply_traits, draw_traits, mark_texture_missing,
)

SIZE = 64


@pytest.fixture(scope="module")
def face() -> Scan:
    model = procedural_model()
    rng = np.random.default_rng(0)
    subj = sample_subject(model, "F0001", rng)
    return synthesize_scan(model, subj, "happiness", 3, rng, texture=subject_texture(model, subj, 128))


@pytest.fixture(scope="module")
def seamed(face) -> Scan:
    return add_seamed_atlas(face)


@pytest.fixture(scope="module")
def clean_grid(face):
    return preprocess_scan(face, size=SIZE)


def _dark(grid) -> int:
    return int(((grid.texture.max(-1) < 0.08) & grid.mask).sum())


# --- Scan helpers --------------------------------------------------------------------------------
def _two_triangles() -> Scan:
    """A square of two triangles whose shared edge is a UV seam (each triangle its own island)."""
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], float)
    f = np.array([[0, 1, 2], [0, 2, 3]])
    tc = np.array([[0.0, 0.0], [0.4, 0.0], [0.4, 0.4], [0.6, 0.6], [1.0, 0.6], [1.0, 1.0], [0.6, 0.6]])
    tf = np.array([[0, 1, 2], [3, 5, 4]])  # corners 0 and 2 have different uv in each triangle
    return Scan(vertices=v, faces=f, texcoords=tc, texcoord_faces=tf).validate()


def test_split_seams_duplicates_only_seam_vertices():
    s = _two_triangles()
    assert s.seam_vertex_count() == 2
    np.testing.assert_array_equal(s.corner_uv()[1], [[0.6, 0.6], [1.0, 1.0], [1.0, 0.6]])
    out, src = s.split_seams(return_index=True)
    assert out.texcoord_faces is None and out.n_vertices == 6 and out.n_faces == 2
    np.testing.assert_array_equal(src, [0, 1, 2, 3, 0, 2])
    np.testing.assert_array_equal(out.vertices, s.vertices[src])
    # every corner keeps its own position and uv
    np.testing.assert_array_equal(out.vertices[out.faces], s.vertices[s.faces])
    np.testing.assert_array_equal(out.texcoords[out.faces], s.corner_uv())
    assert out.seam_vertex_count() == 0


def test_split_seams_is_identity_without_seams(face):
    out = face.split_seams()
    np.testing.assert_array_equal(out.vertices, face.vertices)
    np.testing.assert_array_equal(out.faces, face.faces)
    per_corner = face.copy()
    per_corner.texcoord_faces = face.faces.copy()  # per-corner indexing, but no seam
    out = per_corner.split_seams()
    np.testing.assert_array_equal(out.faces, face.faces)
    np.testing.assert_allclose(out.texcoords, face.texcoords)


def test_rasterize_corner_attributes_equal_unwelded_reference(seamed):
    xl, yl = (-90.0, 90.0), (-100.0, 100.0)
    r1 = rasterize(seamed.vertices, seamed.faces, 80, 90, xl, yl, corner_attributes={"uv": seamed.corner_uv()})
    split = seamed.split_seams()
    r2 = rasterize(split.vertices, split.faces, 80, 90, xl, yl, {"uv": split.texcoords})
    assert r1.mask.sum() > 1000
    np.testing.assert_array_equal(r1.mask, r2.mask)
    np.testing.assert_allclose(r1.attributes["uv"][r1.mask], r2.attributes["uv"][r2.mask], atol=1e-12)
    with pytest.raises(ScanFormatError, match="corner attribute"):
        rasterize(seamed.vertices, seamed.faces, 8, 8, xl, yl, corner_attributes={"uv": np.zeros((3, 3, 2))})
    with pytest.raises(ScanFormatError, match="per vertex and per corner"):
        rasterize(split.vertices, split.faces, 8, 8, xl, yl, {"uv": split.texcoords},
                  corner_attributes={"uv": split.texcoords[split.faces]})


# --- texture maps across seams ---------------------------------------------------------------------
def test_seamed_atlas_layout(face, seamed):
    assert seamed.texture.shape[0] == face.texture.shape[0] and seamed.texture.shape[1] > face.texture.shape[1]
    assert seamed.texcoord_faces is not None and seamed.seam_vertex_count() > 10
    assert seamed.meta.extra["scanner_traits"] == ("seams",)
    # the islands are swapped, so welding the corners gives wrong uvs along the seam
    assert np.abs(seamed.vertex_uv() - face.texcoords).max() > 0.3


def test_seamed_texture_map_equals_seamless(clean_grid, seamed):
    g = preprocess_scan(seamed, size=SIZE)
    np.testing.assert_array_equal(g.mask, clean_grid.mask)
    np.testing.assert_allclose(g.texture, clean_grid.texture, atol=1e-6)
    assert _dark(g) == _dark(clean_grid)  # no dark seam pixels
    # the old per-vertex sampling (one uv per vertex) paints the seam: the test can fail
    welded = seamed.copy()
    welded.texcoords, welded.texcoord_faces = seamed.vertex_uv(), None
    gw = preprocess_scan(welded, size=SIZE)
    assert np.abs(gw.texture - clean_grid.texture).max() > 0.3 and _dark(gw) > _dark(clean_grid)


def test_seamed_texture_map_equals_unwelded_reference(seamed):
    g = preprocess_scan(seamed, size=SIZE)
    ref = preprocess_scan(seamed.split_seams(), size=SIZE)  # corners unwelded: per-vertex uv is exact
    np.testing.assert_array_equal(g.mask, ref.mask)
    np.testing.assert_allclose(g.xyz, ref.xyz, atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(g.texture, ref.texture, atol=1e-6)
    maps, maps_ref = compute_maps(g, ["texture", "gray", "lbp"]), compute_maps(ref, ["texture", "gray", "lbp"])
    for n in maps:
        np.testing.assert_allclose(maps[n], maps_ref[n], atol=1e-6)


@pytest.mark.parametrize("ext", [".wrl", ".obj", ".ply"])
def test_seams_survive_files(tmp_path, face, seamed, clean_grid, ext):
    p = tmp_path / f"F0001_HA03WH_F3D{ext}"
    write_scan(seamed, p)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TextureMissingWarning)
        back = read_scan(p)
    if ext == ".ply":  # per-vertex uv only: seam vertices are split, each side keeps its uv
        assert back.texcoord_faces is None and back.n_vertices == seamed.split_seams().n_vertices
    else:  # texCoordIndex / f v/vt
        assert back.seam_vertex_count() == seamed.seam_vertex_count()
    g = preprocess_scan(back, size=SIZE)
    np.testing.assert_array_equal(g.mask, clean_grid.mask)
    np.testing.assert_allclose(g.texture, clean_grid.texture, atol=1e-3)


def test_vertex_rgb_of_split_scan_is_exact_per_corner(seamed):
    split = seamed.split_seams()
    rgb = split.vertex_rgb()
    h, w = seamed.texture.shape[:2]
    uv = seamed.corner_uv()
    col = np.clip(np.rint(uv[..., 0] * (w - 1)), 0, w - 1).astype(int)
    row = np.clip(np.rint((1 - uv[..., 1]) * (h - 1)), 0, h - 1).astype(int)
    np.testing.assert_array_equal(rgb[split.faces], seamed.texture[row, col])


# --- missing texture ---------------------------------------------------------------------------
def _write_without_texture(tmp_path, face, ext):
    p = tmp_path / f"F0001_HA03WH_F3D{ext}"
    write_scan(face, p)
    for q in tmp_path.iterdir():
        if q.suffix.lower() in (".bmp", ".png"):
            q.unlink()
    return p


@pytest.mark.parametrize("ext,image", [(".wrl", "F0001_HA03WH_F3D.bmp"), (".obj", "F0001_HA03WH_F3D.png")])
def test_missing_texture_warns_once_and_is_kept(tmp_path, face, ext, image):
    p = _write_without_texture(tmp_path, face, ext)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        scan = read_scan(p)
    w = [r for r in rec if issubclass(r.category, TextureMissingWarning)]
    assert len(w) == 1 and f"{image} not found" in str(w[0].message) and str(p) in str(w[0].message)
    assert scan.texture is None and f"texture missing ({image} not found)" in repr(scan)
    reasons = missing_map_reasons(scan)
    assert set(reasons) == {"texture", "gray", "lbp"}
    assert reasons["texture"] == f"needs a texture; texture missing ({image} not found)"
    grid = preprocess_scan(scan, size=SIZE)
    assert missing_map_reasons(grid, ["texture", "depth"]) == {"texture": reasons["texture"]}
    with pytest.raises(FerbenchError, match=f"map 'gray' needs a texture; texture missing \\({image} not found"):
        compute_maps(scan, ["depth", "gray"], size=SIZE)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        read_scan(p, load_texture=False)
    assert not rec  # not asked for, not missed


def test_missing_map_reasons_without_texture_and_unknown(face):
    bare = Scan(vertices=face.vertices, faces=face.faces)
    assert missing_map_reasons(bare, ["texture", "depth", "nope"]) == {
        "texture": "needs a texture; the scan has no texture", "nope": "unknown map"}
    assert missing_map_reasons(face) == {}


def test_cli_maps_prints_why_texture_maps_are_missing(tmp_path, face, capsys):
    from ferbench.cli import main

    p = _write_without_texture(tmp_path, face, ".wrl")
    assert main(["maps", str(p), "--out", str(tmp_path / "maps"), "--size", "48"]) == 0
    assert main(["info", str(p)]) == 0
    captured = capsys.readouterr()
    out = captured.out
    # the reader's TextureMissingWarning reaches the user as one line per command
    warned = [ln for ln in captured.err.splitlines() if ln.startswith("ferbench: warning:")]
    assert len(warned) == 2 and all("F0001_HA03WH_F3D.bmp not found" in ln for ln in warned), captured.err
    assert "texture: missing, needs a texture; texture missing (F0001_HA03WH_F3D.bmp not found)" in out
    assert "lbp: missing" in out and "gray: missing" in out
    assert "texture missing (F0001_HA03WH_F3D.bmp not found)" in out  # ferbench info


# --- scanner traits ------------------------------------------------------------------------------
def test_holes_trait_removes_blobs_and_pipeline_fills_them(face, clean_grid):
    h = add_holes(face, np.random.default_rng(3), n_holes=3, radius_mm=(8.0, 8.0))
    assert h.meta.extra["scanner_holes"] == 3 and h.n_faces < face.n_faces - 30
    assert np.array_equal(np.unique(h.faces), np.arange(h.n_vertices))  # no unused vertex left
    ids = h.meta.extra["landmark_vertex_ids"]
    ok = ids >= 0
    np.testing.assert_allclose(h.vertices[ids[ok]], h.landmarks[ok])
    assert np.all(h.meta.extra["landmark_missing"] == ~ok)
    g = preprocess_scan(h, size=SIZE)
    holes = g.mask & ~g.valid
    assert holes.sum() > holes.size * 0.005  # unmeasured inside the face ...
    assert np.isfinite(g.xyz[..., 2][g.mask]).all()  # ... and filled
    assert np.nanmax(np.abs(g.xyz[..., 2] - clean_grid.xyz[..., 2])[g.mask & clean_grid.mask]) < 3.0


def test_spikes_trait_is_removed_by_preprocessing(face, clean_grid):
    s = add_spikes(face, np.random.default_rng(1), n_spikes=5, height_mm=(20.0, 30.0))
    ids = s.meta.extra["scanner_spikes"]
    d = np.linalg.norm(s.vertices - face.vertices, axis=1)
    assert len(ids) == 5 and np.all(d[ids] >= 20.0) and np.all(np.delete(d, ids) == 0)
    g = preprocess_scan(s, size=SIZE)
    assert g.params["spike_vertices"] == 5
    both = g.mask & clean_grid.mask
    assert np.nanmax(np.abs(g.xyz[..., 2] - clean_grid.xyz[..., 2])[both]) < 2.0
    raw = preprocess_scan(s, size=SIZE, spike_mm=0)  # without outlier handling the spikes stand out
    assert np.nanmax(np.abs(raw.xyz[..., 2] - clean_grid.xyz[..., 2])[raw.mask & clean_grid.mask]) > 8.0


def test_apply_and_draw_traits(face):
    out = apply_traits(face, TRAITS, np.random.default_rng(0))
    assert out.meta.extra["scanner_traits"] == TRAITS
    assert mark_texture_missing(face).meta.extra["scanner_traits"] == ("missing_texture",)
    draws = [draw_traits(np.random.default_rng(i), 0.5) for i in range(200)]
    assert 70 < sum(bool(d) for d in draws) < 130
    assert draws == [draw_traits(np.random.default_rng(i), 0.5) for i in range(200)]
    assert all(draw_traits(np.random.default_rng(i), 0.0) == () for i in range(20))
    with pytest.raises(ValueError, match="unknown scanner traits"):
        apply_traits(face, ["dust"], np.random.default_rng(0))


def _rows(root):
    with open(root / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_dataset_traits_recorded_reproducible_and_pipeline_handles_them(tmp_path):
    kw = dict(n_subjects=1, seed=4, layouts=("bu3dfe",), texture_size=64, image_size=32, workers=1,
              progress=False, scanner_traits=1.0, trait_kinds=TRAITS)
    generate_dataset(tmp_path / "a", **kw)
    rows = _rows(tmp_path / "a")
    assert all(r["traits"] for r in rows)  # share 1: every scan has at least one trait
    assert {t for r in rows for t in r["traits"].split()} == set(TRAITS)
    generate_dataset(tmp_path / "b", **kw)
    assert [r["traits"] for r in _rows(tmp_path / "b")] == [r["traits"] for r in rows]
    off = generate_dataset(tmp_path / "c", **{**kw, "scanner_traits": 0.0})
    assert all(r["traits"] == "" for r in off.rows)
    for t in TRAITS:  # read -> preprocess -> maps on one scan of each trait
        r = next(r for r in rows if t in r["traits"].split())
        p = tmp_path / "a" / r["path"]
        missing = "missing_texture" in r["traits"].split()
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            scan = read_scan(p)
        assert sum(issubclass(w.category, TextureMissingWarning) for w in rec) == int(missing)
        assert (scan.seam_vertex_count() > 0) == ("seams" in r["traits"].split())
        maps = compute_maps(scan, size=48)
        assert {"geometry", "shape_index", "depth"} <= set(maps)
        assert all(np.isfinite(m).all() for m in maps.values())
        reasons = missing_map_reasons(scan)
        assert (set(reasons) == {"texture", "gray", "lbp"}) if missing else (reasons == {} and "texture" in maps)


def test_napari_surface_colours_keep_seams(seamed):
    from ferbench_napari import scan_to_layers  # the layer tuples need no napari import

    (verts, faces), kw, kind = scan_to_layers(seamed)[0]
    split = seamed.split_seams()
    assert kind == "surface" and len(verts) == split.n_vertices > seamed.n_vertices
    np.testing.assert_array_equal(faces, split.faces)
    np.testing.assert_allclose(kw["vertex_colors"], split.vertex_rgb() / 255.0, atol=1e-7)
    assert kw["metadata"]["ferbench_scan"] is seamed  # widgets still compute on the scan itself


def test_render_textured_takes_corner_uv(seamed):
    from ferbench.synth.texture import render_textured

    win = ((-90.0, 90.0), (-100.0, 100.0))
    img, r = render_textured(seamed.vertices, seamed.faces, seamed.corner_uv(), seamed.texture, 48, 48, *win)
    split = seamed.split_seams()
    ref, r2 = render_textured(split.vertices, split.faces, split.texcoords, split.texture, 48, 48, *win)
    assert r.mask.sum() > 500
    np.testing.assert_allclose(r.attributes["uv"][r.mask], r2.attributes["uv"][r2.mask], atol=1e-12)
    # split seam vertices get one-sided normals, so Gouraud shading differs slightly along the seam
    diff = np.abs(img.astype(int) - ref).max(-1)
    assert (diff > 0).sum() < 0.05 * r.mask.sum() and diff.max() <= 12
