"""napari dock widgets: attribute maps of a scan, GEMax with a tau slider, and explaining a trained fold.

Each widget only gathers inputs, runs a function of :mod:`ferbench_napari.tasks` (itself a composition of
public ferbench functions) in a :func:`napari.qt.threading.create_worker` thread, and shows the result as
Image layers. No numerical work happens here.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from magicgui.widgets import ComboBox, Container, FileEdit, Label, PushButton, Select, Slider, SpinBox
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error

from ferbench_napari import tasks

if TYPE_CHECKING:  # pragma: no cover
    import napari

__all__ = ["AttributeMapsWidget", "GEMaxTauWidget", "ExplainWidget"]


def _is_scan_layer(layer: Any) -> bool:
    from napari.layers import Surface

    return isinstance(layer, Surface) and tasks.has_scan(layer)


class _ViewerWidget(Container):
    """Base: the viewer, a status line (appended last by subclasses), errors, layers updated in place."""

    def __init__(self, napari_viewer: "napari.viewer.Viewer", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._viewer = napari_viewer
        self._message = Label(value="")
        self._message.native.setWordWrap(True)

    @property
    def status(self) -> str:
        """The widget's status line."""
        return str(self._message.value)

    def _run_once(self, button: PushButton, fn: Any, *args: Any, progress: dict, connect: dict) -> Any:
        """Run ``fn(*args)`` in a worker with ``button`` disabled until it finishes; keep it in ``self.worker``."""

        def on_finish() -> None:
            self.worker = None
            button.enabled = True

        button.enabled = False
        self.worker = create_worker(fn, *args, _progress=progress, _connect=dict(connect, finished=on_finish),
                                    _start_thread=False)
        worker = self.worker
        worker.start()
        return worker

    def _fail(self, message: str) -> None:
        """Show a one-line error in the widget and as a napari notification."""
        self._message.value = message
        show_error(message)

    def _add_or_update(self, data: Any, kwargs: dict, kind: str = "image") -> Any:
        """Update the layer named ``kwargs["name"]`` in place, or add it."""
        name = kwargs["name"]
        if name in self._viewer.layers:
            layer = self._viewer.layers[name]
            layer.data = data
            layer.metadata.update(kwargs.get("metadata", {}))
            return layer
        return getattr(self._viewer, f"add_{kind}")(data, **kwargs)


class _ScanLayerWidget(_ViewerWidget):
    """Base: a combo box of the viewer's ferbench Surface layers, following the active layer."""

    def __init__(self, napari_viewer: "napari.viewer.Viewer", **kwargs: Any) -> None:
        super().__init__(napari_viewer, **kwargs)
        self._layer_combo = ComboBox(label="scan", choices=self._scan_layer_choices, nullable=True,
                                     tooltip="a Surface layer opened by the ferbench reader or sample")
        self.append(self._layer_combo)

    def _scan_layer_choices(self, _widget: Any = None) -> list[tuple[str, Any]]:
        return [(layer.name, layer) for layer in self._viewer.layers if _is_scan_layer(layer)]

    def reset_choices(self, *_: Any) -> None:
        """Refresh the layer list (napari calls this on layer changes); prefer the active layer."""
        super().reset_choices()
        active = self._viewer.layers.selection.active
        if active is not None and _is_scan_layer(active) and self._layer_combo.value != active:
            self._layer_combo.value = active
        elif self._layer_combo.value is None:
            first = next((c for c in self._layer_combo.choices if c is not None), None)
            if first is not None:
                self._layer_combo.value = first

