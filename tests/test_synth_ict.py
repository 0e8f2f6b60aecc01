"""Tests of the embedded ICT face model and its FACS expression recipes (ferbench.synth).

The shipped model is compared with the full compact copy in ``shared/models/ict_face`` when
it is present (skipped otherwise). Landmark effects are measured on iBUG-68 distances of
scans without pose, noise, holes or crop, for 10 sampled identities (each with its own
jittered, asymmetric recipe).
"""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ferbench.errors import ModelAssetError
from ferbench.io import index_dataset, read_scan
from ferbench.labels import EXPRESSIONS
from ferbench.synth import dataset_face_model, generate_dataset, load_face_model, sample_subject, synthesize_scan
from ferbench.synth.expressions import AU_BLENDSHAPES, EMOTION_AUS, RECIPE_SOURCE, sample_expression_styles
from ferbench.synth.ict import ICT_FILE, ict_data_dir, read_ict_npz

REPO = Path(__file__).resolve().parents[1]
FULL_COPY = REPO.parent / "shared" / "models" / "ict_face" / "ict_face_light.npz"
N_IDS = 10


@pytest.fixture(scope="module")
def ict():
    return load_face_model()


# --- the shipped model --------------------------------------------------------------------------------
def test_default_face_model_is_the_shipped_ict(ict):
    assert ict.name == "ict-face-light" and ict.source_label == "synthetic-ict"
    assert Path(ict.source_dir) == (ict_data_dir() / ICT_FILE).resolve()
    assert ict.n_vertices == 10473 and ict.n_modes == 100 and len(ict.blend_names) == 53  # eyes: front sclera
    assert ict.texcoord_faces.shape == ict.triangles.shape and len(ict.texcoords) > ict.n_vertices  # seams
    assert 0 <= ict.texcoords.min() and ict.texcoords.max() <= 1
    # millimetres: eye corners ~89 mm apart, nose tip the most forward skin point, subject's left at +x
    outer = np.linalg.norm(ict.mean[ict.ibug_vertex(37)] - ict.mean[ict.ibug_vertex(46)])
    assert 80 < outer < 100 and ict.mean[ict.ibug_vertex(46), 0] > 0
    assert ict.mean[ict.nose_tip, 2] == pytest.approx(ict.mean[ict.skin_mask, 2].max(), abs=1.0)
    for ids, k in ((ict.bu3dfe_vertices, 83), (ict.bosphorus_vertices, 22)):
        assert len(set(ids.tolist())) == k and ict.skin_mask[ids].all()  # never on an eyeball
    assert load_face_model(face_model="ict") is ict  # cached
    with pytest.raises(ValueError, match="face_model"):
        load_face_model(face_model="bfm")


def test_shipped_data_is_small_and_licensed():
    d = ict_data_dir()
    assert (d / ICT_FILE).stat().st_size < 10e6
    lic = (d / "LICENSE").read_text()
    assert "MIT License" in lic and "USC Institute for Creative Technologies" in lic


@pytest.mark.skipif(not FULL_COPY.is_file(), reason="full ICT copy (shared/models/ict_face) not present")
def test_shipped_model_reproduces_the_full_copy(ict):
    """Tolerance: max vertex error < 1e-6 mm on random faces (the kept modes are bit-identical float16)."""
    full = np.load(FULL_COPY)
    ship = read_ict_npz(ict_data_dir() / ICT_FILE)
    keep = ship["full_copy_vertices"]
    np.testing.assert_array_equal(ship["identity_modes"], full["identity_modes"][:, keep])
    np.testing.assert_array_equal(ship["expression_modes"], full["expression_modes"][:, keep])
    np.testing.assert_array_equal(keep[ship["landmarks_68"]], full["landmarks_68"])
    np.testing.assert_array_equal(keep[ship["faces"]], full["faces"][full["face_material"] != 0])  # all but M_BackHead
    rng = np.random.default_rng(0)
    fid = full["identity_modes"][:, keep].astype(np.float64)
    fex = full["expression_modes"][:, keep].astype(np.float64)
    sid = ship["identity_modes"].astype(np.float64)
    sex = ship["expression_modes"].astype(np.float64)
    for _ in range(5):
        a, e = rng.standard_normal(100), rng.uniform(0, 1, 53)
        want = 10.0 * (full["neutral"][keep] + np.tensordot(a, fid, 1) + np.tensordot(e, fex, 1))
        got = 10.0 * (ship["neutral"] + np.tensordot(a, sid, 1) + np.tensordot(e, sex, 1))
        assert np.abs(got - want).max() < 1e-6
    # the loader reads the full copy too and builds the same FaceModel (mm) as from the shipped file
    m = load_face_model(FULL_COPY.parent)  # a folder holding an ICT npz means face_model="ict"
    assert m.name == "ict-face-light"
    for name in ("mean", "triangles", "texcoords", "texcoord_faces", "shape_basis", "blend_basis", "ibug_vertices"):
        np.testing.assert_array_equal(getattr(m, name), getattr(ict, name), err_msg=name)
    a = rng.standard_normal(100)
    np.testing.assert_allclose(ict.shape(a)[ict.ibug_vertices], 10.0 * (
        full["neutral"] + np.tensordot(a, full["identity_modes"].astype(np.float64), 1))[full["landmarks_68"]],
        atol=1e-6)


