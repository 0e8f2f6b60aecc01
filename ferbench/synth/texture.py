"""Procedural skin textures painted into a face model's UV atlas, and textured rendering.

The atlas is painted per texel, fully vectorised: the model's UV layout is rasterised with
:func:`ferbench.geometry.rasterize` (vertices placed at their (u, v)), which gives every
texel its 3D position and normal on the subject's neutral face. Features are then placed
in millimetres from the iBUG landmarks: brows along the brow lines, lips between the outer
and inner mouth contours, sclera, iris and pupil inside the eye contours, darker nostrils,
plus low-frequency mottling, fine "pore" noise, a little redness on cheeks and nose, and an
optional baked Lambertian light (photo textures contain the scanner's lighting).

The textures are procedural and not photo-realistic (``docs/data.md`` §8).
"""
from __future__ import annotations

import numpy as np

from ferbench.geometry.raster import rasterize

__all__ = ["SKIN_TONES", "HAIR_COLORS", "IRIS_COLORS", "vertex_normals", "paint_skin_texture", "sample_texture",
           "render_textured", "render_scan"]

SKIN_TONES = np.array([
    (236, 200, 180), (226, 184, 160), (210, 164, 134), (198, 150, 120),
    (176, 128, 96), (150, 104, 76), (118, 80, 58), (92, 62, 46),
], dtype=np.float64) / 255.0
"""Skin-tone palette (RGB in [0, 1]), light to dark."""

HAIR_COLORS = np.array([(40, 28, 20), (70, 48, 30), (20, 16, 14), (110, 80, 50), (60, 50, 45)],
                       dtype=np.float64) / 255.0
