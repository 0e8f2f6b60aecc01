"""Map displays and the CLI-facing commands (figures are checked structurally, never against golden images)."""
from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ferbench.views.gemax import paper_table3_entropies  # noqa: E402
from ferbench.viz.maps import MapGridDisplay, TauSweepDisplay  # noqa: E402

from test_preprocess_fixture import make_face  # noqa: E402


@pytest.fixture(scope="module")
def scan():
    return make_face(step=2.5)


def test_map_grid_display_from_scan(scan):
    d = MapGridDisplay.from_scan(scan, names=["geometry", "normal_z", "shape_index", "texture", "lbp"], size=64)
    d.plot()
    assert len([a for a in d.figure_.axes if a.images]) == 5
    assert "synthetic" in d.figure_._suptitle.get_text()
    for a in d.figure_.axes[:5]:
        arr = a.images[0].get_array()
        assert np.isfinite(np.asarray(arr, dtype=float)).all()
    plt.close(d.figure_)
    fig, axes = plt.subplots(1, 5)
    d2 = MapGridDisplay(d.maps, synthetic=False).plot(ax=axes)
    assert d2.figure_ is fig and "synthetic" not in d2.figure_._suptitle.get_text()
    plt.close(fig)


def test_tau_sweep_display(scan):
    d = TauSweepDisplay.from_scan(scan, taus=(16, 20, 40), size=64).plot()
    assert len(d.axes_) == 4
    ent = d.axes_[-1]
    ys = ent.lines[0].get_ydata()
    assert np.all(np.diff(ys) >= -1e-12)                     # entropy never decreases with tau
    assert "synthetic" in d.figure_._suptitle.get_text()
    assert "synthetic" in ent.get_legend().get_texts()[0].get_text()
    paper = paper_table3_entropies()
    if paper is not None:                                     # the paper's Table 3 marked beside ours
        assert paper["20"] == pytest.approx(7.811)
        assert len(ent.lines) == 2 and "Table 3" in ent.get_legend().get_texts()[1].get_text()
    plt.close(d.figure_)


def test_commands_write_outputs(scan, tmp_path):
    from ferbench.io import write_scan
    from ferbench.cli.maps import run_maps, run_tau_sweep

    p = tmp_path / "face.obj"
    write_scan(scan, p)
    fig = run_maps(p, tmp_path / "maps", size=64)
    assert fig.is_file() and fig.stat().st_size > 1000
    z = np.load(tmp_path / "maps" / "face_maps.npz")
    assert "shape_index" in z and z["shape_index"].shape == (64, 64)
    fig2 = run_tau_sweep(p, [16, 30], tmp_path / "tau", size=64)
    assert fig2.is_file()
    info = json.loads((tmp_path / "tau" / "face_entropies.json").read_text())
    assert info["taus"] == [16, 30] and info["entropy_bits"][1] >= info["entropy_bits"][0]
    assert (tmp_path / "tau" / "face_gemax_tau16.png").is_file()
