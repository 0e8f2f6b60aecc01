"""Sampling synthetic subjects and textured expression scans (``docs/data.md`` §7).

Per subject (:func:`sample_subject`): identity alpha ~ N(0, I) truncated at |alpha| <= 3 over
all model modes; an expressiveness gain g_e ~ U(0.8, 1.2) per expression; a smooth
left/right asymmetry; skin tone, brow (hair) and iris colours; a baked light direction; for
models with their own blendshapes (ICT) the subject's FACS expression styles
(:func:`ferbench.synth.expressions.sample_expression_styles`).

Per scan (:func:`synthesize_scan`):

* blendshape weights ``w_e = level / 4 * g_e`` for the target expression (neutral: level 0)
  plus leakage ``|N(0, 0.05)|`` on every other blendshape (SFM, procedural); for the ICT model
  the subject's FACS recipe over its 53 blendshapes scaled by ``level / 4 * g_e``
  (:func:`ferbench.synth.expressions.scan_blend_weights`);
* noise of sigma ~ U(0.1, 0.3) mm along the vertex normals;
* 0-3 hole blobs of radius 3-8 mm (centred on the eyes or brows 60 % of the time) whose
  triangles are removed;
* a circular crop of radius U(82, 88) mm around the nose tip, measured in the frontal
  (x, y) plane of the face before the pose, so the jaw line stays in the scan;
* pose jitter yaw U(-10, 10) deg, pitch U(-5, 5), roll U(-3, 3) about the nose tip, and a
  translation U(-5, 5) mm per axis;
* per-vertex texture coordinates into the subject's procedural UV-atlas texture.

Landmarks are fixed model vertices (exact iBUG-68 where mapped; BU-3DFE-83 and
Bosphorus-22 are approximate, see :mod:`ferbench.synth.landmarks`). A landmark whose
vertex was removed by a hole or the crop keeps its coordinates, and its id in
``meta.extra["landmark_vertex_ids"]`` is -1 (``meta.extra["landmark_missing"]`` marks it).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ferbench.io.scan import Scan, ScanMeta
from ferbench.labels import ALL_EXPRESSIONS, EXPRESSIONS, NEUTRAL
from ferbench.synth.texture import HAIR_COLORS, IRIS_COLORS, SKIN_TONES, paint_skin_texture, vertex_normals

__all__ = ["SubjectParams", "ScanParams", "sample_subject", "subject_texture", "sample_scan_params",
           "expression_weights", "synthesize_scan", "LANDMARK_SETS", "RACE_CODES"]

RACE_CODES = ("WH", "BL", "AE", "AM", "IN", "LA")
LANDMARK_SETS = ("bu3dfe", "bosphorus", "ibug68")
LEAKAGE_SD = 0.05
ALPHA_TRUNCATION = 3.0


@dataclass
class SubjectParams:
    """Everything that is fixed for one synthetic subject.

    ``sex`` and ``race`` are **dummy metadata** for the file names: the face models have no
    gender or ethnicity control.
    """

    subject: str
    alpha: np.ndarray
    gains: np.ndarray
    asymmetry: float
    skin_index: int
    skin_tone: np.ndarray
    hair_color: np.ndarray
    iris_color: np.ndarray
    light_dir: np.ndarray
    texture_seed: int
    sex: str = "F"
    race: str = "WH"
    expression_styles: dict[str, np.ndarray] | None = None


@dataclass
class ScanParams:
    """The random nuisance parameters of one scan (all drawn up front, so flags do not shift the stream)."""

    weights: np.ndarray
    yaw: float
    pitch: float
    roll: float
    translation: np.ndarray
    noise_sd: float
    noise: np.ndarray
    hole_centres: np.ndarray
    hole_radii: np.ndarray
    crop_radius: float
    light_dir: np.ndarray
    extra: dict = field(default_factory=dict)


def _check_expression(expression: str, intensity: int | None) -> tuple[str, int]:
    e = str(expression).lower()
    if e not in ALL_EXPRESSIONS:
        raise ValueError(f"unknown expression {expression!r}; expected one of {ALL_EXPRESSIONS}")
    if e == NEUTRAL:
        if intensity not in (None, 0):
            raise ValueError(f"neutral has intensity 0, got {intensity!r}")
        return e, 0
    if intensity is None or isinstance(intensity, bool) or int(intensity) != intensity or not 1 <= intensity <= 4:
        raise ValueError(f"intensity of {e} must be an integer 1-4, got {intensity!r}")
    return e, int(intensity)


def sample_subject(model, subject: str, rng: np.random.Generator, *, sex: str | None = None,
                   race: str | None = None) -> SubjectParams:
    """Draw one subject's identity, expressiveness and appearance.

    Parameters
    ----------
    model
        The :class:`~ferbench.synth.model.FaceModel`.
    subject
        Subject id to record (``"F0001"``, ``"bs000"``).
    rng
        numpy Generator; the result is a deterministic function of its state.
    sex, race
        Dummy labels for file names; default: ``subject[0]`` if it is F/M, and a random
        BU-3DFE race code.
    """
    alpha = rng.standard_normal(model.n_modes)
    bad = np.abs(alpha) > ALPHA_TRUNCATION
    while bad.any():  # truncated normal by rejection, per component
        alpha[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(alpha) > ALPHA_TRUNCATION
    gains = rng.uniform(0.8, 1.2, len(EXPRESSIONS))
    asym = float(rng.normal(0.0, 0.08))
    k = int(rng.integers(len(SKIN_TONES)))
    tone = SKIN_TONES[k] * (1.0 + rng.normal(0.0, 0.03, 3))
    hair = HAIR_COLORS[int(rng.integers(len(HAIR_COLORS)))] * rng.uniform(0.8, 1.2)
    iris = IRIS_COLORS[int(rng.integers(len(IRIS_COLORS)))]
    light = np.array([rng.uniform(-0.5, 0.5), rng.uniform(0.0, 0.6), 1.0])
    tex_seed = int(rng.integers(2**31))
    race_code = race if race is not None else RACE_CODES[int(rng.integers(len(RACE_CODES)))]
    sex_code = sex if sex is not None else (subject[:1].upper() if subject[:1].upper() in "FM" else "F")
    styles = None
    if getattr(model, "blend_basis", None) is not None:  # drawn last: SFM / procedural streams unchanged
        from ferbench.synth.expressions import sample_expression_styles

        styles = sample_expression_styles(model.blend_names, rng)
    return SubjectParams(subject=subject, alpha=alpha, gains=gains, asymmetry=asym, skin_index=k,
                         skin_tone=np.clip(tone, 0, 1), hair_color=np.clip(hair, 0, 1), iris_color=iris,
                         light_dir=light / np.linalg.norm(light), texture_seed=tex_seed, sex=sex_code, race=race_code,
                         expression_styles=styles)


def subject_texture(model, subject: SubjectParams, size: int = 256, *, bake_light: bool = True) -> np.ndarray:
    """The subject's (size, size, 3) uint8 UV-atlas texture (deterministic from ``subject.texture_seed``)."""
    rng = np.random.default_rng(subject.texture_seed)
    return paint_skin_texture(model, model.shape(subject.alpha), size, rng, skin_tone=subject.skin_tone,
                              hair_color=subject.hair_color, iris_color=subject.iris_color,
                              light_dir=subject.light_dir if bake_light else None)


