"""The attribute-map interface and the registry that lists the maps.

Every map is a small class with ``name``, ``n_channels``, ``value_range`` (always (0, 1): maps are
normalised so models can stack them directly; background pixels are 0) and

* ``compute(grid)``: one :class:`~ferbench.preprocess.FaceGrid` -> float32 (H, W) or (H, W, C);
* ``compute_batch(xyz, mask, texture=None, valid=None)``: numpy (B, H, W, 3) or torch tensors (CUDA when
  the tensors are there) -> (B, H, W) or (B, H, W, C) of the same kind; ``xyz`` may also be a list of FaceGrids.

Maps that share work (the three normal maps and the shape index share the plane fit) take it from a
per-call :class:`MapContext`; :func:`ferbench.maps.compute_maps` uses one context for all maps of a scan.
"""
from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from ferbench.errors import FerbenchError
from ferbench.registry import Registry

MAPS: Registry = Registry("map")


class MapContext:
    """Batched inputs as float64 torch tensors plus a cache of shared intermediate results.

    Attributes
    ----------
    xyz : (B, H, W, 3) float64 tensor (z NaN outside the face)
    mask : (B, H, W) bool tensor, face region
    valid : (B, H, W) bool tensor, measured pixels (defaults to mask)
    texture : (B, H, W, 3) float64 tensor in [0, 1] or None
    """

    def __init__(self, xyz, mask, texture=None, valid=None):
        import torch

        if isinstance(xyz, (list, tuple)) and xyz and hasattr(xyz[0], "xyz"):
            grids = list(xyz)
            shapes = {g.shape for g in grids}
            if len(shapes) != 1:
                raise ValueError(f"all grids of a batch must have the same shape, got {sorted(shapes)}")
            xyz = np.stack([g.xyz for g in grids])
            mask = np.stack([g.mask for g in grids])
            valid = np.stack([g.valid for g in grids])
            texture = (np.stack([g.texture for g in grids]) if all(g.texture is not None for g in grids) else None)
        self.is_torch = isinstance(xyz, torch.Tensor)
        self.device = xyz.device if self.is_torch else torch.device("cpu")
        t = torch.as_tensor(xyz, dtype=torch.float64, device=self.device)
        if t.ndim != 4 or t.shape[-1] != 3:
            raise ValueError(f"xyz must be (B, H, W, 3), got {tuple(t.shape)}")
        self.xyz = t
        m = torch.isfinite(t).all(-1) if mask is None else torch.as_tensor(mask, device=self.device).bool()
        if m.shape != t.shape[:3]:
            raise ValueError(f"mask must be {tuple(t.shape[:3])}, got {tuple(m.shape)}")
        self.mask = m & torch.isfinite(t).all(-1)
        self.valid = self.mask if valid is None else (torch.as_tensor(valid, device=self.device).bool() & self.mask)
        self.texture = None
        if texture is not None:
            tx = torch.as_tensor(texture, device=self.device)
            tx = tx.to(torch.float64) / (255.0 if not tx.is_floating_point() else 1.0)
            if tx.shape != t.shape:
                raise ValueError(f"texture must be {tuple(t.shape)}, got {tuple(tx.shape)}")
            self.texture = tx
        self._cache: dict[Any, Any] = {}

    def cached(self, key, fn):
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    def output(self, t):
        """Return a result tensor as the caller's kind: float32 numpy for numpy inputs, float32 tensor otherwise."""
        import torch

        t = t.to(torch.float32)
        return t if self.is_torch else t.cpu().numpy()