def test_licence_is_inside_the_built_wheel(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "ferbench", src / "ferbench", ignore=ignore)
    shutil.copytree(REPO / "plugins", src / "plugins", ignore=ignore)
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                        "-q", "-w", str(tmp_path / "dist"), str(src)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    (whl,) = (tmp_path / "dist").glob("ferbench-*.whl")
    assert whl.stat().st_size < 10e6
    with zipfile.ZipFile(whl) as z:
        names = set(z.namelist())
        assert "ferbench/synth/data/ict_face/LICENSE" in names
        assert f"ferbench/synth/data/ict_face/{ICT_FILE}" in names
        assert "MIT License" in z.read("ferbench/synth/data/ict_face/LICENSE").decode()


def test_model_dir_without_a_model_is_an_error(tmp_path):
    with pytest.raises(ModelAssetError, match="not found"):
        load_face_model(tmp_path)
    with pytest.raises(ModelAssetError, match="ICT face model not found"):
        load_face_model(tmp_path, face_model="ict")
    from ferbench.cli import main

    with pytest.raises(SystemExit) as e:  # argparse refuses a folder that does not exist, in one line
        main(["synth", str(tmp_path / "out"), "--model-dir", str(tmp_path / "nonexistent"), "--no-progress"])
    assert e.value.code == 2
    # an existing folder without the model is refused by the library, also in one line
    (tmp_path / "empty").mkdir()
    assert main(["synth", str(tmp_path / "out"), "--model-dir", str(tmp_path / "empty"), "--no-progress"]) == 2
    assert not (tmp_path / "out" / "manifest.csv").exists()


# --- FACS recipes -------------------------------------------------------------------------------------
def test_recipes_are_the_emfacs_prototypes_on_existing_blendshapes(ict):
    assert "Ekman" in RECIPE_SOURCE
    required = {e: {au for au, _, p in EMOTION_AUS[e] if p >= 1} for e in EXPRESSIONS}
    assert required == {"happiness": {6, 12}, "sadness": {1, 4, 15}, "surprise": {1, 2, 5, 26},
                        "fear": {1, 2, 4, 5, 7, 20, 26}, "anger": {4, 5, 7, 23}, "disgust": {9, 15, 16}}
    names = {b for bs in AU_BLENDSHAPES.values() for b, _ in bs}
    assert names <= set(ict.blend_names)
    assert dict(AU_BLENDSHAPES[12]) == {"mouthSmile_L": 1.0, "mouthSmile_R": 1.0}
    assert dict(AU_BLENDSHAPES[6]) == {"cheekSquint_L": 1.0, "cheekSquint_R": 1.0}