def expression_weights(subject: SubjectParams, expression: str, intensity: int | None,
                       rng: np.random.Generator) -> np.ndarray:
    """Blendshape weights of one scan.

    Without expression styles (SFM, procedural): (6,) in EXPRESSIONS order, ``level/4 * gain``
    on the target and ``|N(0, 0.05)|`` on every other blendshape (neutral: all six). With the
    subject's FACS styles (ICT): (B,) over the model's blendshapes, see
    :func:`ferbench.synth.expressions.scan_blend_weights`.
    """
    e, level = _check_expression(expression, intensity)
    if subject.expression_styles is not None:
        from ferbench.synth.expressions import scan_blend_weights

        gain = subject.gains[EXPRESSIONS.index(e)] if e != NEUTRAL else 0.0
        return scan_blend_weights(subject.expression_styles, e, level, gain, rng)
    w = np.abs(rng.normal(0.0, LEAKAGE_SD, len(EXPRESSIONS)))
    if e != NEUTRAL:
        i = EXPRESSIONS.index(e)
        w[i] = level / 4.0 * subject.gains[i]
    return w


def sample_scan_params(model, subject: SubjectParams, expression: str, intensity: int | None,
                       rng: np.random.Generator) -> ScanParams:
    """Draw all random parameters of one scan, in a fixed order."""
    w = expression_weights(subject, expression, intensity, rng)
    yaw, pitch, roll = rng.uniform(-10, 10), rng.uniform(-5, 5), rng.uniform(-3, 3)
    t = rng.uniform(-5, 5, 3)
    sd = rng.uniform(0.1, 0.3)
    noise = rng.standard_normal(model.n_vertices) * sd
    n_holes = int(rng.integers(0, 4))
    # hole centres: eyes / brows most often (specular eyes, hair in brows), else anywhere on the face
    ib = model.ibug_vertices
    eye_brow = ib[np.r_[17:27, 36:48]]
    pick_feature = rng.random(n_holes) < 0.6
    centres = np.where(pick_feature, eye_brow[rng.integers(len(eye_brow), size=n_holes)],
                       rng.integers(model.n_vertices, size=n_holes)).astype(np.int64)
    radii = rng.uniform(3.0, 8.0, n_holes)
    crop = rng.uniform(82.0, 88.0)
    light = np.array([rng.uniform(-0.4, 0.4), rng.uniform(0.0, 0.5), 1.0])
    return ScanParams(weights=w, yaw=float(yaw), pitch=float(pitch), roll=float(roll), translation=t,
                      noise_sd=float(sd), noise=noise, hole_centres=centres, hole_radii=radii, crop_radius=float(crop),
                      light_dir=light / np.linalg.norm(light))


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """R = Rz(roll) @ Ry(yaw) @ Rx(pitch), angles in degrees (yaw about +y, pitch about +x)."""
    y, p, r = np.deg2rad([yaw, pitch, roll])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _landmark_ids(model, landmark_set: str) -> tuple[np.ndarray, tuple[str, ...]]:
    if landmark_set == "bu3dfe":
        from ferbench.io.bu3dfe import BU3DFE_LANDMARK_NAMES

        return model.bu3dfe_vertices, BU3DFE_LANDMARK_NAMES
    if landmark_set == "bosphorus":
        from ferbench.io.bosphorus import BOSPHORUS_LANDMARK_NAMES

        return model.bosphorus_vertices, BOSPHORUS_LANDMARK_NAMES
    if landmark_set == "ibug68":
        return model.ibug_vertices, tuple(f"ibug_{i:02d}" for i in range(1, 69))
    raise ValueError(f"unknown landmark_set {landmark_set!r}; expected one of {LANDMARK_SETS}")


