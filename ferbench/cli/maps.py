"""Functions behind ``ferbench maps`` and ``ferbench tau-sweep`` (wired into the command line by ferbench.cli).

They live in the command-line package, not in ``ferbench.maps``, because they draw figures with
``ferbench.viz``: the maps package stays free of upward imports."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np


def _load(scan_path):
    from ferbench.io import read_scan

    return read_scan(scan_path)


def _check_size(size: int) -> None:
    from ferbench._checks import MAP_SIZE_MAX, check_int

    check_int("size", size, 16, MAP_SIZE_MAX)


def run_maps(scan_path: str | os.PathLike, out_dir: str | os.PathLike, size: int = 224,
             missing: dict[str, str] | None = None) -> Path:
    """Compute every attribute map of one scan and write a figure ``<stem>_maps.png`` (+ ``.npz`` of the maps).

    Maps that cannot be computed (texture maps of a scan whose texture is missing) get a panel saying why;
    when ``missing`` is a dict it is filled with ``{name: reason}`` for them (the CLI prints it).

    Returns
    -------
    Path of the figure.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from ferbench.preprocess import preprocess_scan
    from ferbench.viz.maps import MapGridDisplay

    _check_size(size)
    scan = _load(scan_path)
    grid = preprocess_scan(scan, size=size)
    disp = MapGridDisplay.from_scan(grid).plot()
    if missing is not None:
        missing.update(disp.missing)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(scan_path).stem
    fig_path = out / f"{stem}_maps.png"
    disp.figure_.savefig(fig_path, dpi=110, bbox_inches="tight")
    plt.close(disp.figure_)
    np.savez_compressed(out / f"{stem}_maps.npz", **disp.maps, mask=grid.mask, valid=grid.valid)
    return fig_path


def run_tau_sweep(scan_path: str | os.PathLike, taus: Sequence[int], out_dir: str | os.PathLike,
                  size: int = 224) -> Path:
    """GEMax maps for each tau (PNG each), an entropy-versus-tau figure with the paper's Table 3 entropies,
    and ``entropies.json``. Returns the figure path."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from ferbench.io.images import write_image
    from ferbench.preprocess import preprocess_scan
    from ferbench.viz.maps import TauSweepDisplay

    from ferbench._checks import check_int

    _check_size(size)
    taus = [check_int("tau", t, 1, 65536) for t in taus]
    if not taus:
        from ferbench.errors import SettingError

        raise SettingError("tau: give at least one distortion bound")
    scan = _load(scan_path)
    grid = preprocess_scan(scan, size=size)
    disp = TauSweepDisplay.from_scan(grid, taus).plot()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(scan_path).stem
    r = disp.result
    for t, m in zip(r.taus, r.maps):
        write_image(out / f"{stem}_gemax_tau{t}.png", m.astype(np.uint8))
    fig_path = out / f"{stem}_tau_sweep.png"
    disp.figure_.savefig(fig_path, dpi=110, bbox_inches="tight")
    plt.close(disp.figure_)
    (out / f"{stem}_entropies.json").write_text(json.dumps({
        "source": f"ferbench, {'synthetic' if r.synthetic else 'real'} data",
        "taus": [int(t) for t in r.taus], "entropy_bits": [float(h) for h in r.entropies],
        "paper_table3_bu3dfe": disp.paper_entropies, "params": r.params}, indent=2))
    return fig_path