class AttributeMap:
    """Base class of every map (see module docstring)."""

    name: str = ""
    n_channels: int = 1
    value_range: tuple[float, float] = (0.0, 1.0)
    needs_texture: bool = False
    paper: str = ""
    description: str = ""

    def __init__(self, **options: Any):
        if options:
            raise TypeError(f"map {self.name!r} takes no options {sorted(options)}")

    def compute(self, grid) -> np.ndarray:
        """One FaceGrid -> float32 (H, W) or (H, W, C) in [0, 1], background 0."""
        if self.needs_texture and grid.texture is None:
            why = missing_map_reasons(grid, [self.name]).get(self.name, "needs a texture")
            where = grid.meta.source_path if grid.meta is not None else None
            raise FerbenchError(f"{where + ': ' if where else ''}map {self.name!r} {why}")
        ctx = MapContext([grid], None)
        return self.forward(ctx)[0]

    def compute_batch(self, xyz, mask=None, texture=None, valid=None):
        """Batched path: see module docstring. Returns the caller's array kind."""
        ctx = xyz if isinstance(xyz, MapContext) else MapContext(xyz, mask, texture, valid)
        if self.needs_texture and ctx.texture is None:
            raise FerbenchError(f"map {self.name!r} needs a texture")
        return self.forward(ctx)

    __call__ = compute

    def forward(self, ctx: MapContext):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, n_channels={self.n_channels})"


def accepted_options(cls, options: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``options`` that ``cls.__init__`` accepts by name."""
    params = inspect.signature(cls.__init__).parameters
    return {k: v for k, v in options.items() if k in params and k != "self"}


def minmax_over(values, mask, higher_is_brighter: bool = True):
    """Per-image min-max of (B, H, W) values over mask -> [0, 1], 0 outside mask (torch)."""
    import torch

    inf = torch.tensor(float("inf"), dtype=values.dtype, device=values.device)
    v = torch.where(mask, values, inf)
    lo = v.flatten(1).min(1).values
    hi = torch.where(mask, values, -inf).flatten(1).max(1).values
    span = (hi - lo)
    ok = torch.isfinite(span) & (span > 0)
    span = torch.where(ok, span, torch.ones_like(span))
    lo = torch.where(torch.isfinite(lo), lo, torch.zeros_like(lo))
    out = (values - lo[:, None, None]) / span[:, None, None]
    out = torch.where(ok[:, None, None], out, torch.full_like(out, 0.5))
    if not higher_is_brighter:
        out = 1 - out
    return torch.where(mask, out.clamp(0, 1), torch.zeros_like(out))


def register(cls):
    """Class decorator: register a map class under its ``name``."""
    return MAPS.register(cls.name)(cls)


def missing_map_reasons(scan_or_grid, names: Sequence[str] | None = None) -> dict[str, str]:
    """Why each of ``names`` cannot be computed for a Scan or FaceGrid: ``{name: reason}``, empty when all can.

    For the CLI, the report and viewers, so that a map that needs a texture says why it is missing
    instead of disappearing, e.g. ``{"texture": "needs a texture; texture missing
    (F0001_AN01WH_F3D.bmp not found)"}``. Unknown names get ``"unknown map"``.

    Parameters
    ----------
    scan_or_grid
        A :class:`~ferbench.io.scan.Scan` (before preprocessing) or a
        :class:`~ferbench.preprocess.FaceGrid`.
    names
        Map names; default every registered map.
    """
    import os

    from ferbench.io.scan import Scan, texture_missing_reason

    names = MAPS.list() if names is None else list(names)
    meta = getattr(scan_or_grid, "meta", None)
    if isinstance(scan_or_grid, Scan):
        s = scan_or_grid
        has_texture = (s.texture is not None and s.texcoords is not None) or s.vertex_colors is not None
        no_tex = None
        if not has_texture:
            why = texture_missing_reason(s)
            no_tex = (f"texture missing ({why})" if why else
                      "the scan's texture has no texture coordinates" if s.texture is not None else
                      "the scan has no texture")
    else:
        has_texture = getattr(scan_or_grid, "texture", None) is not None
        no_tex = None
        if not has_texture:
            extra = getattr(meta, "extra", None) or {}
            miss = extra.get("texture_missing")
            no_tex = (f"texture missing ({os.path.basename(str(miss))} not found)" if miss
                      else "the scan has no texture")
    out: dict[str, str] = {}
    for n in names:
        if n not in MAPS:
            out[n] = "unknown map"
        elif getattr(MAPS.get(n), "needs_texture", False) and not has_texture:
            out[n] = f"needs a texture; {no_tex}"
    return out
