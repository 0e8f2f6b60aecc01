"""Explainers: DF-CNN saliency (eqs. 14-15), CAMs, attention maps, embeddings / t-SNE."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from ferbench.explain import (DARK_BLUE, ExplainError, attention_maps, cam_maps, cam_maps_per_modality,  # noqa: E402
                              gabor_features, gradient_saliency, input_gradients, layer_features,
                              list_cam_methods, modality_channels, peak_location, saliency_overlay,
                              svm_saliency, svm_weights, tsne_embedding)

torch.set_num_threads(1)

# the discriminative blob (depth channel), rows R0:R1, cols C0:C1 of a 16 x 16 image
R0, R1, C0, C1 = 3, 8, 9, 14


def blob_data(n: int, g: torch.Generator):
    """Noise images; class 1 has a bright square at a fixed place in the depth channel, class 0 not."""
    x = torch.randn(n, 2, 16, 16, generator=g) * 0.3
    y = torch.randint(0, 2, (n,), generator=g)
    x[y == 1, 1, R0:R1, C0:C1] += 1.0
    return x, y


class Stream(nn.Module):
    def __init__(self, pool: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.pool = nn.MaxPool2d(2) if pool else nn.Identity()
        self.conv2 = nn.Conv2d(8, 8 if pool else 16, 3, padding=1)

    def forward(self, x):
        return torch.relu(self.conv2(self.pool(torch.relu(self.conv1(x)))))


class TwoStream(nn.Module):
    """A tiny two-modality model following the ferbench model contract (one stacked input tensor).

    head="gap": global average pooling (the architecture Grad-CAM assumes);
    head="flat": flatten + linear (location-specific, like DF-CNN's full-extent Fusion8).
    """

    def __init__(self, head: str = "gap"):
        super().__init__()
        self.head = head
        self.inputs = (("gray", 1), ("depth", 1))
        self.g, self.d = Stream(head == "flat"), Stream(head == "flat")
        self.proj = nn.Linear(2 * 8 * 64, 16) if head == "flat" else nn.Identity()
        self.embed = nn.Flatten(1)
        self.fc = nn.Linear(16 if head == "flat" else 32, 2)
        self.feature_layer = "embed"
        self.target_layers = {"gray": ["g.conv2"], "depth": ["d.conv2"]}

    def forward_features(self, x):
        a, b = self.g(x[:, :1]), self.d(x[:, 1:])
        if self.head == "gap":
            f = torch.cat([a.mean((2, 3)), b.mean((2, 3))], 1)
        else:
            f = torch.relu(self.proj(torch.cat([a.flatten(1), b.flatten(1)], 1)))
        return self.embed(f)

    def forward(self, x):
        return self.fc(self.forward_features(x))


def _train(head: str, seed: int = 0, steps: int = 30):
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    m = TwoStream(head)
    opt = torch.optim.Adam(m.parameters(), 1e-2)
    for _ in range(steps):
        x, y = blob_data(64, g)
        loss = nn.functional.cross_entropy(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    xt, yt = blob_data(96, g)
    with torch.no_grad():
        acc = (m(xt).argmax(1) == yt).float().mean().item()
    return m, g, acc


@pytest.fixture(scope="module")
def gap_model():
    return _train("gap")


@pytest.fixture(scope="module")
def flat_model():
    return _train("flat")


def _in_blob(maps) -> list[bool]:
    return [R0 <= r < R1 and C0 <= c < C1 for r, c in (peak_location(m) for m in maps)]


# ----------------------------------------------------------------------------- saliency, analytic
class LinearFeat(nn.Module):
    """f = W vec(x): the spec's toy case for eq. (15)."""

    def __init__(self, C, H, W, D, seed=0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.W = nn.Parameter(torch.randn(D, C * H * W, generator=gen, dtype=torch.float64))

    def forward_features(self, x):
        return x.flatten(1) @ self.W.T


def test_svm_saliency_equals_analytic_linear_case():
    C, H, W, D, K = 4, 5, 6, 7, 6
    m = LinearFeat(C, H, W, D)
    coef = np.random.default_rng(1).normal(size=(K, D))
    x = torch.randn(3, C, H, W, dtype=torch.float64)
    targets = [0, 3, 5]
    sal, signed, t = svm_saliency(m, x, coef, targets, normalize=False, return_signed=True)
    Wn = m.W.detach().numpy()
    for b, e in enumerate(targets):
        expect = (coef[e] @ Wn).reshape(C, H, W).sum(0)   # sum over the maps of w_e^T W
        np.testing.assert_allclose(signed[b], expect, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(sal[b], np.abs(expect), rtol=1e-12, atol=1e-12)
    assert t.tolist() == targets
    norm = svm_saliency(m, x, coef, targets)
    assert norm.shape == (3, H, W)
    assert norm.min() == 0.0 and np.allclose(norm.max(axis=(1, 2)), 1.0)


def test_svm_saliency_matches_finite_differences():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Tanh(), nn.Conv2d(4, 4, 3, stride=2), nn.Tanh(),
                        nn.Flatten(1), nn.Linear(4 * 3 * 3, 5)).double()

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward_features(self, x):
            return self.net(x)

    m = M()
    coef = np.random.default_rng(2).normal(size=(6, 5))
    x = torch.randn(1, 3, 8, 8, dtype=torch.float64)
    e = 4
    _, signed, _ = svm_saliency(m, x, coef, [e], return_signed=True)

    def score(xx):
        with torch.no_grad():
            return float(m.forward_features(xx)[0].numpy() @ coef[e])

    eps = 1e-6
    for (r, c) in [(0, 0), (3, 4), (7, 7), (5, 1)]:
        d = torch.zeros_like(x)
        d[0, :, r, c] = eps                      # perturb every map at pixel (r, c): d/de = sum over maps
        fd = (score(x + d) - score(x - d)) / (2 * eps)
        assert signed[0, r, c] == pytest.approx(fd, rel=1e-6, abs=1e-9)


def test_svm_weights_binary_and_dfcnnsvm_like():
    from sklearn.svm import LinearSVC

    rng = np.random.default_rng(0)
    F = rng.normal(size=(40, 3))
    y = (F[:, 0] > 0).astype(int)
    svm = LinearSVC().fit(F, y)
    coef, icpt, scaler = svm_weights(svm)
    assert coef.shape == (2, 3) and np.allclose(coef[1], svm.coef_[0]) and np.allclose(coef[0], -svm.coef_[0])
    assert scaler is None

    class Wrapped:  # ferbench.models.dfcnn.DFCNNSVM's attributes
        svm_ = svm
        feature_scaling = "standardize"
        mean_ = np.zeros(3)
        scale_ = np.ones(3) * 2

    _, _, sc = svm_weights(Wrapped())
    assert sc[0] == "standardize" and np.allclose(sc[2], 2)
    with pytest.raises(ExplainError):
        svm_weights(np.array([[np.nan, 1.0]]))


def test_saliency_overlay_endpoints():
    tex = np.zeros((4, 5, 3), np.uint8)
    tex[..., 0] = 255
    tex[..., 1] = 51
    s = np.zeros((4, 5))
    s[1, 2] = 1.0
    s[2, 3] = 0.5
    out = saliency_overlay(tex, s)
    np.testing.assert_allclose(out[0, 0], DARK_BLUE)                 # s = 0 -> dark blue
    np.testing.assert_allclose(out[1, 2], [1.0, 0.2, 0.0])           # s = 1 -> texture
    np.testing.assert_allclose(out[2, 3], 0.5 * np.array([1.0, 0.2, 0.0]) + 0.5 * np.array(DARK_BLUE))
    small = saliency_overlay(tex, np.ones((2, 2)))                   # resized to the texture
    assert small.shape == (4, 5, 3) and np.allclose(small, [1.0, 0.2, 0.0])
    with pytest.raises(ExplainError):
        saliency_overlay(tex, np.ones((2, 2, 2)))


def test_input_gradients_bad_inputs():
    m = TwoStream("gap")
    with pytest.raises(ExplainError):
        input_gradients(m, torch.full((1, 2, 16, 16), float("nan")), lambda mm, i: mm(i))
    with pytest.raises(ExplainError):
        input_gradients(m, torch.zeros(2, 16, 16, 16, 1), lambda mm, i: mm(i))
    with pytest.raises(ExplainError):
        input_gradients(m, torch.zeros(1, 2, 16, 16), lambda mm, i: mm(i), targets=[5])
    with pytest.raises(ExplainError):
        input_gradients(m, torch.zeros(2, 2, 16, 16), lambda mm, i: mm(i), targets=[0, 1, 1])


# ----------------------------------------------------------------------------- planted blob
def test_blob_models_learn_the_task(gap_model, flat_model):
    assert gap_model[2] >= 0.95 and flat_model[2] >= 0.95


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "hirescam", "layercam", "xgradcam"])
def test_cam_peaks_on_planted_blob(gap_model, method):
    m, g, _ = gap_model
    x, y = blob_data(64, g)
    xs = x[y == 1][:8]
    maps = cam_maps(m, xs, method, targets=1, modality="depth")
    assert maps.shape == (8, 16, 16) and maps.dtype == np.float32
    assert maps.min() >= 0 and maps.max() <= 1
    assert all(_in_blob(maps))


