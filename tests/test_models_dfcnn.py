"""DF-CNN specifics: layer sizes, weight sharing, frozen trunk, SVM path, VGG-M .mat loader."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ferbench.errors import ModelAssetError  # noqa: E402
from ferbench.models import create_model  # noqa: E402
from ferbench.models.dfcnn import (DFCNNSVM, DFCNN_MAPS, extract_features, fit_svm,  # noqa: E402
                                   load_vggm_mat, vggm_sizes)

torch.set_num_threads(1)


def test_layer_sizes_at_224():
    assert vggm_sizes(224) == {"conv1": 109, "pool1": 54, "conv2": 26, "pool2": 13, "conv5": 13, "pool5": 6}
    m = create_model("dfcnn")
    assert m.grid == 6 and m.fusion8.kernel_size == (6, 6)
    assert m.inputs == (("geometry", 1), ("normal_x", 1), ("normal_y", 1), ("normal_z", 1),
                        ("shape_index", 1), ("texture", 3))
    with torch.no_grad():
        vol = m.trunk(torch.zeros(1, 3, 224, 224))
    assert vol.shape == (1, 512, 13, 13)
    assert m.pool5(vol).shape == (1, 512, 6, 6)       # 6 x 6 x 512 = 18,432 per map
    assert m.fusion7.conv.in_channels == 3072 and m.fusion7.conv.out_channels == 32
    # 8 bytes per parameter -> the paper's "50 MB" / "300 MB" (Table XI)
    assert round(6_664_070 * 8 / 2 ** 20, 2) == 50.84
    assert round(39_307_270 * 8 / 2 ** 20, 2) == 299.89


def _model(name="dfcnn", seed=0, **kw):
    torch.manual_seed(seed)
    return create_model(name, input_size=67, **kw).eval()


def test_shared_trunk_gives_identical_volumes_for_identical_maps():
    x = torch.rand(2, 1, 67, 67).expand(-1, 5, -1, -1)
    x = torch.cat([x, x[:, :1].expand(-1, 3, -1, -1)], 1)   # gray texture = same image in all maps
    for name, same in (("dfcnn", True), ("dfcnn_unshared", False)):
        m = _model(name)
        with torch.no_grad():
            v = m.forward_train(x)["reshape6"].view(2, 6, 512, -1)
        # rtol covers the luma sum 0.299+0.587+0.114 rounding (~1e-6 relative); unshared trunks differ by O(1)
        equal = all(torch.allclose(v[:, 0], v[:, i], rtol=1e-5, atol=1e-5) for i in range(1, 6))
        assert equal is same


def test_map_order_is_the_slow_channel_index():
    m = _model()
    x = torch.zeros(1, 8, 67, 67)
    x[:, 2] = torch.rand(67, 67)                               # only normal_y is non-zero
    with torch.no_grad():
        v = m.forward_train(x)["reshape6"].view(1, 6, 512, -1)
        zero = m.forward_train(torch.zeros(1, 8, 67, 67))["reshape6"].view(1, 6, 512, -1)
    changed = [not torch.allclose(v[:, i], zero[:, i]) for i in range(6)]
    assert changed == [False, False, True, False, False, False]


def test_texture_gray_mode_uses_bt601_luma():
    m = _model()
    rgb = torch.rand(1, 3, 67, 67)
    gray = (rgb * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    assert torch.allclose(m._to_rgb3("texture", rgb), gray.expand(-1, 3, -1, -1))
    assert torch.equal(_model(texture_mode="rgb")._to_rgb3("texture", rgb), rgb)


def test_gradient_accumulates_in_the_shared_trunk_once_per_map():
    m = _model().train()
    x = torch.rand(2, 8, 67, 67)
    loss = m.compute_loss(m.forward_train(x), torch.tensor([0, 1]))
    loss.backward()
    g_shared = m.trunk.conv1.weight.grad.clone()
    # the shared gradient equals the sum of the gradients of six unshared copies of the same trunk
    u = _model("dfcnn_unshared").train()
    u.load_state_dict({**{k: v for k, v in m.state_dict().items() if not k.startswith("trunk.")},
                       **{f"trunks.{mp}.{k[6:]}": v for k, v in m.state_dict().items()
                          if k.startswith("trunk.") for mp in DFCNN_MAPS}})
    u.compute_loss(u.forward_train(x), torch.tensor([0, 1])).backward()
    g_sum = sum(u.trunks[mp].conv1.weight.grad for mp in DFCNN_MAPS)
    assert torch.allclose(g_shared, g_sum, rtol=1e-4, atol=1e-7)


def test_frozen_trunk_stays_fixed():
    m = _model("dfcnn_frozen").train()
    trunk0 = [p.detach().clone() for p in m.trunk_parameters()]
    fus0 = m.fusion7.conv.weight.detach().clone()
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.1)
    x = torch.rand(2, 8, 67, 67)
    m.compute_loss(m.forward_train(x), torch.tensor([0, 1])).backward()
    opt.step()
    assert all(torch.equal(a, b) for a, b in zip(trunk0, m.trunk_parameters()))
    assert not torch.equal(fus0, m.fusion7.conv.weight)


def test_feature_point_pre_and_post_relu():
    post, pre = _model(), _model(feature_point="pre_relu")
    x = torch.rand(3, 8, 67, 67)
    with torch.no_grad():
        fp, fq = post.forward_features(x), pre.forward_features(x)
        assert torch.equal(post(x), pre(x))                  # classifier unchanged
    assert (fp >= 0).all() and torch.allclose(fp, fq.clamp_min(0))
    assert fp.shape == (3, 32)
    assert _model(fused_dim=16).forward_features(x).shape == (3, 16)


def test_svm_on_features_is_linear_svc_c1():
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 5, (6, 32))
    y = np.repeat(np.arange(6), 10)
    feats = centers[y] + rng.normal(0, 0.1, (60, 32))
    svm = DFCNNSVM(_model()).fit(feats, y)
    assert svm.coef_.shape == (6, 32) and svm.intercept_.shape == (6,)
    assert svm.score(feats, y) == 1.0
    assert svm.svm_.C == 1.0 and svm.svm_.loss == "squared_hinge"
    np.testing.assert_allclose(svm.decision_function(feats), feats @ svm.coef_.T + svm.intercept_, rtol=1e-9)
    assert not DFCNNSVM(_model(), fit_intercept=False).fit(feats, y).svm_.fit_intercept


def test_svm_path_from_images_and_loader():
    m = _model()
    x = torch.rand(12, 8, 67, 67)
    y = torch.arange(12) % 3
    f, lab = extract_features(m, [(x[:6], y[:6]), (x[6:], y[6:])])
    assert f.shape == (12, 32) and lab.tolist() == y.tolist()
    f2, none = extract_features(m, x, batch_size=5)
    np.testing.assert_allclose(f, f2, rtol=1e-5, atol=1e-6)
    assert none is None
    svm = fit_svm(m, x, y)
    assert svm.predict(x).shape == (12,)
    np.testing.assert_allclose(svm.decision_function(x), svm.decision_function(f2), rtol=1e-5)


def _write_vggm_mat(path, rng):
    from scipy.io import savemat

    shapes = [(7, 7, 3, 96), (5, 5, 96, 256), (3, 3, 256, 512), (3, 3, 512, 512), (3, 3, 512, 512)]
    layers, ref = [], []
    for i, s in enumerate(shapes):
        w = rng.standard_normal(s).astype(np.float32)
        b = rng.standard_normal(s[-1]).astype(np.float32)
        wb = np.empty(2, dtype=object)
        wb[0], wb[1] = w, b
        layers.append({"type": "conv", "name": f"conv{i + 1}", "weights": wb})
        layers.append({"type": "relu", "name": f"relu{i + 1}"})
        ref.append((w, b))
    arr = np.empty(len(layers), dtype=object)
    arr[:] = layers
    savemat(path, {"layers": arr})
    return ref


def test_vggm_mat_loader_permutes_hwio(tmp_path):
    ref = _write_vggm_mat(tmp_path / "vggm.mat", np.random.default_rng(0))
    for name in ("dfcnn", "dfcnn_unshared"):
        m = _model(name)
        load_vggm_mat(m, tmp_path / "vggm.mat")
        trunks = [m.trunk] if m.shared else list(m.trunks.values())
        for t in trunks:
            for i, (w, b) in enumerate(ref):
                conv = getattr(t, f"conv{i + 1}")
                assert torch.equal(conv.weight, torch.from_numpy(w).permute(3, 2, 0, 1))
                assert torch.equal(conv.bias, torch.from_numpy(b))
        assert "vggm.mat" in m.init_note
    (tmp_path / "bad.mat").write_bytes(b"not a mat file")
    with pytest.raises(ModelAssetError, match="bad.mat"):
        load_vggm_mat(_model(), tmp_path / "bad.mat")


def test_batchnorm_trunk_keeps_the_conv_layers_and_adds_only_bn_parameters():
    lrn = create_model("dfcnn")
    bn = create_model("dfcnn", trunk_norm="batch")
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(lrn) == 6_664_070
    assert n(bn) == 6_664_070 + 2 * (96 + 256 + 3 * 512)  # gamma and beta of five BatchNorms
    convs = lambda m: {k: v.shape for k, v in m.state_dict().items() if ".conv" in k}  # noqa: E731
    assert convs(lrn) == convs(bn)
    assert not any(isinstance(x, torch.nn.LocalResponseNorm) for x in bn.modules())
    with pytest.raises(Exception, match="trunk_norm"):
        create_model("dfcnn", trunk_norm="group")
