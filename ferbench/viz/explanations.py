"""Saliency / CAM / attention overlays per class, and t-SNE scatters coloured by expression."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ferbench.labels import EXPRESSIONS
from ferbench.viz._common import (Display, VizError, axes_width_in, class_color, contrast_stretch,
                                  figure_width_in, run_source, wrap_title)


def _to_float_images(images) -> np.ndarray:
    a = np.asarray(images)
    f = a.astype(np.float64) / 255.0 if a.dtype == np.uint8 else a.astype(np.float64)
    if f.ndim == 3:
        f = np.repeat(f[..., None], 3, axis=-1)
    if f.ndim != 4 or f.shape[-1] != 3:
        raise VizError(f"images must be (N, H, W, 3) or (N, H, W), got shape {a.shape}")
    return np.clip(np.nan_to_num(f), 0.0, 1.0)


def display_images(model, x) -> np.ndarray:
    """``(N, H, W, 3)`` images in [0, 1] to draw explanations on: the texture channels when the model has a
    3-channel ``texture`` input, else its first channel in gray; each image min-max scaled."""
    arr = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.float64)
    if arr.ndim != 4:
        raise VizError(f"x must be (N, C, H, W), got shape {arr.shape}")
    from ferbench.models._base import input_slices

    sl = input_slices(getattr(model, "inputs", ())).get("texture", slice(0, 1))
    if sl.stop - sl.start != 3:
        sl = slice(0, 1)
    img = arr[:, sl].transpose(0, 2, 3, 1)
    lo = img.min(axis=(1, 2, 3), keepdims=True)
    rng = img.max(axis=(1, 2, 3), keepdims=True) - lo
    img = np.where(rng > 0, (img - lo) / np.where(rng > 0, rng, 1), 0.0)
    return _to_float_images(img if img.shape[-1] == 3 else img[..., 0])


def heat_overlay(image: np.ndarray, m: np.ndarray, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
    """Blend a [0, 1] map (colour-mapped) over an ``(H, W, 3)`` image: ``(1 - alpha) img + alpha cmap(m)``."""
    import matplotlib

    from ferbench.explain.saliency import resize_map

    mm = np.asarray(m, dtype=np.float64)
    if mm.shape != image.shape[:2]:
        mm = resize_map(mm, image.shape[:2])
    heat = matplotlib.colormaps[cmap](np.clip(np.nan_to_num(mm), 0, 1))[..., :3]
    return np.clip((1 - alpha) * image + alpha * heat, 0.0, 1.0)


class ExplanationGridDisplay(Display):
    """A grid of explanation overlays: one row per class, up to ``per_class`` samples per row.

    Parameters
    ----------
    images
        ``(N, H, W, 3)`` (or gray ``(N, H, W)``) images, uint8 or float in [0, 1].
    maps
        ``(N, h, w)`` explanations in [0, 1] (resized to the images when needed).
    labels
        ``(N,)`` class index per sample (rows follow ``class_names`` order).
    kind
        ``"saliency"`` (DF-CNN display: ``s * image + (1 - s) * dark blue``), ``"cam"`` or ``"attention"``
        (jet heat map blended at ``alpha``).
    source
        Provenance shown in the title (e.g. ``"ferbench, synthetic data"``).

    Attributes
    ----------
    figure_, axes_
        Set by :meth:`plot` (``axes_``: ``(rows, columns)`` array; see :class:`ferbench.viz._common.Display`).
    """

    def __init__(self, images, maps, labels, *, class_names: Sequence[str] = EXPRESSIONS, kind: str = "cam",
                 source: str = "ferbench", method: str | None = None, per_class: int = 4, alpha: float = 0.5):
        self.images = _to_float_images(images)
        self.maps = np.asarray(maps, dtype=np.float64)
        self.labels = np.asarray(labels).astype(np.int64).reshape(-1)
        if kind not in ("saliency", "cam", "attention"):
            raise VizError(f"kind must be 'saliency', 'cam' or 'attention', got {kind!r}")
        n = self.images.shape[0]
        if self.maps.ndim != 3 or self.maps.shape[0] != n or self.labels.size != n:
            raise VizError(f"{n} images but maps of shape {self.maps.shape} and {self.labels.size} labels")
        self.class_names = [str(c) for c in class_names]
        self.kind, self.source, self.method = kind, source, method
        self.per_class, self.alpha = int(per_class), float(alpha)

    @classmethod
    def from_arrays(cls, images, maps, labels, *, synthetic: bool | None = None,
                    **kwargs: Any) -> "ExplanationGridDisplay":
        """From precomputed images, maps and labels (see the class parameters); ``synthetic`` labels the
        source like the other constructors (ignored when ``source=`` is given)."""
        if synthetic is not None and "source" not in kwargs:
            kwargs["source"] = run_source(synthetic)
        return cls(images, maps, labels, **kwargs)

    @classmethod
    def from_saliency(cls, model, x, svm, labels, *, images=None, synthetic: bool | None = None,
                      class_names: Sequence[str] = EXPRESSIONS, per_class: int = 4) -> "ExplanationGridDisplay":
        """DF-CNN saliency (eqs. 14-15) of the true expression of each sample, on the texture."""
        from ferbench.explain.saliency import svm_saliency

        maps = svm_saliency(model, x, svm, targets=np.asarray(labels))
        imgs = display_images(model, x) if images is None else images
        return cls(imgs, maps, labels, class_names=class_names, kind="saliency", per_class=per_class,
                   source=run_source(synthetic), method="SVM-weighted saliency (DF-CNN eqs. 14-15)")

    @classmethod
    def from_cam(cls, model, x, labels, *, method: str = "gradcam", modality: str | None = None, images=None,
                 synthetic: bool | None = None, class_names: Sequence[str] = EXPRESSIONS, per_class: int = 4,
                 **cam_kwargs: Any) -> "ExplanationGridDisplay":
        """CAM (``method``) of the true class of each sample, optionally for one modality."""
        from ferbench.explain.cam import cam_maps

        maps = cam_maps(model, x, method, targets=[int(v) for v in np.asarray(labels).reshape(-1)],
                        modality=modality, **cam_kwargs)
        imgs = display_images(model, x) if images is None else images
        name = method + (f", {modality}" if modality else "")
        return cls(imgs, maps, labels, class_names=class_names, kind="cam", per_class=per_class,
                   source=run_source(synthetic), method=name)

    def overlays(self) -> np.ndarray:
        """``(N, H, W, 3)`` blended images."""
        from ferbench.explain.saliency import saliency_overlay

        if self.kind == "saliency":  # percentile contrast: scaled by its maximum a saliency map is nearly black
            return np.stack([saliency_overlay(im, contrast_stretch(m)) for im, m in zip(self.images, self.maps)])
        return np.stack([heat_overlay(im, m, self.alpha) for im, m in zip(self.images, self.maps)])

    def plot(self, ax=None, *, title: str | None = None, fig=None) -> "ExplanationGridDisplay":
        """Draw the grid; rows = classes present, in ``class_names`` order.

        Parameters
        ----------
        ax
            A Figure/SubFigure to lay the grid out in, an array of at least ``rows x columns`` Axes (filled
            row by row), or ``None`` for a new figure.
        fig
            Deprecated alias of ``ax`` (a Figure).
        """
        ov = self.overlays()
        rows = [c for c in range(len(self.class_names)) if (self.labels == c).any()]
        if not rows:
            raise VizError("no sample carries a label within class_names")
        ncol = max(1, min(self.per_class, max(int((self.labels == c).sum()) for c in rows)))
        fig, axes = self._grid_target(ax, fig, figsize=(max(1.7 * ncol + 1.0, 4.0), 1.7 * len(rows) + 0.9),
                                      need=len(rows) * ncol)
        if axes is None:
            axes = fig.subplots(len(rows), ncol, squeeze=False)
        else:
            for a in axes[len(rows) * ncol:]:
                a.axis("off")
            axes = axes[: len(rows) * ncol].reshape(len(rows), ncol)
        for r, c in enumerate(rows):
            idx = np.flatnonzero(self.labels == c)[:ncol]
            for j in range(ncol):
                a = axes[r, j]
                a.set_xticks([])
                a.set_yticks([])
                if j < idx.size:
                    a.imshow(ov[idx[j]], interpolation="nearest")
                else:
                    a.axis("off")
            axes[r, 0].set_ylabel(self.class_names[c], fontsize=8)
        for j in range(ncol):  # columns: examples of the row's expression (rows: the true expression)
            axes[0, j].set_title(f"example {j + 1}", fontsize=8)
        what = self.method or self.kind
        fig.suptitle(wrap_title(title or f"{what} - {self.source}; rows: true expression", figure_width_in(fig), 9),
                     fontsize=9)
        self.figure_, self.axes_ = fig, axes
        return self


def _as_rgb(img: np.ndarray) -> np.ndarray:
    """A model input as a displayable (H, W, 3) image in [0, 1] (min-max over the face for one channel)."""
    a = np.nan_to_num(np.asarray(img, dtype=np.float64))
    if a.ndim == 3 and a.shape[-1] == 3:
        lo, hi = float(a.min()), float(a.max())
        return np.clip(a, 0, 1) if lo >= 0 and hi <= 1 else (a - lo) / (hi - lo or 1.0)
    lo, hi = float(a.min()), float(a.max())
    g = (a - lo) / (hi - lo or 1.0)
    return np.repeat(g[..., None], 3, axis=-1)


class ExplanationDisplay(Display):
    """One explained scan (:class:`ferbench.views.ExplanationView`): the model's inputs, then its heat maps.

    Top row: each input modality as the model sees it, columns labelled with the modality. Bottom row: each
    heat map (``"gradcam texture"``, ``"saliency"``, ``"attention ..."``) blended over the input of the same
    modality (else the first input), columns labelled with the map's name. Heat maps are shown with a
    percentile contrast (:func:`ferbench.viz._common.contrast_stretch`), so weak gradients stay visible.
    The title is the view's one-line text: scan, fold, true and predicted class, data source.
    """

    def __init__(self, inputs: Mapping[str, np.ndarray], heatmaps: Mapping[str, np.ndarray], *, title: str = "",
                 alpha: float = 0.5):
        if not inputs:
            raise VizError("no inputs to display")
        self.inputs = {k: _as_rgb(v) for k, v in inputs.items()}
        self.heatmaps = {k: np.asarray(v, dtype=np.float64) for k, v in heatmaps.items()}
        self.title, self.alpha = str(title), float(alpha)

    @classmethod
    def from_view(cls, view) -> "ExplanationDisplay":
        """From a :class:`ferbench.views.ExplanationView` (``explanation_view`` / ``explain_scan``)."""
        disp = cls(view.inputs, view.heatmaps, title=view.text())
        disp.view = view
        return disp

    @classmethod
    def from_run(cls, run, fold: int = 0, scan_index: int = 0, method: str = "gradcam",
                 **kwargs: Any) -> "ExplanationDisplay":
        """:func:`ferbench.views.explanation_view` of a run's held-out scan."""
        from ferbench.views.explanation import explanation_view

        return cls.from_view(explanation_view(run, fold, scan_index, method, **kwargs))

    def base_for(self, heat_name: str) -> str:
        """The input a heat map is drawn over (:func:`ferbench.views.explanation.heat_base`: the napari grid's
        rule too)."""
        from ferbench.views.explanation import heat_base

        return heat_base(heat_name, list(self.inputs))

    def overlays(self) -> dict[str, np.ndarray]:
        """Heat-map name -> (H, W, 3) blend over its input."""
        return {k: heat_overlay(self.inputs[self.base_for(k)], contrast_stretch(m), self.alpha)
                for k, m in self.heatmaps.items()}

    def plot(self, ax=None, *, fig=None) -> "ExplanationDisplay":
        """Two rows (inputs, heat maps); as many columns as the longer row.

        ``ax``: a Figure/SubFigure to lay the panels out in, an array of at least ``rows x columns`` Axes,
        or None for a new figure (``fig``: deprecated alias).
        """
        ov = self.overlays()
        ncol = max(len(self.inputs), len(ov), 1)
        nrow = 2 if ov else 1
        fig, axes = self._grid_target(ax, fig, figsize=(max(2.0 * ncol, 4.5), 2.1 * nrow + 0.8), need=nrow * ncol)
        axes = fig.subplots(nrow, ncol, squeeze=False) if axes is None else axes[: nrow * ncol].reshape(nrow, ncol)
        for a in axes.ravel():
            a.set_xticks([])
            a.set_yticks([])
            a.axis("off")
        for j, (name, img) in enumerate(self.inputs.items()):
            axes[0, j].imshow(img, interpolation="nearest")
            axes[0, j].set_title(f"input: {name}", fontsize=8)
        for j, (name, img) in enumerate(ov.items()):
            axes[1, j].imshow(img, interpolation="nearest")
            axes[1, j].set_title(wrap_title(name, 1.9, 8), fontsize=8)
        fig.suptitle(wrap_title(self.title, figure_width_in(fig), 9), fontsize=9)
        self.figure_, self.axes_ = fig, axes
        return self


