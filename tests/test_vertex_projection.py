"""Tests of ferbench.preprocess.vertex_values_from_grid: a grid map painted back onto the scan's vertices."""
from __future__ import annotations

import numpy as np
import pytest

from ferbench.errors import ScanFormatError
from ferbench.io.scan import Scan, ScanMeta
from ferbench.preprocess import FaceGrid, preprocess_scan, vertex_values_from_grid


def _dome(n: int = 61, half: float = 90.0, offset=(12.0, -7.0, 30.0)) -> Scan:
    """A smooth dome z = 40 - (x^2 + y^2) / 200 on a square mesh, apex (nose tip) at ``offset + (0, 0, 40)``."""
    t = np.linspace(-half, half, n)
    X, Y = np.meshgrid(t, t)
    Z = 40.0 - (X ** 2 + Y ** 2) / 200.0
    V = np.stack([X.ravel(), Y.ravel(), Z.ravel()], 1) + np.asarray(offset)
    idx = np.arange(n * n).reshape(n, n)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel()
    F = np.concatenate([np.stack([a, b, d], 1), np.stack([a, d, c], 1)])
    return Scan(V, F, meta=ScanMeta(dataset="synthetic", source_path="dome.obj", synthetic=True))


def _ramp(g: FaceGrid) -> np.ndarray:
    return g.xyz[..., 0] + 2.0 * g.xyz[..., 1]          # linear in the grid frame's x, y


def test_linear_ramp_comes_back_exactly_at_vertices():
    scan = _dome()
    g = preprocess_scan(scan, size=65, align="none", radius_mm=60.0, median=False)
    P = scan.vertices - g.nose_tip                     # align="none": the grid frame is the scan shifted
    assert np.allclose(g.to_grid_frame(scan.vertices), P)
    vals = vertex_values_from_grid(scan, _ramp(g), g)
    assert vals.shape == (scan.n_vertices,)
    expect = P[:, 0] + 2.0 * P[:, 1]
    inner = np.linalg.norm(P, axis=1) < 60.0 - 3 * g.pixel_size_mm   # the mesh is cropped in 3D
    assert inner.sum() > 200
    np.testing.assert_allclose(vals[inner], expect[inner], atol=1e-9)
    # every vertex inside the crop got a value; everything outside it is NaN
    in_crop = np.linalg.norm(P, axis=1) <= 60.0
    assert np.isfinite(vals[inner]).all()
    assert np.isnan(vals[~in_crop]).all() and (~in_crop).sum() > 1000
    # several channels at once, and a map at another resolution (pixel areas aligned) give the same ramp
    two = vertex_values_from_grid(scan, np.stack([_ramp(g), -_ramp(g)], -1), g)
    np.testing.assert_allclose(two[inner, 0], expect[inner], atol=1e-9)
    np.testing.assert_allclose(two[inner, 1], -expect[inner], atol=1e-9)
    Hs = 33
    c = (np.arange(Hs) + 0.5) * (65 / Hs) - 0.5                       # low-res pixel centres in grid pixels
    x = g.xyz[0, 0, 0] + c * g.pixel_size_mm
    y = g.xyz[0, 0, 1] - c * g.pixel_size_mm
    low = x[None, :] + 2.0 * y[:, None]
    inner2 = np.linalg.norm(P, axis=1) < 60.0 - 6 * g.pixel_size_mm
    np.testing.assert_allclose(vertex_values_from_grid(scan, low, g)[inner2], expect[inner2], atol=1e-9)