class AttributeMapsWidget(_ScanLayerWidget):
    """Compute attribute maps of the selected scan (:func:`ferbench.maps.compute_maps`) as Image layers.

    Parameters
    ----------
    napari_viewer
        The viewer (injected by napari).

    Attributes
    ----------
    worker
        The running :class:`~napari.qt.threading.GeneratorWorker`, or None.
    """

    def __init__(self, napari_viewer: "napari.viewer.Viewer") -> None:
        from ferbench.maps import DFCNN_MAPS, list_maps

        super().__init__(napari_viewer)
        self.worker = None
        self._maps = Select(label="maps", choices=list_maps(), value=list(DFCNN_MAPS))
        self._size = SpinBox(label="size (px)", min=16, max=1024, step=8, value=224)
        self._run = PushButton(text="Compute maps")
        self._status = self._message
        self.extend([self._maps, self._size, self._run, self._status])
        self._run.changed.connect(self.compute)
        self.reset_choices()

    def compute(self, *_: Any) -> Any:
        """Start computing the chosen maps of the chosen scan; returns the worker (or None on bad input)."""
        from ferbench.errors import FerbenchError

        if self.worker is not None:
            return self.worker
        layer = self._layer_combo.value
        if layer is None:
            self._fail("ferbench: no scan layer; open a scan with the ferbench reader or the sample face")
            return None
        try:
            scan = tasks.scan_from_layer(layer)
        except (FerbenchError, OSError) as exc:
            self._fail(tasks.one_line_error("read", repr(layer.name), exc))
            return None
        names = list(self._maps.value)
        if not names:
            self._fail("ferbench: choose at least one map")
            return None
        title = tasks.scan_title(scan)
        total = len(names) + 1
        done = {"n": 0}

        def on_yield(step: str) -> None:
            done["n"] += 1
            self._status.value = f"{title}: {step} ({done['n']}/{total})"

        def on_return(view) -> None:
            for data, kwargs, kind in tasks.attribute_map_layers(scan, view):
                self._add_or_update(data, kwargs, kind)
            missing = "".join(f"; {n}: {why}" for n, why in view.missing.items())
            self._status.value = f"{title}: {len(view.maps)} maps at {self._size.value} px{missing}"

        def on_error(exc: BaseException) -> None:
            self._fail(tasks.one_line_error("compute maps of", title, exc))

        self._status.value = f"{title}: preprocessing..."
        return self._run_once(self._run, tasks.iter_attribute_maps, scan, names, int(self._size.value),
                              progress={"total": total, "desc": f"ferbench maps: {title}"},
                              connect={"yielded": on_yield, "returned": on_return, "errored": on_error})


class GEMaxTauWidget(_ScanLayerWidget):
    """GEMax map of the selected scan's depth with a tau slider, one Image layer updated in place.

    The label shows ferbench's entropy (bits, marked *synthetic* for synthetic scans) beside the
    paper's entropy for that tau where GEMax Table 3 prints one. Each change runs
    :func:`ferbench_napari.tasks.gemax_view` in a worker; changes made while one runs are coalesced
    (latest value wins). The preprocessed grid is reused while the scan and size stay the same.

    Parameters
    ----------
    napari_viewer
        The viewer (injected by napari).

    Attributes
    ----------
    view
        The last :class:`ferbench_napari.tasks.GEMaxView` shown, or None.
    """

    def __init__(self, napari_viewer: "napari.viewer.Viewer") -> None:
        super().__init__(napari_viewer)
        self.view: tasks.GEMaxView | None = None
        self._worker = None
        self._pending: tuple[Any, int, int] | None = None
        self._grid_cache: tuple[Any, int, Any] | None = None   # (scan, size, FaceGrid)
        self._tau = Slider(label="τ", min=tasks.TAU_MIN, max=tasks.GEMAX_N, value=20,
                           tooltip=f"depth distortion bound (K = {tasks.GEMAX_K}, N = {tasks.GEMAX_N}: "
                                   f"τ >= {tasks.TAU_MIN}; τ = N is unconstrained, about 1 s)")
        presets = [(("N (4096)" if t == tasks.GEMAX_N else str(t)), t) for t in tasks.TAU_PRESETS]
        self._preset = ComboBox(label="τ of Table 3", choices=presets, value=20)
        self._size = SpinBox(label="size (px)", min=16, max=1024, step=8, value=224)
        self._label = self._message
        self.extend([self._tau, self._preset, self._size, self._label])
        self._tau.changed.connect(self._on_tau)
        self._preset.changed.connect(self._on_preset)
        self._size.changed.connect(self._request)
        self._layer_combo.changed.connect(self._request)
        self.reset_choices()

    # -- public API ---------------------------------------------------------------------------
    @property
    def tau(self) -> int:
        return int(self._tau.value)

    @tau.setter
    def tau(self, value: int) -> None:
        self._tau.value = int(value)

    @property
    def busy(self) -> bool:
        """True while a computation runs or waits."""
        return self._worker is not None or self._pending is not None

    @property
    def label_text(self) -> str:
        """The entropy label."""
        return str(self._label.value)

    # -- events -------------------------------------------------------------------------------
    def _on_tau(self, value: int) -> None:
        if int(value) in tasks.TAU_PRESETS and self._preset.value != int(value):
            with self._preset.changed.blocked():
                self._preset.value = int(value)
        self._request()

    def _on_preset(self, value: int | None) -> None:
        if value is not None and int(value) != self.tau:
            self._tau.value = int(value)

    def _request(self, *_: Any) -> None:
        layer = self._layer_combo.value
        if layer is None:
            self._label.value = "open a scan (ferbench reader or sample face) to see its GEMax map"
            return
        self._pending = (layer, self.tau, int(self._size.value))
        if self._worker is None:
            self._start_next()

    def _start_next(self) -> None:
        from ferbench.errors import FerbenchError

        if self._pending is None:
            return
        layer, tau, size = self._pending
        self._pending = None
        try:
            scan = tasks.scan_from_layer(layer)
        except (FerbenchError, OSError) as exc:
            self._fail(tasks.one_line_error("read", repr(layer.name), exc))
            return
        cached = self._grid_cache
        source = cached[2] if cached is not None and cached[0] is scan and cached[1] == size else scan
        title = tasks.scan_title(scan)
        self._label.value = f"τ = {tau}: computing..."

        def on_return(view: tasks.GEMaxView) -> None:
            self._grid_cache = (scan, size, view.grid)
            if self._pending is not None:      # a newer request is queued: skip the stale result
                return
            self.view = view
            self._add_or_update(view.map, {
                "name": tasks.gemax_layer_name(scan), "colormap": "gray", "contrast_limits": (0, tasks.GEMAX_K - 1),
                "metadata": {"ferbench_map": "gemax", "tau": view.tau, "entropy_bits": view.entropy,
                             "synthetic": view.synthetic, tasks.SOURCE_KEY: scan.meta.source_path}})
            self._label.value = view.text()

        def on_error(exc: BaseException) -> None:
            self._fail(tasks.one_line_error(f"compute GEMax (τ = {tau}) of", title, exc))

        def on_finish() -> None:
            self._worker = None
            self._start_next()

        self._worker = create_worker(tasks.gemax_view, source, tau, size,
                                     _progress={"desc": f"GEMax τ = {tau}: {title}"},
                                     _connect={"returned": on_return, "errored": on_error, "finished": on_finish},
                                     _start_thread=False)
        self._worker.start()


