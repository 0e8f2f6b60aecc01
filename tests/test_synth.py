"""Tests of ferbench.synth: face models, scan synthesis and the dataset generator.

Everything runs on the procedural face (``face_model="procedural"``; no shared/ needed); tests
marked with the ``sfm_dir`` fixture also check the Surrey Face Model and skip when it is absent.
The embedded default (the ICT face model) is tested in ``test_synth_ict.py``.
"""
from __future__ import annotations

import csv
import hashlib
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from ferbench.errors import DatasetError, ModelAssetError
from ferbench.io import index_dataset, read_bnt, read_lm2, read_scan, read_wrl, write_wrl
from ferbench.labels import EXPRESSIONS
from ferbench.synth import (
    expression_weights, find_face_model_dir, generate_dataset, load_face_model, procedural_model, sample_subject,
    subject_texture, synthesize_scan,
)
from ferbench.synth.model import read_sfm_shape

N_SUBJECTS = 2


@pytest.fixture(scope="module")
def empty_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("no_model")


@pytest.fixture(scope="module")
def proc():
    return procedural_model()


@pytest.fixture(params=["procedural", "sfm"])
def model(request, proc):
    if request.param == "procedural":
        return proc
    return load_face_model(request.getfixturevalue("sfm_dir"), allow_fallback=False)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, empty_dir):
    out = tmp_path_factory.mktemp("synth") / "data"
    g = generate_dataset(out, n_subjects=N_SUBJECTS, seed=5, face_model="procedural", texture_size=64, image_size=64,
                         workers=1, progress=False)
    return g


# --- models -------------------------------------------------------------------------------------
def test_find_face_model_dir_order(tmp_path, monkeypatch, empty_dir):
    fake = tmp_path / "m"
    fake.mkdir()
    (fake / "sfm_shape_3448.bin").write_bytes(b"x")
    assert find_face_model_dir(fake) == fake
    assert find_face_model_dir(empty_dir) is None  # explicit folder without a model: no search
    monkeypatch.setenv("FERBENCH_SFM_DIR", str(fake))
    assert find_face_model_dir() == fake
    monkeypatch.setenv("FERBENCH_SFM_DIR", str(empty_dir))
    assert find_face_model_dir() is None


def test_empty_folder_is_an_error_and_procedural_is_explicit(empty_dir):
    m = load_face_model(face_model="procedural")
    assert m.name == "procedural" and m.source_label == "synthetic-procedural"
    with pytest.raises(ModelAssetError, match="Surrey Face Model not found"):
        load_face_model(empty_dir)  # an explicit folder without a model is never silently replaced
    assert m.source_dir is None and len(m.sha256) == 64
    with pytest.raises(ModelAssetError, match="not found"):
        load_face_model(empty_dir, allow_fallback=False)


def _fake_model_dir(tmp_path: Path, shape_bytes: bytes, listed_sha: str | None = None) -> Path:
    d = tmp_path / "fake_sfm"
    d.mkdir()
    (d / "sfm_shape_3448.bin").write_bytes(shape_bytes)
    for name in ("expression_blendshapes_3448.bin", "ibug_to_sfm.txt", "sfm_model_contours.json"):
        (d / name).write_bytes(b"{}")
    lines = []
    for p in sorted(d.iterdir()):
        sha = hashlib.sha256(p.read_bytes()).hexdigest()
        if p.name == "sfm_shape_3448.bin" and listed_sha is not None:
            sha = listed_sha
        lines.append(f"{sha}  {p.name}\n")
    (d / "SHA256SUMS").write_text("".join(lines))
    return d


def test_sha_mismatch_raises_even_with_fallback(tmp_path):
    d = _fake_model_dir(tmp_path, b"\x01\x00\x00\x00garbage", listed_sha="0" * 64)
    with pytest.raises(ModelAssetError, match=r"sfm_shape_3448\.bin: SHA-256 mismatch"):
        load_face_model(d)  # a damaged model is never silently replaced by the fallback


def test_corrupt_model_file_gives_model_asset_error(tmp_path):
    # correct checksum, but the header declares a 10^9 x 1 matrix in a 20-byte file
    bad = struct.pack("<Iii", 1, 10**9, 1) + b"\0" * 8
    d = _fake_model_dir(tmp_path, bad)
    with pytest.raises(ModelAssetError, match="corrupt"):
        load_face_model(d)
    with pytest.raises(ModelAssetError, match="truncated"):
        read_sfm_shape(d / "x.bin", data=b"\x01\x00")


