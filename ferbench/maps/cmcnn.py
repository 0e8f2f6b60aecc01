"""CM-CNN's three inputs (Ni et al. 2022; ``docs/cmcnn.md`` §1.5-§1.7): gray, LBP and depth, all in [0, 1].

* gray: ITU-R BT.601 luma ``0.299 R + 0.587 G + 0.114 B`` of the texture (0 outside the face);
* lbp: basic LBP on the 3x3 **square** neighbourhood (8 neighbours, radius 1, no interpolation; *not*
  scikit-image's interpolated variant), ``S(x) = 1 if x >= 0``, weight 2^(n-1), bit 0 = right neighbour then
  counter-clockwise (top-right, top, top-left, left, bottom-left, bottom, bottom-right), replicate
  padding, computed on the 8-bit gray image, code/255, 0 outside the face;
* depth: min-max of z over the *measured* pixels, nearer = larger; holes and background 0.
"""
from __future__ import annotations

import numpy as np

from ferbench.maps.base import AttributeMap, minmax_over, register

# (row offset, column offset) of bit 0..7
LBP_OFFSETS = ((0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1))


def lbp_codes(gray, literal_eq2: bool = False):
    """Basic 3x3 LBP codes of an 8-bit image (numpy (..., H, W) or torch); see module docstring.

    ``literal_eq2=True`` uses the paper's weights 2^n, n = 1..8 (codes 0..510): exactly twice the standard code.
    """
    import torch

    is_t = isinstance(gray, torch.Tensor)
    g = gray if is_t else torch.as_tensor(np.asarray(gray))
    g = g.to(torch.int32)
    lead = g.shape[:-2]
    H, W = g.shape[-2:]
    g4 = g.reshape(-1, 1, H, W).to(torch.float32)
    p = torch.nn.functional.pad(g4, (1, 1, 1, 1), mode="replicate")[:, 0].to(torch.int32)
    c = g.reshape(-1, H, W)
    code = torch.zeros_like(c)
    for bit, (di, dj) in enumerate(LBP_OFFSETS):
        nb = p[:, 1 + di:1 + di + H, 1 + dj:1 + dj + W]
        code += (nb >= c).to(torch.int32) << (bit + (1 if literal_eq2 else 0))
    code = code.reshape(*lead, H, W)
    return code if is_t else code.numpy()


def gray_from_rgb(rgb):
    """BT.601 luma of (..., 3) RGB (torch)."""
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


@register
class GrayMap(AttributeMap):
    """Gray image (BT.601 luma of the texture), [0, 1], 0 outside the face."""

    name = "gray"
    needs_texture = True
    paper = "cmcnn"
    description = "BT.601 luma"

    def forward(self, ctx):
        import torch

        g = gray_from_rgb(ctx.texture.clamp(0, 1))
        return ctx.output(torch.where(ctx.mask, g, torch.zeros_like(g)))


@register
class LBPMap(AttributeMap):
    """Basic 3x3 square LBP of the 8-bit gray image, code/255 (code/510 with ``literal_eq2``)."""

    name = "lbp"
    needs_texture = True
    paper = "cmcnn"
    description = "3x3 square LBP / 255"

    def __init__(self, literal_eq2: bool = False):
        self.literal_eq2 = bool(literal_eq2)

    def forward(self, ctx):
        import torch

        g = gray_from_rgb(ctx.texture.clamp(0, 1))
        g8 = torch.round(torch.where(ctx.mask, g, torch.zeros_like(g)) * 255).to(torch.int32)
        code = lbp_codes(g8, self.literal_eq2).to(torch.float64) / (510.0 if self.literal_eq2 else 255.0)
        return ctx.output(torch.where(ctx.mask, code, torch.zeros_like(code)))


@register
class DepthMap(AttributeMap):
    """CM-CNN depth image: min-max of z over the measured pixels, nearer = larger, holes/background 0."""

    name = "depth"
    paper = "cmcnn"
    description = "depth min-max over measured pixels"

    def forward(self, ctx):
        return ctx.output(minmax_over(ctx.xyz[..., 2], ctx.valid))
