"""CM-CNN (Ni et al. 2022): gray, LBP and depth branches fused by cross-modality attention.

Method notes: ``docs/cmcnn.md`` §2-§3, §7-§8. Three single-channel 148x148 inputs (gray, LBP,
depth). The depth feature-extraction network (FEN) is DeepID-like: 4 x [conv3x3 -> BN -> PReLU ->
maxpool2]; the gray and LBP FENs add one residual conv per stage (8 convs, 4 identity skips). All
give C x 9 x 9 (C = 256). The cross-modality fusion network (CMFN) has six directed SAGAN-style
attention modules f_XY = X2 Att_XY^T + f_X with Att_XY = softmax(X1^T Y1) (queries and values from
X, keys from the guide Y); f_AX = cat(f_XY, f_XZ) is vectorised by global max + average pooling
and the 12C-d f_v goes through Fc1 + PReLU (Eq. 4). Loss: focal loss with the Gaussian soft label
(Eq. 5, :func:`~ferbench.models.losses.soft_focal_loss`), alpha = 1, gamma = 2, sigma = 0.1.

Recorded choices (spec §7):
* #1 softmax over keys (``attn_activation="sigmoid"`` = the literal formula); #2 C->C 1x1 convs with
  bias; #3 no gamma, no 1/sqrt(C) (options); #4 six independent modules; #5 3x3 convs, widths
  32/64/128/256, C = 256; #6 residual conv per stage before the pool; #7 the network returns the
  logits PReLU(Fc1(f_v)), softmax lives in the loss; #8 focal formula A; #9 ``label_spacing=1.0``
  (literal: numerically one-hot), 0.2 = indices scaled to [0, 1]; #14 random initialisation
  (Kaiming-normal fan_out, leaky_relu a = 0.25): CASIA-WebFace pretraining is not available offline;
  #25 Grad-CAM target = last stage of each FEN.
* Ablations (§2.8) via ``modalities`` (any non-empty subset of gray/lbp/depth) and ``cmfn``;
  a single modality uses the GAP -> FC head of §2.4.
Parameter counts: 3,936,315 (full), 2,742,843 (G+L+D concat), 1,961,875 (G+D+CMFN).
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ferbench.models._base import FERModel, ModelConfigError
from ferbench.models.losses import soft_focal_loss

from ferbench.models.cfgs import CM_MODALITIES  # noqa: E402  (owned by the configurations)


def _conv(cin: int, cout: int) -> nn.Conv2d:
    c = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
    nn.init.kaiming_normal_(c.weight, a=0.25, mode="fan_out", nonlinearity="leaky_relu")
    return c


class DepthStage(nn.Module):
    """Conv3x3 -> BN -> PReLU -> MaxPool2."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv, self.bn, self.act, self.pool = _conv(cin, cout), nn.BatchNorm2d(cout), nn.PReLU(), nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.act(self.bn(self.conv(x))))