def test_gradcam_all_modalities_peaks_on_blob(gap_model):
    m, g, _ = gap_model
    x, y = blob_data(64, g)
    maps = cam_maps(m, x[y == 1][:8], "gradcam", targets=1)      # both streams' layers, mean
    assert all(_in_blob(maps))


def test_saliency_peaks_on_planted_blob(flat_model):
    from sklearn.svm import LinearSVC

    m, g, _ = flat_model
    xt, yt = blob_data(200, g)
    with torch.no_grad():
        feats = m.forward_features(xt).numpy()
    svm = LinearSVC().fit(feats, yt.numpy())
    x, y = blob_data(64, g)
    xs = x[y == 1][:8]
    assert all(_in_blob(svm_saliency(m, xs, svm, targets=1)))        # eqs. 14-15 with the fitted SVM
    assert all(_in_blob(gradient_saliency(m, xs, targets=1)))        # plain logit gradient
    assert all(_in_blob(cam_maps(m, xs, "hirescam", targets=1, modality="depth")))


def test_cam_releases_hooks_and_restores_state(gap_model):
    m, g, _ = gap_model
    m.train()
    layer = m.get_submodule("d.conv2")
    before = len(layer._forward_hooks)
    x, _ = blob_data(3, g)
    for method in ("gradcam", "eigencam", "scorecam"):
        out = cam_maps(m, x, method, modality="depth")
        assert out.shape == (3, 16, 16)
    assert len(layer._forward_hooks) == before
    assert m.training                                                 # mode restored
    m.eval()