def _features(model, V) -> dict[str, float]:
    P = lambda k: V[model.ibug_vertex(k)]  # noqa: E731
    d = lambda a, b: float(np.linalg.norm(P(a) - P(b)))  # noqa: E731
    y = lambda k: float(P(k)[1])  # noqa: E731
    return dict(
        corner_height=(y(49) + y(55)) / 2 - y(34),            # mouth corners above the subnasale
        eye_opening=d(38, 42) + d(39, 41) + d(44, 48) + d(45, 47),
        brow_height=float(np.mean([y(k) for k in range(18, 28)])) - y(31),
        inner_brow_raise=(y(22) + y(23)) / 2 - float(np.mean([y(k) for k in range(18, 28)])),
        inner_brow_gap=d(22, 23),
        jaw_drop=d(9, 28),
        mouth_width=d(49, 55),
        nose_to_lip=d(34, 52),
    )


@pytest.fixture(scope="module")
def moves(ict):
    """Feature change (mm) from each identity's own shape, per emotion and level 1 / 4, over N_IDS identities."""
    out = {}
    for i in range(N_IDS):
        s = sample_subject(ict, f"F{i + 1:04d}", np.random.default_rng(100 + i))
        base = _features(ict, ict.shape(s.alpha))
        for e in EXPRESSIONS:
            for lv in (1, 4):
                scan = synthesize_scan(ict, s, e, lv, np.random.default_rng(7 + i), pose=False, noise=False,
                                       holes=False, crop=False, landmark_set="ibug68")
                f = _features(ict, scan.vertices)
                for k, v in f.items():
                    out.setdefault((e, lv, k), []).append(v - base[k])
    return {k: np.array(v) for k, v in out.items()}


# (feature, sign) that each emotion's action units imply, at least 0.3 mm for every identity
AU_EFFECTS = {
    "happiness": [("corner_height", +1), ("eye_opening", -1)],                    # AU12 up, AU6 narrows the eyes
    "surprise": [("brow_height", +1), ("jaw_drop", +1), ("eye_opening", +1)],     # AU1+2, AU26, AU5
    "anger": [("brow_height", -1), ("inner_brow_gap", -1), ("eye_opening", -1)],  # AU4, AU4, AU7 over AU5
    "disgust": [("nose_to_lip", -1), ("brow_height", -1)],                         # AU9 lifts the lip, lowers brows
    "fear": [("brow_height", +1), ("mouth_width", +1), ("inner_brow_gap", -1), ("jaw_drop", +1)],  # AU1+2, 20, 4, 26
    "sadness": [("inner_brow_raise", +1), ("corner_height", -1), ("inner_brow_gap", -1)],  # AU1, AU15, AU4
}


@pytest.mark.parametrize("emotion", EXPRESSIONS)
def test_recipe_moves_landmarks_as_its_action_units_say(moves, emotion):
    for feature, sign in AU_EFFECTS[emotion]:
        d4 = moves[(emotion, 4, feature)]
        assert np.all(sign * d4 > 0.3), (emotion, feature, d4.round(2))


@pytest.mark.parametrize("emotion", EXPRESSIONS)
def test_intensity_4_moves_further_than_intensity_1(moves, emotion):
    for feature, sign in AU_EFFECTS[emotion]:
        d1, d4 = sign * moves[(emotion, 1, feature)], sign * moves[(emotion, 4, feature)]
        # (level 1 also carries the small activity of all other blendshapes, e.g. eyeBlink)
        assert np.all(d4 > d1) and d4.mean() > 1.5 * d1.mean(), (emotion, feature)


def test_two_subjects_never_show_an_expression_identically(ict):
    styles = [sample_expression_styles(ict.blend_names, np.random.default_rng(i)) for i in range(30)]
    for e in EXPRESSIONS:
        W = np.stack([s[e] for s in styles])
        gaps = np.abs(W[:, None] - W[None]).max(-1)[np.triu_indices(len(W), 1)]
        assert gaps.min() > 0.01, e
        # slight left/right asymmetry: every subject's recipe differs between its _L and _R blendshapes
        left = [i for i, n in enumerate(ict.blend_names) if n.endswith("_L")]
        right = [ict.blend_names.index(ict.blend_names[i][:-2] + "_R") for i in left]
        asym = np.abs(W[:, left] - W[:, right]).max(1)
        assert np.all(asym > 0.005) and asym.max() < 0.5, e
    # optional AUs are on for some subjects and off for others (AU25 of happiness: jawOpen)
    jaw = np.array([s["happiness"][ict.blend_names.index("jawOpen")] for s in styles])
    assert 0 < (jaw > 0).sum() < len(jaw)


