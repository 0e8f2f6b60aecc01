"""MFF-CNN (Zou et al. 2021): multi-level feature fusion of an image branch and a 16-patch branch.

Method notes: ``docs/mffcnn.md`` §0, §3-§4, §7-§8; preset ``mffcnn_paper`` ("A"). One 60x60 gray
face crop. Image branch: conv1 conv2 pool1 conv3 conv4 pool2 conv5 conv6 pool3 (3x3 valid convs,
ReLU, 8 channels); the mid-level conv4 map (8x24x24 = 4,608) goes through FC-256 (+ReLU), the
high-level pool3 map (8x4x4) is flattened, [mid ⊕ high] (Eq. 1) -> FC -> image logits.
Patch branch: 16 overlapping 24x24 patches (stride 12, Eq. 2), one shared CNN (conv 8, 8, pool,
16, 32, pool -> 32 x 3 x 3 per patch) = 512 vectors in R^9; the M = 384 with the largest L2
norm are kept per sample (over all 512 jointly), concatenated and classified. Fusion (Eq. 3):
y~ = softmax(z_img) + softmax(z_patch); loss (Eq. 5) = 1 CE(img) + 1 CE(patch) + 0.1 (-log y~_y).

Recorded choices (spec §3.3-§3.6 [R]): valid 3x3 convs and an 8-channel conv4 tap (the only
geometry giving the 1.18 M FC); selected vectors kept in original index order
(``selection_order="index"``; ``"norm"`` = descending norm), ties to the lower index; dynamic
per-sample selection; ``fusion="prob_sum"`` (literal) with ``"logit_sum"`` (DTAGN) as option.
``model(x)`` returns ``log(y~ / 2)`` for prob_sum, whose softmax is the fused distribution and
whose argmax is Eq. 4's prediction. ``features`` = [image 384-d ⊕ selected patch 3,456-d].
Parameters: 1,212,428 (full), 30,988 (no_mid), 1,212,422 (no_joint), 1,219,340 (no_select).
Random initialisation, as in the paper, but not PyTorch's default (see ``init``): with the
default kaiming_uniform(a=sqrt(5)) weights (variance gain 1/3 of He) the six narrow (8-channel)
unpadded convs without BN on non-centred inputs shrink the input-dependent part of the activations
~3-4x per layer, so conv6 / the logits are practically constant over inputs, whole channels are
always-on or always-off, and Adam then drives the ReLUs dead: constant prediction at chance.
Defaults therefore: ``input_norm="image"`` (per-image zero-mean/unit-std, parameter-free; spec
§2 allows a z-score) and ``init="he"`` (He-normal fan_in convs, zero biases, near-zero (N(0, 1e-3))
classifier heads so training starts at ~ln(C)); ``init="default"`` / ``input_norm="none"`` restore
the literal PyTorch-default behaviour.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ferbench.models._base import FERModel, ModelConfigError, conv_out
from ferbench.models.losses import mff_joint_loss

VARIANTS = ("full", "no_mid", "no_joint", "no_select")


def patch_geometry(image_size: int, n_patches: int) -> tuple[int, int]:
    """Patch side S and stride S/2 from Eq. 2, ``S (sqrt(N) + 1) = 2 L`` (60, 16 -> 24, 12)."""
    r = math.isqrt(n_patches)
    if r * r != n_patches or r < 1:
        raise ModelConfigError(f"n_patches must be a perfect square, got {n_patches}")
    num = 2 * image_size
    if num % (r + 1) or (num // (r + 1)) % 2:
        raise ModelConfigError(f"2L/(sqrt(N)+1) = {num / (r + 1):g} must be an even integer "
                               f"(L = {image_size}, N = {n_patches})")
    s = num // (r + 1)
    return s, s // 2


def extract_patches(x: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    """``(B, C, L, L)`` -> ``(B, N, C, S, S)``, row-major patch order (patch p = r * sqrt(N) + c)."""
    B, C = x.shape[:2]
    p = x.unfold(2, size, stride).unfold(3, size, stride)            # (B, C, r, r, S, S)
    return p.permute(0, 2, 3, 1, 4, 5).reshape(B, -1, C, size, size)


def select_by_l2(vectors: torch.Tensor, keep: int, order: str = "index") -> tuple[torch.Tensor, torch.Tensor]:
    """Keep the ``keep`` vectors with the largest L2 norm, per sample.

    Parameters
    ----------
    vectors
        ``(B, V, d)``.
    keep
        Number kept (384 of 512).
    order
        ``"index"``: kept vectors in their original order; ``"norm"``: descending norm.

    Returns
    -------
    selected, idx
        ``(B, keep, d)`` and the indices ``(B, keep)``. Ties go to the lower index.
    """
    norms = vectors.detach().norm(dim=-1)
    idx = torch.argsort(-norms, dim=1, stable=True)[:, :keep]
    if order == "index":
        idx = idx.sort(dim=1).values
    elif order != "norm":
        raise ValueError(f"unknown selection order {order!r}")
    sel = vectors.gather(1, idx[..., None].expand(-1, -1, vectors.shape[-1]))
    return sel, idx


def _cr(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3), nn.ReLU(inplace=True))


class MFFCNN(FERModel):
    """MFF-CNN, preset A, with the Table 6 ablation variants.

    Parameters
    ----------
    n_classes, input_size
        6; 60.
    in_chans
        1 (gray) or 3 (RGB "texture").
    variant
        ``"full"``, ``"no_mid"``, ``"no_joint"`` or ``"no_select"``.
    n_patches, keep
        16 patches; M = 384 vectors kept.
    image_channels, patch_channels
        Conv widths (8 x 6; 8, 8, 16, 32).
    fusion, selection_order, lambdas
        ``"prob_sum"``, ``"index"``, (1, 1, 0.1).
    """

    paper = "mffcnn"

    def __init__(self, n_classes: int = 6, input_size: int | None = None, in_chans: int = 1,
                 variant: str = "full", n_patches: int = 16, keep: int = 384,
                 image_channels: Sequence[int] = (8, 8, 8, 8, 8, 8),
                 patch_channels: Sequence[int] = (8, 8, 16, 32), fusion: str = "prob_sum",
                 selection_order: str = "index", lambdas: Sequence[float] = (1.0, 1.0, 0.1),
                 init: str = "he", input_norm: str = "image"):
        input_size = 60 if input_size is None else int(input_size)
        if variant not in VARIANTS:
            raise ModelConfigError(f"variant must be one of {VARIANTS}, got {variant!r}")
        if fusion not in ("prob_sum", "logit_sum"):
            raise ModelConfigError(f"fusion must be 'prob_sum' or 'logit_sum', got {fusion!r}")
        if selection_order not in ("index", "norm"):
            raise ModelConfigError(f"selection_order must be 'index' or 'norm', got {selection_order!r}")
        if init not in ("he", "default"):
            raise ModelConfigError(f"init must be 'he' or 'default', got {init!r}")
        if input_norm not in ("image", "none"):
            raise ModelConfigError(f"input_norm must be 'image' or 'none', got {input_norm!r}")
        if in_chans not in (1, 3) or len(image_channels) != 6 or len(patch_channels) != 4 or len(lambdas) != 3:
            raise ModelConfigError("in_chans must be 1 or 3; image_channels needs 6 widths, "
                                   "patch_channels 4, lambdas 3")
        super().__init__((("gray", 1),) if in_chans == 1 else (("texture", 3),), input_size, n_classes)
        self.variant, self.fusion, self.selection_order = variant, fusion, selection_order
        self.lambdas = tuple(float(v) for v in lambdas)
        self.init, self.input_norm = init, input_norm
        self.patch_size, self.patch_stride = patch_geometry(input_size, n_patches)
        self.n_patches = n_patches
        ic, pc = [int(c) for c in image_channels], [int(c) for c in patch_channels]
        # ---- image branch
        s = input_size
        s4 = conv_out(conv_out(conv_out(conv_out(s, 3), 3) // 2, 3), 3)       # conv4 side
        s6 = conv_out(conv_out(s4 // 2, 3), 3) // 2                              # pool3 side
        p_side = conv_out(conv_out(conv_out(conv_out(self.patch_size, 3), 3) // 2, 3), 3) // 2
        if s6 < 1 or p_side < 1:
            raise ModelConfigError(f"input_size {input_size} too small for MFF-CNN")
        self.image = nn.Sequential(OrderedDict([
            ("conv1", _cr(in_chans, ic[0])), ("conv2", _cr(ic[0], ic[1])), ("pool1", nn.MaxPool2d(2)),
            ("conv3", _cr(ic[1], ic[2])), ("conv4", _cr(ic[2], ic[3])), ("pool2", nn.MaxPool2d(2)),
            ("conv5", _cr(ic[3], ic[4])), ("conv6", _cr(ic[4], ic[5])), ("pool3", nn.MaxPool2d(2))]))
        self.mid_dim, self.high_dim = ic[3] * s4 * s4, ic[5] * s6 * s6
        # ---- patch branch (one CNN shared by all patches)
        self.patch_cnn = nn.Sequential(OrderedDict([
            ("conv1", _cr(in_chans, pc[0])), ("conv2", _cr(pc[0], pc[1])), ("pool1", nn.MaxPool2d(2)),
            ("conv3", _cr(pc[1], pc[2])), ("conv4", _cr(pc[2], pc[3])), ("pool2", nn.MaxPool2d(2))]))
        self.vec_dim, self.n_vectors = p_side * p_side, n_patches * pc[3]
        self.keep = self.n_vectors if variant == "no_select" else int(keep)
        if not 1 <= self.keep <= self.n_vectors:
            raise ModelConfigError(f"keep must be in [1, {self.n_vectors}], got {keep}")
        patch_dim = self.keep * self.vec_dim
        img_dim = (0 if variant == "no_mid" else 256) + self.high_dim
        if variant != "no_mid":
            self.fc_mid = nn.Sequential(nn.Linear(self.mid_dim, 256), nn.ReLU(inplace=True))
        if variant == "no_joint":
            self.fc_joint = nn.Linear(img_dim + patch_dim, n_classes)
        else:
            self.fc_img = nn.Linear(img_dim, n_classes)
            self.fc_patch = nn.Linear(patch_dim, n_classes)
        self.embed = nn.Identity()
        self.feature_layer = "embed"
        modality = self.inputs[0][0]
        self.target_layers = {modality: ["image.conv4", "image.conv6"]}
        if init == "he":
            self._init_he()

    def _init_he(self) -> None:
        for mod in self.modules():
            if isinstance(mod, nn.Conv2d):
                nn.init.kaiming_normal_(mod.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(mod.bias)
        for name in ("fc_img", "fc_patch", "fc_joint"):
            head = getattr(self, name, None)
            if head is not None:
                nn.init.normal_(head.weight, std=1e-3)
                nn.init.zeros_(head.bias)

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_norm == "none":
            return x
        mu = x.mean(dim=(1, 2, 3), keepdim=True)
        sd = x.std(dim=(1, 2, 3), keepdim=True)
        return (x - mu) / sd.clamp_min(1e-6)

    def _patch_vectors(self, x: torch.Tensor) -> torch.Tensor:
        B = x.shape[0]
        P = extract_patches(x, self.patch_size, self.patch_stride)          # (B, N, C, S, S)
        fm = self.patch_cnn(P.flatten(0, 1))                                # (B*N, K, 3, 3)
        return fm.reshape(B, self.n_patches * fm.shape[1], -1)              # vector j = K p + k

    def forward_train(self, x: torch.Tensor) -> dict[str, Any]:
        """Logits (fused), ``z_img``, ``z_patch``, ``features`` and the selected indices ``selection``."""
        self.check_input(x)
        x = self._normalise(x)
        h = x
        mid = None
        for name, layer in self.image.named_children():
            h = layer(h)
            if name == "conv4":
                mid = h
        high = h.flatten(1)
        img_vec = high if self.variant == "no_mid" else torch.cat([self.fc_mid(mid.flatten(1)), high], 1)
        V = self._patch_vectors(x)
        if self.variant == "no_select":
            sel = V
            idx = torch.arange(V.shape[1], device=x.device).expand(V.shape[0], -1)
        else:
            sel, idx = select_by_l2(V, self.keep, self.selection_order)
        patch_vec = sel.flatten(1)
        feats = self.embed(torch.cat([img_vec, patch_vec], 1))
        out: dict[str, Any] = {"features": feats, "selection": idx, "patch_norms": V.detach().norm(dim=-1)}
        if self.variant == "no_joint":
            out["logits"] = self.fc_joint(feats)
            return out
        z_img, z_patch = self.fc_img(img_vec), self.fc_patch(patch_vec)
        if self.fusion == "prob_sum":
            logits = torch.logaddexp(F.log_softmax(z_img, 1), F.log_softmax(z_patch, 1)) - math.log(2.0)
        else:
            logits = z_img + z_patch
        out.update(logits=logits, z_img=z_img, z_patch=z_patch)
        return out

    def compute_loss(self, out: dict[str, Any], y: torch.Tensor) -> torch.Tensor:
        """Eq. 5 joint loss (``no_joint``: a single CE on the concatenated features)."""
        if self.variant == "no_joint":
            loss = F.cross_entropy(out["logits"], y)
            self.last_loss_terms = {"ce": float(loss.detach())}
            return loss
        loss, (li, lp, lf) = mff_joint_loss(out["z_img"], out["z_patch"], y, self.lambdas, self.fusion)
        self.last_loss_terms = {"ce_image": float(li.detach()), "ce_patch": float(lp.detach()),
                                "fused": float(lf.detach()), "total": float(loss.detach())}
        return loss

    def selection_mask(self, x: torch.Tensor) -> torch.Tensor:
        """Boolean ``(B, n_patches, K)`` mask of the kept patch feature maps."""
        with torch.no_grad():
            idx = self.forward_train(x)["selection"]
        mask = torch.zeros(idx.shape[0], self.n_vectors, dtype=torch.bool, device=idx.device)
        mask.scatter_(1, idx, True)
        return mask.view(idx.shape[0], self.n_patches, -1)

    def attention_maps(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"selection": (B, r, r)}``: fraction of each patch's maps kept by the L2 selection."""
        m = self.selection_mask(x).float().mean(-1)
        r = math.isqrt(self.n_patches)
        return {"selection": m.view(-1, r, r)}
