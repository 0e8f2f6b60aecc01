"""Tests of ferbench.geometry.rasterize: exact depth, z-buffer, barycentrics, background, brute force."""
from __future__ import annotations

import numpy as np
import pytest

from ferbench.errors import ScanFormatError
from ferbench.geometry import Raster, rasterize


def _square(z_of_xy, lo=-1.0, hi=1.0):
    xy = np.array([[lo, lo], [hi, lo], [hi, hi], [lo, hi]])
    v = np.column_stack([xy, z_of_xy(xy[:, 0], xy[:, 1])])
    f = np.array([[0, 1, 2], [0, 2, 3]])
    return v, f


def _centers(w, h, xlim, ylim):
    xs = xlim[0] + (np.arange(w) + 0.5) * (xlim[1] - xlim[0]) / w
    ys = ylim[1] - (np.arange(h) + 0.5) * (ylim[1] - ylim[0]) / h
    return np.meshgrid(xs, ys)


def test_tilted_plane_exact_depth_and_coverage():
    plane = lambda x, y: 0.3 * x - 0.7 * y + 2.0  # noqa: E731
    v, f = _square(plane)
    r = rasterize(v, f, 8, 8, (-2, 2), (-2, 2))
    assert isinstance(r, Raster)
    # pixel centres at -1.75, -1.25, ..., 1.75: exactly 4 x 4 of them lie inside [-1, 1]^2
    assert r.mask.sum() == 16
    gx, gy = _centers(8, 8, (-2, 2), (-2, 2))
    inside = (np.abs(gx) < 1) & (np.abs(gy) < 1)
    np.testing.assert_array_equal(r.mask, inside)
    np.testing.assert_allclose(r.depth[inside], plane(gx, gy)[inside], rtol=0, atol=1e-12)
    xyz = r.xyz()
    np.testing.assert_allclose(xyz[inside][:, 0], gx[inside], atol=1e-12)
    np.testing.assert_allclose(xyz[inside][:, 1], gy[inside], atol=1e-12)


def test_background_is_nan_and_minus_one():
    v, f = _square(lambda x, y: 0 * x)
    r = rasterize(v, f, 8, 8, (-2, 2), (-2, 2), {"a": np.arange(4.0)})
    bg = ~r.mask
    assert bg.sum() == 64 - 16
    assert np.all(r.face_index[bg] == -1)
    assert np.all(np.isnan(r.depth[bg]))
    assert np.all(np.isnan(r.barycentric[bg]))
    assert np.all(np.isnan(r.attributes["a"][bg]))
    assert r.face_index.dtype == np.int64 and r.depth.dtype == np.float64
    assert r.attributes["a"].shape == (8, 8, 1)


def test_shared_edge_has_no_cracks_and_row0_is_top():
    # the square fills the whole window: every pixel centre must be covered, including the diagonal
    v, f = _square(lambda x, y: 0 * x)
    r = rasterize(v, f, 17, 13, (-1, 1), (-1, 1))
    assert r.mask.all()
    # a triangle in the upper half only (y > 0) covers only rows in the top half
    vt = np.array([[-1.0, 0.05, 0], [1.0, 0.05, 0], [0.0, 1.0, 0]])
    rt = rasterize(vt, np.array([[0, 1, 2]]), 10, 10, (-1, 1), (-1, 1))
    rows = np.flatnonzero(rt.mask.any(axis=1))
    assert rows.min() == 0 and rows.max() < 5


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_zbuffer_largest_z_wins(order):
    near = np.array([[-1.0, -1.0, 5.0], [1.0, -1.0, 5.0], [0.0, 1.0, 5.0]])
    far = np.array([[-0.5, -2.0, 1.0], [2.0, -2.0, 1.0], [2.0, 2.0, 1.0]])
    tris = [near, far]
    v = np.vstack([tris[order[0]], tris[order[1]]])
    f = np.array([[0, 1, 2], [3, 4, 5]])
    near_id = order.index(0)
    r = rasterize(v, f, 32, 32, (-2, 2), (-2, 2))
    alone_near = rasterize(near, np.array([[0, 1, 2]]), 32, 32, (-2, 2), (-2, 2)).mask
    alone_far = rasterize(far, np.array([[0, 1, 2]]), 32, 32, (-2, 2), (-2, 2)).mask
    overlap = alone_near & alone_far
    assert overlap.sum() > 20  # the test really has an overlap
    assert np.all(r.face_index[overlap] == near_id)
    assert np.all(r.depth[overlap] == 5.0)
    only_far = alone_far & ~alone_near
    assert np.all(r.face_index[only_far] == 1 - near_id) and np.all(r.depth[only_far] == 1.0)
    np.testing.assert_array_equal(r.mask, alone_near | alone_far)