def test_neutral_scans_have_small_random_activity(ict):
    s = sample_subject(ict, "F0001", np.random.default_rng(0))
    a = synthesize_scan(ict, s, "neutral", 0, np.random.default_rng(1), pose=False, noise=False, holes=False,
                        crop=False)
    w = a.meta.extra["weights"]
    assert w.shape == (53,) and 0 < w.max() < 0.25 and (w > 0).sum() > 40
    d = np.linalg.norm(a.vertices - ict.shape(s.alpha), axis=1)
    assert 0.05 < d.max() < 5.0


# --- scans and datasets ----------------------------------------------------------------------------
def test_ict_maps_are_clean_and_the_nose_tip_is_found(ict):
    import ferbench.maps as M
    from ferbench.preprocess.pipeline import preprocess_scan
    from ferbench.synth import subject_texture

    s = sample_subject(ict, "F0001", np.random.default_rng(3))
    scan = synthesize_scan(ict, s, "happiness", 4, np.random.default_rng(4), texture=subject_texture(ict, s, 64))
    g = preprocess_scan(scan, size=96)
    used = scan.meta.extra["model_vertex_ids"]
    tip = scan.vertices[np.flatnonzero(used == ict.nose_tip)[0]]
    assert np.linalg.norm(g.nose_tip - tip) < 6.0
    assert 0.35 * 96 * 96 < g.mask.sum() < 0.8 * 96 * 96
    out = M.compute_maps(g)
    for name, a in out.items():
        assert np.isfinite(a).all() and a.min() >= 0 and a.max() <= 1, name
    z = np.where(g.mask, g.z, np.nan)
    assert np.nanmax(z) - np.nanmin(z) > 40  # a face's relief (mm), not a flat patch


@pytest.fixture(scope="module")
def ict_dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("ict") / "data"
    return generate_dataset(out, n_subjects=1, seed=3, texture_size=64, image_size=64, workers=1, progress=False)


def test_dataset_records_the_face_model(ict_dataset):
    with open(ict_dataset.manifest, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 25 + 7
    assert {r["model"] for r in rows} == {"ict-face-light"} and {r["source"] for r in rows} == {"synthetic-ict"}
    assert all(len(r["weights"].split()) == 53 for r in rows)
    assert dataset_face_model(ict_dataset.root) == "ict-face-light"
    assert ict_dataset.model == "ict-face-light"
    note = (ict_dataset.root / "SYNTHETIC_DATA.txt").read_text()
    assert "ICT Face Model" in note and "FACS" in note and "MIT" in note
    assert dataset_face_model(ict_dataset.root / "BU3DFE") is None


def test_ict_scans_round_trip_through_both_readers(ict_dataset, ict):
    root = ict_dataset.root
    idx = index_dataset(root)
    assert len(idx) == 32 and idx.skipped == 0 and all(r.synthetic for r in idx)
    wrl = read_scan(root / "BU3DFE" / "F0001" / next(p.name for p in (root / "BU3DFE" / "F0001").glob("*HA04*F3D.wrl")))
    assert (wrl.meta.expression, wrl.meta.intensity) == ("happiness", 4)
    assert wrl.texcoord_faces is not None and wrl.texcoord_faces.shape == wrl.faces.shape  # seams kept
    assert len(wrl.texcoords) > wrl.n_vertices and wrl.texture.shape == (64, 64, 3)
    assert wrl.landmarks.shape == (83, 3)
    ids = wrl.meta.extra["landmark_vertex_ids"]
    np.testing.assert_allclose(wrl.vertices[ids[ids >= 0]], wrl.landmarks[ids >= 0], atol=1e-5)
    bnt = read_scan(root / "Bosphorus" / "bs000" / "bs000_E_SURPRISE_0.bnt")
    assert bnt.meta.expression == "surprise" and bnt.landmarks.shape == (22, 3)
    valid = np.isfinite(bnt.grid[..., 2])
    assert 0.25 * valid.size < valid.sum() < valid.size
    tip = bnt.landmark("Nose tip")
    assert np.all(np.isfinite(tip)) and tip[2] >= np.nanmax(bnt.grid[..., 2]) - 5.0