def test_scorecam_per_modality_is_sample_wise(gap_model):
    m, g, _ = gap_model
    x, _ = blob_data(2, g)
    both = cam_maps(m, x, "scorecam", targets=[1, 0], modality="depth")
    one = cam_maps(m, x[1:], "scorecam", targets=[0], modality="depth")
    np.testing.assert_allclose(both[1], one[0], atol=1e-5)           # each sample uses its own context


def test_cam_errors_and_registry(gap_model):
    m, g, _ = gap_model
    x, _ = blob_data(2, g)
    assert {"gradcam", "gradcam++", "hirescam", "layercam", "xgradcam", "eigencam", "scorecam"} <= set(
        list_cam_methods())
    with pytest.raises(KeyError):
        cam_maps(m, x, "nocam")
    with pytest.raises(ExplainError):
        cam_maps(m, x, modality="texture")
    with pytest.raises(ExplainError):
        cam_maps(m, x, target_layers=["does.not.exist"])
    with pytest.raises(ExplainError):
        cam_maps(m, x, targets=[0, 1, 0])
    assert modality_channels(m, "depth") == slice(1, 2)
    per = cam_maps_per_modality(m, x)
    assert set(per) == {"gray", "depth"} and per["gray"].shape == (2, 16, 16)


# ----------------------------------------------------------------------------- attention, embeddings
class AttnModel(nn.Module):
    inputs = (("gray", 1),)

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 1)

    def forward(self, x):
        return x.mean((1, 2, 3))[:, None].repeat(1, 2)

    def attention_maps(self, x):
        b = x.shape[0]
        a = torch.zeros(b, 4, 4)
        a[:, 1, 2] = 3.0
        return {"fa": a, "cm": torch.ones(b, 1, 4, 4)}