def test_sfm_sha_mismatch_on_real_files(sfm_dir, tmp_path):
    d = tmp_path / "sfm"
    shutil.copytree(sfm_dir, d)
    p = d / "expression_blendshapes_3448.bin"
    os.chmod(p, 0o644)
    data = bytearray(p.read_bytes())
    data[1000] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(ModelAssetError, match=r"expression_blendshapes_3448\.bin: SHA-256 mismatch"):
        load_face_model(d)


def test_sfm_facts(sfm_dir):
    m = load_face_model(sfm_dir, allow_fallback=False)
    assert m.name == "surrey-sfm3448" and m.source_label == "synthetic-sfm3448"
    assert m.sha256.startswith("43750338ae533e7f")
    assert m.n_vertices == 3448 and len(m.triangles) == 6736 and m.n_modes == 63
    np.testing.assert_allclose((m.shape_stddev[:3] ** 2).round(), [56502, 29755, 9637], atol=1)
    # orthonormal basis
    np.testing.assert_allclose(m.shape_basis.T @ m.shape_basis, np.eye(63), atol=1e-4)
    assert m.nose_tip == 114  # iBUG 31
    np.testing.assert_allclose(m.mean[m.nose_tip], [-0.3, -2.0, 3.3], atol=0.1)
    # uv converted to v = 0 at the bottom: the chin is low in the texture, the brows high
    assert m.uv[m.ibug_vertex(9), 1] == pytest.approx(1 - 0.926, abs=2e-3)
    assert m.uv[m.ibug_vertex(20), 1] > 0.65
    # subject's left outer eye corner at +x
    assert m.mean[m.ibug_vertex(46), 0] == pytest.approx(46.2, abs=0.1)


def test_model_invariants(model):
    n = model.n_vertices
    assert set(model.blendshapes) == set(EXPRESSIONS)
    assert all(b.shape == (n, 3) for b in model.blendshapes.values())
    assert model.uv.shape == (n, 2) and model.uv.min() >= 0 and model.uv.max() <= 1
    # triangles counter-clockwise seen from +z (the viewer)
    v, f = model.mean, model.triangles
    nz = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])[:, 2]
    assert (nz > 0).mean() > 0.95
    for ids, k in ((model.ibug_vertices, 68), (model.bu3dfe_vertices, 83), (model.bosphorus_vertices, 22)):
        assert ids.shape == (k,) and len(set(ids.tolist())) == k and ids.min() >= 0 and ids.max() < n
    assert model.nose_tip == model.ibug_vertex(31)
    assert np.argmax(model.mean[:, 2]) == model.nose_tip or model.mean[model.nose_tip, 2] > model.mean[:, 2].max() - 2
    # subject's left (+x) / right (-x): Bosphorus "Outer left eye corner" is iBUG 46
    assert model.mean[model.bosphorus_vertices[6], 0] > 30 > -30 > model.mean[model.bosphorus_vertices[9], 0]
    with pytest.raises(ValueError):
        model.mean[0, 0] = 1.0  # cached model arrays are read-only


# --- scans ---------------------------------------------------------------------------------------
def test_expression_weights(proc):
    s = sample_subject(proc, "F0001", np.random.default_rng(0))
    assert np.all(np.abs(s.alpha) <= 3) and np.all((s.gains >= 0.8) & (s.gains <= 1.2))
    for i, e in enumerate(EXPRESSIONS):
        for level in range(1, 5):
            w = expression_weights(s, e, level, np.random.default_rng(level))
            assert w[i] == pytest.approx(level / 4 * s.gains[i])
            others = np.delete(w, i)
            assert np.all(others >= 0) and np.all(others < 0.3)
    w0 = expression_weights(s, "neutral", 0, np.random.default_rng(0))
    assert np.all(w0 < 0.3) and w0.sum() > 0  # leakage only
    with pytest.raises(ValueError):
        expression_weights(s, "happiness", 5, np.random.default_rng(0))
    with pytest.raises(ValueError):
        expression_weights(s, "contempt", 1, np.random.default_rng(0))


def test_displacement_grows_with_level(model):
    s = sample_subject(model, "F0001", np.random.default_rng(11))
    identity = model.shape(s.alpha)
    for e in EXPRESSIONS:
        mags = []
        for level in range(0, 5):
            scan = synthesize_scan(model, s, e if level else "neutral", level, np.random.default_rng(99),
                                   pose=False, noise=False, holes=False, crop=False)
            assert scan.n_vertices == model.n_vertices
            mags.append(np.linalg.norm(scan.vertices - identity, axis=1).mean())
        # levels 1-4 strictly increasing; neutral carries only leakage, below level 4
        assert np.all(np.diff(mags[1:]) > 0), (e, mags)
        assert mags[4] > 1.5 * mags[1] and mags[4] > 1.5 * mags[0] > 0