class ExplainWidget(_ViewerWidget):
    """Explain a held-out scan of a trained fold: the model's inputs, its prediction and heat maps.

    Pick a results folder written by ``ferbench train`` or ``ferbench demo`` (``<model>__<protocol>__seed<n>``),
    a fold, a held-out scan and a method; :func:`ferbench_napari.tasks.explain_view` runs in a worker and
    its inputs and heat maps (Grad-CAM family per modality or input-gradient saliency, plus the model's
    attention maps) appear as Image layers, updated in place on the next run.

    Parameters
    ----------
    napari_viewer
        The viewer (injected by napari).

    Attributes
    ----------
    view
        The last :class:`ferbench_napari.tasks.ExplainView` shown, or None.
    worker
        The running worker, or None.
    """

    def __init__(self, napari_viewer: "napari.viewer.Viewer") -> None:
        super().__init__(napari_viewer)
        self.view: tasks.ExplainView | None = None
        self.worker = None
        self._folder = FileEdit(label="results", mode="d",
                                tooltip="a results folder of ferbench train / demo (<model>__<protocol>__seed<n>)")
        self._fold = SpinBox(label="fold", min=1, max=1000, value=1)
        self._index = SpinBox(label="held-out scan", min=1, max=100000, value=1)
        self._method = ComboBox(label="method", choices=list(tasks.EXPLAIN_METHODS), value="gradcam")
        self._run = PushButton(text="Explain")
        self.extend([self._folder, self._fold, self._index, self._method, self._run, self._message])
        self._run.changed.connect(self.explain)

    def explain(self, *_: Any) -> Any:
        """Start explaining the chosen scan; returns the worker (or None on bad input)."""
        import os

        if self.worker is not None:
            return self.worker
        folder = str(self._folder.value or "")
        if not folder or not os.path.isdir(folder):
            self._fail(f"ferbench: choose a results folder (got {folder!r})")
            return None
        fold, index, method = int(self._fold.value) - 1, int(self._index.value) - 1, str(self._method.value)
        what = f"held-out scan {index + 1} of fold {fold + 1} in {os.path.basename(folder.rstrip(os.sep))}"

        def on_return(view: tasks.ExplainView) -> None:
            self.view = view
            for data, kwargs, kind in view.layers():
                self._add_or_update(data, kwargs, kind)
            self._message.value = view.text()

        def on_error(exc: BaseException) -> None:
            self._fail(tasks.one_line_error("explain", what, exc))

        self._message.value = f"{what}: loading the model..."
        return self._run_once(self._run, tasks.explain_view, folder, fold, index, method,
                              progress={"desc": f"ferbench explain: {what}"},
                              connect={"returned": on_return, "errored": on_error})