IRIS_COLORS = np.array([(70, 45, 25), (40, 28, 18), (80, 100, 120), (90, 110, 70), (110, 80, 50)],
                       dtype=np.float64) / 255.0


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (n, 3) of a triangle mesh (zero for unused vertices)."""
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    n = np.zeros_like(v)
    idx = f.ravel()
    for k in range(3):  # bincount is much faster than np.add.at
        n[:, k] = np.bincount(idx, weights=np.repeat(fn[:, k], 3), minlength=len(v))
    norm = np.linalg.norm(n, axis=1, keepdims=True)
    return np.divide(n, norm, out=np.zeros_like(n), where=norm > 0)


def _seg_dist(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = np.clip(((p - a) @ ab) / max(float(ab @ ab), 1e-12), 0.0, 1.0)
    q = p - a - t[:, None] * ab
    return np.sqrt(q[:, 0] ** 2 + q[:, 1] ** 2)


def _polyline_dist(p: np.ndarray, pts: np.ndarray, margin: float = 8.0) -> tuple[np.ndarray, np.ndarray]:
    """Distance to a polyline and the arc-length fraction (0..1) of the nearest segment start.

    Only points within ``margin`` mm of the polyline's bounding box are measured (the others
    get +inf): features are local, and this keeps painting fast.
    """
    d = np.full(len(p), np.inf)
    frac = np.zeros(len(p))
    lo, hi = pts.min(0) - margin, pts.max(0) + margin
    sel = np.flatnonzero((p[:, 0] >= lo[0]) & (p[:, 0] <= hi[0]) & (p[:, 1] >= lo[1]) & (p[:, 1] <= hi[1]))
    q = p[sel]
    ds = np.full(len(sel), np.inf)
    fs = np.zeros(len(sel))
    for i in range(len(pts) - 1):  # a handful of segments; each is vectorised over the texels
        di = _seg_dist(q, pts[i], pts[i + 1])
        closer = di < ds
        ds[closer] = di[closer]
        fs[closer] = i / max(len(pts) - 2, 1)
    d[sel], frac[sel] = ds, fs
    return d, frac


def _in_poly(p: np.ndarray, poly: np.ndarray) -> np.ndarray:
    x, y = p[:, 0], p[:, 1]
    inside = np.zeros(len(p), bool)
    for i in range(len(poly)):
        (x1, y1), (x2, y2) = poly[i], poly[(i + 1) % len(poly)]
        with np.errstate(divide="ignore", invalid="ignore"):
            inside ^= ((y1 > y) != (y2 > y)) & (x < (x2 - x1) * (y - y1) / (y2 - y1 + 1e-12) + x1)
    return inside


def _smooth_noise(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    n = gaussian_filter(rng.standard_normal((size, size)), sigma, mode="wrap")
    return n / (n.std() + 1e-12)


def paint_skin_texture(model, vertices: np.ndarray, size: int, rng: np.random.Generator, *,
                       skin_tone: np.ndarray, hair_color: np.ndarray, iris_color: np.ndarray,
                       light_dir: np.ndarray | None = None, ambient: float = 0.55) -> np.ndarray:
    """Paint a (size, size, 3) uint8 texture into ``model``'s UV atlas for one subject.

    Parameters
    ----------
    model
        The :class:`~ferbench.synth.model.FaceModel` (its ``uv``, ``triangles``, ``ibug_vertices``).
    vertices
        (n, 3) the subject's neutral identity shape (places the features in mm).
    size
        Texture side in pixels (row 0 = top = v 1).
    rng
        Source of the mottling and pore noise.
    skin_tone, hair_color, iris_color
        RGB in [0, 1].
    light_dir
        Direction *toward* the light for the baked shading; None bakes no light.
    ambient
        Share of unshaded light in the baked shading.
    """
    size = int(size)
    if not 8 <= size <= 8192:
        raise ValueError(f"texture size must be in [8, 8192], got {size}")
    V = np.asarray(vertices, dtype=np.float64)
    N = vertex_normals(V, model.triangles)
    tf = getattr(model, "texcoord_faces", None)
    eyeball = None
    if tf is not None:  # per-corner atlas (seams): rasterise the texcoord mesh, each corner carries its vertex
        tc2v = np.zeros(len(model.texcoords), np.int64)
        tc2v[tf.ravel()] = model.triangles.ravel()
        uv3 = np.column_stack([model.texcoords, np.zeros(len(model.texcoords))])
        attrs = {"pos": V[tc2v], "normal": N[tc2v]}
        eye_mats = [i for i, n in enumerate(model.material_names) if n.startswith(("M_Sclera", "M_Iris"))]
        if eye_mats:
            on_eye = np.zeros(len(model.texcoords))
            on_eye[tf[np.isin(model.face_material, eye_mats)].ravel()] = 1.0
            attrs["eyeball"] = on_eye
        r = rasterize(uv3, tf, size, size, (0.0, 1.0), (0.0, 1.0), attrs)
        if eye_mats:
            eyeball = (r.attributes["eyeball"].reshape(-1) > 0.5) & r.mask.ravel()
    else:
        uv3 = np.column_stack([model.uv, np.zeros(len(model.uv))])
        r = rasterize(uv3, model.triangles, size, size, (0.0, 1.0), (0.0, 1.0), {"pos": V, "normal": N})
    hit = r.mask.ravel()
    pos = r.attributes["pos"].reshape(-1, 3)
    nrm = r.attributes["normal"].reshape(-1, 3)
    # texels outside the atlas take the position of the atlas centre: they only get skin colour
    pos[~hit] = V[model.nose_tip]
    nrm[~hit] = (0.0, 0.0, 1.0)
    p = pos[:, :2]
    ib = lambda ks: V[[int(model.ibug_vertices[k - 1]) for k in ks]][:, :2]  # noqa: E731

    tone = np.asarray(skin_tone, dtype=np.float64)
    col = np.tile(tone, (size * size, 1))
    mottle = _smooth_noise(rng, size, size / 24.0).ravel()
    pores = rng.standard_normal(size * size)
    col *= (1.0 + 0.035 * mottle + 0.02 * pores)[:, None]
    red = np.array([1.04, 0.95, 0.95])
    for c in (ib([31])[0], *ib([2, 16]) * 0.55 + ib([31])[0] * 0.45):  # nose tip and cheeks
        w = np.exp(-0.5 * (np.linalg.norm(p - c, axis=1) / 14.0) ** 2)[:, None]
        col *= 1.0 + 0.6 * w * (red - 1.0)

    # brows: thick at the inner end, thin at the outer end, broken up by hair-like noise
    hair = np.clip(0.75 + 0.35 * rng.standard_normal(size * size), 0, 1)
    for brow in ([22, 21, 20, 19, 18], [23, 24, 25, 26, 27]):  # inner -> outer
        line = ib(brow) + np.array([0.0, -1.5])
        d, frac = _polyline_dist(p, line)
        half = 3.6 - 1.8 * frac
        a = (np.clip((half - d) / 1.2, 0.0, 1.0) * hair)[:, None]
        col = col * (1 - 0.85 * a) + 0.85 * a * hair_color

    # lips between the outer and inner mouth contours, with a soft edge
    outer, inner = ib(range(49, 61)), ib(range(61, 69))
    lips = (_in_poly(p, outer) & ~_in_poly(p, inner)).astype(np.float64)
    lip_d, _ = _polyline_dist(p, np.vstack([outer, outer[:1]]))
    lips = np.maximum(lips, np.clip(1.0 - lip_d / 1.0, 0, 1) * 0.5)[:, None]
    lip_col = tone * np.array([0.86, 0.58, 0.58])
    col = col * (1 - lips) + lips * lip_col
    mouth = _in_poly(p, inner)
    col[mouth] = tone * 0.35

    # eyes: sclera, iris, pupil; dark lid line along the contour
    for eye in (range(37, 43), range(43, 49)):
        poly = ib(eye)
        ins = _in_poly(p, poly)
        centre = poly.mean(axis=0)
        rr = np.linalg.norm(p - centre, axis=1)
        col[ins] = (0.90, 0.88, 0.86)
        iris = ins & (rr < 5.0)
        col[iris] = iris_color * (0.8 + 0.4 * np.clip(rr[iris] / 5.0, 0, 1))[:, None]
        col[ins & (rr < 2.0)] = (0.03, 0.03, 0.03)
        d, _ = _polyline_dist(p, np.vstack([poly, poly[:1]]))
        lid = np.clip(1.0 - d / 0.9, 0, 1)[:, None]
        col = col * (1 - 0.8 * lid) + 0.8 * lid * (0.12, 0.08, 0.07)

    if eyeball is not None:
        _paint_eyeballs(model, V, pos, eyeball, col, iris_color)

    # nostrils: dark ellipses just above the nose-lip junction
    for a_, b_ in ((32, 33), (35, 36)):
        c = 0.5 * (ib([a_])[0] + ib([b_])[0]) + np.array([0.0, 1.5])
        d = np.sqrt(((p[:, 0] - c[0]) / 3.2) ** 2 + ((p[:, 1] - c[1]) / 1.8) ** 2)
        w = np.clip(1.2 - d, 0, 1)[:, None]
        col = col * (1 - 0.7 * w) + 0.7 * w * tone * 0.3

    if light_dir is not None:
        L = np.asarray(light_dir, dtype=np.float64)
        L = L / np.linalg.norm(L)
        col *= (ambient + (1 - ambient) * np.clip(nrm @ L, 0.0, 1.0))[:, None]
    return (np.clip(col, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8).reshape(size, size, 3)


def _paint_eyeballs(model, V: np.ndarray, pos: np.ndarray, eyeball: np.ndarray, col: np.ndarray,
                    iris_color) -> None:
    """Sclera, iris and pupil on eyeball meshes (ICT): by the angle of a texel from its eyeball's +z axis."""
    names = model.material_names
    for side in ("Left", "Right"):
        mats = [names.index(n) for n in (f"M_Sclera{side}", f"M_Iris{side}") if n in names]
        vs = np.unique(model.triangles[np.isin(model.face_material, mats)])
        if not len(vs):
            continue
        lo, hi = V[vs].min(0), V[vs].max(0)
        centre = 0.5 * (lo + hi)
        radius = 0.5 * float((hi - lo)[:2].mean())
        d = pos - centre
        sel = eyeball & (np.linalg.norm(d, axis=1) < 1.5 * radius)
        # lateral distance from the eyeball's forward axis, as a fraction of its radius
        rho = np.linalg.norm(d[sel, :2], axis=1) / max(radius, 1e-6)
        front = d[sel, 2] > 0
        c = np.tile([0.90, 0.88, 0.86], (int(sel.sum()), 1))
        iris = front & (rho < 0.48)
        c[iris] = np.asarray(iris_color) * (0.75 + 0.5 * (rho[iris] / 0.48))[:, None]
        c[front & (rho < 0.2)] = (0.03, 0.03, 0.03)
        col[sel] = c