def test_attention_maps_resized_and_normalised():
    m = AttnModel()
    out = attention_maps(m, torch.zeros(2, 1, 16, 16))
    assert set(out) == {"fa", "cm"} and out["fa"].shape == (2, 16, 16)
    assert out["fa"].max() == pytest.approx(1.0) and out["fa"].min() == 0.0
    r, c = peak_location(out["fa"][0])
    assert 4 <= r < 8 and 8 <= c < 12                                   # native cell (1, 2) of a 4x4 grid
    assert np.all(out["cm"] == 0.0)                                     # constant map -> zeros, no NaN
    raw = attention_maps(m, torch.zeros(1, 1, 16, 16), size=None, normalize=False)
    assert raw["fa"].shape == (1, 4, 4) and raw["fa"][0, 1, 2] == 3.0
    with pytest.raises(ExplainError):
        attention_maps(TwoStream(), torch.zeros(1, 2, 16, 16))


def test_layer_features_default_and_regrouped():
    m = TwoStream("gap")
    x = torch.randn(5, 2, 16, 16)
    f = layer_features(m, x, batch_size=2)
    with torch.no_grad():
        np.testing.assert_allclose(f, m.forward_features(x).double().numpy(), rtol=1e-6)

    class Shared(nn.Module):  # one trunk over k maps stacked sample-major, like DF-CNN's shared VGG-M
        def __init__(self):
            super().__init__()
            self.trunk = nn.Conv2d(1, 3, 3)

        def forward(self, x):
            v = self.trunk(x.reshape(-1, 1, *x.shape[-2:]))            # (B*2, 3, 14, 14)
            return v.reshape(x.shape[0], -1).sum(1, keepdim=True)

    s = Shared()
    xx = torch.randn(3, 2, 16, 16)
    feats = layer_features(s, xx, layer="trunk")
    assert feats.shape == (3, 2 * 3 * 14 * 14)
    with torch.no_grad():
        np.testing.assert_allclose(feats[1, :588], s.trunk(xx[1:2, :1]).flatten().numpy(), atol=1e-6)
        np.testing.assert_allclose(feats[1, 588:], s.trunk(xx[1:2, 1:]).flatten().numpy(), atol=1e-6)
    with pytest.raises(ExplainError):
        layer_features(s, xx, layer="nope")


def test_gabor_features_dimension_and_orientation():
    f = gabor_features(np.zeros((2, 6, 112, 96)))
    assert f.shape == (2, 6 * 6720)                                     # 40,320-D for six maps (spec §6.1)
    cols = np.arange(64)
    stripes = np.cos(2 * np.pi * cols / 8.0)[None, :].repeat(64, 0)    # vertical stripes, period 8 px
    g = gabor_features(stripes[None, None], n_scales=5, n_orientations=8, grid=(1, 1))
    energy = g.reshape(5, 8)
    s, o = np.unravel_index(np.argmax(energy), energy.shape)
    assert o == 0                                                       # theta = 0 filter responds to x-variation
    assert s == 2                                                       # wavelength 4 * sqrt(2)^2 = 8 px
    # the FFT path equals a direct convolution of the replicate-padded map with the bank
    from ferbench.explain import gabor_bank

    xr = np.random.default_rng(0).normal(size=(1, 2, 20, 18))
    fast = gabor_features(xr, grid=(20, 18), kernel_size=7)
    xb = torch.nn.functional.pad(torch.from_numpy(xr).reshape(2, 1, 20, 18), (3, 3, 3, 3), mode="replicate")
    ref = torch.nn.functional.conv2d(xb, torch.from_numpy(gabor_bank(size=7))[:, None]).abs().reshape(1, -1)
    np.testing.assert_allclose(fast, ref.numpy(), atol=1e-12)


