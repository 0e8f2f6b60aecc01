"""3D views of a :class:`~ferbench.io.scan.Scan` with pyvista: textured surface, heat maps painted on it.

* :func:`scan_to_polydata` - the scan as a ``pyvista.PolyData`` (mm, per-corner texture coordinates, colours).
* :func:`heat_vertex_colors` - per-vertex colours of a heat map blended over the scan's colours (numpy and
  matplotlib only: also what the napari plugin gives a Surface layer).
* :func:`scan_plotter` - a configured ``pyvista.Plotter``: front view framed on the face, optional heat map
  with a colour bar, optional landmarks.
* :func:`show_scan` - the interactive, self-contained (offline) vtk.js widget for JupyterLab, or a PNG.
* :func:`render_scan_png` - an offscreen render (EGL, no X server) for the HTML report.

Per-vertex values come from :func:`ferbench.preprocess.vertex_values_from_grid` (e.g. a Grad-CAM map of a
prediction). pyvista is imported only inside the functions that draw.
"""
from __future__ import annotations

import contextlib
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ferbench.io.scan import Scan
from ferbench.viz._common import VizError

ORIGINAL_INDEX = "ferbench_vertex"
"""Point-data array of :func:`scan_to_polydata`: the index of each point's vertex in the original scan."""

_BACKGROUND = (1.0, 1.0, 1.0)


def _split_seams(faces: np.ndarray, texcoords: np.ndarray, texcoord_faces: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split vertices whose corners use different texture coordinates (UV seams).

    Every distinct (vertex, texture coordinate value) pair of the face corners becomes one point, so each
    point has one texture coordinate and the texture is continuous on both sides of a seam. Texcoord
    indices that repeat the same (u, v) value do not split a vertex.

    Returns
    -------
    vertex_of_point : (p,) index of each point's vertex in the scan
    texcoord_of_point : (p,) index into ``texcoords`` of each point's texture coordinate
    new_faces : (m, 3) the faces over the points
    """
    _, first, canon = np.unique(texcoords, axis=0, return_index=True, return_inverse=True)
    canon = canon.reshape(-1)
    pairs = np.stack([faces.ravel(), canon[texcoord_faces.ravel()]], 1)
    uniq, inverse = np.unique(pairs, axis=0, return_inverse=True)
    # points in vertex order; a vertex without seams keeps exactly one point
    return uniq[:, 0], first[uniq[:, 1]], inverse.reshape(faces.shape).astype(np.int64)


def _vertex_normals(V: np.ndarray, F: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals, oriented toward +z on average (the viewer's side)."""
    fn = np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]])
    if fn[:, 2].sum() < 0:
        fn = -fn
    n = np.zeros_like(V)
    for k in range(3):
        np.add.at(n, F[:, k], fn)
    norm = np.linalg.norm(n, axis=1, keepdims=True)
    return np.divide(n, norm, out=np.tile([0.0, 0.0, 1.0], (len(V), 1)), where=norm > 0)


def _polydata_arrays(scan: Scan) -> dict[str, Any]:
    """Points, faces, per-point texture coordinates, colours and original indices (numpy only)."""
    scan.validate()
    V, F = scan.vertices, scan.faces
    n = len(V)
    uv = None
    vidx = np.arange(n)
    faces = F
    if scan.texcoords is not None:
        if scan.texcoord_faces is None:
            uv = scan.texcoords
        else:
            vidx, tidx, faces = _split_seams(F, scan.texcoords, scan.texcoord_faces)
            uv = scan.texcoords[tidx]
            # vertices used by no face keep one point each (so per-vertex values still line up)
            loose = np.setdiff1d(np.arange(n), vidx)
            if loose.size:
                vidx = np.concatenate([vidx, loose])
                uv = np.concatenate([uv, np.zeros((loose.size, 2))])
    normals = _vertex_normals(V, F)[vidx]     # of the unsplit mesh: no shading crease along the seams
    return dict(points=V[vidx], faces=faces, uv=uv, rgb=scan.vertex_rgb()[vidx], index=vidx, normals=normals)