class ResidualStage(nn.Module):
    """a = PReLU(BN(conv(x))); b = BN(conv(a)); out = MaxPool2(PReLU(a + b))."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv_a, self.bn_a, self.act_a = _conv(cin, cout), nn.BatchNorm2d(cout), nn.PReLU()
        self.conv_b, self.bn_b = _conv(cout, cout), nn.BatchNorm2d(cout)
        self.act, self.pool = nn.PReLU(), nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.act_a(self.bn_a(self.conv_a(x)))
        return self.pool(self.act(a + self.bn_b(self.conv_b(a))))


def make_fen(kind: str, widths: Sequence[int] = (32, 64, 128, 256), in_chans: int = 1) -> nn.Sequential:
    """A feature-extraction network: ``"depth"`` (shallow) or ``"texture"`` (residual)."""
    stage = DepthStage if kind == "depth" else ResidualStage
    mods, c = [], in_chans
    for i, w in enumerate(widths):
        mods.append((f"stage{i + 1}", stage(c, int(w))))
        c = int(w)
    from collections import OrderedDict

    return nn.Sequential(OrderedDict(mods))


class CrossModalityAttention(nn.Module):
    """f_XY: X guided by Y (Eq. 3). Queries and values from X, keys from Y; residual to f_X."""

    def __init__(self, channels: int = 256, activation: str = "softmax", scale: bool = False,
                 gamma: bool = False, reduction: int = 1):
        super().__init__()
        if activation not in ("softmax", "sigmoid"):
            raise ModelConfigError(f"attn_activation must be 'softmax' or 'sigmoid', got {activation!r}")
        qk = max(1, channels // reduction)
        self.q = nn.Conv2d(channels, qk, 1)         # X1 = Conv1x1(f_X)
        self.v = nn.Conv2d(channels, channels, 1)   # X2 = Conv1x1'(f_X)
        self.k = nn.Conv2d(channels, qk, 1)         # Y1 = Conv1x1''(f_Y)
        self.activation, self.scale = activation, bool(scale)
        self.gamma = nn.Parameter(torch.zeros(1)) if gamma else None

    def attention(self, fx: torch.Tensor, fy: torch.Tensor) -> torch.Tensor:
        """Att ``(B, N, N)``: row i = query position of X, column j = key position of Y."""
        q = self.q(fx).flatten(2)                   # (B, C', N)
        k = self.k(fy).flatten(2)
        logits = q.transpose(1, 2) @ k              # (B, N, N)
        if self.scale:
            logits = logits / q.shape[1] ** 0.5
        return torch.softmax(logits, -1) if self.activation == "softmax" else torch.sigmoid(logits)

    def forward(self, fx: torch.Tensor, fy: torch.Tensor, return_attention: bool = False):
        B, C, H, W = fx.shape
        att = self.attention(fx, fy)
        out = (self.v(fx).flatten(2) @ att.transpose(1, 2)).view(B, C, H, W)   # X2 Att^T
        out = out * self.gamma if self.gamma is not None else out
        res = out + fx
        return (res, att) if return_attention else res


class CMCNN(FERModel):
    """CM-CNN with configurable modalities and CMFN on/off.

    Parameters
    ----------
    n_classes, input_size
        6; 148 (any size >= 16 works; 148 gives 9x9 maps).
    modalities
        Subset of ("gray", "lbp", "depth") in that order.
    cmfn
        Cross-modality fusion (True) or direct concatenation (False).
    widths
        FEN widths (32, 64, 128, 256).
    attn_activation, attn_scale, attn_gamma, attn_reduction
        Attention-module options (softmax, False, False, 1).
    gamma, alpha, sigma, label_spacing, focal_formula
        Soft focal loss settings (2, 1, 0.1, 1.0, "A").
    """

    paper = "cmcnn"

    def __init__(self, n_classes: int = 6, input_size: int | None = None,
                 modalities: Sequence[str] = CM_MODALITIES, cmfn: bool = True,
                 widths: Sequence[int] = (32, 64, 128, 256), attn_activation: str = "softmax",
                 attn_scale: bool = False, attn_gamma: bool = False, attn_reduction: int = 1,
                 gamma: float = 2.0, alpha: float = 1.0, sigma: float = 0.1, label_spacing: float = 1.0,
                 focal_formula: str = "A"):
        input_size = 148 if input_size is None else int(input_size)
        mods = tuple(m for m in CM_MODALITIES if m in set(modalities))
        if not mods or len(mods) != len(tuple(modalities)):
            raise ModelConfigError(f"modalities must be distinct names from {CM_MODALITIES}, got {modalities}")
        if input_size < 2 ** len(widths):
            raise ModelConfigError(f"input_size {input_size} too small for {len(widths)} pooling stages")
        if focal_formula not in ("A", "B"):
            raise ModelConfigError(f"focal_formula must be 'A' or 'B', got {focal_formula!r}")
        if sigma <= 0 or label_spacing <= 0:
            raise ModelConfigError("sigma and label_spacing must be > 0")
        super().__init__(tuple((m, 1) for m in mods), input_size, n_classes)
        self.modalities, self.use_cmfn = mods, bool(cmfn) and len(mods) > 1
        C = int(widths[-1])
        self.channels = C
        self.fens = nn.ModuleDict({m: make_fen("depth" if m == "depth" else "texture", widths) for m in mods})
        if self.use_cmfn:
            self.cma = nn.ModuleDict({f"{x}_{y}": CrossModalityAttention(C, attn_activation, attn_scale,
                                                                          attn_gamma, attn_reduction)
                                      for x in mods for y in mods if x != y})
            dim = 2 * C * len(mods) * (len(mods) - 1)
        else:
            dim = 2 * C * len(mods)
        self.embed = nn.Identity()
        if len(mods) == 1:
            dim = C  # single-modality head: GAP -> FC (spec §2.4)
            self.fc1 = nn.Linear(C, n_classes)
            self.act = nn.Identity()
        else:
            self.fc1 = nn.Linear(dim, n_classes)
            self.act = nn.PReLU()
        self.feat_dim = dim
        self.gamma, self.alpha, self.sigma = float(gamma), float(alpha), float(sigma)
        self.label_spacing, self.focal_formula = float(label_spacing), focal_formula
        self.feature_layer = "embed"
        self.target_layers = {m: [f"fens.{m}.stage{len(widths)}"] for m in mods}

    def _fen_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        maps = self.split_inputs(x)
        return {m: self.fens[m](maps[m]) for m in self.modalities}

    def forward_train(self, x: torch.Tensor) -> dict[str, Any]:
        """Logits, ``features`` (f_v), per-modality FEN maps and, with CMFN, attention matrices."""
        f = self._fen_features(x)
        att = {}
        if len(self.modalities) == 1:
            fv = f[self.modalities[0]].mean(dim=(2, 3))
        else:
            vecs = []
            for m in self.modalities:
                if self.use_cmfn:
                    parts = []
                    for y in self.modalities:
                        if y != m:
                            o, a = self.cma[f"{m}_{y}"](f[m], f[y], return_attention=True)
                            parts.append(o)
                            att[f"{m}_{y}"] = a
                    fa = torch.cat(parts, 1)
                else:
                    fa = f[m]
                vecs += [F.adaptive_max_pool2d(fa, 1).flatten(1), F.adaptive_avg_pool2d(fa, 1).flatten(1)]
            fv = torch.cat(vecs, 1)
        feats = self.embed(fv)
        logits = self.act(self.fc1(feats))
        return {"logits": logits, "features": feats, "fen": f, "attention": att}

    def soft_labels(self, y: torch.Tensor) -> torch.Tensor:
        """The Gaussian soft labels the loss uses for integer labels ``y``."""
        from ferbench.models.losses import gaussian_soft_labels

        return gaussian_soft_labels(y, self.n_classes, self.sigma, self.label_spacing)

    def compute_loss(self, out: dict[str, Any], y: torch.Tensor) -> torch.Tensor:
        """Soft-label focal loss (Eq. 5, formula A by default)."""
        loss = soft_focal_loss(out["logits"], y, gamma=self.gamma, alpha=self.alpha, sigma=self.sigma,
                               label_spacing=self.label_spacing, formula=self.focal_formula)
        self.last_loss_terms = {"focal": float(loss.detach())}
        return loss

    def attention_maps(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per attention module X_Y, the mean attention each guide (key) position receives, ``(B, h, w)``."""
        out = self.forward_train(x)
        f0 = next(iter(out["fen"].values()))
        h, w = f0.shape[-2:]
        return {k: a.mean(1).view(-1, h, w) for k, a in out["attention"].items()}