def test_nuisance_makes_scans_differ(proc):
    s1 = sample_subject(proc, "F0001", np.random.default_rng(1))
    s2 = sample_subject(proc, "F0002", np.random.default_rng(2))
    a = synthesize_scan(proc, s1, "happiness", 4, np.random.default_rng(5), pose=False, holes=False, crop=False)
    b = synthesize_scan(proc, s2, "happiness", 4, np.random.default_rng(5), pose=False, holes=False, crop=False)
    c = synthesize_scan(proc, s1, "happiness", 4, np.random.default_rng(6), pose=False, holes=False, crop=False)
    assert np.linalg.norm(a.vertices - b.vertices, axis=1).mean() > 0.5  # identity + gain differ
    d_ac = np.linalg.norm(a.vertices - c.vertices, axis=1)
    assert 0.05 < d_ac.mean() < 2.0  # same subject: only leakage and noise differ
    assert not np.allclose(a.meta.extra["weights"], c.meta.extra["weights"])
    again = synthesize_scan(proc, s1, "happiness", 4, np.random.default_rng(5), pose=False, holes=False, crop=False)
    np.testing.assert_array_equal(a.vertices, again.vertices)


def test_full_scan_is_valid_cropped_posed_and_labelled(model):
    s = sample_subject(model, "M0003", np.random.default_rng(4))
    tex = subject_texture(model, s, 64)
    assert tex.shape == (64, 64, 3) and tex.dtype == np.uint8 and tex.std() > 5
    scan = synthesize_scan(model, s, "surprise", 3, np.random.default_rng(8), texture=tex, landmark_set="bosphorus")
    assert scan.meta.synthetic and scan.meta.dataset == "synthetic"
    assert (scan.meta.subject, scan.meta.expression, scan.meta.intensity) == ("M0003", "surprise", 3)
    assert scan.landmarks.shape == (22, 3) and len(scan.landmark_names) == 22
    assert scan.n_vertices < model.n_vertices and scan.faces.max() == scan.n_vertices - 1
    x = scan.meta.extra
    assert abs(x["yaw"]) <= 10 and abs(x["pitch"]) <= 5 and abs(x["roll"]) <= 3
    assert 0.1 <= x["noise_sd"] <= 0.3 and 82 <= x["crop_radius"] <= 88
    # every vertex lies within the crop radius of the nose tip in the unposed frame: undo the pose
    from ferbench.synth.generator import _rotation

    R = _rotation(x["yaw"], x["pitch"], x["roll"])
    tip = x["nose_tip_neutral"]
    unposed = (scan.vertices - tip - x["translation"]) @ R + tip
    assert np.linalg.norm(unposed[:, :2] - tip[:2], axis=1).max() <= x["crop_radius"] + 1e-6
    # landmark ids point at the landmark coordinates where the vertex survived
    ids = x["landmark_vertex_ids"]
    ok = ids >= 0
    np.testing.assert_allclose(scan.vertices[ids[ok]], scan.landmarks[ok], atol=1e-12)


def test_wrl_round_trip_of_a_synthetic_scan(proc, tmp_path):
    s = sample_subject(proc, "F0001", np.random.default_rng(0))
    scan = synthesize_scan(proc, s, "anger", 2, np.random.default_rng(1), texture=subject_texture(proc, s, 32))
    p = tmp_path / "F0001_AN02WH_F3D.wrl"
    write_wrl(scan, p)
    back = read_wrl(p)
    np.testing.assert_allclose(back.vertices, scan.vertices, atol=1e-6)
    np.testing.assert_array_equal(back.faces, scan.faces)
    np.testing.assert_allclose(back.vertex_uv(), scan.texcoords, atol=1e-7)
    np.testing.assert_array_equal(back.texture, scan.texture)
    assert (back.meta.expression, back.meta.intensity) == ("anger", 2)


# --- dataset generator ----------------------------------------------------------------------------
def _manifest(g) -> list[dict]:
    with open(g.manifest, newline="") as fh:
        return list(csv.DictReader(fh))


