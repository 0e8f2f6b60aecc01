"""The ICT Face Model Light (ICT-FaceKit, MIT licence), shipped inside ferbench as package data.

The model (``ferbench/synth/data/ict_face/``, made by ``scripts/make_ict_package_data.py``)
is a morphable head built from light-stage scans: a generic neutral mesh, 100 identity modes
(weights ~ N(0, 1)) and 53 ARKit-style expression blendshapes, each close to one or two FACS
action units (:mod:`ferbench.synth.expressions` builds the six emotions from them). It is read
here in **millimetres** (the files hold centimetres).

The atlas: the source has one UV square for the face and one per eyeball material; ferbench
packs them into one texture (face in u 0-0.8, the four eyeball materials stacked in u 0.8-1),
keeping the per-corner texture coordinates (seams) of the source.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from ferbench.errors import ModelAssetError

__all__ = ["ICT_NAME", "ICT_FILE", "ICT_FULL_FILE", "ict_data_dir", "read_ict_npz", "load_ict_model",
           "ICT_CITATION"]

ICT_NAME = "ict-face-light"
ICT_FILE = "ict_face_ferbench.npz"
"""The shipped (reduced, lossless for what it keeps) file."""
ICT_FULL_FILE = "ict_face_light.npz"
"""The full compact copy (``shared/models/ict_face/``), also readable."""
ICT_CITATION = ("ICT Face Model Light (ICT-FaceKit, USC Institute for Creative Technologies, MIT licence); "
                "Li et al., 'Learning Formation of Physically-Based Face Attributes', CVPR 2020")
CM_TO_MM = 10.0
_FACE_U = 0.8  # the face's share of the packed atlas width
_EYE_SLOTS = {"M_ScleraLeft": 3, "M_ScleraRight": 2, "M_IrisLeft": 1, "M_IrisRight": 0}


def ict_data_dir() -> Path:
    """Folder of the shipped ICT model (inside the installed package)."""
    return Path(__file__).resolve().parent / "data" / "ict_face"


def _unshuffle(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Byte planes (k, 3, n) uint8 -> (k, n, 3) float16 (inverse of the make script's shuffle)."""
    u = (hi.astype(np.uint16) << 8) | lo.astype(np.uint16)
    return u.view(np.float16).transpose(0, 2, 1)


