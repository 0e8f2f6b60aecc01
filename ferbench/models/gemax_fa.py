"""GEMax depth maps + Facial Attention multi-scale network (Jiao et al. 2020, arXiv 2011.08333).

Method notes: ``docs/gemax_fa.md`` §4, §8, §9.2. Two modalities (texture RGB and the GEMax
depth map, replicated to 3 channels), each through a VGG-16 ``features`` extractor giving
f_glb (512 x 7 x 7 after pool5 at 224). The Facial Attention (FA) module pools f_glb spatially
(SpaPool), passes it through one 512-64-512 auto-encoder per attention map (FC+ReLU each),
re-weights the channels of f_glb and averages over channels (ChaPool) into N_M = 2 maps of 7x7.
The peak of each map selects a 96x96 crop of the input (upsampled back to 224) that a part
VGG-16 encodes; the six 512x7x7 volumes (2 modalities x (full + 2 parts)) are concatenated to
3072x7x7 and classified. Loss: CE(final) + mean aux CE + lambda_FA * L_FA (:func:`fa_loss`).

Recorded choices (spec's [R] recommendations, §8):
* A17 one auto-encoder per map and per modality; A18 per-modality FA (``fa_source``, options
  ``"depth"``/``"texture"`` crop both modalities at one modality's boxes); A21 mrg = 0.02,
  sum-to-1 maps, coordinates in [0, 1], argmax detached; A23 aux classifier = attention-pooled
  512-d -> FC; mean aux CE with weight 1; A24 head = GAP -> dropout 0.5 -> FC 3072 -> K;
  A25 backbones shared per modality x scale (4 backbones; ``backbone_sharing``); A26 crop
  centre ``cell * t + cell / 2`` (32 t + 16 at 224), box clamped inside the image.
* A19 ``backbone="vgg16"`` (paper preset, no BN, trained from scratch) or ``"vgg16_bn"``
  (``gemax_fa_stable``). Parameter count of the default: 59,153,950 (spec: about 59.15 M).
* A30 ``depth_input="gem"`` = ours(-GeM): the depth stream takes [RI, NoM_z, CuM] (maps
  "geometry", "normal_z", "shape_index").
* ``width_mult`` < 1 thins the VGG channels (tests only, not the paper). Crops scale with
  ``input_size`` (96/224 of the side) so small test inputs keep the geometry.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ferbench.models._base import FERModel, ModelConfigError
from ferbench.models.losses import fa_loss, normalize_attention, attention_peaks

VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def vgg16_features(batch_norm: bool = False, width_mult: float = 1.0, in_chans: int = 3) -> nn.Sequential:
    """VGG-16 ``features`` with torchvision's layer indices (so its state-dict keys load)."""
    layers: list[nn.Module] = []
    c_in = in_chans
    for v in VGG16_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
            continue
        c = max(1, int(round(int(v) * width_mult)))
        conv = nn.Conv2d(c_in, c, 3, padding=1)
        nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
        nn.init.zeros_(conv.bias)
        layers += [conv, nn.BatchNorm2d(c), nn.ReLU(inplace=True)] if batch_norm else [conv, nn.ReLU(inplace=True)]
        c_in = c
    return nn.Sequential(*layers)


def last_relu_index(features: nn.Sequential) -> int:
    """Index of the last ReLU (conv5_3) in a VGG ``features`` block (29 plain, 42 with BN)."""
    return max(i for i, m in enumerate(features) if isinstance(m, nn.ReLU))


def crop_boxes(peaks: torch.Tensor, grid: int, input_size: int, crop: int) -> torch.Tensor:
    """Top-left corners ``(..., 2)`` (y0, x0) of crops centred on attention-grid cells.

    Centre = ``cell * t + cell / 2`` with ``cell = input_size / grid``; the box is clamped
    inside the image. At 224 / 7 / 96: t = 0 -> 0, t = 3 -> 64, t = 6 -> 128.
    """
    cell = input_size / grid
    centre = peaks.to(torch.float64) * cell + cell / 2.0
    start = torch.floor(centre - crop / 2.0).clamp(0, input_size - crop)
    return start.to(torch.long)


