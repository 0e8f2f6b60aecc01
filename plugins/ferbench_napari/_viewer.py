"""What the plugin does to a viewer (napari, no Qt widgets): 3D for scans, 2D for results, placement, zoom.

* A scan surface inserted by the ferbench reader or sample is moved beside the scans already shown (never
  on top of one), its landmarks follow it, and the view switches to 3D, framed on the face from the front;
  hovering a landmark shows its name (layer tooltips on, the name is the point's ``landmark`` feature).
* Scans live in the 3D view and ferbench's maps, explanations and predictions in the 2D view: switching
  ``viewer.dims.ndisplay`` shows the ones and hides the others, so they never cover each other.
* napari sizes ``viewer.dims`` from every layer, hidden ones included, so the hidden scans would leave a
  depth slider under the 2D view that moves nothing: in 2D an axis that only hidden scans span is
  collapsed to one step (napari shows no slider for it); back in 3D the layers' full range returns.
* The 2D and 3D views keep separate cameras (``camera.synced = False``): the 2D/3D button returns to where
  each view was (the framed face in 3D, the results in 2D).
* Each 2D result belongs to a group (``metadata["ferbench_group"]``); a new result replaces its group's
  layers and is placed below the other groups, far enough that framing it shows none of them (a short, wide
  grid under a tall map would otherwise show the map's lower half above its title), then the view zooms to it.
"""
from __future__ import annotations

import os
import weakref
from typing import Any, Sequence

import numpy as np

from ferbench_napari.tasks import GROUP_KEY, KIND_KEY, SCAN_KINDS, SOURCE_KEY

__all__ = ["install_viewer_hooks", "is_ferbench_2d", "show_3d", "replace_group", "free_origin", "zoom_to",
           "group_layers", "hidden_only_axes", "scan_layer"]

_HOOKED: "weakref.WeakSet[Any]" = weakref.WeakSet()
FRONT_VIEW = (0.0, 0.0, 0.0)
"""Camera angles looking at the reader's (z, -y, x) faces from the front, upright (napari 0.9)."""
SCAN_GAP = 0.15
"""Gap between scans placed side by side, as a fraction of the earlier scans' width."""
ZOOM_MARGIN = 0.9
"""Share of the canvas that a framed 2D group fills along its limiting axis."""
GROUP_GAP = 16.0
"""Least gap (world units) between 2D groups stacked one below the other."""