def test_dataset_counts_and_manifest(dataset):
    root = dataset.root
    wrl = sorted(root.glob("BU3DFE/*/*_F3D.wrl"))
    bnt = sorted(root.glob("Bosphorus/*/*.bnt"))
    assert len(wrl) == N_SUBJECTS * 25 and len(bnt) == N_SUBJECTS * 7
    rows = _manifest(dataset)
    n_missing = sum("missing_texture" in r["traits"].split() for r in rows)  # rare default trait: no texture file
    for suffix in ("_F3D.bmp", "_F3D.bnd", "_F2D.bmp"):
        want = N_SUBJECTS * 25 - (n_missing if suffix == "_F3D.bmp" else 0)
        assert len(list(root.glob(f"BU3DFE/*/*{suffix}"))) == want
    for ext in ("png", "lm3", "lm2"):
        assert len(list(root.glob(f"Bosphorus/*/*.{ext}"))) == N_SUBJECTS * 7
    assert len(rows) == len(dataset) == N_SUBJECTS * 32
    assert {r["source"] for r in rows} == {"synthetic-procedural"}
    assert {r["model_sha256"] for r in rows} == {procedural_model().sha256}
    assert {r["seed"] for r in rows} == {"5"}
    assert sorted({r["subject"] for r in rows}) == ["F0001", "M0001", "bs000", "bs001"]
    bu = [r for r in rows if r["dataset"] == "bu3dfe"]
    assert sorted((r["expression"], r["intensity"]) for r in bu if r["subject"] == "F0001") == sorted(
        [("neutral", "0")] + [(e, str(lv)) for e in EXPRESSIONS for lv in range(1, 5)])
    bos = [r for r in rows if r["dataset"] == "bosphorus"]
    assert all(r["intensity"] == "" and r["level"] in ("0", "4") for r in bos)
    note = (root / "SYNTHETIC_DATA.txt").read_text()
    assert "SYNTHETIC" in note and "procedural" in note and "must NOT be claimed" in note


def test_dataset_textures_are_shared_per_subject(dataset):
    # scans with the "seams" scanner trait carry their own re-laid-out atlas; the others share one file
    # (and the rare "missing_texture" ones have none)
    rows = [r for r in _manifest(dataset) if r["subject"] == "F0001"]
    seamed = {Path(r["path"]).stem for r in rows if "seams" in r["traits"].split()}
    missing = {Path(r["path"]).stem for r in rows if "missing_texture" in r["traits"].split()}
    bmps = sorted(b for b in dataset.root.glob("BU3DFE/F0001/*_F3D.bmp") if b.stem not in seamed)
    assert 0 < len(seamed) < 25 and len(bmps) == 25 - len(seamed - missing) - len(missing)
    assert not [b for b in bmps if b.stem in missing]
    first = bmps[0].read_bytes()
    assert all(b.read_bytes() == first for b in bmps)
    assert bmps[0].stat().st_nlink in (1, len(bmps))  # hard links where the file system allows them


def test_readers_read_back_and_labels_match(dataset):
    rows = {r["path"]: r for r in _manifest(dataset)}
    idx = index_dataset(dataset.root)
    assert len(idx) == len(rows) and idx.skipped == 0
    assert all(rec.synthetic for rec in idx)
    for rec in idx:
        rel = Path(rec.path).relative_to(dataset.root).as_posix()
        row = rows[rel]
        assert (rec.subject, rec.expression) == (row["subject"], row["expression"])
    # read a sample of each layout completely
    for rel, row in list(rows.items())[::9]:
        scan = read_scan(dataset.root / rel)
        assert scan.meta.subject == row["subject"] and scan.meta.expression == row["expression"]
        missing = "missing_texture" in row["traits"].split()       # a rare default scanner trait
        assert (scan.texture is None) == missing and ("texture_missing" in scan.meta.extra) == missing
        if row["dataset"] == "bu3dfe":
            assert scan.meta.intensity == int(row["intensity"])
            assert scan.n_vertices == int(row["n_vertices"]) and scan.n_faces == int(row["n_faces"])
            seamed = "seams" in row["traits"].split()  # the two-island atlas adds a gap: wider
            assert scan.landmarks.shape == (83, 3) and (missing or scan.texture.shape[0] == 64)
            assert missing or ((scan.texture.shape[1] > 64) if seamed else (scan.texture.shape == (64, 64, 3)))
            assert (scan.seam_vertex_count() > 0) == seamed
            ids = scan.meta.extra["landmark_vertex_ids"]
            np.testing.assert_allclose(scan.vertices[ids[ids >= 0]], scan.landmarks[ids >= 0], atol=1e-5)
        else:
            assert scan.grid.shape == (64, 64, 3) and scan.landmarks.shape == (22, 3)