def crop_and_resize(x: torch.Tensor, boxes: torch.Tensor, crop: int, out_size: int) -> torch.Tensor:
    """Crop ``crop x crop`` boxes ``(B, P, 2)`` out of ``x (B, C, H, W)`` -> ``(B*P, C, out, out)``.

    Vectorised gather (no Python loop over samples); bilinear upsampling with
    ``align_corners=False``.
    """
    B, C, H, W = x.shape
    P = boxes.shape[1]
    ar = torch.arange(crop, device=x.device)
    rows = (boxes[..., 0:1] + ar).reshape(B * P, crop)                  # (BP, crop)
    cols = (boxes[..., 1:2] + ar).reshape(B * P, crop)
    bidx = torch.arange(B, device=x.device).repeat_interleave(P)
    patches = x[bidx[:, None, None], :, rows[:, :, None], cols[:, None, :]]  # (BP, crop, crop, C)
    patches = patches.permute(0, 3, 1, 2)
    if out_size != crop:
        patches = F.interpolate(patches, size=(out_size, out_size), mode="bilinear", align_corners=False)
    return patches


class FacialAttention(nn.Module):
    """FA module: SpaPool -> per-map 512-64-512 auto-encoder (ReLU) -> channel re-weighting -> ChaPool."""

    def __init__(self, channels: int = 512, hidden: int = 64, n_maps: int = 2, n_classes: int = 6):
        super().__init__()
        self.ae = nn.ModuleList([nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True),
                                               nn.Linear(hidden, channels), nn.ReLU(inplace=True))
                                 for _ in range(n_maps)])
        self.aux = nn.ModuleList([nn.Linear(channels, n_classes) for _ in range(n_maps)])

    def forward(self, f_glb: torch.Tensor, norm: str = "sum", detach_loss_maps: bool = False) -> dict[str, torch.Tensor]:
        """``loss_maps``: the maps L_FA sees; with ``detach_loss_maps`` they are rebuilt from a
        detached f_glb so L_FA trains only the auto-encoders (MA-CNN's channel grouping), not the backbone."""
        s = f_glb.mean(dim=(2, 3))                                           # SpaPool (B, C)
        q = torch.stack([ae(s) for ae in self.ae], 1)                        # (B, N_M, C) >= 0
        maps = torch.einsum("bnc,bchw->bnhw", q, f_glb) / f_glb.shape[1]     # ChaPool of q ⊙ f_glb
        mhat = normalize_attention(maps, norm)
        pooled = torch.einsum("bnhw,bchw->bnc", mhat, f_glb)                 # attention-pooled parts
        aux = torch.stack([head(pooled[:, i]) for i, head in enumerate(self.aux)], 1)
        loss_maps = maps
        if detach_loss_maps:
            fd = f_glb.detach()
            qd = torch.stack([ae(s.detach()) for ae in self.ae], 1)
            loss_maps = torch.einsum("bnc,bchw->bnhw", qd, fd) / fd.shape[1]
        return {"maps": maps, "norm_maps": mhat, "q": q, "aux_logits": aux, "loss_maps": loss_maps}


