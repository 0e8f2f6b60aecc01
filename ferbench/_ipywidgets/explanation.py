"""ExplanationPanel and EmbeddingPanel: what a trained run's model looks at, scan by scan.

* :class:`ExplanationPanel`: pick a fold, one of its held-out scans and a method; draws
  :func:`ferbench.views.explanation_view` (the model's inputs, then its heat maps per modality and its own
  attention maps) with :class:`ferbench.viz.ExplanationDisplay`.
* :class:`EmbeddingPanel`: the held-out scans of a fold as a t-SNE (or PCA) scatter
  (:func:`ferbench.views.embedding_view`); choosing a point (a click on it, a slider or a list, all linked)
  rings it in the scatter and shows that scan's maps and explanation beside it; hovering a point names its
  scan. With ipympl the scatter is an interactive canvas widget (the global matplotlib backend is left as it
  is); without it, scatter and explanation are one PNG and only the slider and the list choose.

The logic is in plain functions (:func:`fold_options`, :func:`scan_options_for_fold`,
:func:`point_options`, :func:`point_explanation`, :func:`ferbench.views.point_position`,
:func:`ferbench.views.nearest_point`) that tests call without a browser.
"""
from __future__ import annotations

import os
from typing import Any

import ipywidgets as widgets

from ferbench._ipywidgets._common import banner, new_figure, show_figure, show_text


def _open(run):
    from ferbench.eval.results import Run, open_run

    return run if isinstance(run, Run) else open_run(run)


def fold_options(run) -> list[tuple[str, int]]:
    """``(label, 0-based fold)`` for each trained split of the first round (``"fold 1 · 36 held-out scans"``)."""
    run = _open(run)
    out = []
    for f in run.folds(round=0):
        ckpt = f.checkpoint
        if ckpt is None or not os.path.isfile(str(ckpt)):
            continue
        acc = "" if f.accuracy is None else f" · accuracy {100 * float(f.accuracy):.1f} %"
        out.append((f"{f.label} · {f.n_test} held-out scans{acc}", int(f.index)))
    return out


def scan_options_for_fold(run, fold: int = 0) -> list[tuple[str, int]]:
    """``(label, 0-based position)`` for each held-out scan of ``fold`` (file name, subject, expression)."""
    run = _open(run)
    return [(f"{h.position + 1}: {h.title} · {h.subject} · {h.class_name}", int(h.position))
            for h in run.held_out(int(fold))]


def explanation_panel_view(run, fold: int = 0, scan_index: int = 0, method: str = "gradcam", *,
                           device: str | None = "cpu", factory=None):
    """What :class:`ExplanationPanel` draws: :func:`ferbench.views.explanation_view` of the choice."""
    from ferbench.views.explanation import explanation_view

    return explanation_view(_open(run), int(fold), int(scan_index), method, device=device, factory=factory)


def point_options(view) -> list[tuple[str, int]]:
    """``(label, point index)`` for each point of an :class:`~ferbench.views.EmbeddingView`."""
    out = []
    for i, (path, subj) in enumerate(zip(view.paths, view.subjects)):
        t, p = view.classes[int(view.y_true[i])], view.classes[int(view.y_pred[i])]
        mark = "" if t == p else "  ✗"
        out.append((f"{i + 1}: {os.path.basename(str(path))} · {subj} · true {t} · predicted {p}{mark}", i))
    return out


def point_position(run, view, point: int) -> int:
    """The 0-based held-out position (``explanation_view``'s ``scan_index``) of embedding point ``point``
    (:func:`ferbench.views.point_position`)."""
    from ferbench.views.embedding import point_position as core

    return core(_open(run), view, point)


def point_explanation(run, view, point: int, method: str = "gradcam", *, device: str | None = "cpu",
                      factory=None):
    """:func:`ferbench.views.explanation_view` of the scan behind embedding point ``point``."""
    return explanation_panel_view(run, view.fold, point_position(run, view, point), method, device=device,
                                  factory=factory)


def _methods() -> list[str]:
    from ferbench.views.explanation import EXPLAIN_METHODS

    return list(EXPLAIN_METHODS)


