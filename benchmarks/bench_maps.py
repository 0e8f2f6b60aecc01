"""Benchmark: the six DF-CNN maps of a 224x224 grid (synthetic face) vs a per-pixel least-squares reference.

Prints the median time per scan of :func:`ferbench.maps.compute_maps` for geometry, normal_x/y/z,
shape_index and texture (torch on one CPU thread), and the ratio against
:func:`ferbench.maps._reference.dfcnn_maps_reference` (one eigen-decomposition and one ``lstsq`` per pixel),
measured in the same run on ``--ref-rows`` rows and extrapolated per pixel (``--ref-rows 224`` runs it all).
With CUDA, the batched path is timed for 32 grids.

Usage: python benchmarks/bench_maps.py [--repeats 10] [--ref-rows 24]
"""
from __future__ import annotations

import argparse
import statistics
import time


import numpy as np  # noqa: E402
import torch  # noqa: E402

import ferbench.maps as M  # noqa: E402
from ferbench.maps._reference import dfcnn_maps_reference  # noqa: E402
from ferbench.maps._reference import synthetic_face_grid  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--ref-rows", type=int, default=24)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    g = synthetic_face_grid(224)
    names = list(M.DFCNN_MAPS)
    M.compute_maps(g, names=names)
    ts = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        fast = M.compute_maps(g, names=names)
        ts.append(time.perf_counter() - t)
    t_fast = statistics.median(ts)
    print(f"DF-CNN maps benchmark on a synthetic face grid 224x224 ({int(g.mask.sum())} face pixels), "
          f"torch threads={a.threads}")
    print(f"  ferbench vectorised (6 maps): {t_fast * 1e3:8.2f} ms/scan (median of {a.repeats})")
    rows = slice(100, 100 + a.ref_rows) if a.ref_rows < 224 else slice(None)
    # the reference on a band of rows (+2 context rows each side so the windows are complete)
    lo = max(0, (rows.start or 0) - 4)
    hi = min(224, (rows.stop or 224) + 4)
    sub_xyz, sub_mask = g.xyz[lo:hi], g.mask[lo:hi]
    t = time.perf_counter()
    ref = dfcnn_maps_reference(sub_xyz, sub_mask, g.texture[lo:hi])
    t_ref_sub = time.perf_counter() - t
    n_sub = int(sub_mask.sum())
    t_ref = t_ref_sub * g.mask.sum() / max(n_sub, 1)
    inner = slice((rows.start or 0) - lo, (rows.stop or 224) - lo)
    # geometry is min-max normalised per grid, so only the other maps compare on a band
    err = max(float(np.abs(fast[k][rows] - ref[k][inner]).max()) for k in ref if k != "geometry")
    how = "measured" if a.ref_rows >= 224 else f"extrapolated per face pixel from {n_sub} pixels"
    print(f"  per-pixel reference         : {t_ref:8.2f} s/scan ({how}) -> ratio {t_ref / t_fast:8.1f}x; "
          f"max |fast - ref| on the compared rows = {err:.2e}")
    print(f"  targets: >= 50x -> {'met' if t_ref / t_fast >= 50 else 'NOT met'}; "
          f"< 100 ms/scan -> {'met' if t_fast < 0.1 else 'NOT met'}")
    if torch.cuda.is_available():
        B = 32
        xyz = torch.as_tensor(np.stack([g.xyz] * B), device="cuda")
        mask = torch.as_tensor(np.stack([g.mask] * B), device="cuda")
        tex = torch.as_tensor(np.stack([g.texture] * B), device="cuda")
        maps = [M.get_map(n) for n in names]

        def run():
            ctx = M.MapContext(xyz, mask, tex)
            return [m.forward(ctx) for m in maps]
        run()
        torch.cuda.synchronize()
        ts = []
        for _ in range(5):
            t = time.perf_counter()
            run()
            torch.cuda.synchronize()
            ts.append(time.perf_counter() - t)
        tb = statistics.median(ts)
        print(f"  CUDA batched (B={B})         : {tb * 1e3:8.2f} ms/batch = {tb / B * 1e3:.2f} ms/scan "
              f"({torch.cuda.get_device_name()})")
    else:
        print("  CUDA batched                : skipped (no GPU)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
