"""The one place that labels a title with its data source ("(synthetic)") or a paper's table."""
from __future__ import annotations

__all__ = ["title_label", "source_label"]


def source_label(synthetic: bool | None) -> str:
    """``"synthetic data"``, ``"real data"`` or ``""`` (unknown)."""
    if synthetic is None:
        return ""
    return "synthetic data" if synthetic else "real data"


def title_label(title: str, synthetic: bool | None = None, source: str | None = None) -> str:
    """A title with its provenance: ``" (synthetic)"`` for numbers or images from generated data, and the
    paper source (e.g. ``"GEMax Table 3 (BU-3DFE)"``) in brackets for printed numbers.

    >>> title_label("F0001_HA04 GEMax", synthetic=True)
    'F0001_HA04 GEMax (synthetic)'
    >>> title_label("entropy", source="GEMax Table 3 (BU-3DFE)")
    'entropy [GEMax Table 3 (BU-3DFE)]'
    """
    out = str(title)
    if synthetic:
        out += " (synthetic)"
    if source:
        out += f" [{source}]"
    return out
