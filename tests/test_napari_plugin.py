"""The napari plugin: manifest, reader contract, sample data in a real viewer (Xvfb)."""
from __future__ import annotations

import numpy as np
import pytest

import ferbench_napari as plugin


def test_manifest_is_valid_and_registered():
    npe2 = pytest.importorskip("npe2")
    pm = npe2.PluginManifest.from_distribution("ferbench")
    assert {c.id for c in pm.contributions.commands} == {"ferbench.get_reader", "ferbench.sample_face",
                                                          "ferbench.attribute_maps_widget", "ferbench.gemax_tau_widget",
                                                          "ferbench.explain_widget", "ferbench.results_widget",
                                                          "ferbench.embedding_widget", "ferbench.predict_widget"}
    assert pm.contributions.sample_data[0].key == "synthetic_face"


def test_reader_declines_foreign_files_without_raising(tmp_path):
    assert plugin.napari_get_reader(str(tmp_path / "image.tif")) is None
    assert plugin.napari_get_reader([str(tmp_path / "a.wrl"), str(tmp_path / "b.tif")]) is None
    assert plugin.napari_get_reader(str(tmp_path / "F0001_NE00WH_F3D.wrl")) is plugin.read_scan_layers


def test_scan_layers_round_trip_through_a_written_file(tmp_path):
    from ferbench.io import read_scan, write_scan

    (data, kw, kind), (pts, pkw, pkind) = plugin.sample_face()
    assert kind == "surface" and pkind == "points" and "synthetic" in kw["name"]
    verts, faces = data
    # napari (z, -y, x) back to ferbench (x, y, z)
    xyz = np.column_stack([verts[:, 2], -verts[:, 1], verts[:, 0]])
    assert kw["vertex_colors"].shape == (len(verts), 3) and 0.0 <= kw["vertex_colors"].min()
    from ferbench.io.scan import Scan

    path = tmp_path / "face.ply"
    write_scan(Scan(vertices=xyz, faces=faces), path)
    layers = plugin.read_scan_layers(str(path))
    np.testing.assert_allclose(layers[0][0][0], verts, atol=1e-4)
    np.testing.assert_array_equal(layers[0][0][1], faces)
    assert read_scan(path).n_faces == len(faces)


@pytest.mark.napari
def test_sample_face_renders_in_a_viewer(make_napari_viewer):
    pytest.importorskip("napari")
    viewer = make_napari_viewer(show=True)
    viewer.open_sample("ferbench", "synthetic_face")
    assert [layer._type_string for layer in viewer.layers] == ["surface", "points"]
    viewer.dims.ndisplay = 3
    viewer.reset_view()
    shot = viewer.screenshot(canvas_only=True)
    assert len(np.unique(shot.reshape(-1, shot.shape[-1]), axis=0)) > 50  # a shaded, coloured face, not blank
