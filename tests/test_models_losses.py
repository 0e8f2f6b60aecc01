"""Loss fixtures and component semantics: L_FA, soft focal, center/island, L2 selection, CMSA, attention."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.nn import functional as F  # noqa: E402

from ferbench.models import create_model  # noqa: E402
from ferbench.models._base import ModelConfigError  # noqa: E402
from ferbench.models.cmcnn import CrossModalityAttention  # noqa: E402
from ferbench.models.gemax_fa import crop_and_resize, crop_boxes  # noqa: E402
from ferbench.models.losses import (CenterIslandLoss, center_loss, class_weights, fa_loss,  # noqa: E402
                                    gaussian_soft_labels, island_loss, mff_joint_loss, soft_focal_loss)
from ferbench.models.mffcnn import extract_patches, patch_geometry, select_by_l2  # noqa: E402

torch.set_num_threads(1)


# --------------------------------------------------------------------------- L_FA (gemax_fa.md §4.4)
def _fixture_maps():
    m1 = torch.tensor([[0, 0, 0], [0, 0.6, 0.4], [0, 0, 0]], dtype=torch.float64)
    m2 = torch.tensor([[0, 0, 0], [0, 0, 0.6], [0, 0, 0.4]], dtype=torch.float64)
    return torch.stack([m1, m2])[None]


def test_fa_loss_fixture_460():
    total, div, comp = fa_loss(_fixture_maps(), return_terms=True)
    assert float(total) == pytest.approx(460.0, abs=1e-9)
    assert float(div) == pytest.approx(0.44, abs=1e-12)
    assert float(comp) == pytest.approx(0.2, abs=1e-12)
    # symmetric under swapping the two maps
    assert float(fa_loss(_fixture_maps().flip(1))) == pytest.approx(460.0, abs=1e-9)


def test_fa_loss_disjoint_one_hot_is_minus_40():
    maps = torch.zeros(1, 2, 7, 7, dtype=torch.float64)
    maps[0, 0, 1, 2] = 1.0
    maps[0, 1, 5, 4] = 1.0
    total, div, comp = fa_loss(maps, return_terms=True)
    assert float(total) == pytest.approx(-40.0, abs=1e-9)
    assert float(comp) == 0.0
    # scale invariance of the sum normalisation, batch mean reduction
    assert float(fa_loss(torch.cat([maps * 3.0, maps * 0.5]))) == pytest.approx(-40.0, abs=1e-9)


def test_fa_loss_gradient_and_constant_peaks():
    g = torch.Generator().manual_seed(0)
    maps = (torch.rand(2, 2, 4, 4, generator=g, dtype=torch.float64) + 0.1).requires_grad_()
    assert torch.autograd.gradcheck(lambda m: fa_loss(m), (maps,))
    # compactness is non-negative on random maps; dead (all-zero) maps give a finite value
    _, _, comp = fa_loss(maps.detach(), return_terms=True, reduction="none")
    assert (comp >= 0).all()
    assert torch.isfinite(fa_loss(torch.zeros(1, 2, 7, 7)))


# --------------------------------------------------------------------------- soft focal (cmcnn.md §3)
def test_soft_label_values():
    q = gaussian_soft_labels(torch.tensor([2, 0]), 6, sigma=0.1, label_spacing=0.2)
    assert torch.allclose(q.sum(1), torch.ones(2))
    assert float(q[0, 2]) == pytest.approx(0.7866, abs=1e-4)
    assert float(q[0, 1]) == pytest.approx(0.1065, abs=1e-4) and float(q[0, 3]) == pytest.approx(0.1065, abs=1e-4)
    assert float(q[0, 0]) == pytest.approx(2.64e-4, rel=1e-2)
    assert float(q[1, 0]) == pytest.approx(0.8805, abs=1e-4) and float(q[1, 1]) == pytest.approx(0.1192, abs=1e-4)
    literal = gaussian_soft_labels(torch.tensor([3]), 6, sigma=0.1, label_spacing=1.0)
    # integer indices with sigma 0.1: target exactly 1 in float32, neighbours exp(-50) = 1.93e-22
    assert float(literal[0, 3]) == 1.0
    assert float(literal[0, 2]) == pytest.approx(math.exp(-50), rel=1e-5)
    assert float(literal[0, 4]) == pytest.approx(math.exp(-50), rel=1e-5)
    assert float(literal[0, 1]) < 1e-80 or float(literal[0, 1]) == 0.0


def test_soft_focal_limiting_cases():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(16, 6, generator=g, dtype=torch.float64) * 3
    y = torch.randint(0, 6, (16,), generator=g)
    onehot = F.one_hot(y, 6).double()
    p = logits.softmax(1)
    pt = p.gather(1, y[:, None])[:, 0]
    standard = (-(1 - pt) ** 2 * pt.log()).mean()
    for formula in ("A", "B"):
        # literal spacing (integer indices, sigma 0.1) == standard hard-label focal loss
        assert torch.allclose(soft_focal_loss(logits, y, formula=formula), standard)
        # gamma = 0 with hard labels == cross-entropy
        assert torch.allclose(soft_focal_loss(logits, onehot, gamma=0.0, formula=formula),
                              F.cross_entropy(logits, y))
    # spacing -> hard labels: a tiny sigma relative to spacing gives the same as one-hot
    assert torch.allclose(soft_focal_loss(logits, y, label_spacing=0.2, sigma=1e-3), standard)
    # focal <= CE element-wise, linear in alpha
    per_f = soft_focal_loss(logits, y, reduction="none")
    per_ce = F.cross_entropy(logits, y, reduction="none")
    assert (per_f <= per_ce + 1e-12).all()
    assert torch.allclose(soft_focal_loss(logits, y, alpha=2.5), 2.5 * soft_focal_loss(logits, y))
    # visible smoothing at spacing 0.2 makes the loss differ from the hard one
    assert not torch.allclose(soft_focal_loss(logits, y, label_spacing=0.2), standard)


def test_soft_focal_finite_gradient_at_confident_logits():
    logits = torch.tensor([[60.0, 0, 0, 0, 0, 0]], requires_grad=True)
    loss = soft_focal_loss(logits, torch.tensor([0]), label_spacing=0.2)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


def test_cmcnn_loss_uses_its_spacing():
    m = create_model("cmcnn", input_size=32, label_spacing=0.2)
    assert torch.allclose(m.soft_labels(torch.tensor([2]))[0, 2], torch.tensor(0.7866), atol=1e-4)
    with pytest.raises(ModelConfigError):
        create_model("cmcnn", label_spacing=0)


# --------------------------------------------------------------------------- center / island
def test_island_loss_analytic_values():
    K = 7
    eye = torch.eye(K)
    assert float(island_loss(eye)) == pytest.approx(K * (K - 1))
    same = torch.ones(K, 3)
    assert float(island_loss(same)) == pytest.approx(2 * K * (K - 1), rel=1e-6)
    simplex = torch.eye(K) - 1.0 / K                                 # regular simplex centred at 0
    assert float(island_loss(simplex)) == pytest.approx(K * (K - 2), abs=1e-4)
    r = torch.randn(K, 5, generator=torch.Generator().manual_seed(0))
    assert float(island_loss(r * 7.3)) == pytest.approx(float(island_loss(r)), rel=1e-5)


def test_center_loss_and_composition():
    c = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    f = torch.tensor([[3.0, 4.0], [1.0, 0.0]])
    assert float(center_loss(f, torch.tensor([0, 1]), c)) == pytest.approx(12.5)   # (25 + 0) / 2
    assert float(center_loss(c, torch.tensor([0, 1]), c)) == 0.0
    crit = CenterIslandLoss(2, 2)
    with torch.no_grad():
        crit.centers.copy_(c + torch.tensor([0.0, 1.0]))
    total, lc, li = (t.detach() for t in crit(f, torch.tensor([0, 1])))
    assert float(total) == pytest.approx(0.01 * (float(lc) + 10 * float(li)))
    crit.composition = "literal"
    total2, lc2, li2 = (t.detach() for t in crit(f, torch.tensor([0, 1])))
    assert float(total2) == pytest.approx(0.01 * float(lc2) + 10 * float(li2))


def test_center_step_moves_centers_towards_class_means():
    m = create_model("attention_transformer", input_size=64, embed_dim=32, heads=4, use_island=False)
    feats = torch.randn(8, 32)
    y = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    grp = m.extra_param_groups()[0]
    opt = torch.optim.SGD(grp["params"], lr=grp["lr"])
    assert grp["lr"] == 0.5
    before = center_loss(feats, y, m.criterion.centers.detach())
    for _ in range(5):
        opt.zero_grad()
        m.compute_loss({"logits": torch.zeros(8, 6), "features": feats}, y).backward()
        opt.step()
    assert float(center_loss(feats, y, m.criterion.centers.detach())) < float(before)


def test_class_weights():
    assert torch.allclose(class_weights([0, 1, 2, 0, 1, 2], 3), torch.ones(3))
    w = class_weights([0, 0, 0, 1], 2)
    assert torch.allclose(w, torch.tensor([4 / 6, 4 / 2]))


# --------------------------------------------------------------------------- MFF-CNN
def test_patch_geometry_eq2():
    assert patch_geometry(60, 16) == (24, 12)
    assert patch_geometry(60, 4) == (40, 20) and patch_geometry(60, 9) == (30, 15)
    assert patch_geometry(60, 25) == (20, 10)
    with pytest.raises(ModelConfigError):
        patch_geometry(60, 36)
    with pytest.raises(ModelConfigError):
        patch_geometry(60, 15)
    x = torch.arange(60 * 60, dtype=torch.float32).view(1, 1, 60, 60)
    p = extract_patches(x, 24, 12)
    assert p.shape == (1, 16, 1, 24, 24)
    for r, c in itertools.product(range(4), range(4)):
        assert torch.equal(p[0, 4 * r + c, 0], x[0, 0, 12 * r:12 * r + 24, 12 * c:12 * c + 24])
    assert torch.equal(p[0, 13, 0], x[0, 0, 36:60, 12:36])          # "Patch 14": mouth / chin


def test_l2_selection_keeps_exactly_384_of_512_and_the_right_ones():
    g = torch.Generator().manual_seed(0)
    V = torch.randn(3, 512, 9, generator=g)
    sel, idx = select_by_l2(V, 384)
    assert sel.shape == (3, 384, 9) and idx.shape == (3, 384)
    norms = V.norm(dim=-1)
    for b in range(3):
        kept = set(idx[b].tolist())
        assert len(kept) == 384
        brute = set(np.argsort(-norms[b].numpy(), kind="stable")[:384].tolist())
        assert kept == brute
        assert norms[b, idx[b]].min() >= norms[b, sorted(set(range(512)) - kept)].max()
        assert torch.equal(idx[b], idx[b].sort().values)              # original order kept
        assert torch.equal(sel[b], V[b, idx[b]])
    _, idx_n = select_by_l2(V, 384, order="norm")
    assert (norms.gather(1, idx_n).diff(dim=1) <= 0).all()
    # ties go to the lower index
    tie = torch.ones(1, 6, 2)
    assert select_by_l2(tie, 3)[1].tolist() == [[0, 1, 2]]


def test_mffcnn_selection_in_model_and_gradient_only_to_selected():
    torch.manual_seed(0)
    m = create_model("mffcnn")
    x = torch.rand(2, 1, 60, 60)
    out = m.forward_train(x)
    assert out["selection"].shape == (2, 384)
    mask = m.selection_mask(x)
    assert mask.shape == (2, 16, 32) and int(mask.sum()) == 2 * 384
    V = m._patch_vectors(x).detach().requires_grad_()
    sel, idx = select_by_l2(V, 384)
    sel.sum().backward()
    chosen = torch.zeros(2, 512, dtype=torch.bool)
    chosen.scatter_(1, idx, True)
    assert (V.grad[~chosen] == 0).all() and (V.grad[chosen] == 1).all()


def test_mffcnn_fusion_and_joint_loss():
    torch.manual_seed(0)
    m = create_model("mffcnn")
    x, y = torch.rand(4, 1, 60, 60), torch.tensor([0, 1, 2, 3])
    out = m.forward_train(x)
    p_sum = out["z_img"].softmax(1) + out["z_patch"].softmax(1)
    assert torch.allclose(out["logits"].softmax(1), p_sum / 2, atol=1e-6)
    assert torch.equal(out["logits"].argmax(1), p_sum.argmax(1))
    loss = m.compute_loss(out, y)
    manual = (F.cross_entropy(out["z_img"], y) + F.cross_entropy(out["z_patch"], y)
              - 0.1 * torch.log(p_sum.gather(1, y[:, None])).mean())
    assert float(loss.detach()) == pytest.approx(float(manual.detach()), rel=1e-5)
    tot, (_, _, lf) = mff_joint_loss(out["z_img"], out["z_patch"], y, fusion="logit_sum")
    assert float(lf.detach()) == pytest.approx(float(F.cross_entropy(out["z_img"] + out["z_patch"], y).detach()), rel=1e-6)


# --------------------------------------------------------------------------- GEMax FA crops
def test_crop_geometry_at_224():
    peaks = torch.tensor([[[0, 0], [6, 6], [3, 3]]])
    boxes = crop_boxes(peaks, grid=7, input_size=224, crop=96)
    assert boxes.tolist() == [[[0, 0], [128, 128], [64, 64]]]
    x = torch.rand(1, 3, 224, 224)
    parts = crop_and_resize(x, boxes, 96, 96)
    for i, (y0, x0) in enumerate(boxes[0].tolist()):
        assert torch.equal(parts[i], x[0, :, y0:y0 + 96, x0:x0 + 96])
    up = crop_and_resize(x, boxes, 96, 224)
    assert up.shape == (3, 3, 224, 224)
    assert torch.allclose(up[0], F.interpolate(x[:, :, :96, :96], size=224, mode="bilinear",
                                               align_corners=False)[0])


def test_gemax_fa_internal_shapes_and_nonnegative_maps():
    torch.manual_seed(0)
    m = create_model("gemax_fa", input_size=64, width_mult=0.125)
    x = torch.rand(2, 4, 64, 64)
    out = m.forward_train(x)
    assert out["aux_logits"].shape == (2, 4, 6)
    assert out["fused"].shape == (2, 6 * m.feat_channels, 2, 2)
    for mp in out["fa_maps"].values():
        assert mp.shape == (2, 2, 2, 2) and (mp >= 0).all()
    for b in out["boxes"].values():
        assert ((b >= 0) & (b <= 64 - m.crop)).all()
    full = create_model("gemax_fa")
    assert full.crop == 96 and full.grid == 7


# --------------------------------------------------------------------------- attention modules
def test_cross_modality_attention_semantics():
    torch.manual_seed(0)
    cma = CrossModalityAttention(8)
    fx, fy = torch.randn(2, 8, 3, 3), torch.randn(2, 8, 3, 3)
    out, att = cma(fx, fy, return_attention=True)
    assert att.shape == (2, 9, 9) and torch.allclose(att.sum(-1), torch.ones(2, 9))
    # constant guide -> uniform attention -> every position gets the mean of X2 (+ residual)
    fy_const = torch.ones(2, 8, 3, 3)
    out_c = cma(fx, fy_const)
    x2 = cma.v(fx).flatten(2)
    assert torch.allclose((out_c - fx).flatten(2), x2.mean(-1, keepdim=True).expand(-1, -1, 9), atol=1e-6)
    # joint spatial permutation equivariance
    perm = torch.randperm(9)
    px = fx.flatten(2)[..., perm].view_as(fx)
    py = fy.flatten(2)[..., perm].view_as(fy)
    assert torch.allclose(cma(px, py).flatten(2), out.flatten(2)[..., perm], atol=1e-5)
    # zero value conv -> identity on X
    with torch.no_grad():
        cma.v.weight.zero_()
        cma.v.bias.zero_()
    assert torch.allclose(cma(fx, fy), fx)


def test_cmsa_mask_fusion_semantics():
    torch.manual_seed(0)
    m = create_model("attention_transformer", input_size=64, embed_dim=32, heads=4).eval()
    x = torch.rand(2, 4, 64, 64)
    with torch.no_grad():
        maps = m.attention_maps(x)
        assert torch.allclose(maps["fused"], 0.5 * (maps["texture"] + maps["depth"]))
        assert all(((v >= 0) & (v <= 1)).all() for v in maps.values())
        # force M_rgb = 0 and M_depth = 1 -> X_out = 0.5 X_rgb
        for mod, val in (("texture", -1e4), ("depth", 1e4)):
            for sam in m.cmsa[mod].sams:
                bn = sam.net[4]
                bn.weight.zero_()
                bn.bias.fill_(val)
        out = m.forward_train(x)
        x_rgb = m.backbones["texture"](x[:, :3])
        assert torch.allclose(out["x_out"], 0.5 * x_rgb, atol=1e-5)
        # no-ViT + no-CMSA = Eq. 8: softmax(MLP(mean_hw(X_rgb + X_depth)))
        e8 = create_model("attention_transformer", input_size=64, use_vit=False, use_cmsa=False).eval()
        f = e8.backbones["texture"](x[:, :3]) + e8.backbones["depth"](x[:, 3:].expand(-1, 3, -1, -1))
        assert torch.allclose(e8(x), e8.head(f.mean(dim=(2, 3))), atol=1e-5)


def test_transformer_token_grid():
    m = create_model("attention_transformer")
    assert m.grid == 9 and m.pos_embed.shape == (1, 82, 768)
    assert create_model("attention_transformer", input_size=64, embed_dim=32, heads=4).pos_embed.shape == (1, 5, 32)
    assert math.isclose(m.criterion.lambda1, 0.01) and m.criterion.lambda2 == 10.0


def test_center_island_cai_update_same_value_unscaled_center_grad():
    torch.manual_seed(0)
    f, y = torch.randn(8, 5, requires_grad=True), torch.arange(8) % 3
    outs = {}
    for mode in ("cai", "loss_grad"):
        crit = CenterIslandLoss(3, 5, lambda1=1e-2, lambda2=10.0, center_update=mode)
        with torch.no_grad():
            crit.centers.copy_(torch.arange(15.0).view(3, 5) / 7)
        tot, _, _ = crit(f, y)
        gc, gf = torch.autograd.grad(tot, [crit.centers, f])
        outs[mode] = (float(tot), gc, gf)
    assert outs["cai"][0] == pytest.approx(outs["loss_grad"][0])
    assert torch.allclose(outs["cai"][2], outs["loss_grad"][2])              # features: same gradient
    assert torch.allclose(outs["cai"][1], outs["loss_grad"][1] / 1e-2, rtol=1e-5)  # centers: / lambda1
    crit = CenterIslandLoss(3, 5, center_norm="mean")
    tot_mean, lc_mean, _ = crit(f, y)
    assert float(lc_mean) == pytest.approx(float(center_loss(f, y, crit.centers)) / 5)
