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

import functools
import inspect
import os
import threading
from typing import TYPE_CHECKING, Any, Callable, Generator, Sequence

import numpy as np

from ferbench.views.explanation import EXPLAIN_METHODS, ExplanationView, heat_base
from ferbench.views.gemax import PAPER_TABLE, GEMaxView, entropy_text, gemax_view

if TYPE_CHECKING:  # pragma: no cover
    from ferbench.io.scan import Scan
    from ferbench.preprocess import FaceGrid

__all__ = [
    "SCAN_KEY", "SOURCE_KEY", "GEMAX_K", "GEMAX_N", "TAU_MIN", "TAU_PRESETS", "PAPER_ENTROPY_TABLE",
    "scan_name", "scan_title", "has_scan", "scan_from_layer", "map_layer_name", "map_layer_tuple",
    "iter_attribute_maps", "attribute_map_layers", "one_line_error", "paper_entropy", "GEMaxView",
    "gemax_view", "entropy_text", "EXPLAIN_METHODS", "ExplainView", "explain_view",
    "block_late_triton_import", "KIND_KEY", "SCAN_KINDS", "short_scan_name",
    "grid_origins", "label_layer_tuple", "map_grid_layers", "explanation_cells", "explanation_grid_layers",
    "prediction_grid_layers", "scan_xyz_from_napari", "short_path_error", "held_out_choices", "fold_choices",
    "explanation_view_layers", "warm_up_imports", "warm_up_started", "after_warm_up", "GROUP_KEY",
]

KIND_KEY = "ferbench_kind"
"""Layer-metadata key saying what a ferbench layer shows: ``"scan"``, ``"landmarks"`` (3D view), or a 2D kind
(``"map"``, ``"labels"``, ``"explain"``, ``"predict"``, ``"gemax"``)."""
SCAN_KINDS = ("scan", "landmarks")
"""Kinds drawn in the 3D view; every other ferbench kind is drawn in the 2D view."""
GROUP_KEY = "ferbench_group"
"""Layer-metadata key of the group a 2D layer belongs to (the maps of one scan, the explanation, ...):
a new result replaces the layers of its group."""

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
    first = short_path_error(str(exc)) or type(exc).__name__
    return f"ferbench: cannot {action} {short_path_error(what)}: {first}"


# ------------------------------------------------------------------------------------ GEMax tau

def paper_entropy(tau: int, n_levels: int = GEMAX_N) -> tuple[Any | None, str]:
    """GEMax Table 3's entropy for ``tau``: :func:`ferbench.views.paper_table3_entropy`."""
    from ferbench.views.gemax import paper_table3_entropy

    return paper_table3_entropy(tau, n_levels)


# ------------------------------------------------------------------------------------ explaining a trained fold

class ExplainView(ExplanationView):
    """:class:`ferbench.views.ExplanationView` plus its napari layers."""

    def layers(self) -> list[tuple[Any, dict, str]]:
        """napari layer tuples: each heat map over its own input, cells side by side and labelled
        (:func:`explanation_view_layers`)."""
        return explanation_view_layers(self)


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


# ------------------------------------------------------------------------------------ layout of 2D results

def short_scan_name(scan: "Scan") -> str:
    """A short layer-name stem of a scan: ``"F0001_AN01"`` for ``F0001_AN01WH_F3D.wrl``, else the file stem
    (cut to 16 characters), ``"scan"`` for an in-memory scan. napari's layer list cuts long names in the
    middle, so map layers are named ``"<short> <map>"``."""
    import re

    src = scan.meta.source_path
    if not src:
        return "scan"
    stem = os.path.splitext(os.path.basename(str(src)))[0]
    m = re.match(r"^([FM]\d{4})_([A-Z]{2}\d{2})", stem)          # BU-3DFE: subject + expression/level
    if m:
        return f"{m.group(1)}_{m.group(2)}"
    meta = scan.meta
    if not os.path.isfile(str(src)) and meta.subject and meta.expression:     # e.g. the sample face
        level = getattr(meta, "intensity", None)
        return f"{meta.subject}_{str(meta.expression)[:2].upper()}{int(level or 0):02d}"
    return stem if len(stem) <= 16 else stem[:16]


