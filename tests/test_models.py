"""Model registry, contract, parameter counts, smoke training and weight loading."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ferbench.errors import ModelAssetError  # noqa: E402
from ferbench.models import create_model, list_models  # noqa: E402
from ferbench.models._base import ModelConfigError, count_parameters  # noqa: E402
from ferbench.models.weights import adapt_input_conv, load_weights, save_weights  # noqa: E402

torch.set_num_threads(1)

# small but architecture-preserving configurations, so every test is seconds on one CPU core
SMALL: dict[str, tuple[int, dict]] = {
    "dfcnn": (67, {}),
    "dfcnn_unshared": (67, {}),
    "dfcnn_frozen": (67, {}),
    "gemax_fa": (64, {"width_mult": 0.125, "dropout": 0.0}),
    "gemax_fa_stable": (64, {"width_mult": 0.125, "dropout": 0.0}),
    "gemax_fa_gem": (64, {"width_mult": 0.125, "dropout": 0.0}),
    "attention_transformer": (64, {"embed_dim": 64, "heads": 4, "head_dropout": 0.0}),
    "attention_transformer_rgb": (64, {"embed_dim": 64, "heads": 4, "head_dropout": 0.0}),
    "attention_transformer_no_vit": (64, {"head_dropout": 0.0}),
    "attention_transformer_no_cmsa": (64, {"embed_dim": 64, "heads": 4, "head_dropout": 0.0}),
    "cmcnn": (48, {}),
    "cmcnn_concat": (48, {}),
    "mffcnn": (60, {}),
    "mffcnn_no_mid": (60, {}),
    "mffcnn_no_joint": (60, {}),
    "mffcnn_no_select": (60, {}),
}
PAPERS = {"dfcnn", "gemax_fa", "attention_transformer", "cmcnn", "mffcnn"}


def small(name: str, seed: int = 0, **extra):
    size, opts = SMALL[name]
    torch.manual_seed(seed)
    return create_model(name, input_size=size, **{**opts, **extra})


def batch(model, n: int = 4, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, model.in_channels, model.input_size, model.input_size, generator=g)
    y = torch.arange(n) % model.n_classes
    return x, y


# --------------------------------------------------------------------------- registry
def test_registry_lists_required_names():
    names = list_models()
    for required in ("dfcnn", "dfcnn_unshared", "gemax_fa", "attention_transformer", "cmcnn", "mffcnn"):
        assert required in names
    assert set(names) == set(SMALL)
    assert list_models("mffcnn*") == ["mffcnn", "mffcnn_no_joint", "mffcnn_no_mid", "mffcnn_no_select"]


def test_unknown_model_and_option_are_clear_errors():
    with pytest.raises(KeyError, match="unknown model 'vgg99'"):
        create_model("vgg99")
    with pytest.raises(ModelConfigError, match="does not accept option.*bogus"):
        create_model("mffcnn", bogus=1)
    with pytest.raises(ModelConfigError, match="variant"):
        create_model("mffcnn", variant="nope")
    with pytest.raises(ModelConfigError, match="divisible by 32"):
        create_model("gemax_fa", input_size=100)


# --------------------------------------------------------------------------- exact parameter counts
@pytest.mark.parametrize("name,opts,expected", [
    ("dfcnn", {}, 6_664_070),                          # dfcnn.md §4.1
    ("dfcnn_unshared", {}, 39_307_270),                # DF-CNNa, §4.1
    ("gemax_fa", {}, 59_153_950),                      # gemax_fa.md §4.2 "≈ 59.15 M"
    ("attention_transformer", {"n_classes": 7}, 43_814_307),  # attention_transformer.md §3.8
    ("attention_transformer", {}, 43_813_538),         # same with K = 6
    ("cmcnn", {}, 3_936_315),                          # cmcnn.md §2.9
    ("cmcnn_concat", {}, 2_742_843),
    ("cmcnn", {"modalities": ("gray", "depth")}, 1_961_875),
    ("cmcnn", {"modalities": ("gray", "lbp")}, 2_746_199),
    ("cmcnn", {"modalities": ("depth",)}, 388_324 + 1_542),
    ("mffcnn", {}, 1_212_428),                         # mffcnn.md §3.3
    ("mffcnn_no_mid", {}, 30_988),                     # §3.6
    ("mffcnn_no_joint", {}, 1_212_422),
    ("mffcnn_no_select", {}, 1_219_340),
    ("mffcnn", {"in_chans": 3}, 1_212_716),
    ("mffcnn", {"n_classes": 7}, 1_216_270),
])
def test_parameter_counts_match_specs(name, opts, expected):
    assert count_parameters(create_model(name, **opts)) == expected


def test_component_parameter_counts():
    m = create_model("attention_transformer", n_classes=7)
    assert sum(p.numel() for p in m.backbones["texture"].parameters()) == 7_202_562
    assert sum(p.numel() for p in m.cmsa.parameters()) == 125_336
    head = sum(p.numel() for n, p in m.named_parameters()
               if not n.startswith(("backbones", "cmsa", "criterion")))
    assert head == 29_283_847
    # centers live in the loss and are excluded from the network count
    assert m.criterion.centers.shape == (7, 768)
    assert count_parameters(m) == sum(p.numel() for p in m.parameters()) - 7 * 768
    g = create_model("gemax_fa")
    assert sum(p.numel() for p in g.backbones["texture_glb"].parameters()) == 14_714_688
    assert sum(p.numel() for p in g.fa["texture"].ae[0].parameters()) == 66_112
    c = create_model("cmcnn")
    assert sum(p.numel() for p in c.fens["depth"].parameters()) == 388_324
    assert sum(p.numel() for p in c.fens["gray"].parameters()) == 1_172_648
    assert sum(p.numel() for p in c.cma.parameters()) == 1_184_256


# --------------------------------------------------------------------------- the common contract
@pytest.mark.parametrize("name", sorted(SMALL))
def test_contract(name):
    m = small(name)
    assert m.paper in PAPERS and name.startswith(m.paper)
    assert m.init_note == "random initialisation"
    assert m.in_channels == sum(c for _, c in m.inputs)
    x, y = batch(m, 2)
    m.eval()
    with torch.no_grad():
        logits = m(x)
        out = m.forward_train(x)
        feats = m.forward_features(x)
    assert logits.shape == (2, m.n_classes) and torch.isfinite(logits).all()
    assert torch.allclose(out["logits"], logits)
    assert feats.ndim == 2 and feats.shape[0] == 2
    # feature_layer names the module whose output is the embedding
    captured = {}
    h = m.get_submodule(m.feature_layer).register_forward_hook(lambda mod, i, o: captured.setdefault("f", o))
    with torch.no_grad():
        m(x)
    h.remove()
    assert torch.allclose(captured["f"], feats)
    # Grad-CAM target layers exist, keyed by input modality, and produce (B, C, h, w) maps
    assert m.target_layers and set(m.target_layers) <= {n for n, _ in m.inputs}
    for layers in m.target_layers.values():
        for lname in layers:
            acts = {}
            hh = m.get_submodule(lname).register_forward_hook(lambda mod, i, o: acts.setdefault("a", o))
            with torch.no_grad():
                m(x)
            hh.remove()
            assert acts["a"].ndim == 4 and acts["a"].shape[0] == 2
    if hasattr(m, "attention_maps"):
        with torch.no_grad():
            maps = m.attention_maps(x)
        for v in maps.values():
            assert v.ndim == 3 and v.shape[0] == 2
    # loss is a finite scalar
    m.train()
    loss = m.compute_loss(m.forward_train(x), y)
    assert loss.ndim == 0 and torch.isfinite(loss)


@pytest.mark.parametrize("name", ["dfcnn", "gemax_fa", "attention_transformer", "cmcnn", "mffcnn"])
def test_deterministic_given_seed(name):
    a, b = small(name, seed=3), small(name, seed=3)
    x, _ = batch(a, 2)
    a.eval(), b.eval()
    with torch.no_grad():
        assert torch.equal(a(x), b(x))
    c = small(name, seed=4).eval()
    with torch.no_grad():
        assert not torch.equal(a(x), c(x))


@pytest.mark.parametrize("name", ["dfcnn", "cmcnn", "mffcnn", "attention_transformer"])
def test_bad_input_is_a_clear_error(name):
    m = small(name)
    with pytest.raises(ModelConfigError, match=r"expects x of shape"):
        m(torch.zeros(1, m.in_channels + 1, m.input_size, m.input_size))
    with pytest.raises(ModelConfigError, match=r"expects x of shape"):
        m(torch.zeros(1, m.in_channels, m.input_size + 4, m.input_size + 4))
    with pytest.raises(ModelConfigError, match="floating-point"):
        m(torch.zeros(1, m.in_channels, m.input_size, m.input_size, dtype=torch.long))


# --------------------------------------------------------------------------- smoke training
def _optimizers(m, lr):
    opts = [torch.optim.Adam(m.model_parameters(), lr=lr)]
    for g in m.extra_param_groups():
        opts.append(torch.optim.SGD(g["params"], lr=g["lr"]))
    return opts


@pytest.mark.parametrize("name,lr,steps", [
    ("dfcnn", 1e-3, 4), ("dfcnn_unshared", 1e-3, 4), ("gemax_fa", 1e-3, 4),
    ("attention_transformer", 1e-3, 4), ("cmcnn", 1e-3, 4), ("mffcnn", 1e-3, 6),
])
def test_a_few_steps_reduce_the_loss(name, lr, steps):
    m = small(name)
    x, y = batch(m, 4)
    m.train()
    with torch.no_grad():
        before = float(m.compute_loss(m.forward_train(x), y))
    opts = _optimizers(m, lr)
    for _ in range(steps):
        for o in opts:
            o.zero_grad()
        loss = m.compute_loss(m.forward_train(x), y)
        loss.backward()
        for o in opts:
            o.step()
    with torch.no_grad():
        after = float(m.compute_loss(m.forward_train(x), y))
    assert np.isfinite(after) and after < before


# --------------------------------------------------------------------------- weights
def test_state_dict_round_trip(tmp_path):
    a = small("mffcnn", seed=5)
    path = save_weights(a, tmp_path / "mff.pt")
    torch.manual_seed(99)
    b = create_model("mffcnn", weights=path)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k])
    assert str(path) in b.init_note and "sha256" in b.init_note
    x, _ = batch(a, 2)
    with torch.no_grad():
        assert torch.equal(a.eval()(x), b.eval()(x))
    # a checkpoint dict wrapping the state dict is accepted too
    torch.save({"state_dict": a.state_dict(), "epoch": 3}, tmp_path / "ckpt.pth")
    c = create_model("mffcnn", weights=tmp_path / "ckpt.pth")
    assert torch.equal(c.fc_img.weight, a.fc_img.weight)


class _Evil:
    def __reduce__(self):  # would run code if unpickled without weights_only
        return (print, ("pwned",))


def test_bad_weight_files_raise_model_asset_error(tmp_path):
    m = small("mffcnn")
    with pytest.raises(ModelAssetError, match="not found"):
        load_weights(m, tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ModelAssetError, match="junk.pt: not a loadable state dict"):
        load_weights(m, tmp_path / "junk.pt")
    torch.save({"x": _Evil()}, tmp_path / "evil.pt")
    with pytest.raises(ModelAssetError, match="evil.pt"):
        load_weights(m, tmp_path / "evil.pt")
    (tmp_path / "w.npz").write_bytes(b"")
    with pytest.raises(ModelAssetError, match="unsupported weight file type"):
        load_weights(m, tmp_path / "w.npz")
    torch.save({"unrelated.weight": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(ModelAssetError, match="no parameter of the file matches"):
        load_weights(m, tmp_path / "other.pt")
    with pytest.raises(ModelAssetError, match="missing"):
        load_weights(m, {"fc_img.weight": m.fc_img.weight.detach().clone()}, strict=True)
    assert m.init_note == "random initialisation"


def test_adapt_input_conv_follows_timm_rule():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(4, 3, 3, 3, generator=g)
    assert torch.allclose(adapt_input_conv(1, w), w.sum(1, keepdim=True))
    assert torch.equal(adapt_input_conv(3, w), w)
    w5 = adapt_input_conv(5, w)
    assert torch.allclose(w5, torch.cat([w, w[:, :2]], 1) * (3 / 5))
    w8 = adapt_input_conv(8, w)
    assert torch.allclose(w8, torch.cat([w, w, w[:, :2]], 1) * (3 / 8))
    s2d = torch.randn(4, 12, 3, 3, generator=g)  # space-to-depth stem
    assert torch.allclose(adapt_input_conv(1, s2d), s2d.view(4, 4, 3, 3, 3).sum(2))
    with pytest.raises(ValueError):
        adapt_input_conv(2, torch.randn(4, 4, 3, 3))


def test_three_channel_stem_is_adapted_on_load(tmp_path):
    m = small("attention_transformer", depth_channels="adapt")
    assert m.backbones["depth"][0][0].weight.shape[1] == 1
    sd = {k: v.clone() for k, v in m.state_dict().items()}
    rgb_stem = torch.randn(32, 3, 3, 3, generator=torch.Generator().manual_seed(1))
    sd["backbones.depth.0.0.weight"] = rgb_stem
    torch.save(sd, tmp_path / "rgb_stem.pt")
    report = load_weights(m, tmp_path / "rgb_stem.pt")
    assert report["adapted"] == ["backbones.depth.0.0.weight"]
    assert torch.allclose(m.backbones["depth"][0][0].weight, rgb_stem.sum(1, keepdim=True))
    assert "stems adapted" in m.init_note
    # CM-CNN: an RGB-pretrained stem summed into the 1-channel gray FEN
    c = small("cmcnn")
    w3 = torch.randn(32, 3, 3, 3)
    load_weights(c, {"fens.gray.stage1.conv_a.weight": w3})
    assert torch.allclose(c.fens["gray"].stage1.conv_a.weight, w3.sum(1, keepdim=True))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ["dfcnn", "gemax_fa", "attention_transformer", "cmcnn", "mffcnn"])
def test_runs_on_cuda_and_matches_cpu(name):
    m = small(name).eval()
    x, y = batch(m, 2)
    with torch.no_grad():
        ref = m(x)
    m.cuda()
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    with torch.no_grad():
        out = m(x.cuda())
    assert out.device.type == "cuda"
    assert torch.allclose(out.cpu(), ref, rtol=1e-3, atol=1e-4)
    m.train()
    loss = m.compute_loss(m.forward_train(x.cuda()), y.cuda())
    loss.backward()
    assert torch.isfinite(loss)