def camera(viewer: Any) -> Any:
    """The viewer's camera (``viewer.scene.camera`` from napari 0.9, ``viewer.camera`` before)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None and hasattr(scene, "camera") else viewer.camera


def _is_image(layer: Any) -> bool:
    from napari.layers import Image

    return isinstance(layer, Image)


def _kind(layer: Any) -> str | None:
    return (getattr(layer, "metadata", None) or {}).get(KIND_KEY)


def is_ferbench_2d(layer: Any) -> bool:
    """True for a ferbench layer of the 2D view (maps, labels, explanations, predictions, GEMax)."""
    k = _kind(layer)
    return k is not None and k not in SCAN_KINDS


def install_viewer_hooks(viewer: Any) -> None:
    """Connect the placement and 3D/2D hooks to ``viewer`` (once per viewer)."""
    if viewer in _HOOKED:
        return
    _HOOKED.add(viewer)
    ref = weakref.ref(viewer)

    def inserted(event: Any) -> None:
        v = ref()
        if v is not None:
            _on_inserted(v, event.value)

    def ndisplay(event: Any) -> None:
        v = ref()
        if v is not None:
            _sync_visibility(v)

    def dims_range(event: Any) -> None:
        v = ref()
        if v is not None:
            _sync_dims(v)

    # scans (3D) and results (2D) sit in different places: each view keeps its own camera (napari's
    # "Sync 2D/3D camera" box unticked), so the viewer's 2D/3D button returns to the framed face
    cam = camera(viewer)
    if getattr(cam, "synced", False):
        cam.synced = False
    viewer.layers.events.inserted.connect(inserted)
    viewer.dims.events.ndisplay.connect(ndisplay)
    # napari re-derives the range from all layers on every layer change: collapse again after it
    viewer.dims.events.range.connect(dims_range)


def _x_range(layer: Any) -> tuple[float, float]:
    ext = np.asarray(layer.extent.world, float)
    return float(ext[0, -1]), float(ext[1, -1])


def _on_inserted(viewer: Any, layer: Any) -> None:
    kind = _kind(layer)
    if kind not in SCAN_KINDS:
        return
    md = layer.metadata
    key = md.get("ferbench_scan_key")
    ref = weakref.ref(viewer)

    def visible(event: Any) -> None:           # a scan shown by hand in 2D brings its slider back
        v = ref()
        if v is not None:
            _sync_dims(v)

    layer.events.visible.connect(visible)
    if kind == "scan":
        others = [lay for lay in viewer.layers if lay is not layer and _kind(lay) == "scan"]
        if others:
            right = max(_x_range(lay)[1] for lay in others)
            left = min(_x_range(lay)[0] for lay in others)
            lo, hi = _x_range(layer)
            dx = right + SCAN_GAP * max(right - left, hi - lo) - lo
            t = np.zeros(layer.ndim)
            t[-1] = dx
            layer.translate = t
    elif kind == "landmarks":
        for lay in viewer.layers:
            if _kind(lay) == "scan" and lay.metadata.get("ferbench_scan_key") == key:
                layer.translate = np.asarray(lay.translate, float)
                break
        viewer.tooltip.visible = True           # landmark names on hover (the points' "landmark" feature)
    show_3d(viewer)


def show_3d(viewer: Any) -> None:
    """3D view framed on the scans, looking at the faces from the front."""
    viewer.dims.ndisplay = 3
    _sync_visibility(viewer)
    scans = [lay for lay in viewer.layers if _kind(lay) in SCAN_KINDS]
    if scans:
        _frame(viewer, scans)
    else:
        viewer.reset_view()
    camera(viewer).angles = FRONT_VIEW


def _sync_visibility(viewer: Any) -> None:
    three = viewer.dims.ndisplay == 3
    for layer in viewer.layers:
        k = _kind(layer)
        if k is None:
            continue
        want = (k in SCAN_KINDS) == three
        if layer.visible != want:
            layer.visible = want
    _sync_dims(viewer)


def hidden_only_axes(viewer: Any) -> list[int]:
    """Non-displayed ``viewer.dims`` axes that only hidden ferbench scans span (empty in 3D).

    Layers are aligned on their last axes (napari's rule), so a layer of ``n`` dimensions spans the last
    ``n`` world axes. An axis that a visible layer or any non-ferbench layer spans is never listed.
    """
    dims = viewer.dims
    if dims.ndisplay != 2:
        return []
    ndim = dims.ndim
    out = []
    for axis in dims.not_displayed:
        spanning = [lay for lay in viewer.layers if lay.ndim >= ndim - axis]
        if spanning and all(not lay.visible and _kind(lay) in SCAN_KINDS for lay in spanning):
            out.append(int(axis))
    return out


def _layers_ranges(viewer: Any) -> list[tuple[float, float, float]]:
    ext = viewer.layers.extent
    return [(float(a), float(b), float(s)) for a, b, s in zip(ext.world[0], ext.world[1], ext.step)]


def _sync_dims(viewer: Any) -> None:
    """In 2D, one step on the axes only hidden scans span (no slider); elsewhere the layers' own range."""
    if len(viewer.layers) == 0 or viewer.dims.ndim != len(viewer.layers.extent.step):
        return                                  # napari is mid-update; its own range event follows
    full = _layers_ranges(viewer)
    have = [tuple(float(v) for v in rng) for rng in viewer.dims.range]
    want = list(have)
    collapse = hidden_only_axes(viewer)
    point = viewer.dims.point
    for axis, (lo, hi, step) in enumerate(full):
        if axis in collapse:
            p = float(min(max(point[axis], lo), hi))
            want[axis] = (p, p, step)
        elif have[axis][0] == have[axis][1] and hi > lo:
            want[axis] = full[axis]             # one we collapsed: the layers' range again
    if have != want:
        viewer.dims.range = tuple(want)


def group_layers(viewer: Any, group: str) -> list[Any]:
    """The viewer's layers of one ferbench group."""
    return [lay for lay in viewer.layers if (lay.metadata or {}).get(GROUP_KEY) == group]


def scan_layer(viewer: Any, path: str | os.PathLike) -> Any | None:
    """The viewer's surface layer of the scan read from ``path`` (by the reader or a dock), or None."""
    want = os.path.normcase(os.path.abspath(str(path)))
    for lay in viewer.layers:
        md = lay.metadata or {}
        src = md.get(SOURCE_KEY)
        if md.get(KIND_KEY) == "scan" and src and os.path.normcase(os.path.abspath(str(src))) == want:
            return lay
    return None


def free_origin(viewer: Any, exclude: str | None = None, gap: float = GROUP_GAP) -> tuple[float, float]:
    """(row, col) just below every ferbench 2D layer (those of group ``exclude`` left out)."""
    bottoms = []
    for lay in viewer.layers:
        if is_ferbench_2d(lay) and lay.metadata.get(GROUP_KEY) != exclude and _is_image(lay):
            bottoms.append(float(np.asarray(lay.extent.world, float)[1, -2]))
    return (max(bottoms) + gap, 0.0) if bottoms else (0.0, 0.0)


def replace_group(viewer: Any, group: str, tuples: Sequence[tuple[Any, dict, str]], *, zoom: bool = True,
                  show: bool = True) -> list[Any]:
    """Put a result's layers in the viewer in place of its group's previous ones.

    The group keeps its place when it was shown before, else goes below the other 2D results; the view
    switches to 2D and, with ``zoom``, frames the new layers.
    """
    from napari.layers import Layer

    old = group_layers(viewer, group)
    imgs = [lay for lay in old if _is_image(lay)]
    placed_new = not imgs
    if placed_new:
        origin = free_origin(viewer, exclude=group)
    else:                                               # shown before: keeps its place
        origin = (min(float(np.asarray(lay.translate)[-2]) for lay in imgs)
                  - min(float(kw.get("translate", (0, 0))[0]) for _, kw, k in tuples if k == "image"), 0.0)
    by_name = {lay.name: lay for lay in old}
    added = []
    for data, kw, kind in tuples:
        kw = dict(kw)
        kw.setdefault("metadata", {})[GROUP_KEY] = group
        t = np.asarray(kw.get("translate", (0.0, 0.0)), float)
        kw["translate"] = (t[0] + origin[0], t[1] + origin[1])
        lay = by_name.pop(kw["name"], None)
        # same name and kind: update in place (napari's layer removal runs gc.collect, ~0.5 s each with torch
        # loaded, and the user's settings of that layer survive)
        if lay is not None and _update_in_place(lay, data, kw, kind):
            added.append(lay)
        else:
            if lay is not None:
                by_name[kw["name"]] = lay
            added.append(viewer.add_layer(Layer.create(data, kw, kind)))
    for lay in by_name.values():
        viewer.layers.remove(lay)
    if placed_new:
        _clear_of_others(viewer, group, added)
    if show and viewer.dims.ndisplay != 2:
        viewer.dims.ndisplay = 2
    _sync_visibility(viewer)
    if zoom and show:
        zoom_to(viewer, added)
    return added


def _clear_of_others(viewer: Any, group: str, layers: Sequence[Any]) -> None:
    """Move a group just placed below the other 2D groups further down, so that framing it shows none of them.

    :func:`zoom_to` fits the group's box along one axis; along the other the view shows more than the box, half
    of the surplus above it.
    """
    above = [lay for lay in viewer.layers if is_ferbench_2d(lay) and lay.metadata.get(GROUP_KEY) != group]
    if not layers or not above:
        return
    box = _bbox(layers, 2)
    h, w = np.maximum(box[1] - box[0], 1e-6)
    ch, cw = _canvas_hw(viewer)
    surplus = (max(h, w * ch / cw) / ZOOM_MARGIN - h) / 2
    bottom = max(float(np.asarray(lay.extent.world, float)[1, -2]) for lay in above)
    shift = surplus + GROUP_GAP - (box[0][0] - bottom)
    if shift > 0:
        for lay in layers:
            t = np.array(lay.translate, float)
            t[-2] += shift
            lay.translate = t


def _update_in_place(layer: Any, data: Any, kw: dict, kind: str) -> bool:
    """Give an existing layer new data and settings; False when it cannot take them (another kind, rgb or ndim)."""
    from napari.layers import Image, Points

    if kind == "image" and isinstance(layer, Image):
        arr = np.asarray(data)
        if bool(kw.get("rgb", False)) != bool(layer.rgb) or arr.ndim != np.asarray(layer.data).ndim:
            return False
        layer.data = arr
        for key in ("colormap", "contrast_limits", "opacity", "blending"):
            if key in kw:
                setattr(layer, key, kw[key])
    elif kind == "points" and isinstance(layer, Points):
        layer.data = np.asarray(data)
        if "features" in kw:
            import pandas as pd

            layer.features = pd.DataFrame(kw["features"])
    else:
        return False
    layer.translate = kw["translate"]
    layer.metadata.clear()
    layer.metadata.update(kw.get("metadata", {}))
    return True


def _bbox(layers: Sequence[Any], axes: int) -> np.ndarray:
    ext = np.array([np.asarray(lay.extent.world, float)[:, -axes:] for lay in layers])
    return np.stack([ext[:, 0].min(0), ext[:, 1].max(0)])


def _canvas_hw(viewer: Any) -> tuple[float, float]:
    canvas = getattr(viewer, "canvas", None)
    size = getattr(canvas, "size", None) if canvas is not None else None
    if size is not None and min(size) > 10:
        return float(size[0]), float(size[1])
    return 600.0, 800.0


def zoom_to(viewer: Any, layers: Sequence[Any], margin: float = ZOOM_MARGIN) -> None:
    """2D view centred on ``layers`` (images and their labels) and zoomed so that they fill the canvas."""
    layers = list(layers)
    if not layers:
        return
    box = _bbox(layers, 2)
    h, w = np.maximum(box[1] - box[0], 1e-6)
    ch, cw = _canvas_hw(viewer)
    camera(viewer).center = tuple((box[0] + box[1]) / 2)
    camera(viewer).zoom = margin * min(ch / h, cw / w)


def _frame(viewer: Any, layers: Sequence[Any], margin: float = 0.85) -> None:
    box = _bbox(layers, 3)
    size = np.maximum(box[1] - box[0], 1e-6)
    ch, cw = _canvas_hw(viewer)
    camera(viewer).center = tuple((box[0] + box[1]) / 2)
    # front view: screen up = -y axis (rows), screen right = x; the zoom fits both
    camera(viewer).zoom = margin * min(ch / size[1], cw / size[2])