def test_barycentrics_sum_to_one_and_linear_fields_exact():
    rng = np.random.default_rng(3)
    # a bumpy height field over a grid: many triangles, non-planar
    n = 9
    gx, gy = np.meshgrid(np.linspace(-1, 1, n), np.linspace(-1, 1, n))
    gx = gx + rng.uniform(-0.03, 0.03, gx.shape)
    gy = gy + rng.uniform(-0.03, 0.03, gy.shape)
    z = rng.uniform(0, 1, gx.shape)
    v = np.column_stack([gx.ravel(), gy.ravel(), z.ravel()])
    idx = np.arange(n * n).reshape(n, n)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel()
    f = np.concatenate([np.stack([a, b, d], 1), np.stack([a, d, c], 1)])
    lin = 2.0 * v[:, 0] - 3.0 * v[:, 1] + 0.5 * v[:, 2] + 1.0
    r = rasterize(v, f, 40, 30, (-1.2, 1.2), (-1.1, 1.1), {"lin": lin, "xyz": v})
    m = r.mask
    assert m.sum() > 600
    np.testing.assert_allclose(r.barycentric[m].sum(-1), 1.0, atol=1e-12)
    assert r.barycentric[m].min() > -1e-9
    gx2, gy2 = _centers(40, 30, (-1.2, 1.2), (-1.1, 1.1))
    # x and y are linear fields: interpolation reproduces the pixel centres; z reproduces depth
    np.testing.assert_allclose(r.attributes["xyz"][m][:, 0], gx2[m], atol=1e-12)
    np.testing.assert_allclose(r.attributes["xyz"][m][:, 1], gy2[m], atol=1e-12)
    np.testing.assert_allclose(r.attributes["xyz"][m][:, 2], r.depth[m], atol=1e-12)
    expect = 2.0 * gx2 - 3.0 * gy2 + 0.5 * r.depth + 1.0
    np.testing.assert_allclose(r.attributes["lin"][m][:, 0], expect[m], atol=1e-12)
    # barycentrics reproduce the visible triangle's corners
    corners = v[f[r.face_index[m]]]
    np.testing.assert_allclose(np.einsum("pj,pjk->pk", r.barycentric[m], corners)[:, :2],
                               np.column_stack([gx2[m], gy2[m]]), atol=1e-12)


def _brute_force(v, f, w, h, xlim, ylim):
    """Reference: per-pixel, per-triangle loops (slow; tiny images only)."""
    gx, gy = _centers(w, h, xlim, ylim)
    depth = np.full((h, w), np.nan)
    fidx = np.full((h, w), -1)
    for i in range(h):
        for j in range(w):
            px, py = gx[i, j], gy[i, j]
            best = -np.inf
            for k, (a, b, c) in enumerate(f):
                (x0, y0, z0), (x1, y1, z1), (x2, y2, z2) = v[a], v[b], v[c]
                det = (y1 - y2) * (x0 - x2) + (x2 - x1) * (y0 - y2)
                if abs(det) < 1e-12:
                    continue
                l0 = ((y1 - y2) * (px - x2) + (x2 - x1) * (py - y2)) / det
                l1 = ((y2 - y0) * (px - x2) + (x0 - x2) * (py - y2)) / det
                l2 = 1 - l0 - l1
                if min(l0, l1, l2) < -1e-10:
                    continue
                zz = l0 * z0 + l1 * z1 + l2 * z2
                if zz > best:
                    best, depth[i, j], fidx[i, j] = zz, zz, k
    return depth, fidx


def test_matches_brute_force_on_random_overlapping_triangles():
    rng = np.random.default_rng(7)
    v = rng.uniform(-1, 1, (30, 3))
    f = rng.integers(0, 30, (14, 3))
    f = f[(f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])]
    r = rasterize(v, f, 13, 11, (-1, 1), (-1, 1))
    depth, fidx = _brute_force(v, f, 13, 11, (-1, 1), (-1, 1))
    assert (fidx >= 0).sum() > 50
    np.testing.assert_array_equal(r.face_index, fidx)
    np.testing.assert_allclose(r.depth, depth, atol=1e-12)


def test_chunking_gives_identical_results():
    rng = np.random.default_rng(1)
    v = rng.uniform(-1, 1, (60, 3))
    f = rng.integers(0, 60, (80, 3))
    a = rasterize(v, f, 50, 40, (-1, 1), (-1, 1), {"z": v[:, 2]})
    b = rasterize(v, f, 50, 40, (-1, 1), (-1, 1), {"z": v[:, 2]}, max_pairs=60)  # many tiny chunks
    np.testing.assert_array_equal(a.face_index, b.face_index)
    np.testing.assert_array_equal(a.depth, b.depth)
    np.testing.assert_array_equal(a.barycentric, b.barycentric)
    np.testing.assert_array_equal(a.attributes["z"], b.attributes["z"])


def test_degenerate_and_offscreen_triangles():
    v = np.array([[0, 0, 0], [1, 1, 0], [2, 2, 0],          # collinear: zero area
                  [5, 5, 0], [6, 5, 0], [5, 6, 0]], float)   # entirely outside the window
    r = rasterize(v, np.array([[0, 1, 2], [3, 4, 5]]), 10, 10, (-1, 3), (-1, 3))
    assert not r.mask.any()
    r = rasterize(v, np.zeros((0, 3), np.int64), 4, 4, (0, 1), (0, 1))
    assert not r.mask.any() and r.depth.shape == (4, 4)


@pytest.mark.parametrize("kwargs, match", [
    (dict(vertices=np.array([[0, 0, np.nan], [1, 0, 0], [0, 1, 0]])), "NaN"),
    (dict(faces=np.array([[0, 1, 3]])), "out of range"),
    (dict(faces=np.array([[0.0, 1.0, 2.0]])), "integer"),
    (dict(width=0), "width"),
    (dict(height=10**6), "height"),
    (dict(xlim=(1, -1)), "xlim"),
    (dict(ylim=(0, np.inf)), "ylim"),
    (dict(vertex_attributes={"a": np.zeros(2)}), "attribute"),
])
def test_bad_input_raises_clear_error(kwargs, match):
    args = dict(vertices=np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], float), faces=np.array([[0, 1, 2]]),
                width=4, height=4, xlim=(0, 1), ylim=(0, 1))
    args.update(kwargs)
    with pytest.raises(ScanFormatError, match=match):
        rasterize(**args)
