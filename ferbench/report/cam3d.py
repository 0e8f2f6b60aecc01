"""A report section: the Grad-CAM of a held-out scan's prediction painted onto the scan's surface (offscreen)."""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

__all__ = ["cam_on_face", "add_cam_on_face"]


def cam_on_face(run, fold: int = 0, scan_index: int | None = None, method: str = "gradcam", *,
                device: str | None = "cpu", size: tuple[int, int] = (420, 420)):
    """Render the heat map of one held-out scan's prediction on its 3D surface, offscreen.

    Parameters
    ----------
    run
        A :class:`ferbench.eval.results.Run` or results folder.
    fold
        0-based split.
    scan_index
        0-based held-out position; default a level-4 surprise scan if there is one, else the first.
    method
        A Grad-CAM family method of :data:`ferbench.views.EXPLAIN_METHODS` (not ``"saliency"``).
    size
        Image size in pixels.

    Returns
    -------
    (image, view, heat_name)
        ``(H, W, 3)`` uint8 rendering, the :class:`ferbench.views.ExplanationView` and the heat map's name.
    """
    from ferbench.views.explanation import explanation_on_surface
    from ferbench.viz.surface import render_scan_png

    face = explanation_on_surface(run, fold, scan_index, method, device=device)
    img = render_scan_png(face.scan, face.values, size=size, cmap="jet", clim=(0, 1), alpha=0.6, title=face.title)
    return np.asarray(img), face.view, face.heat_name


def add_cam_on_face(report, run, *, fold: int = 0, method: str = "gradcam", device: str | None = "cpu",
                    sources: Sequence[str] | str | None = None):
    """Add :func:`cam_on_face` to ``report`` as a figure with a caption; returns the report."""
    import matplotlib.pyplot as plt

    img, ev, name = cam_on_face(run, fold, None, method, device=device)
    fig, ax = plt.subplots(figsize=(4.6, 4.8), layout="constrained")
    ax.imshow(img)
    ax.axis("off")
    from ferbench.viz._common import wrap_title

    ax.set_title(wrap_title(ev.text(), 4.4, 8), fontsize=8)
    report.add_figure(fig, caption=f"{name} of {os.path.basename(str(ev.record.get('path', 'scan')))} painted "
                      "onto the scan's 3D surface (pyvista, offscreen): each vertex takes the heat-map value of "
                      "the grid pixel it falls in; red regions raised the predicted class's score most.",
                      sources=sources)
    return report