def scan_to_polydata(scan: Scan):
    """The scan as a ``pyvista.PolyData`` in millimetres.

    Parameters
    ----------
    scan
        Any :class:`~ferbench.io.scan.Scan`.

    Returns
    -------
    pyvista.PolyData
        Triangles over the scan's vertices. When the texture coordinates are indexed per face corner
        (``texcoord_faces``), vertices on a UV seam are split (one point per distinct (vertex, texcoord)
        pair), so the point count is ``n_vertices`` plus the seam splits; each point's texture coordinate
        is its corners'. Point data: ``"RGB"`` (uint8 vertex colours, :meth:`Scan.vertex_rgb`), ``"Normals"``
        (smooth vertex normals of the unsplit mesh) and
        :data:`ORIGINAL_INDEX` (the scan vertex of each point; ``values[pd[ORIGINAL_INDEX]]`` maps
        per-vertex values onto the points). The texture image itself is attached by :func:`scan_plotter`.
    """
    import pyvista as pv

    a = _polydata_arrays(scan)
    cells = np.concatenate([np.full((len(a["faces"]), 1), 3), a["faces"]], 1).ravel()
    pd = pv.PolyData(np.ascontiguousarray(a["points"], dtype=np.float64), cells)
    pd.point_data["RGB"] = np.ascontiguousarray(a["rgb"], dtype=np.uint8)
    pd.point_data[ORIGINAL_INDEX] = a["index"].astype(np.int64)
    pd.point_data["Normals"] = a["normals"]
    pd.point_data.active_normals_name = "Normals"
    if a["uv"] is not None:
        pd.active_texture_coordinates = np.ascontiguousarray(a["uv"], dtype=np.float64)
    return pd


def _cmap(cmap: str | Any):
    import matplotlib

    return matplotlib.colormaps[cmap] if isinstance(cmap, str) else cmap


def _clim(values: np.ndarray, clim: tuple[float, float] | None) -> tuple[float, float]:
    if clim is not None:
        lo, hi = float(clim[0]), float(clim[1])
    else:
        fin = values[np.isfinite(values)]
        lo, hi = (float(fin.min()), float(fin.max())) if fin.size else (0.0, 1.0)
    if not hi > lo:
        hi = lo + 1.0
    return lo, hi


def heat_vertex_colors(base_rgb: np.ndarray, values: np.ndarray, cmap: str | Any = "jet",
                       clim: tuple[float, float] | None = None, alpha: float = 0.6) -> np.ndarray:
    """Per-vertex colours of a heat map blended over base colours: ``(1 - alpha) * base + alpha * cmap(v)``.

    Parameters
    ----------
    base_rgb
        (n, 3) colours, uint8 in [0, 255] or float in [0, 1] (e.g. :meth:`Scan.vertex_rgb`).
    values
        (n,) per-vertex values (e.g. from :func:`~ferbench.preprocess.vertex_values_from_grid`); NaN keeps
        the base colour.
    cmap
        matplotlib colormap (name or object).
    clim
        ``(low, high)`` mapped to the colormap's ends (values are clipped); default the finite range.
    alpha
        Weight of the heat map (1 = the colormap's colour only).

    Returns
    -------
    (n, 3) float64 RGB in [0, 1].
    """
    base = np.asarray(base_rgb)
    base = base / 255.0 if np.issubdtype(base.dtype, np.integer) else base.astype(np.float64)
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if base.shape != (len(v), 3):
        raise VizError(f"heat map: {len(v)} values for base colours of shape {base.shape}")
    lo, hi = _clim(v, clim)
    t = np.clip((v - lo) / (hi - lo), 0.0, 1.0)
    heat = _cmap(cmap)(np.nan_to_num(t))[:, :3]
    a = np.where(np.isfinite(v), float(alpha), 0.0)[:, None]
    return (1.0 - a) * base + a * heat


def _bar_format(lo: float, hi: float) -> str:
    """Short colour-bar labels: two decimals for ranges like [0, 1], whole numbers for ranges like mm of
    depth, else two significant digits."""
    span, big = hi - lo, max(abs(lo), abs(hi))
    if 0.05 <= span < 10 and big < 100:
        return "%.2f"
    if span >= 10 and big < 1e5:
        return "%.0f"
    return "%.2g"


