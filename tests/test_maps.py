"""Attribute maps: normals and shape index on analytic surfaces, LBP codes, registry and batching."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import ferbench.maps as M
from ferbench.maps import _kernels as KN
from ferbench.maps._reference import curvatures_reference, dfcnn_maps_reference, normals_reference
from ferbench.maps.cmcnn import lbp_codes
from ferbench.preprocess import FaceGrid

torch.set_num_threads(1)
R = 50.0


def surface(f, n=41, h=1.0):
    c = (np.arange(n) - (n - 1) / 2) * h
    X, Y = np.meshgrid(c, c[::-1])
    return np.stack([X, Y, f(X, Y)], -1)


def fit(xyz, method="monge", mask=None):
    t = torch.as_tensor(xyz)[None]
    m = torch.ones(t.shape[:3], dtype=torch.bool) if mask is None else torch.as_tensor(mask)[None]
    n = KN.plane_fit_normals(t, m)
    k1, k2 = KN.principal_curvatures(t, n, m, method=method)
    si = KN.shape_index_from_curvatures(k1, k2)
    return n[0].numpy(), k1[0].numpy(), k2[0].numpy(), si[0].numpy()


SURFACES = {  # name: (height function, expected SI in the interior, expected (k1, k2) at the centre)
    "cap": (lambda X, Y: np.sqrt(R ** 2 - X ** 2 - Y ** 2), 1.0, (-1 / R, -1 / R)),
    "cup": (lambda X, Y: -np.sqrt(R ** 2 - X ** 2 - Y ** 2), 0.0, (1 / R, 1 / R)),
    "ridge": (lambda X, Y: np.sqrt(R ** 2 - X ** 2), 0.75, (0.0, -1 / R)),
    "rut": (lambda X, Y: -np.sqrt(R ** 2 - X ** 2), 0.25, (1 / R, 0.0)),
    "saddle": (lambda X, Y: (X ** 2 - Y ** 2) / (2 * R), 0.5, (1 / R, -1 / R)),
}


def test_plane_normals_and_shape_index_are_exact():
    a, b = 0.3, -0.2
    xyz = surface(lambda X, Y: a * X + b * Y + 7.0)
    for method in ("monge", "tangent"):
        n, k1, k2, si = fit(xyz, method)
        expect = np.array([-a, -b, 1.0]) / math.sqrt(1 + a * a + b * b)
        ok = np.isfinite(n[..., 0])
        assert ok[2:-2, 2:-2].all()
        assert np.abs(n[ok] - expect).max() < 1e-12
        fin = np.isfinite(si)
        assert fin.sum() >= 41 * 41 - 4 and np.all(si[fin] == 0.5)
        assert np.abs(k1[fin]).max() < 1e-9


@pytest.mark.parametrize("name", list(SURFACES))
@pytest.mark.parametrize("method", ["monge", "tangent"])
def test_analytic_surfaces_match_closed_forms(name, method):
    f, si_expect, (e1, e2) = SURFACES[name]
    xyz = surface(f)
    n, k1, k2, si = fit(xyz, method)
    c = 20
    # normals: the analytic normal of the graph, away from the border
    X, Y = xyz[..., 0], xyz[..., 1]
    eps = 1e-6
    zx = (f(X + eps, Y) - f(X - eps, Y)) / (2 * eps)
    zy = (f(X, Y + eps) - f(X, Y - eps)) / (2 * eps)
    na = np.stack([-zx, -zy, np.ones_like(zx)], -1)
    na /= np.linalg.norm(na, axis=-1, keepdims=True)
    inner = (slice(4, -4), slice(4, -4))
    ang = np.degrees(np.arccos(np.clip((n[inner] * na[inner]).sum(-1), -1, 1)))
    assert ang.max() < 0.05                                     # 5x5 plane fit on R = 50 mm at 1 mm
    assert np.abs(n[c, c] - na[c, c]).max() < 1e-12             # symmetric centre: exact
    # principal curvatures at the centre within 0.2 % of the closed form
    assert k1[c, c] == pytest.approx(e1, abs=0.002 / R)
    assert k2[c, c] == pytest.approx(e2, abs=0.002 / R)
    # shape index: the closed-form class value over the interior (saddle only exact on its symmetry lines)
    if name == "saddle":
        assert si[c, c] == pytest.approx(0.5, abs=1e-12)
        assert np.abs(si[c, 4:-4] - 0.5).max() < 0.02
    else:
        assert np.abs(si[inner] - si_expect).max() < 1e-3


@pytest.mark.parametrize("method", ["monge", "tangent"])
def test_cubic_surface_with_exact_normals_is_recovered_exactly(method):
    # z = a/2 x² + b xy + c/2 y² + cubic terms: the graph is a cubic, its normals given analytically.
    a, b, c = -0.03, 0.01, 0.02
    d, e, f_, g = 1e-4, -2e-4, 3e-4, 5e-5
    xyz = surface(lambda X, Y: a / 2 * X ** 2 + b * X * Y + c / 2 * Y ** 2 + d * X ** 3 + e * X ** 2 * Y
                  + f_ * X * Y ** 2 + g * Y ** 3, n=9)
    X, Y = xyz[..., 0], xyz[..., 1]
    zx = a * X + b * Y + 3 * d * X ** 2 + 2 * e * X * Y + f_ * Y ** 2
    zy = b * X + c * Y + e * X ** 2 + 2 * f_ * X * Y + 3 * g * Y ** 2
    n = np.stack([-zx, -zy, np.ones_like(zx)], -1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    t = torch.as_tensor(xyz)[None]
    m = torch.ones(1, 9, 9, dtype=torch.bool)
    k1, k2 = KN.principal_curvatures(t, torch.as_tensor(n)[None], m, method=method)
    # at the origin the normal is +z and the shape operator is the Hessian [[a, b], [b, c]]
    ev = np.linalg.eigvalsh([[a, b], [b, c]])
    assert float(k1[0, 4, 4]) == pytest.approx(ev[1], abs=1e-12)
    assert float(k2[0, 4, 4]) == pytest.approx(ev[0], abs=1e-12)


def test_fast_kernels_equal_per_pixel_reference():
    rng = np.random.default_rng(0)
    xyz = surface(lambda X, Y: 10 * np.sin(X / 7) * np.cos(Y / 9) + 0.05 * X * Y, n=23, h=0.8)
    xyz[..., 2] += rng.normal(0, 0.05, xyz.shape[:2])
    mask = np.ones(xyz.shape[:2], bool)
    mask[8:11, 5:9] = False                                     # a hole
    mask[:, :2] = False                                         # a cut border
    t, mt = torch.as_tensor(xyz)[None], torch.as_tensor(mask)[None]
    n = KN.plane_fit_normals(t, mt)[0].numpy()
    nr = normals_reference(xyz, mask)
    assert np.array_equal(np.isnan(n), np.isnan(nr))
    assert np.nanmax(np.abs(n - nr)) < 1e-10
    k1, k2 = KN.principal_curvatures(t, torch.as_tensor(nr)[None], mt)
    r1, r2 = curvatures_reference(xyz, nr, mask)
    assert np.array_equal(np.isnan(k1[0].numpy()), np.isnan(r1))
    assert np.nanmax(np.abs(k1[0].numpy() - r1)) < 1e-9 and np.nanmax(np.abs(k2[0].numpy() - r2)) < 1e-9


def test_normals_of_eigh_and_closed_form_agree_and_orientation():
    xyz = surface(lambda X, Y: -np.sqrt(80 ** 2 - X ** 2 - Y ** 2), n=31)
    t, m = torch.as_tensor(xyz)[None], torch.ones(1, 31, 31, dtype=torch.bool)
    a = KN.plane_fit_normals(t, m)
    b = KN.plane_fit_normals_eigh(t, m)
    assert torch.nanmean((a - b).abs()) < 1e-12 and float((a - b).abs().nan_to_num(0).max()) < 1e-10
    assert float(a[..., 2].nan_to_num(1).min()) > 0            # toward the viewer
    p = KN.plane_fit_normals(t, m, plane_through="point")
    assert float((p[0, 15, 15] - torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)).abs().max()) < 1e-12


def test_too_few_neighbours_gives_background():
    xyz = surface(lambda X, Y: 0 * X, n=9)
    mask = np.zeros((9, 9), bool)
    mask[4, 2:7] = True                                         # a line: no plane, no normal
    g = FaceGrid(xyz=np.where(mask[..., None], xyz, np.nan), valid=mask)
    out = M.compute_maps(g, names=["normal_z", "shape_index", "geometry"])
    assert np.all(out["normal_z"] == 0) and np.all(out["shape_index"] == 0)


# ----------------------------------------------------------------------------------- LBP

def test_lbp_hand_computed_codes():
    p1 = np.array([[0, 0, 51], [0, 50, 0], [0, 0, 0]], np.uint8)
    assert lbp_codes(p1)[1, 1] == 2                      # only the top-right neighbour (bit 1) is >= 50
    p2 = np.array([[10, 20, 30], [40, 50, 60], [70, 80, 90]], np.uint8)
    assert lbp_codes(p2)[1, 1] == 1 + 32 + 64 + 128       # right, bottom-left, bottom, bottom-right
    assert lbp_codes(np.full((3, 3), 7, np.uint8))[1, 1] == 255   # ties count as 1 (x >= 0)
    # each bit alone: a single bright neighbour at the bit's offset gives 2**bit
    from ferbench.maps.cmcnn import LBP_OFFSETS
    for bit, (di, dj) in enumerate(LBP_OFFSETS):
        p = np.zeros((3, 3), np.uint8)
        p[1, 1] = 100
        p[1 + di, 1 + dj] = 200
        assert lbp_codes(p)[1, 1] == 2 ** bit
    # replicate padding at the border: a constant image is all 255
    assert np.all(lbp_codes(np.full((4, 5), 3, np.uint8)) == 255)
    # the literal eq. 2 weights (2^n, n = 1..8) give exactly twice the code
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (12, 12)).astype(np.uint8)
    np.testing.assert_array_equal(lbp_codes(img, literal_eq2=True), 2 * lbp_codes(img))


def test_lbp_differs_from_interpolated_skimage_variant_on_diagonals():
    skf = pytest.importorskip("skimage.feature")
    p1 = np.array([[0, 0, 51], [0, 50, 0], [0, 0, 0]], np.uint8)
    assert skf.local_binary_pattern(p1, 8, 1, method="default")[1, 1] != lbp_codes(p1)[1, 1]


# ----------------------------------------------------------------------------------- registry / API

def _face_grid(n=64, h=1.5, texture=True):
    c = (np.arange(n) - (n - 1) / 2) * h
    X, Y = np.meshgrid(c, c[::-1])
    m = X ** 2 + Y ** 2 < (0.45 * n * h) ** 2
    Z = 30 * np.exp(-(X ** 2 + Y ** 2) / 400.0) - 0.002 * (X ** 2 + Y ** 2)
    rng = np.random.default_rng(0)
    tex = rng.random((n, n, 3)).astype(np.float32) if texture else None
    g = FaceGrid.from_depth(np.where(m, Z, np.nan), h, texture=tex)
    return g


def test_registry_lists_every_contract_name():
    names = {"geometry", "normal_x", "normal_y", "normal_z", "shape_index", "texture", "gray", "lbp", "depth",
             "gemax", "range", "histeq", "greedy"}
    assert names <= set(M.list_maps())
    for name in names:
        m = M.get_map(name)
        assert m.name == name and m.n_channels == (3 if name == "texture" else 1)


def test_compute_maps_ranges_background_and_shapes():
    g = _face_grid()
    out = M.compute_maps(g)
    assert set(out) == set(M.list_maps())
    for name, a in out.items():
        assert a.dtype == np.float32 and a.shape[:2] == g.shape
        assert np.isfinite(a).all() and a.min() >= 0 and a.max() <= 1, name
        assert np.all(a[~g.mask] == 0), name
    assert out["geometry"][g.mask].max() == 1 and out["geometry"][g.mask].min() == 0
    centre = g.shape[0] // 2
    assert out["shape_index"][centre, centre] > 0.95         # the bump is a cap
    assert out["normal_z"][g.mask].min() >= 0.5


def test_texture_maps_need_texture():
    from ferbench.errors import FerbenchError

    g = _face_grid(texture=False)
    out = M.compute_maps(g)
    assert "texture" not in out and "lbp" not in out and "geometry" in out
    with pytest.raises(FerbenchError, match="texture"):
        M.compute_maps(g, names=["gray"])


def test_options_are_routed_to_maps():
    g = _face_grid()
    a = M.compute_maps(g, names=["gemax"], tau=16)["gemax"]
    b = M.compute_maps(g, names=["gemax"], tau=60)["gemax"]
    from ferbench.maps.gemax import entropy
    assert entropy(b, mask=b > 0) > entropy(a, mask=a > 0)


def test_batch_numpy_and_torch_equal_single():
    gs = [_face_grid(), _face_grid()]
    gs[1].xyz[..., 2] *= 0.7
    for name in ("geometry", "normal_x", "shape_index", "lbp", "gemax", "depth", "texture"):
        m = M.get_map(name)
        single = np.stack([m.compute(g) for g in gs])
        xyz = np.stack([g.xyz for g in gs])
        mask = np.stack([g.mask for g in gs])
        tex = np.stack([g.texture for g in gs])
        batch = m.compute_batch(xyz, mask, texture=tex)
        np.testing.assert_array_equal(batch, single)
        tb = m.compute_batch(torch.as_tensor(xyz), torch.as_tensor(mask), texture=torch.as_tensor(tex))
        assert isinstance(tb, torch.Tensor)
        np.testing.assert_array_equal(tb.numpy(), single)
        np.testing.assert_array_equal(m.compute_batch(gs), single)


def test_vectorised_maps_equal_per_pixel_reference_maps():
    g = _face_grid(n=30, h=2.0)
    fast = M.compute_maps(g, names=list(M.DFCNN_MAPS))
    ref = dfcnn_maps_reference(g.xyz, g.mask, g.texture)
    for k in ref:
        assert np.abs(fast[k] - ref[k]).max() < 1e-6, k


@pytest.mark.gpu
def test_maps_on_cuda_match_cpu():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    g = _face_grid()
    xyz, mask, tex = g.xyz[None], g.mask[None], g.texture[None]
    for name in ("geometry", "normal_x", "normal_y", "normal_z", "shape_index", "gray", "lbp", "depth", "gemax"):
        m = M.get_map(name)
        cpu = m.compute_batch(xyz, mask, texture=tex)
        gpu = m.compute_batch(torch.as_tensor(xyz, device="cuda"), torch.as_tensor(mask, device="cuda"),
                              texture=torch.as_tensor(tex, device="cuda"))
        assert gpu.is_cuda
        assert np.abs(gpu.cpu().numpy() - cpu).max() < 1e-5, name