def ipympl_canvas(fig):
    """An ipympl canvas widget drawing ``fig`` (mouse events reach its ``mpl_connect`` callbacks), or None.

    None when ipympl is not installed. The global matplotlib backend is left as it is: ``import ipympl``
    calls ``matplotlib.use("module://ipympl.backend_nbagg")`` (which would turn every later ``plt.show()`` of
    the notebook into a widget), so that call is muted during the import. The canvas and its manager are made
    directly rather than by ``new_figure_manager_given_figure``, which also queues the figure for pyplot's
    next ``show()``; the figure stays out of pyplot's registry (nothing to close).
    """
    import matplotlib

    use = matplotlib.use
    matplotlib.use = lambda *args, **kwargs: None
    try:
        from ipympl.backend_nbagg import Canvas, FigureManager
    except ImportError:
        return None
    finally:
        matplotlib.use = use
    import warnings

    with warnings.catch_warnings():   # ipympl 0.10's Toolbar passes the canvas on to traitlets, which warns
        warnings.filterwarnings("ignore", message="Passing unrecognized arguments", category=DeprecationWarning)
        canvas = Canvas(fig)
        manager = FigureManager(canvas, 0)   # sets canvas.manager: the front end's messages go through it
    if getattr(manager, "key_press_handler_id", None) is not None:
        canvas.mpl_disconnect(manager.key_press_handler_id)   # no 'l' for log scale, 'q' to close, ...
    canvas.toolbar_visible = False    # no pan/zoom mode: a click is a click on a point
    canvas.header_visible = canvas.footer_visible = False
    canvas.resizable = False          # the points stay where point_pixel says
    return canvas


class ExplanationPanel:
    """Pick a fold, a held-out scan and a method; shows the model's inputs and heat maps for that scan.

    Parameters
    ----------
    run
        A results folder or :class:`ferbench.eval.results.Run`.
    fold, scan_index
        Initial choice (0-based).
    method
        One of :data:`ferbench.views.EXPLAIN_METHODS` (``"gradcam"``, ``"hirescam"``, ``"gradcam++"``,
        ``"saliency"``).

    Attributes
    ----------
    widget : ipywidgets.VBox
    fold, scan, method : ipywidgets.Dropdown
    text : ipywidgets.HTML   (the view's one-line text)
    output : ipywidgets.Output
    view : ExplanationView or None
    display_ : ExplanationDisplay or None
    """

    def __init__(self, run, fold: int = 0, scan_index: int = 0, method: str = "gradcam", *,
                 device: str | None = "cpu", factory=None):
        self.run = _open(run)
        self.device, self.factory = device, factory
        self.view = self.display_ = None
        folds = fold_options(self.run)
        fold_values = [v for _, v in folds]
        self.fold = widgets.Dropdown(options=folds, value=fold if fold in fold_values else
                                     (fold_values[0] if folds else None), description="fold",
                                     layout=widgets.Layout(width="60%"))
        self.scan = widgets.Dropdown(description="held-out scan", layout=widgets.Layout(width="90%"),
                                     style={"description_width": "initial"})
        self.method = widgets.Dropdown(options=_methods(), value=method, description="method")
        self.source = banner(self.run.synthetic)
        self.text = widgets.HTML()
        self.output = widgets.Output()
        self.widget = widgets.VBox([widgets.HBox([self.fold, self.method]), self.scan, self.source, self.text,
                                    self.output])
        self._busy = False
        self._set_scans(scan_index)
        self.fold.observe(self._fold_changed, names="value")
        self.scan.observe(self._changed, names="value")
        self.method.observe(self._changed, names="value")
        self.update()

    def _set_scans(self, scan_index: int = 0) -> None:
        opts = scan_options_for_fold(self.run, self.fold.value) if self.fold.value is not None else []
        values = [v for _, v in opts]
        self._busy = True
        try:
            self.scan.options = opts
            self.scan.value = scan_index if scan_index in values else (values[0] if values else None)
        finally:
            self._busy = False

    def _fold_changed(self, change) -> None:
        self._set_scans(0)
        self.update()

    def _changed(self, change) -> None:
        if not self._busy:
            self.update()

    def update(self) -> None:
        """Redraw for the current fold, scan and method."""
        if self.fold.value is None or self.scan.value is None:
            show_text(self.output, f"{self.run.path}: no trained fold to explain")
            return
        try:
            v = explanation_panel_view(self.run, self.fold.value, self.scan.value, self.method.value,
                                       device=self.device, factory=self.factory)
        except Exception as exc:  # noqa: BLE001 - the panel says what went wrong instead of dying
            self.view = None
            show_text(self.output, f"{type(exc).__name__}: {exc}")
            return
        from ferbench.viz.explanations import ExplanationDisplay

        self.view = v
        self.text.value = v.text()
        n = max(len(v.inputs), len(v.heatmaps), 1)
        self.display_ = ExplanationDisplay.from_view(v).plot(ax=new_figure(max(2.0 * n, 4.5), 5.0))
        show_figure(self.output, self.display_.figure_)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


HOVER_RADIUS_PX = 8.0
"""How near (CSS pixels) the mouse must be to a point of :class:`EmbeddingPanel`'s scatter to hover or pick it."""