def _bake_heat_texture(arrays: dict[str, Any], texture: np.ndarray, values: np.ndarray, cmap, clim,
                       alpha: float) -> np.ndarray:
    """The texture image with the heat map blended in texture space (keeps the texture's full detail).

    The per-point values are rasterised over the mesh laid out in UV space (v = 0 at the image bottom, as
    the rasteriser's row 0 is its top), then blended texel by texel; texels no face covers keep the image.
    """
    from ferbench.geometry import rasterize

    H, W = texture.shape[:2]
    uvz = np.c_[arrays["uv"], np.zeros(len(arrays["uv"]))]
    ras = rasterize(uvz, arrays["faces"], W, H, (0.0, 1.0), (0.0, 1.0),
                    vertex_attributes={"v": values[arrays["index"]]})
    tv = ras.attributes["v"][..., 0]
    lo, hi = _clim(values, clim)
    heat = _cmap(cmap)(np.clip((np.nan_to_num(tv) - lo) / (hi - lo), 0, 1))[..., :3]
    a = np.where(np.isfinite(tv), float(alpha), 0.0)[..., None]
    out = (1 - a) * (texture / 255.0) + a * heat
    return np.clip(np.rint(out * 255), 0, 255).astype(np.uint8)


def _front_camera(pl, points: np.ndarray, padding: float, right_margin: float = 0.0) -> None:
    """Look along -z at the scan (+y up), parallel projection, the points' x-y extent filling the view
    (its left ``1 - right_margin`` part, leaving room for a colour bar)."""
    lo, hi = points.min(0), points.max(0)
    c = (lo + hi) / 2
    ext = hi - lo
    w, h = pl.window_size
    aspect = w * (1 - right_margin) / max(h, 1)
    # parallel scale = half the visible height; fit both the height and the (usable) width
    scale = 0.5 * max(ext[1], ext[0] / aspect) * (1 + 2 * padding)
    shift = right_margin * scale * (w / max(h, 1))       # move the face left by half the margin
    cam = pl.camera
    cam.focal_point = (c[0] + shift, c[1], c[2])
    cam.position = (c[0] + shift, c[1], hi[2] + 3 * max(ext.max(), 1.0))
    cam.up = (0.0, 1.0, 0.0)
    cam.enable_parallel_projection()
    cam.parallel_scale = scale
    pl.renderer.ResetCameraClippingRange()


def _posed(scan: Scan, facegrid: Any) -> Scan:
    """A shallow copy of the scan with vertices and landmarks moved into the FaceGrid's frame."""
    import dataclasses

    lm = scan.landmarks
    if lm is not None:
        lm = facegrid.to_grid_frame(lm)
    return dataclasses.replace(scan, vertices=facegrid.to_grid_frame(scan.vertices), landmarks=lm)


def _load_before_gl() -> None:
    """Import triton (torch's compiler, which bundles its own LLVM) before VTK opens a GL context.

    Mesa's software OpenGL (llvmpipe, what EGL/Xvfb give on machines without a GPU driver) loads the
    system's libLLVM; importing triton after that (torchvision imports it) crashes the process with a
    segmentation fault. In the other order both work.
    """
    import importlib.util

    try:
        if importlib.util.find_spec("triton") is not None:
            import triton  # noqa: F401
    except Exception:  # a broken triton is torch's problem, not the renderer's
        pass


@contextlib.contextmanager
def _egl_if_offscreen(off_screen: bool):
    """Make VTK's offscreen render windows EGL ones on Linux (unless the user chose a window class).

    Where a DISPLAY is set (Xvfb under pytest-xvfb, a desktop), VTK would open an X window even offscreen,
    and when that X server goes away before the process exits, Xlib aborts the process with "XIO: fatal IO
    error" and exit status 1. EGL needs no X server.
    """
    key = "VTK_DEFAULT_OPENGL_WINDOW"
    use = off_screen and sys.platform.startswith("linux") and key not in os.environ
    if use:
        os.environ[key] = "vtkEGLRenderWindow"
    try:
        yield
    finally:
        if use:
            os.environ.pop(key, None)