def _used(faces: np.ndarray, n: int) -> np.ndarray:
    """Sorted ids referenced by ``faces`` (as np.unique, several times faster for dense ids)."""
    m = np.zeros(n, bool)
    m[faces.ravel()] = True
    return np.flatnonzero(m)


_SHAPE_CACHE: list = []


def _identity_shape(model, subject: SubjectParams) -> np.ndarray:
    """``model.shape(subject.alpha)``, remembered for the last subject (a subject's 25 scans share it)."""
    key = (id(model), model.sha256, subject.alpha.tobytes())
    if _SHAPE_CACHE and _SHAPE_CACHE[0][0] == key:
        return _SHAPE_CACHE[0][1]
    v = model.shape(subject.alpha)
    v.flags.writeable = False
    _SHAPE_CACHE[:] = [(key, v)]
    return v


def synthesize_scan(model, subject: SubjectParams, expression: str, intensity: int | None,
                    rng: np.random.Generator, *, texture: np.ndarray | None = None, landmark_set: str = "bu3dfe",
                    pose: bool = True, noise: bool = True, holes: bool = True, crop: bool = True,
                    params: ScanParams | None = None) -> Scan:
    """Synthesise one textured expression scan of a subject.

    Parameters
    ----------
    model
        :class:`~ferbench.synth.model.FaceModel`.
    subject
        From :func:`sample_subject`.
    expression, intensity
        Canonical expression name and level 1-4, or ``"neutral"`` with 0/None.
    rng
        Draws the scan's parameters (:func:`sample_scan_params`) unless ``params`` is given.
    texture
        The subject's UV-atlas texture (e.g. from :func:`subject_texture`); None = no texture.
    landmark_set
        ``"bu3dfe"`` (83), ``"bosphorus"`` (22) or ``"ibug68"``.
    pose, noise, holes, crop
        Switch the nuisance steps off (the random draws are made anyway).
    params
        Pre-drawn parameters (overrides ``rng``).

    Returns
    -------
    Scan
        ``meta.dataset == "synthetic"``, ``meta.synthetic`` True; ``meta.extra`` holds the
        model name and sha256, the weights, pose, noise, holes, crop, the landmark vertex
        ids (-1 = removed) and the neutral-frame nose tip.
    """
    e, level = _check_expression(expression, intensity)
    ids, names = _landmark_ids(model, landmark_set)
    sp = params if params is not None else sample_scan_params(model, subject, e, level, rng)

    identity = _identity_shape(model, subject)
    disp = model.expression_offset(sp.weights)
    # smooth left/right asymmetry of the expression (x of the mean shape, +x = subject's left)
    disp = disp * (1.0 + subject.asymmetry * np.tanh(model.mean[:, 0] / 30.0))[:, None]
    V = identity + disp
    if noise:
        V = V + vertex_normals(V, model.triangles) * sp.noise[:, None]

    F = model.triangles
    keep = np.ones(len(F), bool)
    if holes and len(sp.hole_centres):
        c = V[sp.hole_centres]  # (h, 3)
        d = np.linalg.norm(V[:, None, :] - c[None], axis=2)  # (n, h)
        in_hole = (d < sp.hole_radii[None, :]).any(axis=1)
        keep &= ~in_hole[F].any(axis=1)
    tip = V[model.nose_tip].copy()
    if crop:
        r_xy = np.linalg.norm(V[:, :2] - tip[:2], axis=1)
        keep &= (r_xy[F] <= sp.crop_radius).all(axis=1)
    if pose:
        R = _rotation(sp.yaw, sp.pitch, sp.roll)
        V = (V - tip) @ R.T + tip + sp.translation

    TF = model.texcoord_faces[keep] if model.texcoord_faces is not None else None
    F = F[keep]
    used = _used(F, model.n_vertices)
    remap = np.full(model.n_vertices, -1, np.int64)
    remap[used] = np.arange(len(used))
    if TF is not None:  # per-corner texture coordinates (atlas seams): keep those still used
        used_tc = _used(TF, len(model.texcoords))
        tc_remap = np.full(len(model.texcoords), -1, np.int64)
        tc_remap[used_tc] = np.arange(len(used_tc))
        texcoords, texcoord_faces = model.texcoords[used_tc].copy(), tc_remap[TF]
    else:
        texcoords, texcoord_faces = model.uv[used].copy(), None
    landmarks = V[ids]
    lm_ids = remap[ids]
    meta = ScanMeta(dataset="synthetic", subject=subject.subject, expression=e, intensity=level, synthetic=True,
                    extra=dict(
                        model=model.name, model_sha256=model.sha256, landmark_set=landmark_set,
                        landmark_vertex_ids=lm_ids, landmark_missing=lm_ids < 0,
                        weights=sp.weights.copy(), yaw=sp.yaw if pose else 0.0, pitch=sp.pitch if pose else 0.0,
                        roll=sp.roll if pose else 0.0, translation=sp.translation.copy() if pose else np.zeros(3),
                        noise_sd=sp.noise_sd if noise else 0.0, n_holes=len(sp.hole_centres) if holes else 0,
                        crop_radius=sp.crop_radius if crop else None, light_dir=sp.light_dir.copy(),
                        nose_tip_neutral=tip, sex=subject.sex, race=subject.race,
                        model_vertex_ids=used,
                    ))
    scan = Scan(vertices=V[used], faces=remap[F], texcoords=texcoords, texcoord_faces=texcoord_faces, texture=texture,
                landmarks=landmarks, landmark_names=names, meta=meta)
    return scan.validate()
