"""Geometry helpers shared by the synthetic generator and preprocessing (rasterisation)."""
from __future__ import annotations

from ferbench.geometry.raster import Raster, rasterize

__all__ = ["Raster", "rasterize"]
