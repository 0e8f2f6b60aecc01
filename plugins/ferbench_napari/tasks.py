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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generator, Sequence

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from ferbench.io.scan import Scan
    from ferbench.preprocess import FaceGrid

__all__ = [
    "SCAN_KEY", "SOURCE_KEY", "GEMAX_K", "GEMAX_N", "TAU_MIN", "TAU_PRESETS", "PAPER_ENTROPY_TABLE",
    "scan_name", "scan_title", "has_scan", "scan_from_layer", "map_layer_name", "map_layer_tuple",
    "iter_attribute_maps", "attribute_map_layers", "one_line_error", "paper_entropy", "GEMaxView",
    "gemax_view", "gemax_layer_name", "entropy_text", "EXPLAIN_METHODS", "ExplainView", "explain_view",
    "block_late_triton_import",
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
PAPER_ENTROPY_TABLE: tuple[str, str] = ("gemax_fa", "3")
"""Paper and table giving GEMax entropies per tau (BU-3DFE, 224x224 maps)."""


# ------------------------------------------------------------------------------------ scans and layers

def scan_name(scan: "Scan") -> str:
    """Short display name of a scan: its file name, or ``"scan"`` for an in-memory scan."""
    src = scan.meta.source_path
    return os.path.basename(src) if src else "scan"


def _synthetic_suffix(synthetic: bool) -> str:
    return " (synthetic)" if synthetic else ""


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


def map_layer_tuple(scan: "Scan", map_name: str, data: np.ndarray) -> tuple[np.ndarray, dict, str]:
    """napari image-layer tuple of a map from :func:`ferbench.maps.compute_maps` (values in [0, 1])."""
    rgb = data.ndim == 3 and data.shape[-1] == 3
    kwargs = {"name": map_layer_name(scan, map_name), "rgb": rgb, "contrast_limits": (0.0, 1.0),
              "metadata": {"ferbench_map": map_name, "synthetic": bool(scan.meta.synthetic),
                           SOURCE_KEY: scan.meta.source_path}}
    if not rgb:
        kwargs["colormap"] = "gray"
    return data, kwargs, "image"


def iter_attribute_maps(scan: "Scan", names: Sequence[str], size: int = 224,
                        preprocess: dict[str, Any] | None = None
                        ) -> Generator[str, None, dict[str, np.ndarray]]:
    """Compute attribute maps one at a time, yielding a progress step after each.

    Preprocesses once with :func:`ferbench.preprocess.preprocess_scan` and calls
    :func:`ferbench.maps.compute_maps` on the resulting grid per map, so the maps equal
    ``compute_maps(scan, names, size=size, preprocess=preprocess)``.

    Parameters
    ----------
    scan
        The scan.
    names
        Map names (see :func:`ferbench.maps.list_maps`).
    size
        Grid side in pixels.
    preprocess
        Options for :func:`~ferbench.preprocess.preprocess_scan`.

    Yields
    ------
    str
        ``"preprocess"``, then each map name once it is done (``len(names) + 1`` steps).

    Returns
    -------
    dict
        Map name -> float32 array, as :func:`~ferbench.maps.compute_maps` returns (the generator's
        return value, i.e. ``StopIteration.value``; napari's ``worker.returned``).
    """
    from ferbench.maps import compute_maps
    from ferbench.preprocess import preprocess_scan

    grid = preprocess_scan(scan, size=int(size), **(preprocess or {}))
    yield "preprocess"
    out: dict[str, np.ndarray] = {}
    for name in names:
        out.update(compute_maps(grid, [name]))
        yield name
    return out


def attribute_map_layers(scan: "Scan", maps: dict[str, np.ndarray]) -> list[tuple[np.ndarray, dict, str]]:
    """napari layer tuples of the maps :func:`iter_attribute_maps` returned."""
    return [map_layer_tuple(scan, name, data) for name, data in maps.items()]


def one_line_error(action: str, what: str, exc: BaseException) -> str:
    """``"<action> <what>: <first line of the error>"``, for a napari notification."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return f"ferbench: cannot {action} {what}: {first}"


# ------------------------------------------------------------------------------------ GEMax tau

def paper_entropy(tau: int, n_levels: int = GEMAX_N) -> tuple[Any | None, str]:
    """The paper's GEMax entropy for ``tau``, where GEMax Table 3 prints one.

    Parameters
    ----------
    tau
        Distortion bound; ``tau >= n_levels`` is the table's ``N`` column (unconstrained).
    n_levels
        N.

    Returns
    -------
    (value, source)
        ``value`` a :class:`ferbench.papers.PrintedNumber` (bits) or None when the table has no
        column for ``tau``; ``source`` e.g. ``"GEMax Table 3 (BU-3DFE)"``.
    """
    from ferbench import papers

    t = papers.table(*PAPER_ENTROPY_TABLE)
    source = f"GEMax Table {t.id} ({t.dataset})" if t.dataset else f"GEMax Table {t.id}"
    col = "N" if int(tau) >= int(n_levels) else str(int(tau))
    if col not in t.columns:
        return None, source
    return t.cell("Entropy", col), source


def gemax_layer_name(scan: "Scan") -> str:
    """Name of the one Image layer the tau widget updates: ``"<scan> GEMax"`` (+ ``" (synthetic)"``)."""
    return f"{scan_name(scan)} GEMax{_synthetic_suffix(bool(scan.meta.synthetic))}"


@dataclass
class GEMaxView:
    """One GEMax map of a scan and its entropy beside the paper's.

    Attributes
    ----------
    tau
        Distortion bound used.
    map
        (H, W) uint8 levels from :func:`ferbench.maps.gemax.gemax_map` (0 outside the 6 cm block).
    entropy
        Entropy in bits of ``map`` over the block (the DP optimum, ``result.entropy``).
    result
        The :class:`ferbench.maps.gemax.QuantizationResult`.
    grid
        The preprocessed :class:`~ferbench.preprocess.FaceGrid` (reuse it for the next tau).
    synthetic
        True for synthetic data.
    paper_entropy, paper_source
        See :func:`paper_entropy`.
    """

    tau: int
    map: np.ndarray
    entropy: float
    result: Any
    grid: "FaceGrid"
    synthetic: bool
    paper_entropy: Any | None
    paper_source: str

    def text(self) -> str:
        """The widget's label (see :func:`entropy_text`)."""
        return entropy_text(self.tau, self.entropy, self.synthetic, self.paper_entropy, self.paper_source)


def gemax_view(scan_or_grid: "Scan | FaceGrid", tau: int, size: int = 224, *, K: int = GEMAX_K,
               N: int = GEMAX_N, d_dis_mm: float = 60.0) -> GEMaxView:
    """GEMax map of a scan's depth for one tau, with its entropy and the paper's.

    Parameters
    ----------
    scan_or_grid
        A scan (preprocessed with :func:`ferbench.preprocess.preprocess_scan` at ``size``) or an
        already preprocessed :class:`~ferbench.preprocess.FaceGrid` (``size`` is then ignored).
    tau
        Distortion bound (``K * tau >= N``, i.e. >= 16 for the defaults).
    K, N, d_dis_mm
        As :func:`ferbench.maps.gemax.gemax_map`.

    Returns
    -------
    GEMaxView
        ``map, result = gemax_map(grid.z, K=K, N=N, tau=tau, mask=grid.mask, d_dis_mm=d_dis_mm)``.
    """
    from ferbench.maps.gemax import gemax_map
    from ferbench.preprocess import FaceGrid, preprocess_scan

    grid = scan_or_grid if isinstance(scan_or_grid, FaceGrid) else preprocess_scan(scan_or_grid, size=int(size))
    levels, result = gemax_map(grid.z, K=K, N=N, tau=int(tau), mask=grid.mask, d_dis_mm=d_dis_mm)
    value, source = paper_entropy(int(tau), N)
    return GEMaxView(tau=int(tau), map=levels, entropy=float(result.entropy), result=result, grid=grid,
                     synthetic=grid.synthetic, paper_entropy=value, paper_source=source)


def entropy_text(tau: int, entropy: float, synthetic: bool, paper: Any | None, source: str) -> str:
    """One-line label: ferbench's entropy (marked synthetic) beside the paper's, with its table.

    >>> entropy_text(20, 7.51234, True, 7.811, "GEMax Table 3 (BU-3DFE)")
    'τ = 20: entropy 7.512 bits (ferbench, synthetic) | paper 7.811 bits (GEMax Table 3 (BU-3DFE))'
    """
    ours = f"τ = {int(tau)}: entropy {entropy:.3f} bits (ferbench{', synthetic' if synthetic else ''})"
    theirs = f"paper {paper} bits ({source})" if paper is not None else f"paper: no value for this τ ({source})"
    return f"{ours} | {theirs}"


# ------------------------------------------------------------------------------------ explaining a trained fold

EXPLAIN_METHODS: tuple[str, ...] = ("gradcam", "hirescam", "gradcam++", "saliency")
"""Heat-map methods of the Explain widget: pytorch-grad-cam methods per input modality, or the plain
input-gradient saliency (:func:`ferbench.explain.gradient_saliency`) summed over all inputs."""


@dataclass
class ExplainView:
    """One held-out scan of a trained fold: the model's inputs, its prediction and heat maps.

    Attributes
    ----------
    results, fold
        The results folder and split (0-based) the model comes from.
    index, n_test
        Position of the scan among the fold's held-out scans, and their number.
    record
        The scan's record (``path``, ``subject``, ``expression``, ...; see ``splits.json``).
    classes
        Class names in label order.
    true_class, predicted_class
        Class names.
    probabilities
        Softmax of the logits, in label order.
    inputs
        Input name -> the model's input map as displayed ((H, W) or (H, W, 3), values as cached).
    heatmaps
        Name -> (H, W) heat map in [0, 1] at the input resolution (``"<method> <modality>"``,
        ``"saliency"``, ``"attention <name>"``).
    method
        The heat-map method.
    synthetic
        True when the scan is synthetic.
    """

    results: str
    fold: int
    index: int
    n_test: int
    record: dict[str, Any]
    classes: list[str]
    true_class: str
    predicted_class: str
    probabilities: np.ndarray
    inputs: dict[str, np.ndarray]
    heatmaps: dict[str, np.ndarray]
    method: str
    synthetic: bool

    @property
    def title(self) -> str:
        """Short name of the scan: its file name plus ``" (synthetic)"`` for synthetic data."""
        return os.path.basename(str(self.record.get("path", "scan"))) + _synthetic_suffix(self.synthetic)

    def text(self) -> str:
        """One line: held-out scan i/n of fold f, true and predicted class with its probability."""
        p = float(self.probabilities[self.classes.index(self.predicted_class)])
        verdict = "correct" if self.true_class == self.predicted_class else "wrong"
        return (f"{self.title}: held-out scan {self.index + 1}/{self.n_test} of fold {self.fold + 1} "
                f"(subject {self.record.get('subject', '?')}); true {self.true_class}, predicted "
                f"{self.predicted_class} (p = {p:.2f}, {verdict}); heat maps: {self.method}")

    def layers(self) -> list[tuple[np.ndarray, dict, str]]:
        """napari Image-layer tuples: the inputs (gray / RGB), then the heat maps (inferno, additive)."""
        out = []
        fold, synth = f"[fold {self.fold + 1}]", _synthetic_suffix(self.synthetic)
        md = {"synthetic": self.synthetic, SOURCE_KEY: self.record.get("path"), "ferbench_results": self.results}
        for name, data in self.inputs.items():
            rgb = data.ndim == 3
            kw = {"name": f"input {name} {fold}{synth}", "rgb": rgb, "metadata": dict(md, ferbench_input=name)}
            if not rgb:
                kw["colormap"] = "gray"
            out.append((data, kw, "image"))
        for name, data in self.heatmaps.items():
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
                 device: str | None = "cpu") -> ExplainView:
    """Explain one held-out scan of a trained fold (``ferbench train`` / ``ferbench demo`` results).

    Loads the fold with :func:`ferbench.eval.load_fold_model`, reads the scan's inputs from the run's map
    cache, predicts, and computes heat maps for the predicted class: per input modality with
    :func:`ferbench.explain.cam_maps_per_modality` (Grad-CAM family) or the input-gradient saliency, plus
    the model's own attention maps where it has them (:func:`ferbench.explain.attention_maps`).

    Parameters
    ----------
    results
        A results folder (``<model>__<protocol>__seed<seed>``).
    fold
        Split (0-based) of the first round.
    index
        Which held-out scan of the fold (0-based, in record order).
    method
        One of :data:`EXPLAIN_METHODS`.
    device
        Torch device (CPU by default: one scan is quick and the viewer keeps the GPU free).

    Returns
    -------
    ExplainView

    Raises
    ------
    ferbench.errors.FerbenchError
        Not a results folder, fold not trained, ``index`` out of range, or an unknown method.
    """
    block_late_triton_import()      # before torch / torchvision: see its docstring (napari + Mesa segfault)
    import torch

    from ferbench.errors import FerbenchError
    from ferbench.eval.commands import load_fold_model
    from ferbench.explain import attention_maps, cam_maps_per_modality, gradient_saliency
    from ferbench.explain.attention import has_attention

    if method not in EXPLAIN_METHODS:
        raise FerbenchError(f"unknown method {method!r}; expected one of {', '.join(EXPLAIN_METHODS)}")
    fm = load_fold_model(results, int(fold), device=device)
    n_test = len(fm.test)
    if not 0 <= int(index) < n_test:
        raise FerbenchError(f"{results}: fold {int(fold) + 1} has {n_test} held-out scans; index {int(index)} "
                            f"is out of range")
    rec_idx = fm.test[int(index)]
    x, y = fm.inputs([rec_idx])
    dev = next(fm.model.parameters()).device
    x = x.to(dev)
    with torch.no_grad():
        out = fm.model(x)
        logits = out["logits"] if isinstance(out, dict) else out
        probs = torch.softmax(logits.float(), 1)[0].cpu().numpy()
    pred = int(probs.argmax())
    classes = fm.classes or [str(i) for i in range(len(probs))]

    inputs: dict[str, np.ndarray] = {}
    for name, part in fm.model.split_inputs(x).items():
        block = part[0].detach().cpu().numpy()
        inputs[name] = block.transpose(1, 2, 0) if len(block) == 3 else block[0] if len(block) == 1 else block.mean(0)

    heat: dict[str, np.ndarray] = {}
    if method == "saliency":
        heat["saliency"] = gradient_saliency(fm.model, x, [pred])[0]
    else:
        for modality, m in cam_maps_per_modality(fm.model, x, method, [pred]).items():
            heat[f"{method} {modality}"] = np.asarray(m)[0]
    if has_attention(fm.model):
        for name, a in attention_maps(fm.model, x).items():
            heat[f"attention {name}"] = np.asarray(a)[0]
    rec = dict(fm.records[rec_idx])
    return ExplainView(results=str(results), fold=int(fold), index=int(index), n_test=n_test, record=rec,
                       classes=list(classes), true_class=classes[int(y[0])], predicted_class=classes[pred],
                       probabilities=probs, inputs=inputs, heatmaps=heat, method=method,
                       synthetic=bool(rec.get("synthetic", False)))
