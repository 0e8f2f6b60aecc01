"""Face models for the synthetic generator: the ICT Face Model (default), the Surrey Face Model, or a procedural face.

The default is the ICT Face Model Light shipped inside the package (MIT licence, see
:mod:`ferbench.synth.ict`). The Surrey Face Model stays an option for users who have it
(``face_model="sfm"``, ``model_dir=...``); the procedural face is the last fallback.

The SFM files are read at run time from ``shared/models/sfm3448`` (never copied into the
package; licence: non-commercial use, see the folder's LICENSE-NOTE.md). Every file is
checked against the folder's ``SHA256SUMS`` and parsed by a bounds-checked pure-numpy
reader of the cereal binary layout (``docs/data.md`` §1.2, Appendix A.1).

:func:`load_face_model` falls back to :func:`ferbench.synth.procedural.procedural_face_model`
only when the shipped ICT data is missing (a broken install) and fallback is allowed; an
explicit ``model_dir`` that holds no model is an error. :attr:`FaceModel.name` records which
model was used.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from ferbench.errors import ModelAssetError
from ferbench.labels import EXPRESSIONS

__all__ = [
    "FaceModel", "find_face_model_dir", "load_face_model", "read_sfm_shape", "read_sfm_blendshapes",
    "read_ibug_map", "procedural_model", "SFM_FILES", "SFM_NAME", "PROCEDURAL_NAME", "ICT_NAME", "FACE_MODELS",
    "resolve_face_model",
]

SFM_NAME = "surrey-sfm3448"
PROCEDURAL_NAME = "procedural"
ICT_NAME = "ict-face-light"
FACE_MODELS = ("ict", "sfm", "procedural")
"""Values of ``face_model`` (CLI ``--face-model``)."""
_SOURCE_LABELS = {ICT_NAME: "synthetic-ict", SFM_NAME: "synthetic-sfm3448", PROCEDURAL_NAME: "synthetic-procedural"}
ENV_VAR = "FERBENCH_SFM_DIR"
SHAPE_FILE = "sfm_shape_3448.bin"
BLENDSHAPE_FILE = "expression_blendshapes_3448.bin"
IBUG_FILE = "ibug_to_sfm.txt"
CONTOUR_FILE = "sfm_model_contours.json"
SFM_FILES = (SHAPE_FILE, BLENDSHAPE_FILE, IBUG_FILE, CONTOUR_FILE)
"""Files the SFM backend reads (each verified against SHA256SUMS)."""

_MAX_MODEL_BYTES = 64 * 1024 * 1024  # the real shape file is 2.8 MB


@dataclass
class FaceModel:
    """A linear face model with expression blendshapes, UVs and landmark vertices.

    Attributes
    ----------
    name
        ``"ict-face-light"``, ``"surrey-sfm3448"`` or ``"procedural"``.
    mean
        (n, 3) mean shape in mm (+x subject's left, +y up, +z toward the viewer).
    shape_basis
        (3n, k) identity basis (rows ordered x0, y0, z0, x1, ...): orthonormal for SFM; the
        ICT modes are used as given (``shape_stddev`` = 1).
    shape_stddev
        (k,) standard deviations (mm) of the k modes: a sample is
        ``mean + (shape_basis @ (alpha * shape_stddev)).reshape(n, 3)``.
    triangles
        (m, 3) int64, counter-clockwise seen from +z.
    uv
        (n, 2) per-vertex texture coordinates in [0, 1], **v = 0 at the image bottom**
        (ferbench's convention; the SFM file stores v downward and is converted).
    blendshapes
        Expression name (all of :data:`ferbench.labels.EXPRESSIONS`) -> (n, 3) displacement in mm
        at weight 1.
    ibug_vertices
        (68,) int64 vertex index of iBUG points 1..68 (row i = point i + 1).
    nose_tip
        Vertex index of the nose tip (iBUG 31).
    sha256
        SHA-256 of the shape model file (SFM) or of the generated arrays (procedural).
    source_dir
        Folder the model was read from (None for the procedural face).
    files_sha256
        File name -> verified SHA-256 (empty for the procedural face).
    texcoords, texcoord_faces
        Per-corner texture coordinates (t, 2) and their (m, 3) index (the ICT atlas has seams);
        None when ``uv`` (per vertex) is exact.
    blend_names, blend_basis
        The model's own blendshapes (ICT: 53 ARKit-style names) and their (B, n, 3) displacements
        in mm; empty / None for models with only the six emotion ``blendshapes``.
    face_material, material_names
        Material index per triangle and the material names (ICT: M_Face, M_IrisLeft, ...).
    skin_mask
        (n,) bool, vertices of the skin surface (landmarks snap to these, not to the eyeballs).
    """

    name: str
    mean: np.ndarray
    shape_basis: np.ndarray
    shape_stddev: np.ndarray
    triangles: np.ndarray
    uv: np.ndarray
    blendshapes: dict[str, np.ndarray]
    ibug_vertices: np.ndarray
    nose_tip: int
    sha256: str
    source_dir: str | None = None
    files_sha256: dict[str, str] = field(default_factory=dict)
    texcoords: np.ndarray | None = None
    texcoord_faces: np.ndarray | None = None
    blend_names: tuple[str, ...] = ()
    blend_basis: np.ndarray | None = None
    face_material: np.ndarray | None = None
    material_names: tuple[str, ...] = ()
    skin_mask: np.ndarray | None = None

    @property
    def n_vertices(self) -> int:
        return int(len(self.mean))

    @property
    def n_modes(self) -> int:
        return int(self.shape_basis.shape[1])

    @property
    def source_label(self) -> str:
        """Manifest ``source`` value: ``"synthetic-ict"``, ``"synthetic-sfm3448"`` or ``"synthetic-procedural"``."""
        return _SOURCE_LABELS.get(self.name, "synthetic-procedural")

    def shape(self, alpha: np.ndarray | None = None) -> np.ndarray:
        """Identity shape (n, 3) for coefficients ``alpha`` (k,) in standard deviations (None = mean)."""
        if alpha is None:
            return self.mean.copy()
        a = np.asarray(alpha, dtype=np.float64)
        if a.shape != (self.n_modes,):
            raise ValueError(f"alpha must have shape ({self.n_modes},), got {a.shape}")
        return self.mean + (self.shape_basis @ (a * self.shape_stddev)).reshape(-1, 3)

    def expression_offset(self, weights: np.ndarray | dict[str, float]) -> np.ndarray:
        """Displacement (n, 3) of blendshape weights.

        ``weights``: (6,) in EXPRESSIONS order (the emotion ``blendshapes``), (B,) over
        ``blend_names`` (models with a ``blend_basis``), or a dict keyed by either kind of name.
        """
        if self.blend_basis is not None:
            if isinstance(weights, dict) and set(weights) <= set(self.blend_names) and weights:
                w = np.zeros(len(self.blend_names))
                for k, v in weights.items():
                    w[self.blend_names.index(k)] = float(v)
                return np.tensordot(w, self.blend_basis, axes=1)
            if not isinstance(weights, dict) and np.shape(weights) == (len(self.blend_names),):
                return np.tensordot(np.asarray(weights, dtype=np.float64), self.blend_basis, axes=1)
        if isinstance(weights, dict):
            unknown = set(weights) - set(EXPRESSIONS)
            if unknown:
                raise ValueError(f"unknown blendshapes {sorted(unknown)}; expected {EXPRESSIONS}")
            w = np.array([float(weights.get(e, 0.0)) for e in EXPRESSIONS])
        else:
            w = np.asarray(weights, dtype=np.float64)
            if w.shape != (len(EXPRESSIONS),):
                raise ValueError(f"weights must have shape ({len(EXPRESSIONS)},), got {w.shape}")
        return np.tensordot(w, self._blend_stack, axes=1)

    @cached_property
    def _blend_stack(self) -> np.ndarray:
        return np.stack([self.blendshapes[e] for e in EXPRESSIONS])

    def ibug_vertex(self, point: int) -> int:
        """Vertex of the 1-based iBUG point number."""
        return int(self.ibug_vertices[point - 1])

    @cached_property
    def bu3dfe_vertices(self) -> np.ndarray:
        """(83,) vertex ids of the approximate BU-3DFE landmarks (see :mod:`ferbench.synth.landmarks`)."""
        from ferbench.synth.landmarks import bu3dfe_vertices

        return bu3dfe_vertices(self)

    @cached_property
    def bosphorus_vertices(self) -> np.ndarray:
        """(22,) vertex ids of the approximate Bosphorus landmarks."""
        from ferbench.synth.landmarks import bosphorus_vertices

        return bosphorus_vertices(self)

    def __repr__(self) -> str:
        return (f"FaceModel({self.name!r}, {self.n_vertices} vertices, {len(self.triangles)} triangles, "
                f"{self.n_modes} modes, sha256={self.sha256[:12]})")


# --- locating the model ----------------------------------------------------------------------
def _has_model(p: Path) -> bool:
    return (p / SHAPE_FILE).is_file()


def find_face_model_dir(model_dir: str | os.PathLike | None = None) -> Path | None:
    """Locate the Surrey Face Model folder.

    Order: ``model_dir`` if given, else the ``FERBENCH_SFM_DIR`` environment variable, else
    ``shared/models/sfm3448`` in (or beside) any ancestor of the current directory and of the
    installed package. An explicit folder (argument or variable) that lacks the model gives
    None without searching further.

    Returns
    -------
    Path or None
        The folder holding ``sfm_shape_3448.bin``, or None when no model is found.
    """
    if model_dir is not None:
        p = Path(model_dir).expanduser()
        return p if _has_model(p) else None
    env = os.environ.get(ENV_VAR)
    if env:
        p = Path(env).expanduser()
        return p if _has_model(p) else None
    rel = Path("shared") / "models" / "sfm3448"
    seen: set[Path] = set()
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for anc in (start, *start.parents):
            for cand in (anc / rel, anc.parent / rel):
                if cand in seen:
                    continue
                seen.add(cand)
                if _has_model(cand):
                    return cand
    return None


# --- bounds-checked readers --------------------------------------------------------------------
class _Reader:
    """Sequential little-endian reader that raises ModelAssetError instead of reading past the end."""

    def __init__(self, data: bytes, path: str):
        self.b, self.o, self.path = data, 0, path

    def fail(self, problem: str):
        raise ModelAssetError(f"{self.path}: {problem} (offset {self.o}); the model file is corrupt")

    def take(self, fmt: str):
        n = struct.calcsize(fmt)
        if self.o + n > len(self.b):
            self.fail(f"truncated: need {n} bytes, {len(self.b) - self.o} left")
        v = struct.unpack_from(fmt, self.b, self.o)
        self.o += n
        return v

    def array(self, dtype: str, count: int) -> np.ndarray:
        item = np.dtype(dtype).itemsize
        if count < 0 or self.o + count * item > len(self.b):
            self.fail(f"array of {count} x {dtype} runs past the end of the file")
        a = np.frombuffer(self.b, dtype, count, self.o)
        self.o += count * item
        return a

    def matrix(self) -> np.ndarray:
        rows, cols = self.take("<ii")
        if rows < 0 or cols < 0:
            self.fail(f"negative matrix size {rows}x{cols}")
        a = self.array("<f4", rows * cols)
        return a.reshape(cols, rows).T if cols > 1 else a  # Eigen stores column-major


def _read_bytes(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > _MAX_MODEL_BYTES:
            raise ModelAssetError(f"{path}: {size} bytes is larger than any supported model file")
        return path.read_bytes()
    except OSError as e:
        raise ModelAssetError(f"{path}: cannot read: {e.strerror or e}") from None


def read_sfm_shape(path: str | os.PathLike, data: bytes | None = None) -> dict[str, np.ndarray]:
    """Read ``sfm_shape_3448.bin`` (cereal binary) into mean, basis, eigenvalues, triangles, uv.

    Returns
    -------
    dict
        ``mean`` (n, 3), ``basis`` (3n, k) orthonormal, ``eigenvalues`` (k,) in mm²,
        ``triangles`` (m, 3) int64, ``uv`` (n, 2) **as stored** (v grows downward).

    Raises
    ------
    ModelAssetError
        Truncated or inconsistent file (sizes, indices, trailing bytes, non-finite values).
    """
    p = Path(path)
    r = _Reader(_read_bytes(p) if data is None else data, str(p))
    (version,) = r.take("<I")
    if version != 1:
        r.fail(f"unsupported model version {version}")
    mean, basis, ev = r.matrix(), r.matrix(), r.matrix()
    (nt,) = r.take("<Q")
    tri = r.array("<i4", 3 * nt).reshape(-1, 3)
    for _ in range(3):  # empty colour model: mean, basis, eigenvalues
        r.matrix()
    (nct,) = r.take("<Q")
    r.array("<i4", 3 * nct)
    (nuv,) = r.take("<Q")
    uv = r.array("<f8", 2 * nuv).reshape(-1, 2)
    if r.o != len(r.b):
        r.fail(f"{len(r.b) - r.o} unexpected trailing bytes")
    n3 = mean.size
    if n3 == 0 or n3 % 3 or basis.ndim != 2 or basis.shape[0] != n3 or ev.size != basis.shape[1]:
        r.fail(f"inconsistent sizes: mean {mean.shape}, basis {basis.shape}, eigenvalues {ev.shape}")
    n = n3 // 3
    if len(uv) != n:
        r.fail(f"{len(uv)} texture coordinates for {n} vertices")
    if tri.size == 0 or tri.min() < 0 or tri.max() >= n:
        r.fail("triangle index out of range")
    arrays = dict(mean=mean.astype(np.float64).reshape(n, 3), basis=basis.astype(np.float64),
                  eigenvalues=ev.astype(np.float64).ravel(), triangles=tri.astype(np.int64), uv=uv.astype(np.float64))
    if not all(np.all(np.isfinite(a)) for a in arrays.values()) or np.any(arrays["eigenvalues"] < 0):
        r.fail("non-finite values or negative eigenvalues")
    return arrays


def read_sfm_blendshapes(path: str | os.PathLike, n_vertices: int | None = None,
                         data: bytes | None = None) -> dict[str, np.ndarray]:
    """Read ``expression_blendshapes_3448.bin``: name -> (n, 3) displacement (mm)."""
    p = Path(path)
    r = _Reader(_read_bytes(p) if data is None else data, str(p))
    (count,) = r.take("<Q")
    if count > 1000:
        r.fail(f"implausible blendshape count {count}")
    out: dict[str, np.ndarray] = {}
    for _ in range(count):
        (ln,) = r.take("<Q")
        if ln > 256:
            r.fail(f"implausible name length {ln}")
        try:
            name = bytes(r.array("u1", ln)).decode("utf-8")
        except UnicodeDecodeError:
            r.fail("blendshape name is not UTF-8")
        d = r.matrix().ravel()
        if d.size % 3 or (n_vertices is not None and d.size != 3 * n_vertices):
            r.fail(f"blendshape {name!r} has {d.size} values for {n_vertices} vertices")
        if not np.all(np.isfinite(d)):
            r.fail(f"blendshape {name!r} holds non-finite values")
        out[name] = d.astype(np.float64).reshape(-1, 3)
    if r.o != len(r.b):
        r.fail(f"{len(r.b) - r.o} unexpected trailing bytes")
    return out


def read_ibug_map(path: str | os.PathLike, text: str | None = None) -> dict[int, int]:
    """Read ``ibug_to_sfm.txt``: 1-based iBUG point -> SFM vertex index (comments ignored)."""
    p = Path(path)
    if text is None:
        text = _read_bytes(p).decode("utf-8", "replace")
    body = text.split("[contour_landmarks]")[0]
    return {int(a): int(v) for a, v in re.findall(r"^\s*(\d+)\s*=\s*(\d+)", body, re.M)}


def _verify(folder: Path, names: tuple[str, ...]) -> dict[str, tuple[bytes, str]]:
    sums_path = folder / "SHA256SUMS"
    if not sums_path.is_file():
        raise ModelAssetError(f"{sums_path}: missing; cannot verify the face model files")
    sums: dict[str, str] = {}
    for line in _read_bytes(sums_path).decode("utf-8", "replace").splitlines():
        parts = line.strip().split()
        if len(parts) == 2 and re.fullmatch(r"[0-9a-fA-F]{64}", parts[0]):
            sums[parts[1].lstrip("*")] = parts[0].lower()
    out = {}
    for name in names:
        fp = folder / name
        if name not in sums:
            raise ModelAssetError(f"{fp}: not listed in {sums_path}")
        if not fp.is_file():
            raise ModelAssetError(f"{fp}: missing (listed in {sums_path})")
        data = _read_bytes(fp)
        digest = hashlib.sha256(data).hexdigest()
        if digest != sums[name]:
            raise ModelAssetError(f"{fp}: SHA-256 mismatch (got {digest[:16]}..., "
                                  f"SHA256SUMS says {sums[name][:16]}...); the file is corrupt or was replaced")
        out[name] = (data, digest)
    return out


def _contour_jaw(contours: dict, path: Path) -> tuple[list[int], list[int]]:
    try:
        mc = contours["model_contour"]
        right, left = [int(i) for i in mc["right_contour"]], [int(i) for i in mc["left_contour"]]
    except (KeyError, TypeError, ValueError):
        raise ModelAssetError(f"{path}: expected model_contour.right_contour / left_contour lists") from None
    if len(right) < 12 or len(left) < 12:
        raise ModelAssetError(f"{path}: contour chains are too short ({len(right)}, {len(left)})")
    return right, left


def _load_sfm(folder: Path) -> FaceModel:
    files = _verify(folder, SFM_FILES)
    shape = read_sfm_shape(folder / SHAPE_FILE, data=files[SHAPE_FILE][0])
    n = len(shape["mean"])
    blends = read_sfm_blendshapes(folder / BLENDSHAPE_FILE, n_vertices=n, data=files[BLENDSHAPE_FILE][0])
    missing = [e for e in EXPRESSIONS if e not in blends]
    if missing:
        raise ModelAssetError(f"{folder / BLENDSHAPE_FILE}: blendshapes {missing} are missing")
    ib = read_ibug_map(folder / IBUG_FILE, text=files[IBUG_FILE][0].decode("utf-8", "replace"))
    try:
        contours = json.loads(files[CONTOUR_FILE][0].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelAssetError(f"{folder / CONTOUR_FILE}: not valid JSON: {e}") from None
    right, left = _contour_jaw(contours, folder / CONTOUR_FILE)
    if any(not 0 <= v < n for v in list(ib.values()) + right + left):
        raise ModelAssetError(f"{folder}: a landmark or contour vertex index is out of range [0, {n - 1}]")
    mean = shape["mean"]
    ibug = np.full(68, -1, np.int64)
    for k, v in ib.items():
        if 1 <= k <= 68:
            ibug[k - 1] = v
    # Jaw line (iBUG 1-8 right, 10-17 left) from the contour chains, which run from the temple
    # (index 0) down to the chin; 8 points spread from eye-corner height to beside the chin.
    pick = np.round(np.linspace(3, min(14, len(right) - 1), 8)).astype(int)
    ibug[0:8] = [right[i] for i in pick]
    ibug[9:17] = [left[i] for i in pick[::-1]]
    # Inner-lip corners 61 / 65 are not in the map: the vertex nearest the midpoint of the
    # mouth corner and the upper-lip inner middle (spec §7.4).
    for corner, target in ((49, 61), (55, 65)):
        if ibug[target - 1] < 0:
            mid = 0.5 * (mean[ibug[corner - 1]] + mean[ibug[63 - 1]])
            d = np.linalg.norm(mean - mid, axis=1)
            d[ibug[ibug >= 0]] = np.inf  # do not reuse another landmark's vertex
            ibug[target - 1] = int(np.argmin(d))
    if np.any(ibug < 0):
        raise ModelAssetError(f"{folder / IBUG_FILE}: iBUG points {list(np.flatnonzero(ibug < 0) + 1)} unmapped")
    uv = shape["uv"].copy()
    uv[:, 1] = 1.0 - uv[:, 1]  # SFM stores v downward; ferbench uses v = 0 at the bottom
    return FaceModel(
        name=SFM_NAME, mean=mean, shape_basis=shape["basis"], shape_stddev=np.sqrt(shape["eigenvalues"]),
        triangles=shape["triangles"], uv=uv, blendshapes={e: blends[e] for e in EXPRESSIONS},
        ibug_vertices=ibug, nose_tip=int(ibug[30]), sha256=files[SHAPE_FILE][1], source_dir=str(folder),
        files_sha256={k: v[1] for k, v in files.items()},
    )


def _freeze(model: FaceModel) -> FaceModel:
    """Make the shared arrays read-only (the model is cached and shared between callers)."""
    for a in (model.mean, model.shape_basis, model.shape_stddev, model.triangles, model.uv, model.ibug_vertices,
              *model.blendshapes.values(), model.texcoords, model.texcoord_faces, model.blend_basis,
              model.face_material, model.skin_mask):
        if a is not None:
            a.flags.writeable = False
    return model


_CACHE: dict[tuple, FaceModel] = {}
_LOCK = threading.Lock()


def _cached(key: tuple, load) -> FaceModel:
    """The model cached under ``key``, else ``load()`` made read-only and cached (loaded outside the lock)."""
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
    model = _freeze(load())
    with _LOCK:
        return _CACHE.setdefault(key, model)


def resolve_face_model(face_model: str | None = None, model_dir: str | os.PathLike | None = None) -> str:
    """Which face model a request means: ``face_model`` if given; else, when ``model_dir`` is given,
    ``"ict"`` if it is (or holds) an ICT npz and ``"sfm"`` otherwise (the Surrey folder, as before);
    else ``"ict"`` (the embedded default)."""
    if face_model is None:
        if model_dir is None:
            return "ict"
        from ferbench.synth.ict import ICT_FILE, ICT_FULL_FILE

        p = Path(model_dir).expanduser()
        is_ict = p.suffix == ".npz" or any((p / f).is_file() for f in (ICT_FILE, ICT_FULL_FILE))
        return "ict" if is_ict else "sfm"
    fm = str(face_model).lower()
    aliases = {"ict-face-light": "ict", SFM_NAME: "sfm", "surrey": "sfm", "sfm3448": "sfm"}
    fm = aliases.get(fm, fm)
    if fm not in FACE_MODELS:
        raise ValueError(f"unknown face_model {face_model!r}; expected one of {FACE_MODELS}")
    return fm


def load_face_model(model_dir: str | os.PathLike | None = None, *, face_model: str | None = None,
                    allow_fallback: bool = True) -> FaceModel:
    """Load a face model: the embedded ICT model by default, the Surrey Face Model, or the procedural face.

    Parameters
    ----------
    model_dir
        ``face_model="sfm"``: the folder with the SFM files (None searches, see
        :func:`find_face_model_dir`). ``"ict"``: a folder (or npz) with an ICT model instead of
        the shipped one (e.g. ``shared/models/ict_face``). Given alone, it means ``"sfm"``.
    face_model
        ``"ict"`` (default), ``"sfm"`` or ``"procedural"`` (see :func:`resolve_face_model`).
    allow_fallback
        Only when the shipped ICT data is missing (a broken install): return the procedural face
        (True) or raise (False). Never used for an explicit ``model_dir`` or for ``"sfm"``.

    Returns
    -------
    FaceModel
        Cached per file (arrays are read-only). ``name`` says which model it is.

    Raises
    ------
    ModelAssetError
        The requested model is not found (an explicit folder without the model is always an
        error), fails its SHA-256 check, or is corrupt (a damaged model is never silently replaced).
    """
    fm = resolve_face_model(face_model, model_dir)
    if fm == "procedural":
        return procedural_model()
    if fm == "ict":
        from ferbench.synth.ict import ICT_FILE, ICT_FULL_FILE, ict_data_dir, load_ict_model

        p = Path(model_dir).expanduser() if model_dir is not None else ict_data_dir() / ICT_FILE
        if p.is_dir():
            p = p / ICT_FILE if (p / ICT_FILE).is_file() else p / ICT_FULL_FILE
        if not p.is_file():
            if model_dir is None and allow_fallback:
                import warnings

                warnings.warn(f"{p}: the embedded ICT face model is missing; using the procedural face",
                              stacklevel=2)
                return procedural_model()
            raise ModelAssetError(f"{p}: ICT face model not found")
        p = p.resolve()
        st = p.stat()
        return _cached((ICT_NAME, str(p), st.st_size, st.st_mtime_ns), lambda: load_ict_model(p))
    folder = find_face_model_dir(model_dir)
    if folder is None:
        where = model_dir if model_dir is not None else os.environ.get(ENV_VAR) or "shared/models/sfm3448"
        raise ModelAssetError(f"{where}: Surrey Face Model not found ({SHAPE_FILE} missing); "
                              f"set {ENV_VAR} or pass model_dir, or use face_model='ict' (the embedded default)")
    folder = folder.resolve()
    st = (folder / SHAPE_FILE).stat()
    return _cached((SFM_NAME, str(folder), st.st_size, st.st_mtime_ns), lambda: _load_sfm(folder))


def procedural_model() -> FaceModel:
    """The procedural fallback face, whatever model files exist (cached, read-only arrays)."""
    from ferbench.synth.procedural import procedural_face_model

    return _cached((PROCEDURAL_NAME,), procedural_face_model)