def test_tsne_separates_clusters_and_is_reproducible():
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=10, size=(3, 60))
    labels = np.repeat(np.arange(3), 20)
    feats = centers[labels] + rng.normal(size=(60, 60))
    e1 = tsne_embedding(feats, perplexity=10, random_state=3)
    e2 = tsne_embedding(feats, perplexity=10, random_state=3)
    assert e1.shape == (60, 2) and np.isfinite(e1).all()
    np.testing.assert_array_equal(e1, e2)
    d = np.linalg.norm(e1[:, None] - e1[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    assert (labels[d.argmin(1)] == labels).mean() == 1.0               # nearest neighbour in its cluster
    with pytest.raises(ExplainError):
        tsne_embedding(feats[:3])
    with pytest.raises(ExplainError):
        tsne_embedding(np.full((10, 3), np.nan))


# ----------------------------------------------------------------------------- real models (when present)
def _create(name, **kw):
    models = pytest.importorskip("ferbench.models")
    try:
        return models.create_model(name, **kw)
    except Exception as e:  # another helper's model may still be in progress
        pytest.skip(f"create_model({name!r}) unavailable: {type(e).__name__}: {e}")


def test_dfcnn_saliency_and_per_map_cam():
    from sklearn.svm import LinearSVC

    torch.manual_seed(0)
    m = _create("dfcnn", input_size=67)
    x = torch.randn(4, m.in_channels, 67, 67)
    with torch.no_grad():
        f = m.forward_features(x).numpy()
    svm = LinearSVC().fit(np.vstack([f, f + 1e-3]), np.array([0, 1, 2, 3, 4, 5, 0, 1]))
    assert svm.coef_.shape == (6, 32)
    sal = svm_saliency(m, x, svm, targets=[0, 1, 2, 3])
    assert sal.shape == (4, 67, 67) and np.isfinite(sal).all()
    for mod in ("geometry", "texture"):
        maps = cam_maps(m, x[:2], "gradcam", targets=[0, 1], modality=mod)
        assert maps.shape == (2, 67, 67) and maps.min() >= 0 and maps.max() <= 1
    assert layer_features(m, x[:2]).shape == (2, 32)


@pytest.mark.parametrize("name,size", [("attention_transformer", 64), ("cmcnn", 48), ("mffcnn", 60)])
def test_real_models_cam_attention_features(name, size):
    torch.manual_seed(0)
    m = _create(name, input_size=size)
    x = torch.randn(2, m.in_channels, size, size)
    per = cam_maps_per_modality(m, x, "gradcam", targets=[0, 1])
    assert set(per) == set(m.target_layers)
    for v in per.values():
        assert v.shape == (2, size, size) and v.min() >= 0 and v.max() <= 1 and np.isfinite(v).all()
    att = attention_maps(m, x)
    assert att and all(a.shape == (2, size, size) for a in att.values())
    m.eval()                                                            # dropout off, as in layer_features
    with torch.no_grad():
        ref = m.forward_features(x).double().numpy()
    np.testing.assert_allclose(layer_features(m, x), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.gpu
def test_cam_and_saliency_on_gpu_match_cpu(gap_model):
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    m, g, _ = gap_model
    x, _ = blob_data(4, g)
    cpu = cam_maps(m, x, "gradcam", targets=1, modality="depth", device="cpu")
    gpu = cam_maps(m, x, "gradcam", targets=1, modality="depth", device="cuda")
    np.testing.assert_allclose(gpu, cpu, atol=1e-4)
    assert next(m.parameters()).device.type == "cpu"                  # moved back after the call
    s_cpu = gradient_saliency(m, x, targets=1)
    s_gpu = gradient_saliency(m, x, targets=1, device="cuda")
    np.testing.assert_allclose(s_gpu, s_cpu, atol=1e-4)