class EmbeddingPanel:
    """Held-out scans of a fold as a 2-D scatter; choose a point to see that scan's maps and explanation.

    The chosen point is ringed in black in the scatter; beside it, :class:`ferbench.viz.ExplanationDisplay`
    of that scan (the model's input maps, then its heat maps). With ipympl installed the scatter is an
    interactive canvas: hovering a point names its scan (file, subject, true and predicted class) in the line
    under the controls at once, and clicking it chooses it. A slider steps through the points and a list names
    each one (✗ when wrong); clicks, slider and list move together. Without ipympl the scatter and the
    explanation are one static picture and the slider and the list choose.

    Parameters
    ----------
    run
        A results folder or :class:`ferbench.eval.results.Run`.
    fold
        0-based split.
    method
        ``"tsne"`` or ``"pca"`` (:func:`ferbench.views.embedding_view`).
    explain
        The heat-map method of the explanation beside the scatter.
    max_scans, seed
        Passed to :func:`ferbench.views.embedding_view`.
    interactive
        Use an ipympl canvas for the scatter: None (when ipympl is importable), True or False.

    Attributes
    ----------
    widget : ipywidgets.VBox
    point : ipywidgets.Dropdown
    slider : ipywidgets.SelectionSlider
    hover : ipywidgets.HTML   (the hovered point's scan, or how to choose one)
    text : ipywidgets.HTML    (the explanation's one-line text)
    output : ipywidgets.Output   (the explanation; without ipympl, scatter and explanation)
    canvas : ipympl Canvas or None   (the interactive scatter)
    scatter_figure, scatter_ax : matplotlib Figure and Axes of the canvas (None without it)
    view : EmbeddingView
    explanation : ExplanationView or None
    """

    def __init__(self, run, fold: int = 0, method: str = "tsne", *, explain: str = "gradcam",
                 max_scans: int | None = None, seed: int = 0, device: str | None = "cpu", factory=None,
                 point: int = 0, interactive: bool | None = None):
        from ferbench.views.embedding import embedding_view

        self.run = _open(run)
        self.explain, self.device, self.factory = explain, device, factory
        self.view = embedding_view(self.run, int(fold), method, max_scans=max_scans, seed=seed, device=device,
                                   factory=factory)
        self.explanation = None
        opts = point_options(self.view)
        self._labels = [label for label, _ in opts]
        start = point if 0 <= point < len(opts) else 0
        self.point = widgets.Dropdown(options=opts, value=start, description="scan",
                                      layout=widgets.Layout(width="90%"))
        self.slider = widgets.SelectionSlider(options=[(str(i + 1), i) for i in range(len(opts))], value=start,
                                              description="point", continuous_update=False,
                                              layout=widgets.Layout(width="60%"))
        widgets.link((self.point, "value"), (self.slider, "value"))
        self.source = banner(self.view.synthetic)
        self.hover = widgets.HTML()
        self.text = widgets.HTML()
        self.output = widgets.Output()
        self.canvas = self.scatter_figure = self.scatter_ax = self.scatter_display = None
        if interactive is not False and len(opts):
            self._make_canvas()
            if interactive and self.canvas is None:
                from ferbench.errors import FerbenchError

                raise FerbenchError("EmbeddingPanel(interactive=True) needs ipympl (pip install ipympl)")
        if self.canvas is not None:
            self._hint = "hover a point to name its scan; click it to see its maps and explanation"
            self.canvas.layout = widgets.Layout(flex="0 0 auto")    # ipympl's CSS would let it take the row
            self.output.layout = widgets.Layout(flex="0 1 auto", min_width="0")   # right beside the scatter
            body = widgets.HBox([self.canvas, self.output], layout=widgets.Layout(align_items="flex-start"))
        else:
            self._hint = ("choose a point with the slider or the list (clicking a point in the scatter needs "
                          "ipympl: pip install ipympl)")
            body = self.output
        self._set_hover(None)
        self.widget = widgets.VBox([self.slider, self.point, self.source, self.hover, self.text, body])
        self.point.observe(lambda change: self.update(), names="value")
        self.update()

    # -- the interactive scatter (ipympl) --------------------------------------------------------------------
    def _make_canvas(self) -> None:
        from ferbench.viz.explanations import EmbeddingDisplay

        from matplotlib.figure import Figure

        # 90 dpi like the PNGs beside it; at creation, since ipympl rescales from the creation dpi
        fig = Figure(figsize=(5.6, 4.4), dpi=90, layout="constrained")
        canvas = ipympl_canvas(fig)
        if canvas is None:
            return
        ax = fig.subplots()
        self.scatter_display = EmbeddingDisplay.from_view(self.view).plot(ax=ax)
        # lay out once, then freeze: the points keep their pixels (point_pixel, hover, clicks) whatever moves
        fig.draw_without_rendering()
        ax.set_autoscale_on(False)
        fig.set_layout_engine("none")
        self.canvas, self.scatter_figure, self.scatter_ax = canvas, fig, ax
        canvas.mpl_connect("button_press_event", self._on_click)
        canvas.mpl_connect("motion_notify_event", self._on_move)
        canvas.mpl_connect("figure_leave_event", lambda event: self._set_hover(None))

    @property
    def _ring(self):
        """The chosen point's ring in the interactive scatter (:meth:`EmbeddingDisplay.mark`)."""
        return None if self.scatter_display is None else self.scatter_display.chosen_

    @property
    def _ring_label(self):
        return None if self.scatter_display is None else self.scatter_display.chosen_label_

    def _dpr(self) -> float:
        return float(getattr(self.canvas, "device_pixel_ratio", 1.0) or 1.0)

    def _point_at(self, event) -> int | None:
        from ferbench.views.embedding import nearest_point

        if event.x is None or event.y is None:
            return None
        pixels = self.scatter_ax.transData.transform(self.view.points)
        return nearest_point(pixels, event.x, event.y, max_distance=HOVER_RADIUS_PX * self._dpr())

    def _on_click(self, event) -> None:
        if event.button != 1:
            return
        k = self._point_at(event)
        if k is not None:
            self.point.value = k          # the slider follows (linked); update() explains and redraws

    def _on_move(self, event) -> None:
        self._set_hover(self._point_at(event))

    def _set_hover(self, k: int | None) -> None:
        import html

        text = self._hint if k is None else f"hover: {self._labels[k]}"
        value = f'<span style="color:#444">{html.escape(text)}</span>'
        if self.hover.value != value:     # a mouse move over the same point sends nothing
            self.hover.value = value

    def point_pixel(self, point: int) -> tuple[float, float]:
        """Where point ``point`` is drawn in the interactive scatter: CSS pixels from the canvas's top-left.

        matplotlib counts device pixels from the bottom-left; ipympl draws ``device_pixel_ratio`` device pixels
        per CSS pixel, hence the flip and the division.
        """
        if self.scatter_ax is None:
            from ferbench.errors import FerbenchError

            raise FerbenchError("EmbeddingPanel.point_pixel: no interactive scatter (ipympl is not installed)")
        x, y = self.scatter_ax.transData.transform(self.view.points[int(point)])
        r = self._dpr()
        return float(x / r), float((self.scatter_figure.bbox.height - y) / r)

    # -- drawing ---------------------------------------------------------------------------------------------
    def figure(self, point: int):
        """The scatter with ``point`` ringed, beside that scan's explanation (a matplotlib Figure)."""
        from ferbench.viz.explanations import EmbeddingDisplay, ExplanationDisplay

        ex = self.explanation
        n = max(len(ex.inputs), len(ex.heatmaps), 1) if ex is not None else 1
        fig = new_figure(5.8 + 1.9 * n, 5.0)
        left, right = fig.subfigures(1, 2, width_ratios=[5.8, 1.9 * n])
        EmbeddingDisplay.from_view(self.view).plot(ax=left.subplots(), chosen=int(point),
                                                   chosen_label=str(int(point) + 1))
        if ex is not None:
            ExplanationDisplay.from_view(ex).plot(ax=right)
        return fig

    def explanation_figure(self):
        """The chosen scan's explanation alone (beside the interactive scatter), or None."""
        from ferbench.viz.explanations import ExplanationDisplay

        ex = self.explanation
        if ex is None:
            return None
        n = max(len(ex.inputs), len(ex.heatmaps), 1)
        return ExplanationDisplay.from_view(ex).plot(ax=new_figure(1.9 * n, 5.0)).figure_

    def update(self) -> None:
        """Explain the chosen point's scan and redraw."""
        i = int(self.point.value)
        try:
            self.explanation = point_explanation(self.run, self.view, i, self.explain, device=self.device,
                                                 factory=self.factory)
            self.text.value = self.explanation.text()
        except Exception as exc:  # noqa: BLE001
            self.explanation = None
            self.text.value = f"{type(exc).__name__}: {exc}"
        if self.canvas is None:
            show_figure(self.output, self.figure(i))
            return
        self.scatter_display.mark(i, str(i + 1))
        self.canvas.draw_idle()
        fig = self.explanation_figure()
        if fig is None:
            show_text(self.output, self.text.value)
        else:
            show_figure(self.output, fig)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


__all__: list[Any] = ["ExplanationPanel", "EmbeddingPanel", "fold_options", "scan_options_for_fold",
                      "explanation_panel_view", "point_options", "point_position", "point_explanation",
                      "ipympl_canvas", "HOVER_RADIUS_PX"]