class EmbeddingDisplay(Display):
    """2-D embedding (t-SNE) scatter coloured by expression.

    Parameters
    ----------
    embedding
        ``(N, 2)`` coordinates.
    labels
        ``(N,)`` class index per point.
    title
        Panel title; should name the feature and the data (synthetic / real).
    source
        Provenance label (``run_source(...)``), used by :meth:`ferbench.report.Report.add_display`.
    misclassified
        ``(N,)`` bool per point, or None; :meth:`plot` can ring these.

    Attributes
    ----------
    figure_, ax_
        Set by :meth:`plot` (see :class:`ferbench.viz._common.Display`).
    collections_
        One scatter per class drawn.
    misclassified_
        The rings of the misclassified points (``plot(misclassified=True)``), else None.
    chosen_, chosen_label_
        The ring of the chosen point and its label (:meth:`mark`), else None.
    """

    def __init__(self, embedding, labels, *, class_names: Sequence[str] = EXPRESSIONS, title: str = "",
                 source: str | None = None, misclassified=None):
        self.embedding = np.asarray(embedding, dtype=np.float64)
        self.labels = np.asarray(labels).astype(np.int64).reshape(-1)
        if self.embedding.ndim != 2 or self.embedding.shape[1] != 2 or self.embedding.shape[0] != self.labels.size:
            raise VizError(f"embedding must be (N, 2) with N labels, got {self.embedding.shape} and "
                           f"{self.labels.size} labels")
        if not np.isfinite(self.embedding).all():
            raise VizError("embedding contains NaN or infinite values")
        self.class_names = [str(c) for c in class_names]
        self.title = title
        self.source = source
        self.misclassified = None if misclassified is None else np.asarray(misclassified, dtype=bool).reshape(-1)
        if self.misclassified is not None and self.misclassified.size != self.labels.size:
            raise VizError(f"{self.misclassified.size} misclassified flags for {self.labels.size} points")

    @classmethod
    def from_view(cls, view) -> "EmbeddingDisplay":
        """From a :class:`ferbench.views.EmbeddingView` (points coloured by true class; its misclassified
        points can be ringed)."""
        disp = cls(view.points, view.y_true, class_names=view.classes, title=view.title,
                   source=run_source(view.synthetic), misclassified=view.misclassified)
        disp.view = view
        return disp

    @classmethod
    def from_run(cls, run, fold: int = 0, method: str = "tsne", **kwargs: Any) -> "EmbeddingDisplay":
        """:func:`ferbench.views.embedding_view` of a run's fold (``kwargs``: ``max_scans``, ``seed``, ``device``)."""
        from ferbench.views.embedding import embedding_view

        return cls.from_view(embedding_view(run, fold, method, **kwargs))

    @classmethod
    def from_embedding(cls, embedding, labels, **kwargs: Any) -> "EmbeddingDisplay":
        """From precomputed 2-D coordinates."""
        return cls(embedding, labels, **kwargs)

    @classmethod
    def from_features(cls, features, labels, *, feature_name: str = "features", synthetic: bool | None = None,
                      perplexity: float = 30.0, random_state: int = 0, pca_dims: int | None = 50,
                      class_names: Sequence[str] = EXPRESSIONS) -> "EmbeddingDisplay":
        """t-SNE (spec recipe: PCA to 50-D, perplexity 30, PCA init) of ``(N, D)`` features."""
        from ferbench.explain.embedding import tsne_embedding

        f = np.asarray(features)
        emb = tsne_embedding(f, perplexity=perplexity, random_state=random_state, pca_dims=pca_dims)
        title = f"t-SNE of {feature_name} ({f.shape[1]:,}-D) - {run_source(synthetic)}"
        return cls(emb, labels, class_names=class_names, title=title, source=run_source(synthetic))

    @classmethod
    def from_model(cls, model, x, labels, *, layer: str | None = None, synthetic: bool | None = None,
                   **kwargs: Any) -> "EmbeddingDisplay":
        """t-SNE of a model's feature layer (``model.feature_layer`` unless ``layer`` names another)."""
        from ferbench.explain.embedding import layer_features

        name = layer or getattr(model, "feature_layer", None) or "features"
        feats = layer_features(model, x, layer)
        return cls.from_features(feats, labels, feature_name=f"{type(model).__name__}.{name}",
                                 synthetic=synthetic, **kwargs)

    def plot(self, ax=None, *, s: float = 12.0, legend: bool = True, misclassified: bool = False,
             chosen: int | None = None, chosen_label: str | None = None) -> "EmbeddingDisplay":
        """Scatter, one fixed colour per expression.

        Parameters
        ----------
        ax
            An Axes, a Figure to add one to, or None.
        s
            Marker area (points²).
        legend
            Classes (and the misclassified rings) in a legend right of the axes.
        misclassified
            Ring the misclassified points in black (needs the ``misclassified`` flags).
        chosen, chosen_label
            Ring this point and label it (:meth:`mark`).
        """
        fig, ax = self._single_axes(ax, (5.6, 4.2))
        self.collections_ = []
        for c, name in enumerate(self.class_names):
            sel = self.labels == c
            if sel.any():
                self.collections_.append(ax.scatter(self.embedding[sel, 0], self.embedding[sel, 1], s=s,
                                                    color=class_color(name, c), label=name, alpha=0.85))
        self.misclassified_ = self.chosen_ = self.chosen_label_ = None
        self._chosen_color = "red" if misclassified else "black"     # black rings are taken by the misclassified
        bad = self.misclassified
        if misclassified and bad is not None and bad.any():
            self.misclassified_ = ax.scatter(self.embedding[bad, 0], self.embedding[bad, 1], s=2.25 * s,
                                             facecolors="none", edgecolors="black", linewidths=1.2,
                                             label="misclassified")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(wrap_title(self.title, axes_width_in(ax), 9), fontsize=9)
        if legend:  # outside the axes, right: inside it hid points
            ax.legend(fontsize=7, markerscale=1.2, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
        self.figure_, self.ax_ = fig, ax
        if chosen is not None:
            self.mark(chosen, chosen_label)
        return self

    def mark(self, point: int, label: str | None = None) -> "EmbeddingDisplay":
        """Ring point ``point`` (the chosen one: one ring, moved by later calls) and, with ``label``, write it
        beside the ring. Red beside the misclassified rings, else black; neither moves the axes' limits or
        layout. Call after :meth:`plot`; redraw the canvas to see it."""
        if not hasattr(self, "ax_"):
            raise VizError("EmbeddingDisplay.mark: plot() first")
        x, y = (float(v) for v in self.embedding[int(point)])
        if self.chosen_ is None:
            self.chosen_ = self.ax_.scatter([x], [y], s=160, facecolors="none", edgecolors=self._chosen_color,
                                            linewidths=2.0, zorder=5)
        else:
            self.chosen_.set_offsets([[x, y]])
        if label is not None:
            if self.chosen_label_ is None:
                self.chosen_label_ = self.ax_.annotate(str(label), (x, y), xytext=(6, 6), textcoords="offset points",
                                                       fontsize=8, zorder=6)
                self.chosen_label_.set_in_layout(False)
            else:
                self.chosen_label_.xy = (x, y)
                self.chosen_label_.set_text(str(label))
        return self


def embedding_panels(feature_sets: Mapping[str, Any], labels, *, synthetic: bool | None = None,
                     random_state: int = 0, **kwargs: Any):
    """One t-SNE panel per feature set (DF-CNN Fig. 5 layout: e.g. Gabor, vgg-m conv5, fused 32-d).

    Returns
    -------
    (matplotlib.figure.Figure, list of EmbeddingDisplay)
    """
    import matplotlib.pyplot as plt

    if not feature_sets:
        raise VizError("no feature sets to embed")
    fig, axes = plt.subplots(1, len(feature_sets), figsize=(4.4 * len(feature_sets), 4.2), squeeze=False)
    disps = []
    for a, (name, feats) in zip(axes[0], feature_sets.items()):
        d = EmbeddingDisplay.from_features(feats, labels, feature_name=name, synthetic=synthetic,
                                           random_state=random_state, **kwargs)
        disps.append(d.plot(ax=a, legend=a is axes[0][0]))
    return fig, disps
