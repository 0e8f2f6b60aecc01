"""napari dock widgets: attribute maps, GEMax τ, Explain, Results, Embedding and Predict.

Each widget only gathers inputs, runs a public ferbench view (:mod:`ferbench.views`, the run object of
:mod:`ferbench.eval.results`, the :mod:`ferbench.viz` displays) in a :func:`napari.qt.threading.create_worker`
thread, and shows the result as layers (placed by :mod:`ferbench_napari._viewer`) or on a matplotlib canvas.
No numerical work happens here.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable

from ferbench_napari import tasks

tasks.block_late_triton_import()     # before torch / torchvision load (napari + Mesa + triton segfault)

from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, Label, PushButton, Slider  # noqa: E402
from napari.qt.threading import create_worker  # noqa: E402
from napari.utils.notifications import show_error  # noqa: E402
from qtpy.QtCore import Qt  # noqa: E402
from qtpy.QtWidgets import QLabel, QSizePolicy  # noqa: E402

from ferbench_napari import _viewer  # noqa: E402

if TYPE_CHECKING:  # pragma: no cover
    import napari

__all__ = ["AttributeMapsWidget", "GEMaxTauWidget", "ExplainWidget", "ResultsWidget", "EmbeddingWidget",
           "PredictWidget"]

FULL_TAU_POSITION = 61
"""Slider position standing for τ = N (unconstrained): positions 16..60 are Table 3's range, one per step."""


_WARM: dict[str, Any] = {}


def _warm_up() -> None:
    """Start importing torch & co. in a worker thread, once per process (see :func:`tasks.warm_up_imports`)."""
    if "worker" not in _WARM:
        tasks.warm_up_started()          # the docks' workers wait for it (tasks.after_warm_up)
        _WARM["worker"] = create_worker(tasks.warm_up_imports, _start_thread=True)


def _is_scan_layer(layer: Any) -> bool:
    from napari.layers import Surface

    return isinstance(layer, Surface) and tasks.has_scan(layer)


class _ElidedLabel(QLabel):
    """One line that never widens the dock: elided to the dock's width, the full text in its tooltip."""

    def __init__(self) -> None:
        super().__init__()
        self._full = ""
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        self.setMinimumWidth(20)
        self.setTextInteractionFlags(Qt.TextSelectableByMouse)

    def set_full_text(self, text: str) -> None:
        self._full = str(text)
        self.setToolTip(self._full)
        self._elide()

    def full_text(self) -> str:
        return self._full

    def _elide(self) -> None:
        width = max(self.width() - 4, 20)
        QLabel.setText(self, self.fontMetrics().elidedText(self._full, Qt.ElideRight, width))

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt name
        super().resizeEvent(event)
        self._elide()


def _combo(label: str, choices: list | None = None, **kwargs: Any) -> ComboBox:
    """A ComboBox whose choices live in the widget (napari's ``reset_choices`` on layer changes keeps them)."""
    state: list = list(choices or [])
    box = ComboBox(label=label, choices=lambda _w=None: list(state), **kwargs)
    box._ferbench_state = state
    return box


def _set_choices(box: ComboBox, choices: list, value: Any = "first") -> None:
    """Replace a :func:`_combo`'s choices and pick ``value`` (default the first), without a change event storm."""
    with box.changed.blocked():
        box._ferbench_state[:] = list(choices)
        box.reset_choices()
        vals = [c[1] if isinstance(c, tuple) else c for c in choices]
        if value == "first":
            value = vals[0] if vals else None
        if value in vals or (value is None and box._nullable):
            box.value = value


def _canvas(width: float, height: float):
    """A matplotlib figure on a Qt canvas for a dock (FigureCanvasQTAgg)."""
    from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=80, layout="constrained")
    canvas = FigureCanvasQTAgg(fig)
    canvas.setMinimumHeight(int(height * 80 * 0.8))
    canvas.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
    return fig, canvas