def grid_origins(n: int, size: float, origin: tuple[float, float] = (0.0, 0.0), ncols: int | None = None,
                 gap: float | None = None, hgap: float | None = None) -> list[tuple[float, float]]:
    """Top-left (row, col) world positions of ``n`` cells of side ``size`` laid out row by row, with a
    gap above each cell for its label and between columns for the label's width (no two cells overlap)."""
    import math

    ncols = int(ncols or max(1, math.ceil(math.sqrt(n))))
    gap = float(size) * 0.2 if gap is None else float(gap)
    hgap = float(size) * 0.45 if hgap is None else float(hgap)
    return [(origin[0] + gap + (i // ncols) * (size + gap), origin[1] + (i % ncols) * (size + hgap))
            for i in range(n)]


def label_layer_tuple(name: str, origins: Sequence[tuple[float, float]], size: float, texts: Sequence[str],
                      metadata: dict, font: float = 9) -> tuple[np.ndarray, dict, str]:
    """A Points layer drawing one text label centred above each cell (the points themselves invisible)."""
    pts = np.array([(r - 0.1 * size, c + size / 2) for r, c in origins], float).reshape(-1, 2)
    return pts, {"name": name, "features": {"label": list(texts)},
                 "text": {"string": "{label}", "size": font, "color": "white", "anchor": "center"},
                 "size": 0.5, "face_color": "transparent", "border_width": 0, "metadata": dict(metadata),
                 "blending": "translucent_no_depth"}, "points"


def map_grid_layers(scan: "Scan", view: Any, origin: tuple[float, float] = (0.0, 0.0)
                    ) -> list[tuple[Any, dict, str]]:
    """Layer tuples of a :class:`ferbench.views.ScanMapsView` laid out as a labelled grid.

    One Image layer per map named ``"<short scan> <map>"`` (colormap and contrast limits of the core's
    :class:`~ferbench.views.MapLayer`), translated to its own cell, plus one Points layer with each map's
    full name above its cell. Every layer carries ``metadata["ferbench_group"] = "maps <scan>"``.
    """
    maps = list(view.maps.values())
    size = float(view.size)
    # three columns (two for up to four maps): room between cells for full names such as
    # "surface normal, x component" at the zoom that fits the grid in a portrait canvas
    origins = grid_origins(len(maps), size, origin, ncols=min(3, max(1, -(-len(maps) // 2))), hgap=0.8 * size)
    short = short_scan_name(scan)
    group = f"maps {scan_name(scan)}"
    md = {KIND_KEY: "map", GROUP_KEY: group, "synthetic": bool(scan.meta.synthetic), SOURCE_KEY: scan.meta.source_path}
    out: list[tuple[Any, dict, str]] = []
    for layer, (r, c) in zip(maps, origins):
        data, kw, kind = map_layer_tuple(scan, layer.name, layer.data, layer)
        kw["name"] = f"{short} {layer.name}"
        kw["translate"] = (r, c)
        kw["metadata"] = dict(kw["metadata"], **md, ferbench_map=layer.name, full_name=layer.full_name)
        out.append((data, kw, kind))
    texts = [m.full_name or m.name for m in maps]
    synth = _synthetic_suffix(bool(scan.meta.synthetic))
    out.append(label_layer_tuple(f"{short} map names", origins, size, texts,
                                 dict(md, **{KIND_KEY: "labels"}, title=f"{scan_name(scan)}{synth}")))
    return out


def explanation_cells(inputs: Sequence[str], heatmaps: Sequence[str]) -> list[tuple[str, str | None]]:
    """Cells of an explanation grid: ``(input, heat map or None)``. Each input gets one cell with the heat
    map computed on it (Grad-CAM of that modality); other heat maps (saliency, attention) get a cell of their
    own over the input they belong to."""
    inputs = list(inputs)
    own = {}
    extra = []
    for h in heatmaps:
        base = heat_base(h, inputs)
        if h.split(" ")[-1] == base and base not in own and not h.startswith("attention "):
            own[base] = h
        else:
            extra.append((base, h))
    return [(i, own.get(i)) for i in inputs] + extra


def explanation_grid_layers(inputs: dict[str, np.ndarray], heatmaps: dict[str, np.ndarray], *, group: str,
                            kind: str, titles: dict[str, str] | None = None, heading: str = "",
                            origin: tuple[float, float] = (0.0, 0.0), metadata: dict | None = None
                            ) -> list[tuple[Any, dict, str]]:
    """Layer tuples of inputs with their heat maps: each heat map (jet, opacity 0.5) over its own input in
    its own cell, cells side by side in one row, labelled above; names ``"<input>"`` / ``"<heat map>"``
    prefixed by ``group``."""
    cells = explanation_cells(list(inputs), list(heatmaps))
    size = float(max(a.shape[0] for a in inputs.values()))
    top = (origin[0] + (0.3 * size if heading else 0.0), origin[1])
    ncols = min(len(cells), 5)
    origins = grid_origins(len(cells), size, top, ncols=ncols, hgap=0.6 * size)
    prefix = {"explain": "ex", "predict": "pr"}.get(group, group)
    md = dict(metadata or {}, **{KIND_KEY: kind, GROUP_KEY: group})
    out: list[tuple[Any, dict, str]] = []
    texts = []
    for k, ((inp, heat), (r, c)) in enumerate(zip(cells, origins)):
        data = inputs[inp]
        rgb = data.ndim == 3
        kw = {"name": f"{prefix}{k + 1} {inp}", "rgb": rgb, "translate": (r, c),
              "metadata": dict(md, ferbench_input=inp, ferbench_cell=k)}
        if not rgb:
            lo, hi = float(np.nanmin(data)), float(np.nanmax(data))
            kw.update(colormap="gray", contrast_limits=(lo, hi if hi > lo else lo + 1.0))
        out.append((data, kw, "image"))
        if heat is not None:
            short = heat.replace("attention", "attn")
            out.append((heatmaps[heat], {"name": f"{prefix}{k + 1} {short}", "colormap": "jet", "opacity": 0.5,
                                         "blending": "translucent", "contrast_limits": (0.0, 1.0),
                                         "translate": (r, c),
                                         "metadata": dict(md, ferbench_heatmap=heat, ferbench_cell=k)}, "image"))
        name = (titles or {}).get(heat or inp, heat or f"input {inp}")
        if name.startswith("attention "):            # "attn gray_lbp": fits above a cell at any zoom
            name = "attn " + name[len("attention "):]
        texts.append(name if heat is None or name.endswith(inp) or name.startswith("attn") else f"{name} on {inp}")
    out.append(label_layer_tuple(f"{group} labels", origins, size, texts, dict(md, **{KIND_KEY: kind})))
    if heading:
        width = ncols * size + (ncols - 1) * 0.6 * size
        out.append(label_layer_tuple(f"{group} title", [(origin[0] + 0.2 * size, origin[1])], width, [heading],
                                     dict(md, **{KIND_KEY: kind}), font=10))
    return out


def prediction_grid_layers(view: Any, origin: tuple[float, float] = (0.0, 0.0)) -> list[tuple[Any, dict, str]]:
    """Layer tuples of a :class:`ferbench.views.PredictionView`: its inputs with the CAM of the chosen class
    over each (see :func:`explanation_grid_layers`)."""
    heat = {f"{view.method} {m}": a for m, a in view.heatmaps.items()}
    return explanation_grid_layers(view.inputs, heat, group="predict", kind="predict", origin=origin,
                                   heading=f"{view.title}: {view.method} of {view.cam_class}",
                                   metadata={"synthetic": view.synthetic, "ferbench_results": view.run_path})


def explanation_view_layers(view: Any, origin: tuple[float, float] = (0.0, 0.0)) -> list[tuple[Any, dict, str]]:
    """Layer tuples of a :class:`ferbench.views.ExplanationView` laid out by :func:`explanation_grid_layers`."""
    head = (f"{view.title}, fold {view.fold + 1}: true {view.true_class}, predicted {view.predicted_class}"
            if view.true_class is not None else f"{view.title}: predicted {view.predicted_class}")
    return explanation_grid_layers(view.inputs, view.heatmaps, group="explain", kind="explain", origin=origin,
                                   heading=head, metadata={"synthetic": view.synthetic,
                                                           SOURCE_KEY: view.record.get("path"),
                                                           "ferbench_results": view.results})


def scan_xyz_from_napari(vertices: np.ndarray) -> np.ndarray:
    """Scan coordinates (x, y, z) of vertices given in the reader's napari order (z, -y, x)."""
    v = np.asarray(vertices, np.float64)
    return np.column_stack([v[:, 2], -v[:, 1], v[:, 0]])


def short_path_error(text: str) -> str:
    """``text`` with every absolute path replaced by its file name, and only its first line."""
    import re

    first = (str(text).strip().splitlines() or [""])[0]
    return re.sub(r"(?:[A-Za-z]:)?(?:[/\\][^/\\\s:;,'\"()]+)+[/\\]?",
                  lambda m: os.path.basename(m.group(0).rstrip("/\\")) or m.group(0), first)


def fold_choices(run: Any) -> list[tuple[str, int]]:
    """``[("fold 1 (12 held out)", 0), ...]`` of a run's first round (1-based labels, 0-based values)."""
    out = []
    for f in run.folds(0):
        trained = "" if f.checkpoint.is_file() else ", no checkpoint"
        out.append((f"{f.label} ({f.n_test} held out{trained})", f.index))
    return out


def held_out_choices(run: Any, fold: int) -> list[tuple[str, int]]:
    """``[("1: F0001 happiness 4", 0), ...]``: the fold's held-out scans (1-based labels, 0-based positions)."""
    out = []
    for h in run.held_out(int(fold)):
        level = "" if h.intensity in (None, "", 0) else f" {h.intensity}"
        out.append((f"{h.position + 1}: {h.subject} {h.expression}{level}", h.position))
    return out


def warm_up_imports() -> list[str]:
    """Import what the first map / explanation / prediction needs (torch, torchvision, pytorch-grad-cam,
    scikit-learn's t-SNE), so that a dock's first click does not wait for them: widgets run this in a
    worker thread as soon as they open (the imports take 5-15 s on a busy 2-core machine).

    Returns
    -------
    list of str
        The modules that imported (a missing optional one is skipped).
    """
    import importlib

    try:
        block_late_triton_import()        # before torchvision: see its docstring
        done = []
        for name in ("torch", "ferbench.maps", "torchvision", "pytorch_grad_cam", "ferbench.explain",
                     "ferbench.eval.data", "sklearn.manifold"):
            try:
                importlib.import_module(name)
                done.append(name)
            except ImportError:
                pass
        return done
    finally:
        _IMPORTS_SETTLED.set()


_IMPORTS_SETTLED = threading.Event()
_IMPORTS_SETTLED.set()
WARM_UP_WAIT_S = 300.0
"""Longest a worker waits for the warm-up's imports (a stuck warm-up must not stop the docks for good)."""


def warm_up_started() -> None:
    """Say (from the thread that starts it) that :func:`warm_up_imports` is about to run in another thread.

    Until it ends, functions wrapped by :func:`after_warm_up` wait: two threads importing torchvision at once
    can meet in its circular imports, and Python then hands one of them a partially initialised module.
    """
    _IMPORTS_SETTLED.clear()


def after_warm_up(fn: Callable) -> Callable:
    """``fn`` for a worker thread: it first waits until a started :func:`warm_up_imports` has ended.

    A generator function stays one (napari's ``create_worker`` makes a generator worker of it).
    """
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen(*args: Any, **kwargs: Any) -> Generator:
            _IMPORTS_SETTLED.wait(WARM_UP_WAIT_S)
            return (yield from fn(*args, **kwargs))
        return gen

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        _IMPORTS_SETTLED.wait(WARM_UP_WAIT_S)
        return fn(*args, **kwargs)
    return call