def test_bosphorus_grid_png_and_lm2_agree(dataset):
    p = dataset.root / "Bosphorus" / "bs000" / "bs000_E_HAPPY_0.bnt"
    scan = read_bnt(p)
    grid, uv = scan.grid, scan.meta.extra["grid_uv"]
    h, w = grid.shape[:2]
    valid = np.isfinite(grid[..., 2])
    assert 0.2 * h * w < valid.sum() < h * w
    # u, v address the PNG pixel of the same cell (v = 0 at the bottom)
    rows, cols = np.nonzero(valid)
    np.testing.assert_allclose(uv[rows, cols, 0], (cols + 0.5) / w)
    np.testing.assert_allclose(uv[rows, cols, 1], 1 - (rows + 0.5) / h)
    # x grows with the column, y falls with the row, pixel pitch constant
    dx = np.diff(grid[..., 0], axis=1)
    dy = np.diff(grid[..., 1], axis=0)
    assert np.nanmin(dx) > 0 and np.nanmax(dy) < 0 and np.nanstd(dx) < 1e-9
    # the nose tip's lm2 pixel holds the lm3 nose tip (x, y) within one pixel
    lm2, names = read_lm2(p.with_suffix(".lm2"))
    k = names.index("Nose tip")
    col, row = np.round(lm2[k]).astype(int)
    tip = scan.landmark("Nose tip")
    px, py = np.nanmedian(dx), -np.nanmedian(dy)
    assert abs(grid[row, col, 0] - tip[0]) <= 0.5 * px + 1e-9 and abs(grid[row, col, 1] - tip[1]) <= 0.5 * py + 1e-9
    assert abs(grid[row, col, 2] - tip[2]) < 3.0
    # background of the render is not skin
    png = scan.texture
    assert png.shape == (h, w, 3) and np.all(png[~valid] == png[0, 0])


def test_generation_is_deterministic_across_worker_counts(dataset, tmp_path, empty_dir):
    out = tmp_path / "again"
    generate_dataset(out, n_subjects=N_SUBJECTS, seed=5, face_model="procedural", texture_size=64, image_size=64,
                     workers=2, progress=False)
    a = sorted(p.relative_to(dataset.root) for p in dataset.root.rglob("*") if p.is_file())
    b = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    n_missing = sum("missing_texture" in r["traits"].split() for r in _manifest(dataset))  # no texture file
    assert a == b and len(a) == N_SUBJECTS * (25 * 4 + 7 * 4) + 2 - n_missing
    for rel in a:
        assert (dataset.root / rel).read_bytes() == (out / rel).read_bytes(), rel
    # another seed changes the data
    other = generate_dataset(tmp_path / "other", n_subjects=1, seed=6, layouts=("bu3dfe",), face_model="procedural",
                             texture_size=64, image_size=64, workers=1, progress=False)
    mine = next(dataset.root.glob("BU3DFE/F0001/F0001_NE00*_F3D.wrl")).read_bytes()
    theirs = next(other.root.glob("BU3DFE/F0001/F0001_NE00*_F3D.wrl")).read_bytes()
    assert mine != theirs


def test_refuses_to_overwrite(dataset, tmp_path, empty_dir):
    with pytest.raises(DatasetError, match="not empty"):
        generate_dataset(dataset.root, n_subjects=1, face_model="procedural", progress=False)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(DatasetError, match="refusing"):
        generate_dataset(foreign, n_subjects=1, face_model="procedural", progress=False, overwrite=True)
    assert (foreign / "keep.txt").read_text() == "mine"
    with pytest.raises(ValueError):
        generate_dataset(tmp_path / "x", n_subjects=0, face_model="procedural", progress=False)
    with pytest.raises(ValueError):
        generate_dataset(tmp_path / "y", layouts=("ck+",), face_model="procedural", progress=False)


def test_sfm_dataset_records_the_model(sfm_dir, tmp_path):
    g = generate_dataset(tmp_path / "sfm", n_subjects=1, seed=0, layouts=("bu3dfe",), model_dir=sfm_dir,
                         texture_size=32, image_size=32, workers=1, progress=False)
    rows = _manifest(g)
    assert len(rows) == 25 and {r["source"] for r in rows} == {"synthetic-sfm3448"}
    assert {r["model_sha256"] for r in rows} == {load_face_model(sfm_dir).sha256}
    assert len(rows[0]["alpha"].split()) == 63
    assert "surrey-sfm3448" in (g.root / "SYNTHETIC_DATA.txt").read_text()