def scan_plotter(scan: Scan, scalars: np.ndarray | None = None, *, cmap: str | Any = "jet",
                 clim: tuple[float, float] | None = None, alpha: float = 0.6, title: str | None = None,
                 scalar_name: str = "value", landmarks: bool = False, texture: bool = True,
                 window_size: tuple[int, int] = (600, 600), off_screen: bool | None = None,
                 padding: float = 0.03, notebook: bool | None = None, facegrid: Any = None):
    """A ``pyvista.Plotter`` showing the scan from the front, the face filling the view.

    Parameters
    ----------
    scan
        The scan (its own frame: +z toward the viewer, +y up, as every reader gives).
    scalars
        Optional (n_vertices,) values (e.g. a Grad-CAM map from
        :func:`~ferbench.preprocess.vertex_values_from_grid`), painted over the texture as
        ``(1 - alpha) * texture + alpha * cmap(value)`` with a colour bar; NaN leaves the texture.
    cmap, clim, alpha
        Colormap, value range (default the finite range) and heat-map weight.
    title
        Text at the top left; synthetic scans are labelled "synthetic" at the bottom left.
    scalar_name
        Colour-bar title.
    landmarks
        Draw the scan's landmarks as small red spheres.
    texture
        Use the texture image when the scan has one (else vertex colours).
    window_size, off_screen, notebook
        Passed to ``pyvista.Plotter``.
    padding
        Margin around the face as a fraction of its extent.
    facegrid
        The scan's :class:`~ferbench.preprocess.FaceGrid`: show the scan in the grid's normalised pose
        (frontal, nose tip at the origin) instead of the scan's own frame.

    Returns
    -------
    pyvista.Plotter
        Not yet shown: call ``.show()``, ``.screenshot()`` or ``.export_html()``.
    """
    import pyvista as pv

    if facegrid is not None:
        scan = _posed(scan, facegrid)
    a = _polydata_arrays(scan)
    pd = scan_to_polydata(scan)
    n = scan.n_vertices
    if scalars is not None:
        scalars = np.asarray(scalars, dtype=np.float64).reshape(-1)
        if len(scalars) != n:
            raise VizError(f"{scan.meta.source_path or 'scan'}: {len(scalars)} scalars for {n} vertices")
    use_tex = texture and scan.texture is not None and a["uv"] is not None
    kw: dict[str, Any] = {}
    if off_screen is not None:
        kw["off_screen"] = off_screen
    if notebook is not None:
        kw["notebook"] = notebook
    _load_before_gl()
    with _egl_if_offscreen(bool(off_screen) or bool(pv.OFF_SCREEN)):
        pl = pv.Plotter(window_size=list(window_size), **kw)
    pl.set_background(_BACKGROUND)
    # smooth (Phong) shading with the polydata's own point normals (pyvista's smooth_shading would recompute
    # them on the split mesh and crease the seams)
    light = dict(ambient=0.35, diffuse=0.75, specular=0.05, interpolation="phong")
    if use_tex:
        img = scan.texture
        if scalars is not None:
            img = _bake_heat_texture(a, img, scalars, cmap, clim, alpha)
        pd.point_data.remove("RGB")         # else vtk.js colours the bar by the RGB array's range
        pl.add_mesh(pd, texture=pv.Texture(img), name="scan", **light)
    else:
        rgb = a["rgb"]
        if scalars is not None:
            rgb = heat_vertex_colors(rgb, scalars[a["index"]], cmap, clim, alpha)
            rgb = np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)
        pd.point_data["RGB"] = rgb
        pl.add_mesh(pd, scalars="RGB", rgb=True, name="scan", **light)
    if scalars is not None:
        lo, hi = _clim(scalars, clim)
        # a two-point carrier gives the colour bar its lookup table; barely visible, but not fully
        # transparent: vtk.js skips invisible actors and then never sets the bar's range (shows 0-255)
        bar = pv.PolyData(np.repeat(a["points"][:1], 2, axis=0))
        bar.point_data[scalar_name] = np.array([lo, hi])
        pl.add_mesh(bar, scalars=scalar_name, cmap=cmap, clim=(lo, hi), opacity=0.004, name="colorbar",
                    show_scalar_bar=True, pickable=False,
                    scalar_bar_args=dict(title=scalar_name, vertical=True, position_x=0.87, position_y=0.15,
                                         width=0.07, height=0.7, color="black", title_font_size=16,
                                         label_font_size=14, n_labels=5, fmt=_bar_format(lo, hi)))
    if landmarks and scan.landmarks is not None:
        lm = scan.landmarks[np.isfinite(scan.landmarks).all(1)]
        if len(lm):
            r = 0.012 * float(np.ptp(a["points"][:, 1]) or 100.0)
            pl.add_mesh(pv.PolyData(lm).glyph(geom=pv.Sphere(radius=r), scale=False, orient=False),
                        color="red", name="landmarks", smooth_shading=True)
    if title:
        pl.add_text(str(title), position="upper_left", font_size=12, color="black", name="title")
    if scan.meta.synthetic:
        pl.add_text("synthetic", position="lower_left", font_size=9, color="gray", name="synthetic")
    _front_camera(pl, a["points"], padding, right_margin=0.0 if scalars is None else 0.16)
    return pl


