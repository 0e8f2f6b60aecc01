"""Tests of ferbench.viz.surface: pyvista polydata, offscreen renders, heat maps and the notebook widget."""
from __future__ import annotations

import base64
import html
import io
import json
import re
import sys
import zipfile

import numpy as np
import pytest

from ferbench.io.scan import Scan, ScanMeta
from ferbench.viz._common import VizError
from ferbench.viz.surface import ORIGINAL_INDEX, heat_vertex_colors


@pytest.fixture(scope="module")
def face() -> Scan:
    from ferbench.synth import procedural_model, sample_subject, subject_texture, synthesize_scan

    model = procedural_model()
    rng = np.random.default_rng(0)
    s = sample_subject(model, "F0001", rng)
    return synthesize_scan(model, s, "happiness", 4, rng, texture=subject_texture(model, s, size=64), pose=False)


def _seam_scan() -> Scan:
    """Two triangles sharing the edge 1-2; the second uses other texcoords for 1 and 2 (a UV seam)."""
    V = np.array([[0, 0, 0], [10, 0, 0], [0, 10, 0], [10, 10, 0], [50, 50, 0]], float)   # vertex 4: loose
    F = np.array([[0, 1, 2], [1, 3, 2]])
    T = np.array([[0.0, 0.0], [0.4, 0.0], [0.0, 0.4], [0.6, 0.0], [0.6, 0.4], [1.0, 0.4]])
    TF = np.array([[0, 1, 2], [3, 5, 4]])
    tex = np.zeros((8, 8, 3), np.uint8)
    return Scan(V, F, texcoords=T, texcoord_faces=TF, texture=tex, meta=ScanMeta(source_path="seam.obj"))


def test_heat_colours_blend_the_colormap_over_the_base():
    import matplotlib

    base = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]], np.uint8)
    v = np.array([1.0, 0.0, 0.5, np.nan])
    top, bottom, mid = (matplotlib.colormaps["viridis"](x)[:3] for x in (1.0, 0.0, 0.5))
    full = heat_vertex_colors(base, v, "viridis", clim=(0, 1), alpha=1.0)
    np.testing.assert_allclose(full[0], top)                    # value 1 takes the colormap's top colour
    np.testing.assert_allclose(full[1], bottom)
    np.testing.assert_allclose(full[3], base[3] / 255)          # NaN keeps the base colour
    half = heat_vertex_colors(base, v, "viridis", clim=(0, 1), alpha=0.5)
    np.testing.assert_allclose(half[2], 0.5 * np.array([0, 0, 1.0]) + 0.5 * np.array(mid))
    # values are clipped to clim; the default clim is the finite range
    np.testing.assert_allclose(heat_vertex_colors(base, v * 7, "viridis", clim=(0, 1), alpha=1)[2], top)
    np.testing.assert_allclose(heat_vertex_colors(base, v * 7, "viridis", alpha=1)[0], top)
    with pytest.raises(VizError, match="3 values"):
        heat_vertex_colors(base, v[:3])


def test_polydata_splits_uv_seams_and_keeps_texture_coords_per_corner():
    pytest.importorskip("pyvista")
    from ferbench.viz.surface import scan_to_polydata

    scan = _seam_scan()
    pd = scan_to_polydata(scan)
    assert pd.n_cells == scan.n_faces
    assert pd.n_points == scan.n_vertices + 2                   # vertices 1 and 2 are split at the seam
    cells = pd.faces.reshape(-1, 4)
    assert (cells[:, 0] == 3).all()
    corners = cells[:, 1:]
    np.testing.assert_array_equal(pd.point_data[ORIGINAL_INDEX][corners], scan.faces)
    np.testing.assert_allclose(pd.active_texture_coordinates[corners], scan.texcoords[scan.texcoord_faces])
    np.testing.assert_allclose(pd.points[corners], scan.vertices[scan.faces])
    assert 4 in pd.point_data[ORIGINAL_INDEX]                   # the loose vertex keeps a point
    # split points share the unsplit mesh's normal (no shading crease along the seam)
    n = pd.point_data["Normals"]
    np.testing.assert_allclose(n, np.tile([0, 0, 1.0], (pd.n_points, 1)), atol=1e-12)
    # per-corner texcoord indices that repeat the same (u, v) do not split anything
    per_corner = Scan(scan.vertices, scan.faces, texcoords=np.array([[0, 0], [.4, 0], [0, .4], [.4, 0], [1, 1], [0, .4]]),
                      texcoord_faces=np.array([[0, 1, 2], [3, 4, 5]]), texture=scan.texture)
    assert scan_to_polydata(per_corner).n_points == scan.n_vertices


def test_polydata_of_a_seamless_scan_has_its_vertex_and_face_counts(face):
    pytest.importorskip("pyvista")
    from ferbench.viz.surface import scan_to_polydata

    pd = scan_to_polydata(face)
    assert (pd.n_points, pd.n_cells) == (face.n_vertices, face.n_faces)
    np.testing.assert_allclose(pd.points, face.vertices)
    np.testing.assert_allclose(pd.active_texture_coordinates, face.texcoords)
    np.testing.assert_array_equal(pd.point_data["RGB"], face.vertex_rgb())


def _face_pixels(img: np.ndarray) -> np.ndarray:
    return (np.abs(img.astype(int) - 255).sum(-1) > 30)        # not the white background


