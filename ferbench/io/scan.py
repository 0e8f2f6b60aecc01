"""The :class:`Scan` object shared by every reader, writer, map and widget.

Conventions (all readers convert to these):

* ``vertices`` in millimetres, float64, shape (n, 3); +x is the subject's left, +y up,
  +z toward the viewer (the Surrey Face Model and BU-3DFE frame).
* ``faces``: int64 triangles, shape (m, 3), indices into ``vertices`` (polygons are
  fan-triangulated on read).
* ``texcoords``: float64 (t, 2) in [0, 1] with the OpenGL/VRML/OBJ convention that
  v = 0 is the **bottom** row of the texture image; ``texcoord_faces`` (m, 3) indexes
  them per face corner, or is ``None`` when texcoords are per vertex (t == n). Real atlases have
  seams (a vertex with a different texcoord in different faces): sample with :meth:`Scan.corner_uv`,
  and use :meth:`Scan.split_seams` where one texcoord or colour per vertex is needed.
* ``texture``: uint8 (H, W, 3) image, row 0 at the top (as stored in image files).
* ``landmarks``: float64 (k, 3), NaN rows for missing (occluded) landmarks, with
  ``landmark_names`` of length k.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ferbench.errors import ScanFormatError


@dataclass
class ScanMeta:
    """Labels and provenance of one scan.

    Attributes
    ----------
    dataset
        ``"bu3dfe"``, ``"bosphorus"``, ``"obj"``, ``"ply"`` or ``"synthetic"``.
    subject
        Subject identifier as used for subject-independent splits (``"F0001"``, ``"bs000"``).
    expression
        Canonical expression name (see :mod:`ferbench.labels`) or ``None`` if unknown.
    intensity
        Intensity level 0-4 (0 = neutral) or ``None`` where the dataset has none.
    source_path
        File the scan was read from.
    synthetic
        True for scans made by :mod:`ferbench.synth` (read from its manifest).
    extra
        Anything else (race code, gender, Bosphorus pose/AU code, ...).
    """

    dataset: str = "unknown"
    subject: str | None = None
    expression: str | None = None
    intensity: int | None = None
    source_path: str | None = None
    synthetic: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Scan:
    """A textured 3D face scan with landmarks and labels (see module docstring for conventions)."""

    vertices: np.ndarray
    faces: np.ndarray
    texcoords: np.ndarray | None = None
    texcoord_faces: np.ndarray | None = None
    texture: np.ndarray | None = None
    vertex_colors: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    landmark_names: tuple[str, ...] = ()
    meta: ScanMeta = field(default_factory=ScanMeta)
    grid: np.ndarray | None = None
    """Optional (H, W, 3) range-image form (Bosphorus ``.bnt``), NaN where there is no data."""

    @property
    def n_vertices(self) -> int:
        return int(len(self.vertices))

    @property
    def n_faces(self) -> int:
        return int(len(self.faces))

    def copy(self) -> "Scan":
        """Deep copy (arrays are copied, metadata dict too)."""
        kw = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            kw[f.name] = v.copy() if isinstance(v, np.ndarray) else v
        kw["meta"] = dataclasses.replace(self.meta, extra=dict(self.meta.extra))
        return Scan(**kw)

    def vertex_uv(self) -> np.ndarray | None:
        """Per-vertex texture coordinates (n, 2), or None.

        When texcoords are indexed per face corner, each vertex takes the texcoord of its
        first occurrence: exact only for atlases without seams. Real scans have seams (the
        BU-3DFE ``F3D.wrl`` atlas does), so sample textures with :meth:`corner_uv` and colour
        vertices through :meth:`split_seams`.
        """
        if self.texcoords is None:
            return None
        if self.texcoord_faces is None:
            return self.texcoords
        uv = np.full((self.n_vertices, 2), np.nan)
        # reversed so that the first occurrence wins the fancy-index assignment
        uv[self.faces.ravel()[::-1]] = self.texcoords[self.texcoord_faces.ravel()[::-1]]
        return uv

    def corner_uv(self) -> np.ndarray | None:
        """Texture coordinates of every face corner, (m, 3, 2), or None without texcoords.

        Exact across UV seams (a vertex on a seam has a different texcoord in each of its faces);
        this is what the rasteriser and preprocessing interpolate.
        """
        if self.texcoords is None:
            return None
        tc = np.asarray(self.texcoords, dtype=np.float64)
        idx = self.faces if self.texcoord_faces is None else self.texcoord_faces
        return tc[np.asarray(idx, dtype=np.int64)]

    def seam_vertex_count(self) -> int:
        """Number of vertices that carry more than one distinct texture coordinate (UV-seam vertices)."""
        if self.texcoords is None or self.texcoord_faces is None or self.n_faces == 0:
            return 0
        pairs = np.unique(np.stack([self.faces.ravel(), self._texcoord_ids().ravel()], 1), axis=0)
        return int(np.count_nonzero(np.bincount(pairs[:, 0], minlength=self.n_vertices) > 1))

    def _texcoord_ids(self) -> np.ndarray:
        """texcoord_faces with duplicate texcoord values merged (so equal UVs count as one)."""
        _, inv = np.unique(np.asarray(self.texcoords), axis=0, return_inverse=True)
        return np.asarray(inv).reshape(-1)[self.texcoord_faces]

    def split_seams(self, return_index: bool = False):
        """The same surface with one texture coordinate per vertex: seam vertices duplicated.

        Every distinct (vertex, texture coordinate) pair becomes a vertex; faces are remapped and
        ``texcoord_faces`` is None. A vertex's first pair keeps its index, the extra copies are
        appended, so a mesh without seams comes back with the same vertices in the same order.
        Vertex colours and landmarks follow (landmarks are positions, unchanged). Use it wherever a
        per-vertex colour or UV is needed (PLY files, viewers that colour vertices).

        Parameters
        ----------
        return_index
            Also return ``source`` (n',): the original vertex of each new vertex.

        Returns
        -------
        Scan, or (Scan, source)
        """
        n = self.n_vertices
        if self.texcoords is None or self.texcoord_faces is None:
            out = self.copy()
            return (out, np.arange(n)) if return_index else out
        t = self._texcoord_ids()
        tc_unique = np.unique(np.asarray(self.texcoords), axis=0)
        pairs, inv = np.unique(np.stack([self.faces.ravel(), t.ravel()], 1), axis=0, return_inverse=True)
        first = np.r_[True, pairs[1:, 0] != pairs[:-1, 0]] if len(pairs) else np.zeros(0, bool)
        new_id = np.where(first, pairs[:, 0], n + np.cumsum(~first) - 1)
        source = np.concatenate([np.arange(n), pairs[~first, 0]]).astype(np.int64)
        uv = np.zeros((len(source), 2))
        uv[new_id] = tc_unique[pairs[:, 1]]
        out = self.copy()
        out.vertices = self.vertices[source]
        out.faces = new_id[np.asarray(inv).reshape(-1)].reshape(-1, 3).astype(np.int64)
        out.texcoords, out.texcoord_faces = uv, None
        if self.vertex_colors is not None:
            out.vertex_colors = np.asarray(self.vertex_colors)[source]
        return (out, source) if return_index else out

    def vertex_rgb(self) -> np.ndarray:
        """Per-vertex colours (n, 3) uint8: ``vertex_colors``, else the texture sampled at each vertex's
        texcoord (nearest texel), else mid grey. Used by viewers that colour vertices.

        Along UV seams one vertex has several texcoords and this takes the first; for exact colours
        call it on :meth:`split_seams`'s result (as the napari plugin does)."""
        if self.vertex_colors is not None:
            return self.vertex_colors
        uv = self.vertex_uv()
        if self.texture is None or uv is None:
            return np.full((self.n_vertices, 3), 160, np.uint8)
        h, w = self.texture.shape[:2]
        uv = np.nan_to_num(uv, nan=0.0)
        cols = np.clip(np.rint(uv[:, 0] * (w - 1)), 0, w - 1).astype(np.int64)
        rows = np.clip(np.rint((1.0 - uv[:, 1]) * (h - 1)), 0, h - 1).astype(np.int64)  # v = 0 is the bottom row
        return self.texture[rows, cols]

    def landmark(self, name: str) -> np.ndarray:
        """Coordinates of one named landmark (raises KeyError if absent)."""
        try:
            i = self.landmark_names.index(name)
        except ValueError:
            raise KeyError(f"no landmark named {name!r}") from None
        return self.landmarks[i]

    def validate(self, path: str | os.PathLike | None = None) -> "Scan":
        """Check shapes, dtypes, finiteness and index ranges; normalise dtypes in place.

        Raises
        ------
        ScanFormatError
            Naming ``path`` (or ``meta.source_path``) and the first problem found.
        """
        where = path if path is not None else self.meta.source_path
        v = np.asarray(self.vertices)
        if v.ndim != 2 or v.shape[1] != 3:
            raise ScanFormatError(where, f"vertices must have shape (n, 3), got {v.shape}")
        if len(v) == 0:
            raise ScanFormatError(where, "scan has no vertices")
        if not np.all(np.isfinite(v)):
            raise ScanFormatError(where, "vertex coordinates contain NaN or infinity")
        self.vertices = v.astype(np.float64, copy=False)
        f = np.asarray(self.faces)
        if f.size == 0:
            f = f.reshape(0, 3)
        if f.ndim != 2 or f.shape[1] != 3:
            raise ScanFormatError(where, f"faces must have shape (m, 3), got {f.shape}")
        if not np.issubdtype(f.dtype, np.integer):
            raise ScanFormatError(where, "face indices are not integers")
        if f.size and (f.min() < 0 or f.max() >= len(v)):
            raise ScanFormatError(where, f"face index out of range [0, {len(v) - 1}]: {int(f.min())}..{int(f.max())}")
        self.faces = f.astype(np.int64, copy=False)
        if self.texcoords is not None:
            t = np.asarray(self.texcoords, dtype=np.float64)
            if t.ndim != 2 or t.shape[1] != 2:
                raise ScanFormatError(where, f"texture coordinates must have shape (t, 2), got {t.shape}")
            if not np.all(np.isfinite(t)):
                raise ScanFormatError(where, "texture coordinates contain NaN or infinity")
            self.texcoords = t
            if self.texcoord_faces is None:
                if len(t) != len(v):
                    raise ScanFormatError(where, f"{len(t)} per-vertex texture coordinates for {len(v)} vertices")
            else:
                tf = np.asarray(self.texcoord_faces)
                if tf.shape != self.faces.shape:
                    raise ScanFormatError(where, f"texture-coordinate faces {tf.shape} do not match faces {self.faces.shape}")
                if tf.size and (tf.min() < 0 or tf.max() >= len(t)):
                    raise ScanFormatError(where, "texture-coordinate index out of range")
                self.texcoord_faces = tf.astype(np.int64, copy=False)
        if self.texture is not None:
            tex = np.asarray(self.texture)
            if tex.ndim != 3 or tex.shape[2] != 3 or tex.dtype != np.uint8:
                raise ScanFormatError(where, f"texture must be uint8 (H, W, 3), got {tex.dtype} {tex.shape}")
        if self.vertex_colors is not None:
            c = np.asarray(self.vertex_colors)
            if c.shape != v.shape:
                raise ScanFormatError(where, f"vertex colours {c.shape} do not match vertices {v.shape}")
            self.vertex_colors = c.astype(np.uint8, copy=False)
        if self.landmarks is not None:
            lm = np.asarray(self.landmarks, dtype=np.float64)
            if lm.ndim != 2 or lm.shape[1] != 3:
                raise ScanFormatError(where, f"landmarks must have shape (k, 3), got {lm.shape}")
            if np.isinf(lm).any():
                raise ScanFormatError(where, "landmark coordinates contain infinity")
            if self.landmark_names and len(self.landmark_names) != len(lm):
                raise ScanFormatError(where, f"{len(self.landmark_names)} landmark names for {len(lm)} landmarks")
            self.landmarks = lm
        self.landmark_names = tuple(self.landmark_names)
        return self

    def __repr__(self) -> str:  # short: arrays are large
        m = self.meta
        tex = "x".join(map(str, self.texture.shape[:2])) if self.texture is not None else "none"
        why = texture_missing_reason(self)
        if why:
            tex = f"missing ({why})"
        return (f"Scan({self.n_vertices} vertices, {self.n_faces} faces, texture {tex}, "
                f"{0 if self.landmarks is None else len(self.landmarks)} landmarks, dataset={m.dataset!r}, "
                f"subject={m.subject!r}, expression={m.expression!r}, intensity={m.intensity!r}"
                f"{', synthetic' if m.synthetic else ''})")


def texture_missing_reason(scan: Scan) -> str | None:
    """Why a scan has no texture although its file names one, e.g. ``"F0001_AN01WH_F3D.bmp not found"``;
    None when the texture was loaded or none was named.

    The readers record the path they looked for in ``meta.extra["texture_missing"]``.
    """
    if scan.texture is not None:
        return None
    miss = scan.meta.extra.get("texture_missing")
    if not miss:
        return None
    return f"{os.path.basename(str(miss))} not found"
