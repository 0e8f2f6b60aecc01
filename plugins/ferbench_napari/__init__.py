"""napari plugin for ferbench (npe2): open BU-3DFE/Bosphorus/OBJ/PLY scans, synthetic sample face.

Thin front end: every function here calls a public ferbench function (``ferbench.io.read_scan``,
``ferbench.synth``); no logic of its own. Dock widgets (attribute maps, GEMax tau) live in
:mod:`ferbench_napari._qt`; the Qt-free logic behind them in :mod:`ferbench_napari.tasks`.

Surface layers made here keep the scan in ``metadata["ferbench_scan"]`` and its file in
``metadata["source_path"]`` so the widgets can compute on them.
"""
from __future__ import annotations

from typing import Any

SCAN_SUFFIXES = (".wrl", ".vrml", ".bnt", ".obj", ".ply")


def scan_to_layers(scan) -> list[tuple[Any, dict, str]]:
    """napari layer tuples of a :class:`ferbench.io.scan.Scan`: a coloured surface and its landmarks.

    napari's 3D axes are (z, y, x) with y pointing down the screen, so vertices are given as
    (z, -y, x) to show the face upright and facing the camera.
    """
    import numpy as np

    from ferbench_napari.tasks import KIND_KEY, SCAN_KEY, SOURCE_KEY, scan_name, short_scan_name
    from ferbench.views.labels import title_label

    name = short_scan_name(scan)      # napari's layer list cuts long names: "F0001_AN01 (synthetic)"
    label = " ".join(str(v) for v in (scan.meta.subject, scan.meta.expression, scan.meta.intensity) if v is not None)
    title = title_label(name, bool(scan.meta.synthetic))
    surf = scan.split_seams() if scan.texcoord_faces is not None else scan  # exact colours along UV seams
    v = surf.vertices
    napari_xyz = np.column_stack([v[:, 2], -v[:, 1], v[:, 0]])
    rgb = surf.vertex_rgb().astype(np.float32) / 255.0
    key = f"{scan_name(scan)}#{id(scan)}"        # pairs a surface with its landmarks when the viewer places them
    layers = [((napari_xyz, surf.faces), {"name": title, "vertex_colors": rgb, "shading": "smooth",
                                           "metadata": {"labels": label, "synthetic": scan.meta.synthetic,
                                                        SCAN_KEY: scan, SOURCE_KEY: scan.meta.source_path,
                                                        KIND_KEY: "scan", "ferbench_scan_key": key,
                                                        "ferbench_vertex_rgb": rgb}},
               "surface")]
    if scan.landmarks is not None and len(scan.landmarks):
        lm = scan.landmarks
        ok = np.all(np.isfinite(lm), axis=1)
        pts = np.column_stack([lm[ok, 2], -lm[ok, 1], lm[ok, 0]])
        names = [n for n, keep in zip(scan.landmark_names or [""] * len(lm), ok) if keep]
        layers.append((pts, {"name": f"{name} landmarks", "size": 2.5, "face_color": "yellow",
                             "features": {"landmark": names},
                             "metadata": {KIND_KEY: "landmarks", "ferbench_scan_key": key,
                                          "synthetic": scan.meta.synthetic}}, "points"))
    return layers


def _hook_current_viewer() -> None:
    """Connect ferbench's placement hook to the viewer being opened into (a reader cannot set the view:
    the hook, run when the layers are inserted, shows them in 3D, framed from the front, beside earlier
    scans; see :mod:`ferbench_napari._viewer`)."""
    try:
        import napari

        from ferbench_napari._viewer import install_viewer_hooks

        viewer = napari.current_viewer()
        if viewer is not None:
            install_viewer_hooks(viewer)
    except Exception:  # noqa: BLE001 - outside napari (scripts, tests of the reader) there is nothing to hook
        pass


def read_scan_layers(path: str | list[str]) -> list[tuple[Any, dict, str]]:
    from ferbench.io import read_scan

    paths = [path] if isinstance(path, str) else list(path)
    _hook_current_viewer()
    out: list = []
    for p in paths:
        out.extend(scan_to_layers(read_scan(p)))
    return out


def napari_get_reader(path: str | list[str]):
    """Return a reader for ferbench's scan formats, or None (napari's convention: never raise)."""
    paths = [path] if isinstance(path, str) else list(path)
    if paths and all(str(p).lower().endswith(SCAN_SUFFIXES) for p in paths):
        return read_scan_layers
    return None


def sample_face() -> list[tuple[Any, dict, str]]:
    """A synthetic happy face (level 4) from the embedded ICT face model (procedural textures)."""
    import numpy as np

    from ferbench.synth import load_face_model, sample_subject, subject_texture, synthesize_scan

    model = load_face_model()
    rng = np.random.default_rng(0)
    subject = sample_subject(model, "F0001", rng)
    scan = synthesize_scan(model, subject, "happiness", 4, rng, texture=subject_texture(model, subject, 256))
    scan.meta.source_path = f"synthetic face ({model.name})"
    _hook_current_viewer()
    return scan_to_layers(scan)