def test_vertex_off_the_crop_or_behind_the_surface_is_nan():
    scan = _dome()
    apex = scan.vertices[np.argmax(scan.vertices[:, 2])]
    extra = np.array([apex + [150.0, 0, 0],           # far off the grid
                      apex + [0.0, 0, -45.0],         # right under the apex, hidden by the surface in front
                      apex + [10.0, 5.0, 0.0]])       # just in front of the surface: visible
    scan = Scan(np.concatenate([scan.vertices, extra]), scan.faces, meta=scan.meta)
    g = preprocess_scan(scan, size=65, align="none", radius_mm=60.0, median=False)
    vals = vertex_values_from_grid(scan, _ramp(g), g)
    assert np.isnan(vals[-3]) and np.isnan(vals[-2])
    P = extra[2] - g.nose_tip
    assert vals[-1] == pytest.approx(P[0] + 2 * P[1], abs=1e-9)
    # without the depth test the hidden vertex takes the value of the surface in front of it
    loose = vertex_values_from_grid(scan, _ramp(g), g, depth_tolerance_mm=1e6)
    P = extra[1] - g.nose_tip
    assert loose[-2] == pytest.approx(P[0] + 2 * P[1], abs=1e-9) and np.isnan(loose[-3])
    # raw vertex arrays work too
    np.testing.assert_array_equal(vertex_values_from_grid(scan.vertices, _ramp(g), g), vals)


def test_rotated_scan_is_mapped_through_the_pose_normalisation():
    scan = _dome(offset=(0.0, 0.0, 0.0))
    a = np.radians(25.0)                                      # pitch the dome; PCA rotates it back
    R = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    rot = Scan(scan.vertices @ R.T + [5.0, -3.0, 20.0], scan.faces, meta=scan.meta)
    g = preprocess_scan(rot, size=65, align="pca", radius_mm=60.0, median=False)
    assert np.degrees(np.arccos((np.trace(g.transform[:3, :3]) - 1) / 2)) > 5     # a real rotation
    # the grid's own depth channel, painted back, is each vertex's depth in the grid frame
    zback = vertex_values_from_grid(rot, g.z, g)
    P = g.to_grid_frame(rot.vertices)
    inner = np.linalg.norm(P, axis=1) < 45.0
    assert inner.sum() > 300 and np.isfinite(zback[inner]).all()
    assert np.abs(zback[inner] - P[inner, 2]).max() < 0.3
    # with the pose ignored (identity transform) the same map lands on the wrong vertices
    wrong = FaceGrid(g.xyz, g.valid, pixel_size_mm=g.pixel_size_mm, transform=np.eye(4), mask=g.mask)
    zw = vertex_values_from_grid(rot, g.z, wrong, depth_tolerance_mm=1e6, crop=False)
    assert np.nanmax(np.abs(zw[inner] - P[inner, 2])) > 3


def test_round_trip_vertex_colours_through_the_grid_on_a_synthetic_face():
    from ferbench.synth import procedural_model, sample_subject, synthesize_scan

    model = procedural_model()
    rng = np.random.default_rng(3)
    scan = synthesize_scan(model, sample_subject(model, "F0001", rng), "surprise", 3, rng, holes=False)
    V = scan.vertices
    smooth = np.stack([0.5 + 0.4 * np.sin(V[:, 0] / 25.0), 0.5 + 0.4 * np.cos(V[:, 1] / 30.0),
                       np.clip(0.5 + V[:, 2] / 200.0, 0, 1)], 1)
    scan.vertex_colors = np.rint(smooth * 255).astype(np.uint8)
    scan.texture = None
    g = preprocess_scan(scan, size=96)                   # rasterises the vertex colours onto the grid
    back = vertex_values_from_grid(scan, g.texture, g)
    seen = np.isfinite(back).all(1)
    P = g.to_grid_frame(V)
    face = (np.linalg.norm(P, axis=1) < 50) & (P[:, 2] > -30)
    assert seen[face].mean() > 0.95                      # the front of the face is visible
    err = np.abs(back[seen] - scan.vertex_colors[seen] / 255.0)
    assert np.median(err) < 0.01 and np.quantile(err, 0.95) < 0.05, (np.median(err), np.quantile(err, 0.95))


def test_bad_grid_values_raise_a_ferbench_error():
    scan = _dome(n=21)
    g = preprocess_scan(scan, size=33, align="none", radius_mm=60.0)
    with pytest.raises(ScanFormatError, match="dome.obj"):
        vertex_values_from_grid(scan, np.zeros(5), g)
    with pytest.raises(ScanFormatError, match=r"\(n, 3\)"):
        vertex_values_from_grid(np.zeros((4, 2)), np.zeros((33, 33)), g)