class _ViewerWidget(Container):
    """Base: the viewer, a one-line status, errors, workers."""

    def __init__(self, napari_viewer: "napari.viewer.Viewer", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._viewer = napari_viewer
        _viewer.install_viewer_hooks(napari_viewer)
        _warm_up()
        self._line = _ElidedLabel()
        self.worker = None

    def _add_status(self) -> None:
        self.native.layout().addWidget(self._line)

    @property
    def status(self) -> str:
        """The widget's status line (full text)."""
        return self._line.full_text()

    def _say(self, text: str) -> None:
        self._line.set_full_text(text)

    def _fail(self, message: str) -> None:
        """Show a one-line error (file names, not paths) in the widget and as a napari notification."""
        message = tasks.short_path_error(message)
        self._say(message)
        show_error(message)

    def _start(self, button: PushButton | None, fn: Callable, *args: Any, desc: str, returned: Callable,
               what: str, total: int = 0, yielded: Callable | None = None, **kwargs: Any) -> Any:
        """Run ``fn`` in a worker with a progress bar; ``button`` disabled until it finishes."""
        if self.worker is not None:
            return self.worker

        def on_finish() -> None:
            self.worker = None
            if button is not None:
                button.enabled = True

        def on_error(exc: BaseException) -> None:
            self._fail(tasks.one_line_error(what.split(" ", 1)[0], what.split(" ", 1)[-1], exc))

        connect = {"returned": returned, "errored": on_error, "finished": on_finish}
        if yielded is not None:
            connect["yielded"] = yielded
        if button is not None:
            button.enabled = False
        progress = {"desc": desc}
        if total:
            progress["total"] = total
        self.worker = create_worker(tasks.after_warm_up(fn), *args, _progress=progress, _connect=connect,
                                    _start_thread=False, **kwargs)
        worker = self.worker
        worker.start()
        return worker


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

    def _scan(self) -> Any:
        """The chosen layer's Scan, or None (after saying why)."""
        from ferbench.errors import FerbenchError

        layer = self._layer_combo.value
        if layer is None:
            self._fail("ferbench: no scan layer; open a scan (File > Open) or the sample face")
            return None
        try:
            return tasks.scan_from_layer(layer)
        except (FerbenchError, OSError) as exc:
            self._fail(tasks.one_line_error("read", repr(layer.name), exc))
            return None


class _RunPicker(Container):
    """A results folder (a run, or a root holding runs) and the run chosen among :func:`list_runs`."""

    def __init__(self, on_change: Callable[[], None]) -> None:
        super().__init__(labels=True)
        self._folder = FileEdit(label="results", mode="d",
                                tooltip="a run folder of ferbench train / demo, or the results root holding runs")
        self._run = _combo("run", tooltip="runs found in the results folder")
        self.extend([self._folder, self._run])
        self._folder.changed.connect(self._refresh)
        self._run.changed.connect(lambda *_: on_change())
        self._on_change = on_change

    def _refresh(self, *_: Any) -> None:
        from ferbench.eval.results import list_runs

        folder = str(self._folder.value or "")
        runs = list_runs(folder) if folder and os.path.isdir(folder) else []
        root = os.path.abspath(folder) if folder else ""
        choices = []
        for r in runs:
            rel = os.path.relpath(str(r.path), root) if root else r.name
            choices.append((r.name if rel == "." else rel, r))
        _set_choices(self._run, choices)
        self._on_change()

    @property
    def folder(self) -> str:
        return str(self._folder.value or "")

    @folder.setter
    def folder(self, value: str | os.PathLike) -> None:
        self._folder.value = str(value)

    @property
    def run(self) -> Any:
        return self._run.value

    @property
    def n_runs(self) -> int:
        return len([c for c in self._run.choices if c is not None])


# ====================================================================================== attribute maps

class AttributeMapsWidget(_ScanLayerWidget):
    """Attribute maps of the selected scan (:func:`ferbench.views.iter_scan_maps`) as a labelled grid.

    Each map is one Image layer ``"<scan> <map>"`` in its own cell (colormap and contrast from the core's
    :class:`ferbench.views.MapLayer`), with its full name above it; the view switches to 2D and zooms to the
    grid. Running again replaces that scan's maps.
    """

    def __init__(self, napari_viewer: "napari.viewer.Viewer") -> None:
        from ferbench.maps import DFCNN_MAPS, list_maps

        super().__init__(napari_viewer)
        self.view = None
        names = list_maps()
        self._boxes = {n: CheckBox(text=n, value=n in DFCNN_MAPS) for n in names}
        rows = [Container(layout="horizontal", widgets=[self._boxes[n] for n in names[i:i + 3]], labels=False)
                for i in range(0, len(names), 3)]
        for r in rows:
            r.margins = (0, 0, 0, 0)
        self._picker = Container(widgets=rows, labels=False, label="maps")
        self._picker.margins = (0, 0, 0, 0)
        self._size = ComboBox(label="size (px)", choices=[32, 64, 112, 128, 224], value=224)
        self._run = PushButton(text="Compute maps")
        self.extend([self._picker, self._size, self._run])
        self._add_status()
        self._run.changed.connect(self.compute)
        self.reset_choices()

    @property
    def maps(self) -> list[str]:
        """The ticked maps."""
        return [n for n, b in self._boxes.items() if b.value]

    @maps.setter
    def maps(self, names: list[str]) -> None:
        for n, b in self._boxes.items():
            b.value = n in names

    def compute(self, *_: Any) -> Any:
        """Start computing the ticked maps of the chosen scan; returns the worker (or None on bad input)."""
        scan = self._scan()
        if scan is None:
            return None
        names = self.maps
        if not names:
            self._fail("ferbench: tick at least one map")
            return None
        title, size = tasks.scan_title(scan), int(self._size.value)
        total = len(names) + 1
        done = {"n": 0}

        def on_yield(step: str) -> None:
            done["n"] += 1
            self._say(f"{title}: {step} ({done['n']}/{total})")

        def on_return(view: Any) -> None:
            self.view = view
            group = f"maps {tasks.scan_name(scan)}"
            _viewer.replace_group(self._viewer, group, tasks.map_grid_layers(scan, view))
            missing = "".join(f"; {n}: {why}" for n, why in view.missing.items())
            self._say(f"{title}: {len(view.maps)} maps at {size} px{missing}")

        self._say(f"{title}: preprocessing...")
        return self._start(self._run, tasks.iter_attribute_maps, scan, names, size, desc=f"maps of {title}",
                           total=total, yielded=on_yield, returned=on_return, what=f"compute maps of {title}")


# ====================================================================================== GEMax τ

def _tau_of_position(pos: int) -> int:
    return tasks.GEMAX_N if int(pos) >= FULL_TAU_POSITION else int(pos)


def _position_of_tau(tau: int) -> int:
    from ferbench.errors import FerbenchError

    tau = int(tau)
    if tau == tasks.GEMAX_N:
        return FULL_TAU_POSITION
    if not tasks.TAU_MIN <= tau <= 60:
        raise FerbenchError(f"τ = {tau}: the widget offers GEMax Table 3's range {tasks.TAU_MIN}..60 and "
                            f"N = {tasks.GEMAX_N}")
    return tau


class GEMaxTauWidget(_ScanLayerWidget):
    """GEMax map of the selected scan's depth with a τ slider, one Image layer updated in place.

    The slider moves one step per τ over GEMax Table 3's range (16..60) and its last step is N = 4096
    (unconstrained); the preset box follows it. A plot shows ferbench's entropy against τ beside Table 3's
    and marks the current τ; the label gives both values. Changes made while one runs are coalesced.
    """

    def __init__(self, napari_viewer: "napari.viewer.Viewer") -> None:
        super().__init__(napari_viewer)
        self.view = None
        self.curve = None
        self._worker = None
        self._curve_worker = None
        self._pending: tuple[Any, int, int] | None = None
        self._grid_cache: tuple[Any, int, Any] | None = None   # (scan, size, FaceGrid)
        self._tau = Slider(label="τ", min=tasks.TAU_MIN, max=FULL_TAU_POSITION, value=20, readout=False,
                           tooltip=f"one step per τ from {tasks.TAU_MIN} to 60 (GEMax Table 3), last step N = "
                                   f"{tasks.GEMAX_N} (unconstrained, about 1 s)")
        presets = [(("N (4096)" if t == tasks.GEMAX_N else str(t)), t) for t in tasks.TAU_PRESETS]
        self._preset = ComboBox(label="τ of Table 3", choices=presets + [("other", None)], value=20)
        self._tau_text = Label(label="τ value", value="20")
        self._size = ComboBox(label="size (px)", choices=[64, 112, 224], value=224)
        self.extend([self._tau, self._tau_text, self._preset, self._size])
        self._fig, self._canvas = _canvas(3.6, 2.3)
        self._ax = self._fig.add_subplot()
        self.native.layout().addWidget(self._canvas)
        self._add_status()
        self._tau.changed.connect(self._on_tau)
        self._preset.changed.connect(self._on_preset)
        self._show = False         # the pending request comes from τ / size moved here: show it in the 2D view
        self._size.changed.connect(self._on_size)
        self._layer_combo.changed.connect(self._on_scan)
        self.reset_choices()

    # -- public API ---------------------------------------------------------------------------
    @property
    def tau(self) -> int:
        return _tau_of_position(self._tau.value)

    @tau.setter
    def tau(self, value: int) -> None:
        self._tau.value = _position_of_tau(value)

    @property
    def busy(self) -> bool:
        """True while a computation runs or waits."""
        return self._worker is not None or self._pending is not None or self._curve_worker is not None

    @property
    def label_text(self) -> str:
        return self.status

    # -- events -------------------------------------------------------------------------------
    def _on_size(self, *_: Any) -> None:
        self._show = True
        self.curve = None
        self._request()
        self._request_curve()

    def _on_tau(self, _pos: int) -> None:
        self._show = True
        tau = self.tau
        self._tau_text.value = f"N = {tau}" if tau == tasks.GEMAX_N else str(tau)
        want = tau if tau in tasks.TAU_PRESETS else None
        if self._preset.value != want:
            with self._preset.changed.blocked():
                self._preset.value = want
        self._mark_tau()
        self._request()

    def _on_preset(self, value: int | None) -> None:
        if value is not None and int(value) != self.tau:
            self.tau = int(value)

    def _on_scan(self, *_: Any) -> None:
        self.curve = None
        self._request()
        self._request_curve()

    def _request(self, *_: Any) -> None:
        layer = self._layer_combo.value
        if layer is None:
            self._say("open a scan (File > Open or the sample face) to see its GEMax map")
            return
        if not self._show and not self.native.isVisible():
            return       # a closed dock does not follow the layers opened elsewhere
        self._pending = (layer, self.tau, int(self._size.value), self._show)
        self._show = False
        if self._worker is None:
            self._start_next()

    def _request_curve(self, force: bool = False) -> None:
        from ferbench.views.gemax import entropy_curve

        scan = self._scan() if self._layer_combo.value is not None else None
        if scan is None or self._curve_worker is not None or not (force or self._show or self.native.isVisible()):
            return
        size = int(self._size.value)
        taus = list(range(tasks.TAU_MIN, 61)) + [tasks.GEMAX_N]

        def on_return(curve: Any) -> None:
            self.curve = curve
            self._draw_curve()

        def on_finish() -> None:
            self._curve_worker = None

        self._curve_worker = create_worker(tasks.after_warm_up(entropy_curve), scan, taus, size,
                                           _progress={"desc": "GEMax entropy versus τ"},
                                           _connect={"returned": on_return, "finished": on_finish},
                                           _start_thread=False)
        self._curve_worker.start()

    def _draw_curve(self) -> None:
        import numpy as np

        c = self.curve
        ax = self._ax
        ax.clear()
        if c is None:
            return
        x = np.array([t if t <= 60 else 66 for t in c.taus], float)
        ours = np.asarray(c.entropies, float)
        fine = x <= 60
        ax.plot(x[fine], ours[fine], "-", color="#1f77b4", lw=1.5,
                label="ferbench" + (" (synthetic)" if c.synthetic else ""))
        ax.plot(x[~fine], ours[~fine], "o", color="#1f77b4", ms=4)
        paper = np.asarray(c.paper_entropies, float)
        ok = np.isfinite(paper)
        ax.plot(x[ok], paper[ok], "s", color="#d62728", ms=4, label="GEMax Table 3")
        ax.set_xticks([16, 20, 30, 40, 50, 60, 66], ["16", "20", "30", "40", "50", "60", "N"])
        ax.set_xlabel("τ", fontsize=8)
        ax.set_ylabel("entropy (bits)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, loc="lower right")
        ax.set_title(c.title, fontsize=8)
        self._marker = ax.axvline(self._x_of_tau(), color="k", ls="--", lw=1)
        self._canvas.draw_idle()

    @staticmethod
    def _x_of_tau_value(tau: int) -> float:
        return 66.0 if tau > 60 else float(tau)

    def _x_of_tau(self) -> float:
        return self._x_of_tau_value(self.tau)

    def _mark_tau(self) -> None:
        marker = getattr(self, "_marker", None)
        if marker is not None and self.curve is not None:
            x = self._x_of_tau()
            marker.set_xdata([x, x])
            self._canvas.draw_idle()

    @property
    def marked_tau_x(self) -> float | None:
        """x of the plot's current-τ marker (66 stands for N), or None before the curve is drawn."""
        marker = getattr(self, "_marker", None)
        return None if marker is None or self.curve is None else float(marker.get_xdata()[0])

    def _start_next(self) -> None:
        if self._pending is None:
            return
        layer, tau, size, show = self._pending
        self._pending = None
        scan = self._scan()
        if scan is None:
            return
        if self.curve is None and self._curve_worker is None:
            self._request_curve(force=show)
        cached = self._grid_cache
        source = cached[2] if cached is not None and cached[0] is scan and cached[1] == size else scan
        title = tasks.scan_title(scan)
        self._say(f"τ = {tau}: computing...")

        def on_return(view: Any) -> None:
            self._grid_cache = (scan, size, view.grid)
            if self._pending is not None:      # a newer request is queued: skip the stale result
                return
            self.view = view
            name = f"{tasks.short_scan_name(scan)} GEMax"
            md = {"ferbench_map": "gemax", "tau": view.tau, "entropy_bits": view.entropy, "synthetic": view.synthetic,
                  tasks.SOURCE_KEY: scan.meta.source_path, tasks.KIND_KEY: "gemax"}
            group = f"gemax {tasks.scan_name(scan)}"
            shown = [lay for lay in _viewer.group_layers(self._viewer, group)
                     if lay.metadata.get(tasks.KIND_KEY) == "gemax"]
            # another τ of the map on show: updated in place, the view neither switched nor re-zoomed
            step = bool(shown) and shown[0].data.shape == view.map.shape
            kw = {"name": name, "colormap": "gray", "contrast_limits": (0, tasks.GEMAX_K - 1), "metadata": md}
            lab = tasks.label_layer_tuple(f"{name} label", [(0.0, 0.0)], float(view.map.shape[0]),
                                          [f"GEMax depth map of {title}"], dict(md, **{tasks.KIND_KEY: "labels"}))
            kw["translate"] = (0.18 * view.map.shape[0], 0.0)
            lab[0][:, 0] += 0.18 * view.map.shape[0]
            _viewer.replace_group(self._viewer, group, [(view.map, kw, "image"), lab], show=show and not step)
            self._say(view.text())

        def on_finish() -> None:
            self._worker = None
            self._start_next()

        def on_error(exc: BaseException) -> None:
            self._fail(tasks.one_line_error(f"compute GEMax (τ = {tau}) of", title, exc))

        self._worker = create_worker(tasks.after_warm_up(tasks.gemax_view), source, tau, size,
                                     _progress={"desc": f"GEMax τ = {tau}: {title}"},
                                     _connect={"returned": on_return, "errored": on_error, "finished": on_finish},
                                     _start_thread=False)
        self._worker.start()


# ====================================================================================== runs

class _RunChoice:
    """Mixin for a :class:`_ViewerWidget`: a run picker, ``run``, ``set_results``; ``_on_run`` fills the rest.

    ``factory`` is for runs of a model of your own (checkpoints only name registered ones)."""

    _count_runs = True   # status "run (1 of n runs)" when the folder holds several

    def _make_picker(self) -> _RunPicker:
        self.factory: Callable | None = None
        self._picker = _RunPicker(self._run_changed)
        return self._picker

    @property
    def run(self) -> Any:
        return self._picker.run

    def set_results(self, folder: str | os.PathLike) -> None:
        """Point the picker at a run or a results root (as choosing it in the file box)."""
        self._picker.folder = folder

    def _run_changed(self) -> None:
        from ferbench.errors import FerbenchError

        run = self.run
        if run is None:
            if self._picker.folder:
                self._fail(f"ferbench: no ferbench run in {os.path.basename(self._picker.folder.rstrip(os.sep))}")
            return
        try:
            self._on_run(run)
            n = self._picker.n_runs if self._count_runs else 1
            self._say(f"{run.name}" + (f" (1 of {n} runs)" if n > 1 else ""))
        except (FerbenchError, OSError, ValueError, KeyError) as exc:
            self._fail(tasks.one_line_error("open run", run.name, exc))

    def _on_run(self, run: Any) -> None:   # pragma: no cover - overridden
        pass


class _RunWidget(_RunChoice, _ViewerWidget):
    """Base: a run picker above the widget's own controls."""

    def __init__(self, napari_viewer: "napari.viewer.Viewer", **kwargs: Any) -> None:
        super().__init__(napari_viewer, **kwargs)
        self.append(self._make_picker())


class _FoldRunWidget(_RunWidget):
    """Base: run picker plus a fold chosen among the run's folds."""

    def __init__(self, napari_viewer: "napari.viewer.Viewer", **kwargs: Any) -> None:
        super().__init__(napari_viewer, **kwargs)
        self._fold = _combo("fold")
        self.append(self._fold)

    def _on_run(self, run: Any) -> None:
        _set_choices(self._fold, tasks.fold_choices(run))


class ExplainWidget(_FoldRunWidget):
    """Explain a held-out scan of a trained fold (:func:`ferbench.views.explanation_view`).

    The results box takes a run or a results root (its runs are listed); fold and scan are chosen among
    what the run holds (scans listed with subject, expression and intensity, numbered from 1). Each heat map
    is drawn over its own input, cells side by side and labelled; a new explanation replaces the previous one.
    """

    def __init__(self, napari_viewer: "napari.viewer.Viewer") -> None:
        super().__init__(napari_viewer)
        self.view = None
        self._scan = _combo("held-out scan")
        self._method = ComboBox(label="method", choices=list(tasks.EXPLAIN_METHODS), value="gradcam")
        self._run_btn = PushButton(text="Explain")
        self.extend([self._scan, self._method, self._run_btn])
        self._add_status()
        self._fold.changed.connect(self._fold_changed)
        self._run_btn.changed.connect(self.explain)

    def _on_run(self, run: Any) -> None:
        super()._on_run(run)
        self._fold_changed()

    def _fold_changed(self, *_: Any) -> None:
        run, fold = self.run, self._fold.value
        ch = tasks.held_out_choices(run, fold) if run is not None and fold is not None else []
        _set_choices(self._scan, ch)

    def explain(self, *_: Any, fold: int | None = None, position: int | None = None) -> Any:
        """Start explaining the chosen scan; returns the worker (or None on bad input)."""
        run = self.run
        fold = self._fold.value if fold is None else fold
        position = self._scan.value if position is None else position
        if run is None or fold is None or position is None:
            self._fail("ferbench: choose a results folder holding a trained run, a fold and a scan")
            return None
        method = str(self._method.value)
        what = f"explain held-out scan {position + 1} of fold {fold + 1} in {run.name}"
        n = len(run.held_out(fold))
        if not 0 <= position < n:      # said 1-based, as the widget numbers them
            self._fail(f"ferbench: cannot {what}: fold {fold + 1} holds {n} held-out scans (1-{n})")
            return None

        def on_return(view: Any) -> None:
            self.view = view
            _viewer.replace_group(self._viewer, "explain", tasks.explanation_view_layers(view))
            self._say(view.text())

        self._say(f"held-out scan {position + 1} of fold {fold + 1}: loading the model...")
        return self._start(self._run_btn, tasks.explain_view, run, fold, position, method, desc="ferbench explain",
                           returned=on_return, what=what, factory=self.factory)


class ResultsWidget(_RunWidget):
    """A run's results beside a paper's: accuracy with its 95 % interval and the test against chance, the
    confusion matrix beside the chosen paper table and their difference, per-class accuracy bars (the report's
    :class:`~ferbench.viz.ConfusionComparisonDisplay` and :class:`~ferbench.viz.AccuracyTableDisplay`)."""

    def __init__(self, napari_viewer: "napari.viewer.Viewer") -> None:
        super().__init__(napari_viewer)
        self.view = None
        self.confusion_display = None
        self.accuracy_display = None
        self._paper = _combo("paper table", [("none (ferbench only)", None)])
        self._summary = QLabel("")
        self._summary.setWordWrap(True)
        self._summary.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.append(self._paper)
        self.native.layout().addWidget(self._summary)
        self._fig, self._canvas = _canvas(6.4, 9.6)
        self._canvas.setMinimumWidth(480)
        self.native.layout().addWidget(self._canvas)
        self._add_status()
        self._paper.changed.connect(lambda *_: self.update_results())

    def _on_run(self, run: Any) -> None:
        from ferbench.views.results import paper_comparisons

        choices = [("none (ferbench only)", None)] + [(f"{run.paper}: {lab}", tab)
                                                    for lab, tab in paper_comparisons(run.paper)]
        _set_choices(self._paper, choices, choices[1][1] if len(choices) > 1 else None)
        self.update_results()

    @property
    def summary_text(self) -> str:
        return self._summary.text()

    def update_results(self) -> None:
        """Draw the chosen run (against the chosen paper table)."""
        from ferbench.errors import FerbenchError
        from ferbench.views.results import results_view
        from ferbench.viz import AccuracyTableDisplay, ConfusionComparisonDisplay

        run = self.run
        if run is None:
            return
        try:
            view = results_view(run, self._paper.value)
        except (FerbenchError, OSError, ValueError, KeyError) as exc:
            self._fail(tasks.one_line_error("show the results of", run.name, exc))
            return
        self.view = view
        s = view.summary
        if s is not None and s.accuracy is not None:
            lo, hi = s.ci95
            synth = " (synthetic)" if s.synthetic else ""
            self._summary.setText(f"{view.title}\naccuracy {100 * s.accuracy:.1f} %{synth}, 95 % CI "
                                  f"{100 * lo:.1f}-{100 * hi:.1f} % on {s.n} scans\nchance {100 * s.chance:.1f} %, "
                                  f"one-sided binomial p = {s.p_value:.2g}")
        self.confusion_display = ConfusionComparisonDisplay.from_view(view)
        self.accuracy_display = AccuracyTableDisplay.from_view(view)
        fig = self._fig
        fig.clear()
        # ours | paper, then difference | (empty), then the per-class bars across: readable in a dock
        gs = fig.add_gridspec(3, 2, height_ratios=[1, 1, 0.9])
        axes = [fig.add_subplot(gs[0, 0])]
        if view.paper_confusion is not None:
            axes += [fig.add_subplot(gs[0, 1]), fig.add_subplot(gs[1, 0])]
        self.confusion_display.plot(axes)
        self.accuracy_display.plot(fig.add_subplot(gs[2, :]))
        from ferbench.viz._common import wrap_lines

        for ax in fig.axes:
            ax.tick_params(labelsize=7)
            ax.set_title(wrap_lines(ax.get_title(), 44 if ax.bbox.width < 300 else 80))   # at the dock's 8 pt
            ax.title.set_fontsize(8)
            ax.xaxis.label.set_fontsize(7)
            ax.yaxis.label.set_fontsize(7)
        self._canvas.draw_idle()


class EmbeddingWidget(_FoldRunWidget):
    """t-SNE / PCA of a fold's held-out features (:func:`ferbench.views.embedding_view`) coloured by expression,
    misclassified scans circled in black. Clicking a point opens that scan in the viewer (3D; a scan already
    open is shown again, not added twice) and explains it (the Explain layers of the 2D view); the picked point
    is ringed."""

    def __init__(self, napari_viewer: "napari.viewer.Viewer") -> None:
        super().__init__(napari_viewer)
        self.view = None
        self.embedding_display = None
        self.explanation = None
        self.opened_layer = None
        self.selected: int | None = None
        self._method = ComboBox(label="embedding", choices=[("t-SNE", "tsne"), ("PCA", "pca")], value="tsne")
        self._btn = PushButton(text="Embed held-out scans")
        self.extend([self._method, self._btn])
        self._fig, self._canvas = _canvas(4.6, 4.2)
        self._ax = self._fig.add_subplot()
        self.native.layout().addWidget(self._canvas)
        self._add_status()
        self._btn.changed.connect(self.embed)
        self._canvas.mpl_connect("pick_event", self._on_pick)

    def embed(self, *_: Any) -> Any:
        """Start embedding the chosen fold; returns the worker (or None)."""
        from ferbench.views.embedding import embedding_view

        run, fold = self.run, self._fold.value
        if run is None or fold is None:
            self._fail("ferbench: choose a results folder holding a trained run and a fold")
            return None

        def on_return(view: Any) -> None:
            self.view = view
            self.selected = None
            self._draw()
            self._say(f"{view.title}: {len(view.paths)} scans, {int(view.misclassified.sum())} misclassified; "
                      "click a point to open its scan")

        return self._start(self._btn, embedding_view, run, fold, str(self._method.value), desc="ferbench embedding",
                           returned=on_return, what=f"embed fold {fold + 1} of {run.name}", factory=self.factory)

    def _draw(self) -> None:
        from ferbench.viz import EmbeddingDisplay

        v = self.view
        ax = self._ax
        ax.clear()
        self.embedding_display = EmbeddingDisplay.from_view(v).plot(ax, s=40, misclassified=True)
        self._pick_artist = ax.scatter(v.points[:, 0], v.points[:, 1], s=30, alpha=0.0, picker=True, pickradius=6)
        ax.title.set_fontsize(8)
        self._canvas.draw_idle()

    @property
    def _ring(self) -> Any:
        """The chosen point's ring (None before a point is chosen)."""
        d = self.embedding_display
        return None if d is None else d.chosen_

    def _on_pick(self, event: Any) -> None:
        if event.artist is not getattr(self, "_pick_artist", None) or not len(event.ind):
            return
        from ferbench.views.embedding import nearest_point

        ind = [int(i) for i in event.ind]       # the point nearest the click among those under it (in pixels)
        k = nearest_point(self._ax.transData.transform(self.view.points[ind]), event.mouseevent.x,
                          event.mouseevent.y)
        if k is not None:
            self.select(ind[k])

    def select(self, i: int) -> Any:
        """Open point ``i``'s scan in the viewer and explain it (as clicking the point)."""
        from ferbench.io import read_scan
        from ferbench.views.embedding import point_position

        from ferbench_napari import scan_to_layers

        v, run = self.view, self.run
        if v is None or run is None:
            return None
        self.selected = i
        self.embedding_display.mark(i)
        self._canvas.draw()
        path = v.paths[i]
        is_open = _viewer.scan_layer(self._viewer, path) is not None    # a scan already shown is not read again

        def work():
            scan = None if is_open else read_scan(path)
            pos = point_position(run, v, i)
            return scan, tasks.explain_view(run, v.fold, pos, "gradcam", factory=self.factory)

        def on_return(result: Any) -> None:
            from napari.layers import Layer

            scan, expl = result
            self.explanation = expl
            _viewer.replace_group(self._viewer, "explain", tasks.explanation_view_layers(expl), zoom=False)
            layer = _viewer.scan_layer(self._viewer, path)
            if layer is None:                    # not open yet (or closed meanwhile): add its surface + landmarks
                scan = read_scan(path) if scan is None else scan
                layer = [self._viewer.add_layer(Layer.create(d, kw, k)) for d, kw, k in scan_to_layers(scan)][0]
            self.opened_layer = layer
            _viewer.show_3d(self._viewer)
            self._say(expl.text())

        return self._start(None, work, desc="ferbench open scan", returned=on_return,
                           what=f"open {os.path.basename(path)}")


class PredictWidget(_RunChoice, _ScanLayerWidget):
    """Run a trained run on any scan layer (:func:`ferbench.views.prediction_view`): predicted expression with
    a bar of probabilities, the Grad-CAM of the chosen class over the scan's inputs (2D) and painted on the
    surface (3D, vertex colours). One fold or all folds averaged; CUDA when present, else the CPU."""

    _count_runs = False   # status: the run's name only

    def __init__(self, napari_viewer: "napari.viewer.Viewer") -> None:
        super().__init__(napari_viewer)
        self.view = None
        self._models: dict[Any, dict] = {}
        self._make_picker()
        self._folds = _combo("folds", [("all folds averaged", "all")])
        self._class = _combo("CAM of", [("predicted class", None)])
        self._method = ComboBox(label="method", choices=[m for m in tasks.EXPLAIN_METHODS if m != "saliency"],
                                value="gradcam")
        self._device = Label(label="device", value=self._device_text())
        self._btn = PushButton(text="Predict")
        self.extend([self._picker, self._folds, self._class, self._method, self._device, self._btn])
        self._fig, self._canvas = _canvas(4.2, 2.4)
        self._ax = self._fig.add_subplot()
        self.native.layout().addWidget(self._canvas)
        self._add_status()
        self._btn.changed.connect(self.predict)
        self.reset_choices()

    @staticmethod
    def _device_text() -> str:
        import torch

        if torch.cuda.is_available():
            return f"CUDA ({torch.cuda.get_device_name(0)})"
        return "CPU (no CUDA on this machine)"

    def _on_run(self, run: Any) -> None:
        _set_choices(self._folds, [("all folds averaged", "all")] + tasks.fold_choices(run))
        _set_choices(self._class, [("predicted class", None)] + [(c, c) for c in run.classes])

    def predict(self, *_: Any) -> Any:
        """Start predicting the chosen scan layer; returns the worker (or None)."""
        from ferbench.views.prediction import prediction_view

        run, layer = self.run, self._layer_combo.value
        if run is None:
            self._fail("ferbench: choose a results folder holding a trained run")
            return None
        scan = self._scan()
        if scan is None:
            return None
        xyz = tasks.scan_xyz_from_napari(layer.data[0])
        cache = self._models.setdefault(str(run.path), {})
        title = tasks.scan_title(scan)

        def on_return(view: Any) -> None:
            from ferbench.viz.surface import heat_vertex_colors

            self.view = view
            _viewer.replace_group(self._viewer, "predict", tasks.prediction_grid_layers(view))
            base = layer.metadata.get("ferbench_vertex_rgb")
            if base is not None and len(base) == len(view.vertex_values):
                layer.vertex_colors = heat_vertex_colors(base, view.vertex_values, "jet", clim=(0.0, 1.0), alpha=0.6)
            self._draw(view)
            self._say(view.text())

        self._say(f"{title}: predicting...")
        return self._start(self._btn, prediction_view, run, scan, self._folds.value, str(self._method.value),
                           desc="ferbench predict", returned=on_return, what=f"predict {title}",
                           class_name=self._class.value, factory=self.factory, vertices=xyz, fold_models=cache)

    def _draw(self, view: Any) -> None:
        import numpy as np

        from ferbench.viz._common import class_color

        ax = self._ax
        ax.clear()
        p = 100 * np.asarray(view.probabilities, float)
        y = np.arange(len(view.classes))
        colors = [class_color(c, i) for i, c in enumerate(view.classes)]
        bars = ax.barh(y, p, color=colors)
        ax.bar_label(bars, labels=[f"{v:.0f} %" for v in p], fontsize=7)
        ax.set_yticks(y, view.classes)
        ax.invert_yaxis()
        ax.set_xlim(0, 115)
        ax.set_xlabel("probability (%)", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.set_title(tasks.short_path_error(f"{view.title}: {view.predicted_class}"), fontsize=8)
        self._canvas.draw_idle()