def render_scan_png(scan: Scan, scalars: np.ndarray | None = None, *, path: str | os.PathLike | None = None,
                    size: tuple[int, int] = (600, 600), **kwargs: Any) -> np.ndarray | Path:
    """Render the scan offscreen (EGL, no X server needed) as :func:`scan_plotter` frames it.

    Parameters
    ----------
    scan, scalars
        As for :func:`scan_plotter` (``**kwargs`` go there too: ``cmap``, ``clim``, ``alpha``, ``title``,
        ``landmarks``, ...).
    path
        Write a PNG there and return its ``Path``; None returns the image.
    size
        ``(width, height)`` in pixels.

    Returns
    -------
    (height, width, 3) uint8 array, or the PNG's Path.
    """
    import pyvista as pv

    old = pv.OFF_SCREEN
    pv.OFF_SCREEN = True
    try:
        pl = scan_plotter(scan, scalars, window_size=size, off_screen=True, **kwargs)
        try:
            img = np.asarray(pl.screenshot(None, return_img=True, window_size=list(size)))[..., :3]
        finally:
            pl.close()
    finally:
        pv.OFF_SCREEN = old
    img = np.ascontiguousarray(img, dtype=np.uint8)
    if path is None:
        return img
    from PIL import Image

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(p)
    return p


@contextlib.contextmanager
def _html_export():
    """Settings for exporting the scene to the self-contained vtk.js page (restored afterwards).

    * trame-vtklocal is kept out of the trame server pyvista starts to export the scene: the html backend
      only needs the vtk.js export, but the server start-up initialises trame-vtklocal when it is installed,
      and that tries to download VTK's WebAssembly build from gitlab.kitware.com (a network request, and a
      traceback when offline). A vtklocal the user already imported is left alone.
    * Lookup tables are exported as colour transfer functions (trame-vtk's ``encode_lut``): the plain
      lookup-table export loses the value range, and the colour bar then reads 0-255.
    """
    name = "trame.widgets.vtklocal"
    hide = name not in sys.modules
    if hide:
        sys.modules[name] = None  # type: ignore[assignment]  # makes "from trame.widgets import vtklocal" fail
    try:
        from trame_vtk.modules.vtk.serializers import initialize as _ser
        old_lut = _ser.vtk_config.convert_lut
        _ser.encode_lut(True)
    except (ImportError, AttributeError):  # another trame-vtk layout: export as it comes
        _ser = None
    try:
        yield
    finally:
        if _ser is not None:
            _ser.encode_lut(old_lut)
        if hide and sys.modules.get(name, 0) is None:
            del sys.modules[name]


def show_scan(scan: Scan, scalars: np.ndarray | None = None, *, backend: str = "html",
              size: tuple[int, int] = (600, 600), **kwargs: Any):
    """Show the scan in a notebook.

    Parameters
    ----------
    scan, scalars, **kwargs
        As for :func:`scan_plotter`.
    backend
        ``"html"``: the interactive vtk.js widget (trame), self-contained, no server and no network needed;
        ``"static"``: a PNG (:func:`render_scan_png`). When trame is not installed, ``"html"`` falls back
        to the PNG with a warning saying so.
    size
        ``(width, height)`` in pixels.

    Returns
    -------
    The widget (``backend="html"``) or an ``IPython.display.Image`` (the PNG; the uint8 array when IPython
    is absent).
    """
    if backend not in ("html", "static"):
        raise VizError(f"show_scan: backend must be 'html' or 'static', got {backend!r}")
    if backend == "html":
        try:
            import trame  # noqa: F401
            import trame_vtk  # noqa: F401
        except ImportError:
            warnings.warn("show_scan: trame is not installed (pip install 'pyvista[jupyter]'), "
                          "showing a static PNG instead of the interactive view", stacklevel=2)
        else:
            pl = scan_plotter(scan, scalars, window_size=size, off_screen=True, notebook=True, **kwargs)
            try:
                with _html_export():
                    return pl.show(jupyter_backend="html", return_viewer=True)   # the scene is exported now
            finally:
                pl.close()          # frees the render window (and its X connection, where there is one)
    img = render_scan_png(scan, scalars, size=size, **kwargs)
    try:
        import io

        from IPython.display import Image
        from PIL import Image as PILImage
    except ImportError:
        return img
    buf = io.BytesIO()
    PILImage.fromarray(img).save(buf, format="PNG")
    return Image(data=buf.getvalue(), format="png")
