"""CNN + cross-modality spatial attention + transformer encoder (Raimondo et al., 2D+3D FER).

Method notes: ``docs/attention_transformer.md`` §2-§5, §10-§11, §13. Two EfficientNet-B2
streams (RGB texture and depth, separate weights) tapped after the last inverted-residual stage
(``features[7]`` in torchvision = timm ``blocks.6``: 352 x 9 x 9 at 260 x 260). Per modality S = 4
LANet-style spatial attention modules (1x1 conv C->C/r -> BN -> ReLU -> 1x1 conv -> BN -> sigmoid),
max-pooled over S; the fused mask M = (M_rgb + M_depth) / 2 multiplies X_rgb. A 1x1 conv makes
D-wide tokens (81 + CLS), a 4-layer pre-norm transformer encoder follows, and an MLP of two FC
layers classifies LayerNorm(CLS). Loss: class-weighted CE + lambda1 (L_center + lambda2 L_island).

Recorded choices (spec §10 recommendations):
* #2 torchvision ``efficientnet_b2`` architecture (same 7,202,562 parameters as timm's up to the
  tap), random initialisation unless a local state dict is given (no downloads); stochastic
  depth off (``drop_path=0``). #3 depth replicated 1 -> 3 (``depth_channels="adapt"`` gives a
  1-channel stem, to which a 3-channel stem is adapted with the timm rule when loading).
* #4 r = 8, BN after both convs, max over S = 4; #5 mean of masks x X_rgb (``fusion="mean_masks"``;
  ``"sum_attended"`` = M_rgb X_rgb + M_depth X_depth, the authors' code). With "mean_masks" the depth
  features reach the classifier only through the mask. From random initialisation on synthetic scans
  (40 subjects, 216 training / 72 held-out scans, 64 px, 20 epochs, backbones 1e-3 / fusion 3e-4):
  "sum_attended" 54 %, "mean_masks" 25 % (chance 16.7 %); ``ferbench demo`` uses "sum_attended".
* #6-#8 D = 768, 8 heads, MLP ratio 4, GELU, pre-norm (LayerNorm eps 1e-6), learned positional
  embedding (trunc-normal 0.02) sized from the runtime grid, CLS token, final LayerNorm, dropout 0;
  head Linear(D, D) -> GELU -> Dropout(0.1) -> Linear(D, K).
* #9 features = LayerNorm(CLS) (D-d): used by the center / island losses and t-SNE.
* #10-#12 nested composition ``CE + 0.01 (L_C + 10 L_I)``, squared-L2 batch-mean center loss,
  cosine island loss over ordered pairs; centers are parameters to be stepped by their own
  ``SGD(lr=0.5)``: see :meth:`CMSATransformer.extra_param_groups` (the main optimiser should use
  :meth:`model_parameters`). #13 CE class weights via :meth:`set_class_weights` (1 when unset).
* Ablations: ``rgb_only`` (Table VI), ``use_vit=False`` (AvgPool(X_out) -> MLP), ``use_cmsa=False``
  (X_rgb + X_depth -> tokens), both off = Eq. 8.
Parameter count (K = 7): 43,814,307, spec §3.8; K = 6: 43,813,538 (centers excluded).
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ferbench.models._base import FERModel, ModelConfigError
from ferbench.models.losses import CenterIslandLoss, class_weights

TAP_CHANNELS = 352


def efficientnet_b2_tap(drop_path: float = 0.0, in_chans: int = 3) -> nn.Sequential:
    """torchvision EfficientNet-B2 ``features[:8]`` (stem .. last IRB stage, 352 channels, stride 32)."""
    import torchvision

    m = torchvision.models.efficientnet_b2(weights=None, stochastic_depth_prob=drop_path)
    feats = m.features[:8]
    if in_chans != 3:
        old = feats[0][0]
        new = nn.Conv2d(in_chans, old.out_channels, old.kernel_size, old.stride, old.padding, bias=False)
        with torch.no_grad():
            from ferbench.models.weights import adapt_input_conv

            new.weight.copy_(adapt_input_conv(in_chans, old.weight))
        feats[0][0] = new
    return feats


def grid_after_stride32(size: int) -> int:
    """Output side after five stride-2 'same' convolutions (260 -> 9, 64 -> 2)."""
    for _ in range(5):
        size = -(-size // 2)
    return size


class SpatialAttention(nn.Module):
    """LANet-style spatial attention: 1x1 conv C->C/r, BN, ReLU, 1x1 conv -> 1, BN, sigmoid."""

    def __init__(self, channels: int = TAP_CHANNELS, reduction: int = 8):
        super().__init__()
        mid = max(1, channels // reduction)
        self.net = nn.Sequential(nn.Conv2d(channels, mid, 1), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
                                 nn.Conv2d(mid, 1, 1), nn.BatchNorm2d(1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class CMSA(nn.Module):
    """S spatial-attention modules for one modality, max-pooled over S -> (B, 1, h, w) in [0, 1]."""

    def __init__(self, channels: int = TAP_CHANNELS, n_modules: int = 4, reduction: int = 8):
        super().__init__()
        self.sams = nn.ModuleList([SpatialAttention(channels, reduction) for _ in range(n_modules)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([s(x) for s in self.sams], 0).amax(0)


class CMSATransformer(FERModel):
    """Two-stream EfficientNet-B2 + cross-modality spatial attention + transformer encoder.

    Parameters
    ----------
    n_classes, input_size
        6 (7 with neutral); 260.
    embed_dim, depth, heads, mlp_ratio, head_hidden, head_dropout, dropout
        Transformer / head sizes (768, 4, 8, 4.0, 768, 0.1, 0.0).
    n_sam, reduction
        S attention modules per modality and their reduction r (4, 8).
    fusion
        ``"mean_masks"`` (paper) or ``"sum_attended"``.
    use_cmsa, use_vit, rgb_only
        Ablation switches (Tables VI-VII).
    depth_channels
        ``"replicate"`` (paper) or ``"adapt"`` (1-channel stem).
    lambda1, lambda2, composition, center_alpha, use_center, use_island
        Loss settings (1e-2, 10, "nested", 0.5, True, True).
    drop_path
        Stochastic depth in the backbones (0).
    center_update
        ``"cai"`` (default: center steps not shrunk by lambda1) or ``"loss_grad"`` (authors' code);
        see :class:`~ferbench.models.losses.CenterIslandLoss`.
    center_norm
        ``"mean"`` (default: L_C averaged over the D feature dims, so lambda1 L_C starts ~0.02, not ~15,
        for LayerNorm'd 768-d features) or ``"sum"`` (spec §4 [R] squared L2).
    fusion_lr_scale
        lr of the fusion network relative to the backbones' (10: 1e-3 vs 1e-4, spec §5 Table III);
        used by :meth:`lr_groups`.
    """

    paper = "attention_transformer"

    def __init__(self, n_classes: int = 6, input_size: int | None = None, embed_dim: int = 768,
                 depth: int = 4, heads: int = 8, mlp_ratio: float = 4.0, head_hidden: int | None = None,
                 head_dropout: float = 0.1, dropout: float = 0.0, n_sam: int = 4, reduction: int = 8,
                 fusion: str = "mean_masks", use_cmsa: bool = True, use_vit: bool = True,
                 rgb_only: bool = False, depth_channels: str = "replicate", lambda1: float = 1e-2,
                 lambda2: float = 10.0, composition: str = "nested", center_alpha: float = 0.5,
                 use_center: bool = True, use_island: bool = True, drop_path: float = 0.0,
                 fusion_lr_scale: float = 10.0, center_update: str = "cai", center_norm: str = "mean"):
        input_size = 260 if input_size is None else int(input_size)
        if fusion not in ("mean_masks", "sum_attended"):
            raise ModelConfigError(f"unknown fusion {fusion!r}")
        if depth_channels not in ("replicate", "adapt"):
            raise ModelConfigError(f"depth_channels must be 'replicate' or 'adapt', got {depth_channels!r}")
        if embed_dim % heads:
            raise ModelConfigError(f"embed_dim {embed_dim} must be divisible by heads {heads}")
        if rgb_only and not use_cmsa:
            raise ModelConfigError("rgb_only needs use_cmsa=True (M = M_rgb)")
        inputs = (("texture", 3),) if rgb_only else (("texture", 3), ("depth", 1))
        super().__init__(inputs, input_size, n_classes)
        self.fusion, self.use_cmsa, self.use_vit, self.rgb_only = fusion, bool(use_cmsa), bool(use_vit), bool(rgb_only)
        self.depth_channels = depth_channels
        self.grid = grid_after_stride32(input_size)
        mods = ("texture",) if rgb_only else ("texture", "depth")
        self.backbones = nn.ModuleDict({
            m: efficientnet_b2_tap(drop_path, 1 if (m == "depth" and depth_channels == "adapt") else 3)
            for m in mods})
        if self.use_cmsa:
            self.cmsa = nn.ModuleDict({m: CMSA(TAP_CHANNELS, n_sam, reduction) for m in mods})
        hidden = embed_dim if head_hidden is None else int(head_hidden)
        if self.use_vit:
            self.proj = nn.Conv2d(TAP_CHANNELS, embed_dim, 1)
            self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
            self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.grid * self.grid, embed_dim))
            nn.init.trunc_normal_(self.pos_embed, std=0.02)
            nn.init.trunc_normal_(self.cls_token, std=0.02)
            self.encoder = nn.ModuleList([
                nn.TransformerEncoderLayer(embed_dim, heads, int(embed_dim * mlp_ratio), dropout=dropout,
                                           activation="gelu", batch_first=True, norm_first=True,
                                           layer_norm_eps=1e-6) for _ in range(depth)])
            self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
            feat_dim = embed_dim
        else:
            self.pool = nn.AdaptiveAvgPool2d(1)
            feat_dim = TAP_CHANNELS
        self.embed = nn.Identity()
        self.head = nn.Sequential(nn.Linear(feat_dim, hidden), nn.GELU(), nn.Dropout(head_dropout),
                                  nn.Linear(hidden, n_classes))
        self.feat_dim = feat_dim
        self.center_alpha = float(center_alpha)
        self.fusion_lr_scale = float(fusion_lr_scale)
        self.use_center = bool(use_center)
        self.criterion = CenterIslandLoss(n_classes, feat_dim, lambda1, lambda2, composition, use_island,
                                          center_update, center_norm)
        self.register_buffer("ce_weight", torch.ones(n_classes), persistent=False)
        self.feature_layer = "embed"
        self.target_layers = {m: [f"backbones.{m}.7"] for m in mods}

    # ------------------------------------------------------------------ pieces
    def set_class_weights(self, y_train: Sequence[int] | torch.Tensor) -> torch.Tensor:
        """Set inverse-frequency CE weights ``N / (K n_j)`` from the training labels; returns them."""
        w = class_weights(y_train, self.n_classes).to(self.ce_weight.device)
        self.ce_weight.copy_(w)
        return w

    def extra_param_groups(self) -> list[dict[str, Any]]:
        """The learned class centers: step them with ``SGD(lr=center_alpha)`` (paper: 0.5)."""
        return [{"params": [self.criterion.centers], "lr": self.center_alpha, "optimizer": "sgd",
                 "name": "centers"}]

    def lr_groups(self) -> list[dict[str, Any]]:
        """Optimiser groups (spec §5, Table III): backbones at the base lr (1e-4), the fusion network
        (CMSA, tokens, transformer, head) at ``fusion_lr_scale`` x base (1e-3). Centers are excluded."""
        bb = {id(p) for p in self.backbones.parameters()}
        fusion = [p for p in self.model_parameters() if id(p) not in bb]
        return [{"params": list(self.backbones.parameters()), "lr_scale": 1.0, "name": "backbones"},
                {"params": fusion, "lr_scale": self.fusion_lr_scale, "name": "fusion"}]

    def _backbone(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        maps = self.split_inputs(x)
        feats = {"texture": self.backbones["texture"](maps["texture"])}
        if not self.rgb_only:
            d = maps["depth"] if self.depth_channels == "adapt" else maps["depth"].expand(-1, 3, -1, -1)
            feats["depth"] = self.backbones["depth"](d)
        return feats

    def _masks(self, feats: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        masks = {m: self.cmsa[m](f) for m, f in feats.items()}
        masks["fused"] = masks["texture"] if self.rgb_only else 0.5 * (masks["texture"] + masks["depth"])
        return masks

    def forward_train(self, x: torch.Tensor) -> dict[str, Any]:
        """Logits, ``features`` (LayerNorm(CLS), D-d), ``masks`` and ``x_out``."""
        feats = self._backbone(x)
        masks: dict[str, torch.Tensor] = {}
        if self.use_cmsa:
            masks = self._masks(feats)
            if self.fusion == "sum_attended" and not self.rgb_only:
                x_out = masks["texture"] * feats["texture"] + masks["depth"] * feats["depth"]
            else:
                x_out = masks["fused"] * feats["texture"]
        else:
            x_out = feats["texture"] + feats["depth"]
        if self.use_vit:
            tok = self.proj(x_out).flatten(2).transpose(1, 2)               # (B, g*g, D)
            tok = torch.cat([self.cls_token.expand(tok.shape[0], -1, -1), tok], 1) + self.pos_embed
            for layer in self.encoder:
                tok = layer(tok)
            f = self.norm(tok[:, 0])
        else:
            f = self.pool(x_out).flatten(1)
        feats_out = self.embed(f)
        logits = self.head(feats_out)
        return {"logits": logits, "features": feats_out, "masks": masks, "x_out": x_out}

    def compute_loss(self, out: dict[str, Any], y: torch.Tensor) -> torch.Tensor:
        """Weighted CE + lambda1 (L_C + lambda2 L_I) (nested; ``composition="literal"`` optional)."""
        ce = F.cross_entropy(out["logits"], y, weight=self.ce_weight.to(out["logits"].dtype))
        total = ce
        terms = {"ce": float(ce.detach())}
        if self.use_center:
            extra, lc, li = self.criterion(out["features"].float(), y)
            total = ce + extra
            terms.update(center=float(lc.detach()), island=float(li.detach()))
        terms["total"] = float(total.detach())
        self.last_loss_terms = terms
        return total

    def attention_maps(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """CMSA masks ``{"texture", "depth", "fused"} -> (B, g, g)`` in [0, 1] (g = 9 at 260)."""
        if not self.use_cmsa:
            return {}
        return {k: v[:, 0] for k, v in self._masks(self._backbone(x)).items()}
