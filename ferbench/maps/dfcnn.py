"""DF-CNN's six attribute maps (Li et al. 2017; ``docs/dfcnn.md`` §3, §3.5).

Scaling to [0, 1] (spec §3.5 [R], the CNN-input scalings divided by 255):
geometry = per-face min-max of depth z (nose bright); normals = (n + 1)/2; shape index as is
(already in [0, 1]); texture = RGB in [0, 1]. Background (outside the face mask) is 0. Face pixels
whose local fit is undefined (fewer than the minimum neighbours) are also 0.
"""
from __future__ import annotations

from ferbench.maps._kernels import plane_fit_normals, principal_curvatures, shape_index_from_curvatures
from ferbench.maps.base import AttributeMap, MapContext, minmax_over, register


def _normals(ctx: MapContext, window: int, plane_through: str):
    return ctx.cached(("normals", window, plane_through),
                      lambda: plane_fit_normals(ctx.xyz, ctx.mask, window=window, plane_through=plane_through))


def _curvatures(ctx: MapContext, window: int, plane_through: str, curvature_window: int, method: str):
    n = _normals(ctx, window, plane_through)
    return ctx.cached(("curv", window, plane_through, curvature_window, method),
                      lambda: principal_curvatures(ctx.xyz, n, ctx.mask, window=curvature_window, method=method))


@register
class GeometryMap(AttributeMap):
    """Geometry map I_g (eq. 1) as the CNN sees it: depth z, per-face min-max to [0, 1] (nose bright).

    ``mode="xyz"`` gives the 3-channel form (per-channel min-max of x, y, z as R, G, B).
    """

    name = "geometry"
    paper = "dfcnn"
    description = "depth z, per-face min-max"

    def __init__(self, mode: str = "z"):
        if mode not in ("z", "xyz"):
            raise ValueError("mode must be 'z' or 'xyz'")
        self.mode = mode
        self.n_channels = 1 if mode == "z" else 3

    def forward(self, ctx):
        import torch

        if self.mode == "z":
            return ctx.output(minmax_over(ctx.xyz[..., 2], ctx.mask))
        return ctx.output(torch.stack([minmax_over(ctx.xyz[..., c], ctx.mask) for c in range(3)], -1))


class _NormalComponent(AttributeMap):
    component = 0
    paper = "dfcnn"

    def __init__(self, window: int = 5, plane_through: str = "centroid"):
        self.window, self.plane_through = int(window), plane_through

    def forward(self, ctx):
        import torch

        n = _normals(ctx, self.window, self.plane_through)[..., self.component]
        ok = ctx.mask & torch.isfinite(n)
        return ctx.output(torch.where(ok, (n + 1) / 2, torch.zeros_like(n)))


@register
class NormalXMap(_NormalComponent):
    """x component of the unit normal (5x5 total-least-squares plane fit), mapped (n+1)/2."""
    name, component, description = "normal_x", 0, "(n_x + 1)/2"


@register
class NormalYMap(_NormalComponent):
    """y component of the unit normal (5x5 total-least-squares plane fit), mapped (n+1)/2."""
    name, component, description = "normal_y", 1, "(n_y + 1)/2"


@register
class NormalZMap(_NormalComponent):
    """z component of the unit normal, oriented toward the viewer (n_z >= 0), mapped (n+1)/2 (so >= 0.5)."""
    name, component, description = "normal_z", 2, "(n_z + 1)/2"


@register
class ShapeIndexMap(AttributeMap):
    """Shape index SI = 1/2 - atan2(k1 + k2, k1 - k2)/pi from a local cubic fit to positions and normals.

    Convention (spec §3.3): spherical cap toward the viewer 1, ridge 0.75, plane and symmetric saddle 0.5,
    rut 0.25, cup 0. ``method``: ``"monge"`` (default, fast graph cubic fit) or ``"tangent"``
    (Goldfeather-Interrante in each pixel's tangent frame, the literal eq. 5); see
    :func:`ferbench.maps._kernels.principal_curvatures`. ``curvature_window`` is the cubic-fit window (5 or 7).
    """

    name = "shape_index"
    paper = "dfcnn"
    description = "shape index (cap = 1)"

    def __init__(self, window: int = 5, plane_through: str = "centroid", curvature_window: int = 5,
                 method: str = "monge"):
        self.window, self.plane_through = int(window), plane_through
        self.curvature_window, self.method = int(curvature_window), method

    def forward(self, ctx):
        import torch

        k1, k2 = _curvatures(ctx, self.window, self.plane_through, self.curvature_window, self.method)
        si = shape_index_from_curvatures(k1, k2)
        ok = ctx.mask & torch.isfinite(si)
        return ctx.output(torch.where(ok, si, torch.zeros_like(si)))


@register
class TextureMap(AttributeMap):
    """The projected texture, RGB in [0, 1] (3 channels), 0 outside the face."""

    name = "texture"
    n_channels = 3
    needs_texture = True
    paper = "dfcnn"
    description = "RGB texture"

    def forward(self, ctx):
        import torch

        return ctx.output(torch.where(ctx.mask[..., None], ctx.texture.clamp(0, 1), torch.zeros_like(ctx.texture)))