def test_render_is_a_centred_face_filling_the_frame(face, tmp_path):
    pytest.importorskip("pyvista")
    from ferbench.viz.surface import render_scan_png

    img = render_scan_png(face, size=(200, 160))
    assert img.shape == (160, 200, 3) and img.dtype == np.uint8
    fg = _face_pixels(img)
    assert fg.mean() > 0.3
    rows, cols = np.nonzero(fg)
    assert abs((rows.min() + rows.max()) / 2 - 80) < 16 and abs((cols.min() + cols.max()) / 2 - 100) < 20
    assert rows.max() - rows.min() > 0.85 * 160                 # the face's height fills the frame
    # upright: the textured lips (red-ish) are in the lower half
    r, g = img[..., 0].astype(int), img[..., 1].astype(int)
    lips = fg & (r - g > 60)
    assert lips.any() and np.nonzero(lips)[0].mean() > 80
    p = render_scan_png(face, path=tmp_path / "f.png", size=(120, 120))
    assert p.exists() and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_posed_view_uses_the_facegrid_frame(face):
    pytest.importorskip("pyvista")
    from ferbench.preprocess import FaceGrid
    from ferbench.viz.surface import render_scan_png

    a = np.radians(90.0)                                # a grid frame rotated a quarter turn about z
    T = np.eye(4)
    T[:2, :2] = [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]
    g = FaceGrid(np.zeros((4, 4, 3)), np.ones((4, 4), bool), transform=T)
    up = _face_pixels(render_scan_png(face, size=(160, 160)))
    turned = _face_pixels(render_scan_png(face, size=(160, 160), facegrid=g))
    np.testing.assert_allclose(turned.mean(), up.mean(), atol=0.1)
    # the face is taller than wide; turned by 90 degrees it is wider than tall
    def hw(m):
        r, c = np.nonzero(m)
        return np.ptp(r), np.ptp(c)
    assert hw(up)[0] > hw(up)[1] and hw(turned)[0] < 0.95 * 160 and hw(turned)[1] > 0.95 * 150


def test_heat_map_of_ones_paints_the_colormap_top_colour(face):
    pytest.importorskip("pyvista")
    from ferbench.viz.surface import render_scan_png

    ones = np.ones(face.n_vertices)
    for scan in (face, Scan(face.vertices, face.faces, vertex_colors=face.vertex_rgb(), meta=face.meta)):
        img = render_scan_png(scan, ones, cmap="jet", clim=(0, 1), alpha=1.0, size=(160, 160)).astype(int)
        c = img[70:90, 55:75].reshape(-1, 3).mean(0)           # on the face, left of the colour bar
        # jet's top colour is dark red (0.5, 0, 0); lighting scales it but keeps the hue
        assert c[0] > 60 and c[1] < 0.2 * c[0] and c[2] < 0.2 * c[0], c
    with pytest.raises(VizError, match="3 scalars"):
        render_scan_png(face, np.ones(3))


def test_show_scan_html_widget_is_self_contained(face):
    pytest.importorskip("pyvista")
    pytest.importorskip("trame_vtk")
    from ferbench.viz.surface import show_scan

    w = show_scan(face, np.linspace(0.2, 0.7, face.n_vertices), size=(300, 300), scalar_name="Grad-CAM")
    page = html.unescape(w.value)
    assert "OfflineLocalView" in page and len(page) > 100_000
    # nothing would be fetched from the network: no remote scripts, styles or module imports
    remote = re.findall(r"<(?:script|link|img|iframe)[^>]*(?:src|href)\s*=\s*[\"']?https?://", page, re.I)
    remote += re.findall(r"(?:import|from)\s*\(?\s*[\"']https?://", page)
    assert remote == []
    # the exported colour bar keeps the value range (a plain lookup-table export reads 0-255 in vtk.js)
    scene = json.loads(zipfile.ZipFile(io.BytesIO(base64.b64decode(w.scene))).read("index.json"))
    bars = _find(scene, "vtkScalarBarActor")
    assert len(bars) == 1 and bars[0]["properties"]["axisLabel"] == "Grad-CAM"
    ctf = _find(bars[0], "vtkColorTransferFunction")[0]["properties"]["nodes"]
    assert ctf[0][0] == pytest.approx(0.2) and ctf[-1][0] == pytest.approx(0.7)
    assert _find(scene, "vtkTexture")                         # the textured face is in the scene


def _find(o, kind: str, out=None) -> list:
    out = [] if out is None else out
    if isinstance(o, dict):
        if o.get("type") == kind:
            out.append(o)
        for v in o.values():
            _find(v, kind, out)
    elif isinstance(o, list):
        for v in o:
            _find(v, kind, out)
    return out


def test_show_scan_falls_back_to_png_without_trame(face, monkeypatch):
    pytest.importorskip("pyvista")
    from ferbench.viz.surface import show_scan

    monkeypatch.setitem(sys.modules, "trame", None)
    with pytest.warns(UserWarning, match="trame is not installed"):
        out = show_scan(face, size=(100, 100))
    data = out.data if hasattr(out, "data") else None
    assert data is not None and data[:4] == b"\x89PNG"
    with pytest.raises(VizError, match="backend"):
        show_scan(face, backend="vtk")