def read_ict_npz(path: str | os.PathLike) -> dict:
    """Read the shipped or the full ICT npz into arrays (positions and modes still in **cm**).

    Returns
    -------
    dict
        ``neutral`` (n, 3) float32, ``faces`` (m, 3), ``texcoords`` (t, 2), ``texcoord_faces``
        (m, 3), ``face_material`` (m,), ``materials`` (names), ``identity_modes`` (k, n, 3) and
        ``expression_modes`` (53, n, 3) float16, ``identity_names``, ``expression_names``,
        ``landmarks_68`` (68,) and ``sha256`` of the file.

    Raises
    ------
    ModelAssetError
        Missing, unreadable or inconsistent file.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
        import io

        z = np.load(io.BytesIO(data), allow_pickle=False)
        d = {k: z[k] for k in z.files}
    except OSError as e:
        raise ModelAssetError(f"{p}: cannot read the ICT face model: {e.strerror or e}") from None
    except (ValueError, KeyError, EOFError) as e:
        raise ModelAssetError(f"{p}: not a valid ICT face model npz ({e})") from None
    try:
        if "identity_hi" in d:
            d["identity_modes"] = _unshuffle(d.pop("identity_hi"), d.pop("identity_lo"))
            d["expression_modes"] = _unshuffle(d.pop("expression_hi"), d.pop("expression_lo"))
        n = len(d["neutral"])
        m = len(d["faces"])
        ok = (d["neutral"].shape == (n, 3) and d["identity_modes"].shape[1:] == (n, 3)
              and d["expression_modes"].shape[1:] == (n, 3) and d["texcoord_faces"].shape == (m, 3)
              and d["face_material"].shape == (m,) and d["landmarks_68"].shape == (68,)
              and len(d["expression_names"]) == len(d["expression_modes"])
              and 0 <= d["faces"].min() and d["faces"].max() < n
              and 0 <= d["texcoord_faces"].min() and d["texcoord_faces"].max() < len(d["texcoords"])
              and 0 <= d["landmarks_68"].min() and d["landmarks_68"].max() < n)
    except KeyError as e:
        raise ModelAssetError(f"{p}: ICT face model lacks the array {e}") from None
    if not ok:
        raise ModelAssetError(f"{p}: inconsistent ICT face model arrays (sizes or indices)")
    d["sha256"] = hashlib.sha256(data).hexdigest()
    return d


def _pack_atlas(texcoords: np.ndarray, texcoord_faces: np.ndarray, face_material: np.ndarray,
                materials: list[str]) -> np.ndarray:
    """One atlas for all materials: face to u in [0, 0.8], each eyeball material to a quarter of u in [0.8, 1]."""
    tc = np.asarray(texcoords, np.float64).copy()
    out = tc.copy()
    out[:, 0] = tc[:, 0] * _FACE_U
    for name, slot in _EYE_SLOTS.items():
        if name not in materials:
            continue
        ids = np.unique(texcoord_faces[face_material == materials.index(name)])
        out[ids, 0] = _FACE_U + tc[ids, 0] * (1.0 - _FACE_U)
        out[ids, 1] = (slot + tc[ids, 1]) / 4.0
    return np.clip(out, 0.0, 1.0)


def _drop_hidden_eyeball(tri, tf, fm, materials, d):
    """Drop what a frontal scan never sees of the eyes: the iris meshes (inside the sclera shell) and the
    back half of each sclera. A quarter fewer vertices makes generation faster; the range images are unchanged."""
    drop = np.zeros(len(tri), bool)
    V = d["neutral"]
    for side in ("Left", "Right"):
        if f"M_Iris{side}" in materials:
            drop |= fm == materials.index(f"M_Iris{side}")
        if f"M_Sclera{side}" in materials:
            sel = fm == materials.index(f"M_Sclera{side}")
            z = V[np.unique(tri[sel]), 2]
            centre = 0.5 * (z.min() + z.max())
            drop |= sel & (V[tri][:, :, 2] < centre).all(axis=1)
    if not drop.any():
        return tri, tf, fm, d
    keep = ~drop
    used = np.unique(tri[keep])
    remap = np.full(len(V), -1, np.int64)
    remap[used] = np.arange(len(used))
    used_tc = np.unique(tf[keep])
    tc_remap = np.full(len(d["texcoords"]), -1, np.int64)
    tc_remap[used_tc] = np.arange(len(used_tc))
    d = dict(d, neutral=V[used], identity_modes=d["identity_modes"][:, used],
             expression_modes=d["expression_modes"][:, used], landmarks_68=remap[d["landmarks_68"]],
             texcoords=d["texcoords"][used_tc])
    return remap[tri[keep]], tc_remap[tf[keep]], fm[keep], d


def load_ict_model(path: str | os.PathLike | None = None):
    """Build a :class:`~ferbench.synth.model.FaceModel` (mm) from an ICT npz (default: the shipped one).

    The eyes keep only the front half of the sclera shell (the iris meshes lie inside it and a
    frontal scan never sees them). The six emotion ``blendshapes`` are the nominal FACS recipes of
    :mod:`ferbench.synth.expressions` (apex, no per-subject variation); ``blend_basis`` holds
    the 53 ARKit-style blendshapes the generator mixes per subject.
    """
    from ferbench.synth.expressions import nominal_blend_weights
    from ferbench.synth.model import FaceModel
    from ferbench.labels import EXPRESSIONS

    p = Path(path) if path is not None else ict_data_dir() / ICT_FILE
    if p.is_dir():
        p = p / ICT_FILE if (p / ICT_FILE).is_file() else p / ICT_FULL_FILE
    d = read_ict_npz(p)
    materials = [str(s) for s in d["materials"]]
    fm = d["face_material"].astype(np.int64)
    tri = d["faces"].astype(np.int64)
    tf = d["texcoord_faces"].astype(np.int64)
    if "M_BackHead" in materials:  # the full copy: frontal scans never see the back of the head
        keep = fm != materials.index("M_BackHead")
        used = np.unique(tri[keep])
        remap = np.full(len(d["neutral"]), -1, np.int64)
        remap[used] = np.arange(len(used))
        used_tc = np.unique(tf[keep])
        tc_remap = np.full(len(d["texcoords"]), -1, np.int64)
        tc_remap[used_tc] = np.arange(len(used_tc))
        tri, tf, fm = remap[tri[keep]], tc_remap[tf[keep]], fm[keep]
        d["texcoords"] = d["texcoords"][used_tc]
        d["neutral"] = d["neutral"][used]
        d["identity_modes"] = d["identity_modes"][:, used]
        d["expression_modes"] = d["expression_modes"][:, used]
        d["landmarks_68"] = remap[d["landmarks_68"]]
    tri, tf, fm, d = _drop_hidden_eyeball(tri, tf, fm, materials, d)
    n = len(d["neutral"])
    mean = d["neutral"].astype(np.float64) * CM_TO_MM
    k = len(d["identity_modes"])
    basis = (np.ascontiguousarray(d["identity_modes"], dtype=np.float64) * CM_TO_MM).reshape(k, 3 * n).T  # (3n, k)
    names = tuple(str(s) for s in d["expression_names"])
    blend = np.ascontiguousarray(d["expression_modes"], dtype=np.float64) * CM_TO_MM  # C order: free reshapes
    tc = _pack_atlas(d["texcoords"], tf, fm, materials)
    uv = np.zeros((n, 2))
    uv[tri.ravel()[::-1]] = tc[tf.ravel()[::-1]]  # a vertex takes the texcoord of its first corner
    skin = np.zeros(n, bool)
    if "M_Face" in materials:
        skin[np.unique(tri[fm == materials.index("M_Face")])] = True
    ibug = d["landmarks_68"].astype(np.int64)
    six = {e: np.tensordot(nominal_blend_weights(names, e), blend, axes=1) for e in EXPRESSIONS}
    return FaceModel(
        name=ICT_NAME, mean=mean, shape_basis=basis, shape_stddev=np.ones(k), triangles=tri, uv=uv,
        blendshapes=six, ibug_vertices=ibug, nose_tip=int(ibug[30]), sha256=d["sha256"],
        source_dir=str(p), files_sha256={p.name: d["sha256"]},
        texcoords=tc, texcoord_faces=tf, blend_names=names, blend_basis=blend,
        face_material=fm, material_names=tuple(materials), skin_mask=skin,
    )