def sample_texture(texture: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear lookup of an (H, W, 3) uint8 texture at (..., 2) uv (v = 0 at the bottom); float in [0, 1]."""
    t = np.asarray(texture)
    h, w = t.shape[:2]
    u = np.nan_to_num(uv[..., 0]) * w - 0.5
    v = (1.0 - np.nan_to_num(uv[..., 1])) * h - 0.5
    x0 = np.clip(np.floor(u), 0, w - 1).astype(np.int64)
    y0 = np.clip(np.floor(v), 0, h - 1).astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx = np.clip(u - x0, 0.0, 1.0)[..., None]
    fy = np.clip(v - y0, 0.0, 1.0)[..., None]
    top = t[y0, x0] * (1 - fx) + t[y0, x1] * fx  # gathers stay uint8; the blend promotes to float
    bot = t[y1, x0] * (1 - fx) + t[y1, x1] * fx
    return (top * (1 - fy) + bot * fy) * (1.0 / 255.0)


def render_textured(vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray, texture: np.ndarray,
                    width: int, height: int, xlim: tuple[float, float], ylim: tuple[float, float], *,
                    light_dir=(0.2, 0.3, 1.0), ambient: float = 0.6, background=(0.12, 0.12, 0.12)):
    """Render a textured mesh orthographically along -z with Lambertian (Gouraud) shading.

    ``uv`` is (n, 2) per vertex, or (m, 3, 2) per face corner (atlases with seams, :meth:`Scan.corner_uv`).

    Returns
    -------
    image, raster
        uint8 (height, width, 3) image and the :class:`~ferbench.geometry.Raster` (its
        ``depth`` is the range image; attributes ``uv`` and ``shade``).
    """
    L = np.asarray(light_dir, dtype=np.float64)
    L = L / np.linalg.norm(L)
    # Gouraud shading: Lambert per vertex, interpolated with the texture coordinates
    shade = ambient + (1 - ambient) * np.clip(vertex_normals(vertices, faces) @ L, 0.0, 1.0)
    uv = np.asarray(uv, dtype=np.float64)
    if uv.ndim == 3:  # per face corner: exact across UV seams
        r = rasterize(vertices, faces, width, height, xlim, ylim, {"shade": shade}, corner_attributes={"uv": uv})
    else:
        r = rasterize(vertices, faces, width, height, xlim, ylim, {"uv": uv, "shade": shade})
    m = r.mask
    col = np.empty((height, width, 3))
    col[:] = background
    col[m] = sample_texture(texture, r.attributes["uv"][m]) * r.attributes["shade"][m]
    return (np.clip(col, 0, 1) * 255.0 + 0.5).astype(np.uint8), r


def render_scan(scan, texture: np.ndarray, width: int, height: int, xlim: tuple[float, float],
                ylim: tuple[float, float], **kw):
    """:func:`render_textured` of a :class:`~ferbench.io.Scan`, per-corner texture coordinates included.

    With ``scan.texcoord_faces`` (an atlas with seams) every face corner is rendered with its own
    texture coordinate: the mesh is split along the seams (positions and normals shared), so
    no triangle interpolates across the atlas.
    """
    if scan.texcoord_faces is None:
        return render_textured(scan.vertices, scan.faces, scan.texcoords, texture, width, height, xlim, ylim, **kw)
    L = np.asarray(kw.pop("light_dir", (0.2, 0.3, 1.0)), dtype=np.float64)
    L = L / np.linalg.norm(L)
    ambient = kw.pop("ambient", 0.6)
    background = kw.pop("background", (0.12, 0.12, 0.12))
    if kw:
        raise TypeError(f"unexpected arguments {sorted(kw)}")
    tf = np.asarray(scan.texcoord_faces, np.int64)
    tc2v = np.zeros(len(scan.texcoords), np.int64)
    tc2v[tf.ravel()] = np.asarray(scan.faces, np.int64).ravel()
    shade = ambient + (1 - ambient) * np.clip(vertex_normals(scan.vertices, scan.faces) @ L, 0.0, 1.0)
    r = rasterize(np.asarray(scan.vertices)[tc2v], tf, width, height, xlim, ylim,
                  {"uv": scan.texcoords, "shade": shade[tc2v]})
    m = r.mask
    col = np.empty((height, width, 3))
    col[:] = background
    col[m] = sample_texture(texture, r.attributes["uv"][m]) * r.attributes["shade"][m]
    return (np.clip(col, 0, 1) * 255.0 + 0.5).astype(np.uint8), r