class GEMaxFA(FERModel):
    """Six-stream VGG-16 network with Facial Attention (texture + GEMax depth).

    Parameters
    ----------
    n_classes, input_size
        6 classes; 224 (must be a multiple of 32).
    backbone
        ``"vgg16"`` (paper) or ``"vgg16_bn"``.
    backbone_sharing
        ``"per_modality_per_scale"`` (4 backbones, default), ``"per_modality"`` (2) or ``"all"`` (1).
    n_maps
        N_M attention maps / parts per modality (2).
    fa_source
        ``"per_modality"`` (default), ``"depth"`` or ``"texture"``: whose attention places the crops.
    depth_input
        ``"gemax"`` (1 channel, replicated) or ``"gem"`` (geometry, normal_z, shape_index).
    alpha, beta, mrg, fa_norm
        L_FA settings (1e3, 1e2, 0.02, "sum").
    lambda_ce, lambda_fa, aux_weight
        Loss weights (1, 1, 1).
    dropout
        Before the final FC (0.5).
    width_mult
        VGG channel multiplier (1.0 = paper; < 1 for fast tests only).
    fa_grad
        ``"joint"`` (paper: L_FA back-propagates into the backbone) or ``"fa_only"`` (L_FA computed on a
        detached f_glb so it trains only the FA auto-encoders, MA-CNN-style; the backbone then sees
        only the CE terms). With alpha = 1e3 the joint L_FA dominates the gradient and its minimum
        (-alpha * mrg * N_M = -40 per modality, -80 in all) makes the total loss negative.
    """

    paper = "gemax_fa"

    def __init__(self, n_classes: int = 6, input_size: int | None = None, backbone: str = "vgg16",
                 backbone_sharing: str = "per_modality_per_scale", n_maps: int = 2,
                 fa_source: str = "per_modality", depth_input: str = "gemax", alpha: float = 1e3,
                 beta: float = 1e2, mrg: float = 0.02, fa_norm: str = "sum", lambda_ce: float = 1.0,
                 lambda_fa: float = 1.0, aux_weight: float = 1.0, dropout: float = 0.5,
                 part_fraction: float = 96 / 224, width_mult: float = 1.0, fa_grad: str = "joint"):
        input_size = 224 if input_size is None else int(input_size)
        if input_size % 32:
            raise ModelConfigError(f"GEMaxFA needs input_size divisible by 32, got {input_size}")
        if backbone not in ("vgg16", "vgg16_bn"):
            raise ModelConfigError(f"backbone must be 'vgg16' or 'vgg16_bn', got {backbone!r}")
        if backbone_sharing not in ("per_modality_per_scale", "per_modality", "all"):
            raise ModelConfigError(f"unknown backbone_sharing {backbone_sharing!r}")
        if fa_source not in ("per_modality", "depth", "texture"):
            raise ModelConfigError(f"unknown fa_source {fa_source!r}")
        if depth_input not in ("gemax", "gem"):
            raise ModelConfigError(f"depth_input must be 'gemax' or 'gem', got {depth_input!r}")
        if fa_norm not in ("sum", "max", "sigmoid"):
            raise ModelConfigError(f"unknown fa_norm {fa_norm!r}")
        if fa_grad not in ("joint", "fa_only"):
            raise ModelConfigError(f"fa_grad must be 'joint' or 'fa_only', got {fa_grad!r}")
        if n_maps < 1 or not 0 < part_fraction <= 1:
            raise ModelConfigError("n_maps must be >= 1 and 0 < part_fraction <= 1")
        depth_maps = (("gemax", 1),) if depth_input == "gemax" else \
            (("geometry", 1), ("normal_z", 1), ("shape_index", 1))
        super().__init__((("texture", 3),) + depth_maps, input_size, n_classes)
        self.depth_input, self.fa_source, self.fa_norm = depth_input, fa_source, fa_norm
        self.fa_grad = fa_grad
        self.n_maps, self.grid = int(n_maps), input_size // 32
        self.crop = max(1, int(round(part_fraction * input_size)))
        self.alpha, self.beta, self.mrg = float(alpha), float(beta), float(mrg)
        self.lambda_ce, self.lambda_fa, self.aux_weight = float(lambda_ce), float(lambda_fa), float(aux_weight)
        self.streams = ("texture", "depth")
        bn = backbone == "vgg16_bn"
        keys = {("texture", "glb"): "texture_glb", ("texture", "part"): "texture_part",
                ("depth", "glb"): "depth_glb", ("depth", "part"): "depth_part"}
        if backbone_sharing == "per_modality":
            keys = {(m, s): f"{m}_glb" for m in self.streams for s in ("glb", "part")}
        elif backbone_sharing == "all":
            keys = {(m, s): "shared" for m in self.streams for s in ("glb", "part")}
        self._bb_key = keys
        self.backbones = nn.ModuleDict({k: vgg16_features(bn, width_mult) for k in dict.fromkeys(keys.values())})
        ch = [mod for mod in self.backbones[keys[("texture", "glb")]] if isinstance(mod, nn.Conv2d)][-1].out_channels
        self.feat_channels = ch
        self.fa = nn.ModuleDict({m: FacialAttention(ch, max(1, int(round(64 * width_mult))), self.n_maps, n_classes)
                                 for m in self.streams})
        self.embed = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2 * (1 + self.n_maps) * ch, n_classes)
        self.feature_layer = "embed"
        depth_key = "gemax" if depth_input == "gemax" else "geometry"
        r = last_relu_index(self.backbones[keys[("texture", "glb")]])
        self.target_layers = {"texture": [f"backbones.{keys[('texture', 'glb')]}.{r}"],
                              depth_key: [f"backbones.{keys[('depth', 'glb')]}.{r}"]}

    def _stream_inputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        maps = self.split_inputs(x)
        if self.depth_input == "gemax":
            dep = maps["gemax"].expand(-1, 3, -1, -1)
        else:
            dep = torch.cat([maps["geometry"], maps["normal_z"], maps["shape_index"]], 1)
        return {"texture": maps["texture"], "depth": dep}

    def forward_train(self, x: torch.Tensor) -> dict[str, Any]:
        """Logits, 3072-d ``features``, ``aux_logits`` (B, 2*N_M, K), raw ``fa_maps`` and crop ``boxes``."""
        xs = self._stream_inputs(x)
        B = x.shape[0]
        glb, fa = {}, {}
        for m in self.streams:
            glb[m] = self.backbones[self._bb_key[(m, "glb")]](xs[m])
            fa[m] = self.fa[m](glb[m], self.fa_norm, self.fa_grad == "fa_only")
        boxes = {}
        for m in self.streams:
            src = m if self.fa_source == "per_modality" else ("depth" if self.fa_source == "depth" else "texture")
            peaks = attention_peaks(fa[src]["norm_maps"])                    # (B, N_M, 2), no gradient
            boxes[m] = crop_boxes(peaks, self.grid, self.input_size, self.crop)
        volumes = []
        for m in self.streams:
            parts = crop_and_resize(xs[m], boxes[m], self.crop, self.input_size)
            fp = self.backbones[self._bb_key[(m, "part")]](parts)           # (B*N_M, C, g, g)
            volumes += [glb[m], fp.reshape(B, -1, *fp.shape[-2:])]
        fused = torch.cat(volumes, 1)                                        # (B, 6*512, 7, 7)
        feats = self.embed(fused)
        logits = self.fc(self.dropout(feats))
        return {"logits": logits, "features": feats, "fused": fused,
                "aux_logits": torch.cat([fa[m]["aux_logits"] for m in self.streams], 1),
                "fa_maps": {m: fa[m]["maps"] for m in self.streams},
                "fa_loss_maps": {m: fa[m]["loss_maps"] for m in self.streams},
                "boxes": boxes}

    def compute_loss(self, out: dict[str, Any], y: torch.Tensor) -> torch.Tensor:
        """``lambda_ce * (CE + aux_weight * mean aux CE) + lambda_fa * sum_modalities L_FA``."""
        ce = F.cross_entropy(out["logits"], y)
        aux = out["aux_logits"]
        aux_ce = F.cross_entropy(aux.flatten(0, 1), y.repeat_interleave(aux.shape[1]))
        lfa = sum(fa_loss(mp, self.alpha, self.beta, self.mrg, normalize=self.fa_norm)
                  for mp in out.get("fa_loss_maps", out["fa_maps"]).values())
        total = self.lambda_ce * (ce + self.aux_weight * aux_ce) + self.lambda_fa * lfa
        self.last_loss_terms = {"ce": float(ce.detach()), "aux_ce": float(aux_ce.detach()),
                                "l_fa": float(lfa.detach()), "total": float(total.detach())}
        return total

    def attention_maps(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Normalised FA maps ``{"texture_part1": (B, g, g), ...}`` (g = 7 at 224)."""
        xs = self._stream_inputs(x)
        out = {}
        for m in self.streams:
            res = self.fa[m](self.backbones[self._bb_key[(m, "glb")]](xs[m]), self.fa_norm)
            for i in range(self.n_maps):
                out[f"{m}_part{i + 1}"] = res["norm_maps"][:, i]
        return out
