"""Qt-free logic behind the plugin's dock widgets (napari-animation layout: logic here, Qt in ``_qt/``).

Every function is a thin composition of public ferbench functions, usable from a script or a notebook
without napari:

>>> from ferbench_napari.tasks import gemax_view            # doctest: +SKIP
>>> view = gemax_view(scan, tau=30)                        # doctest: +SKIP
>>> view.entropy, view.paper_entropy                       # doctest: +SKIP
(7.92..., 7.931)

Layer conventions
-----------------
The reader and the sample face store the :class:`ferbench.io.scan.Scan` itself under
``layer.metadata["ferbench_scan"]`` and its file under ``layer.metadata["source_path"]`` (None for a
scan made in memory), plus ``"synthetic"``. Layers made from synthetic scans carry ``" (synthetic)"``
in their names and ``metadata["synthetic"] = True``.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Generator, Sequence

import numpy as np

from ferbench.views.explanation import EXPLAIN_METHODS, ExplanationView
from ferbench.views.gemax import PAPER_TABLE, GEMaxView, entropy_text, gemax_view

if TYPE_CHECKING:  # pragma: no cover
    from ferbench.io.scan import Scan
    from ferbench.preprocess import FaceGrid

__all__ = [
    "SCAN_KEY", "SOURCE_KEY", "GEMAX_K", "GEMAX_N", "TAU_MIN", "TAU_PRESETS", "PAPER_ENTROPY_TABLE",
    "scan_name", "scan_title", "has_scan", "scan_from_layer", "map_layer_name", "map_layer_tuple",
    "iter_attribute_maps", "attribute_map_layers", "one_line_error", "paper_entropy", "GEMaxView",
    "gemax_view", "gemax_layer_name", "entropy_text", "EXPLAIN_METHODS", "ExplainView", "explain_view",
    "block_late_triton_import", "explanation_layers",
]

SCAN_KEY = "ferbench_scan"
"""Layer-metadata key of the :class:`~ferbench.io.scan.Scan` a layer shows."""
SOURCE_KEY = "source_path"
"""Layer-metadata key of the file the scan was read from (None for in-memory scans)."""

GEMAX_K = 256
"""GEMax output levels (the paper's 8-bit maps)."""
GEMAX_N = 4096
"""GEMax input levels (the paper's N)."""
TAU_MIN = -(-GEMAX_N // GEMAX_K)
"""Smallest feasible tau for K = 256, N = 4096 (K * tau >= N, i.e. 16: the uniform mapping)."""
TAU_PRESETS: tuple[int, ...] = (16, 20, 30, 40, 50, 60, GEMAX_N)
"""The taus of GEMax Table 3 (``N`` = 4096 = unconstrained)."""
PAPER_ENTROPY_TABLE: tuple[str, str] = PAPER_TABLE
"""Paper and table giving GEMax entropies per tau (BU-3DFE, 224x224 maps)."""


# ------------------------------------------------------------------------------------ scans and layers

def scan_name(scan: "Scan") -> str:
    """Short display name of a scan: its file name, or ``"scan"`` for an in-memory scan."""
    src = scan.meta.source_path
    return os.path.basename(src) if src else "scan"


def _synthetic_suffix(synthetic: bool) -> str:
    from ferbench.views.labels import title_label

    return title_label("", synthetic)


def scan_title(scan: "Scan") -> str:
    """Layer name of a scan: :func:`scan_name` plus ``" (synthetic)"`` for generated data."""
    return scan_name(scan) + _synthetic_suffix(bool(scan.meta.synthetic))


def has_scan(layer: Any) -> bool:
    """True when ``layer`` came from the ferbench reader or sample (its metadata names a scan)."""
    md = getattr(layer, "metadata", None) or {}
    if md.get(SCAN_KEY) is not None:
        return True
    src = md.get(SOURCE_KEY)
    return bool(src) and os.path.isfile(str(src))


def scan_from_layer(layer: Any) -> "Scan":
    """The :class:`~ferbench.io.scan.Scan` behind a layer made by the ferbench reader or sample.

    Parameters
    ----------
    layer
        A napari layer (anything with a ``metadata`` dict and a ``name``).

    Returns
    -------
    Scan
        ``metadata["ferbench_scan"]`` if present, else the scan re-read from ``metadata["source_path"]``
        with :func:`ferbench.io.read_scan`.

    Raises
    ------
    ferbench.errors.FerbenchError
        The layer does not come from ferbench (no scan and no readable source file).
    """
    from ferbench.errors import FerbenchError
    from ferbench.io import read_scan

    md = getattr(layer, "metadata", None) or {}
    scan = md.get(SCAN_KEY)
    if scan is not None:
        return scan
    src = md.get(SOURCE_KEY)
    if src and os.path.isfile(str(src)):
        return read_scan(src)
    raise FerbenchError(f"layer {getattr(layer, 'name', layer)!r} was not opened by the ferbench reader "
                        "(no scan in its metadata); open a scan with File > Open or the sample face")


def map_layer_name(scan: "Scan", map_name: str) -> str:
    """Image-layer name of one attribute map: ``"<scan> <map>"`` (+ ``" (synthetic)"``)."""
    return f"{scan_name(scan)} {map_name}{_synthetic_suffix(bool(scan.meta.synthetic))}"


def map_layer_tuple(scan: "Scan", map_name: str, data: np.ndarray, layer: Any = None
                    ) -> tuple[np.ndarray, dict, str]:
    """napari image-layer tuple of one map (values in [0, 1]); colormap and contrast limits from the core view's
    :class:`ferbench.views.MapLayer` when given (else :func:`ferbench.views.scan_maps.map_style`)."""
    from ferbench.views.scan_maps import map_style

    rgb = data.ndim == 3 and data.shape[-1] == 3
    cmap, limits = (layer.colormap, layer.contrast_limits) if layer is not None else map_style(map_name, data)[:2]
    kwargs = {"name": map_layer_name(scan, map_name), "rgb": rgb,
              "metadata": {"ferbench_map": map_name, "synthetic": bool(scan.meta.synthetic),
                           SOURCE_KEY: scan.meta.source_path}}
    if not rgb:
        kwargs["colormap"] = cmap
        kwargs["contrast_limits"] = tuple(float(v) for v in limits)
    return data, kwargs, "image"


def iter_attribute_maps(scan: "Scan", names: Sequence[str], size: int = 224,
                        preprocess: dict[str, Any] | None = None) -> Generator[str, None, Any]:
    """:func:`ferbench.views.iter_scan_maps`: the maps of one scan with ONE shared computation context,
    yielding ``"preprocess"`` then each map name (``len(names) + 1`` steps at most).

    Returns
    -------
    ferbench.views.ScanMapsView
        The generator's return value (napari's ``worker.returned``); ``view.arrays()`` equals
        ``compute_maps(scan, names, size=size, preprocess=preprocess)``.
    """
    from ferbench.views.scan_maps import iter_scan_maps

    return (yield from iter_scan_maps(scan, names, size, preprocess))


def attribute_map_layers(scan: "Scan", maps: Any) -> list[tuple[np.ndarray, dict, str]]:
    """napari layer tuples of a :class:`ferbench.views.ScanMapsView` (or a ``{name: array}`` dict)."""
    if hasattr(maps, "maps"):
        return [map_layer_tuple(scan, name, layer.data, layer) for name, layer in maps.maps.items()]
    return [map_layer_tuple(scan, name, data) for name, data in maps.items()]


def one_line_error(action: str, what: str, exc: BaseException) -> str:
    """``"<action> <what>: <first line of the error>"``, for a napari notification."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return f"ferbench: cannot {action} {what}: {first}"


# ------------------------------------------------------------------------------------ GEMax tau

def paper_entropy(tau: int, n_levels: int = GEMAX_N) -> tuple[Any | None, str]:
    """GEMax Table 3's entropy for ``tau``: :func:`ferbench.views.paper_table3_entropy`."""
    from ferbench.views.gemax import paper_table3_entropy

    return paper_table3_entropy(tau, n_levels)


def gemax_layer_name(scan: "Scan") -> str:
    """Name of the one Image layer the tau widget updates: ``"<scan> GEMax"`` (+ ``" (synthetic)"``)."""
    return f"{scan_name(scan)} GEMax{_synthetic_suffix(bool(scan.meta.synthetic))}"


# ------------------------------------------------------------------------------------ explaining a trained fold

class ExplainView(ExplanationView):
    """:class:`ferbench.views.ExplanationView` plus its napari layers."""

    def layers(self) -> list[tuple[np.ndarray, dict, str]]:
        """napari Image-layer tuples: the inputs (gray / RGB), then the heat maps (inferno, additive)."""
        return explanation_layers(self)


def explanation_layers(view: Any) -> list[tuple[np.ndarray, dict, str]]:
    """napari Image-layer tuples of a :class:`ferbench.views.ExplanationView`: the inputs (gray / RGB), then
    the heat maps (inferno, additive)."""
    out = []
    fold, synth = f"[fold {view.fold + 1}]", _synthetic_suffix(view.synthetic)
    md = {"synthetic": view.synthetic, SOURCE_KEY: view.record.get("path"), "ferbench_results": view.results}
    for name, data in view.inputs.items():
        rgb = data.ndim == 3
        kw = {"name": f"input {name} {fold}{synth}", "rgb": rgb, "metadata": dict(md, ferbench_input=name)}
        if not rgb:
            kw["colormap"] = "gray"
        out.append((data, kw, "image"))
    for name, data in view.heatmaps.items():
        out.append((data, {"name": f"{name} {fold}{synth}", "colormap": "inferno", "blending": "additive",
                           "opacity": 0.6, "contrast_limits": (0.0, 1.0),
                           "metadata": dict(md, ferbench_heatmap=name)}, "image"))
    return out


def block_late_triton_import() -> bool:
    """Keep ``triton`` from loading into a process whose OpenGL driver already loaded LLVM.

    Importing torchvision (or anything that imports ``torch._dynamo``) imports ``triton``, whose
    ``libtriton`` carries its own LLVM; loaded after Mesa's OpenGL driver (llvmpipe, radeonsi: napari
    under Xvfb or on Intel / AMD desktops) it crashes the process with a segmentation fault. The plugin
    never compiles kernels, so where ``triton`` is not loaded yet this makes ``import triton`` raise
    ImportError, which torch treats as "triton not installed" (``torch.compile`` with the inductor
    backend is then unavailable in this process). Set ``FERBENCH_ALLOW_TRITON=1`` to opt out.

    Returns
    -------
    bool
        True when the import is now blocked.
    """
    import sys

    if os.environ.get("FERBENCH_ALLOW_TRITON") == "1":
        return False
    if "triton" not in sys.modules:
        sys.modules["triton"] = None  # type: ignore[assignment]  # import -> ImportError
    return sys.modules.get("triton") is None


def explain_view(results: str | os.PathLike, fold: int = 0, index: int = 0, method: str = "gradcam", *,
                 device: str | None = "cpu", factory: Any = None):
    """:func:`ferbench.views.explanation_view` (one held-out scan of a trained fold) with a ``layers()`` method.

    Parameters
    ----------
    results
        A results folder or :class:`ferbench.eval.results.Run`.
    fold, index
        0-based split of the first round and position among its held-out scans.
    method
        One of :data:`ferbench.views.EXPLAIN_METHODS`.
    device
        Torch device (CPU by default).
    factory
        Your own model factory, for runs trained with one (checkpoints only name registered models).
    """
    block_late_triton_import()      # before torch / torchvision: see its docstring (napari + Mesa segfault)
    from dataclasses import fields

    from ferbench.views.explanation import explanation_view

    v = explanation_view(results, fold, index, method, device=device, factory=factory)
    return ExplainView(**{f.name: getattr(v, f.name) for f in fields(v)})
