"""Benchmark: synthetic dataset generation (ferbench.synth.generate_dataset).

Times a BU-3DFE-layout run (25 scans per subject: .wrl + .bmp + .bnd + F2D render) with a
process pool over subjects against a single-process baseline measured in the same run, and
extrapolates linearly to 100 subjects x 25 scans unless ``--subjects 100`` is given.
A Bosphorus-layout run (7 scans per subject, .bnt range grid + PNG render) is timed too.

    .venv/bin/python benchmarks/bench_synth.py [--subjects 8] [--workers N] [--face-model ict|sfm|procedural]

All data written here is synthetic (a temporary folder, deleted afterwards).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time


def _run(out: str, n: int, workers: int, layouts, face_model) -> tuple[float, float]:
    """Wall seconds and CPU seconds of this process (meaningful for the in-process baseline)."""
    from ferbench.synth import generate_dataset

    shutil.rmtree(out, ignore_errors=True)
    t, c = time.perf_counter(), time.process_time()
    generate_dataset(out, n_subjects=n, seed=0, layouts=layouts, face_model=face_model, workers=workers,
                     progress=False)
    return time.perf_counter() - t, time.process_time() - c


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=8, help="subjects per timed run (default 8; 100 = full size)")
    ap.add_argument("--workers", type=int, default=None, help="pool size (default: one per CPU)")
    ap.add_argument("--face-model", choices=["ict", "sfm", "procedural"], default="ict",
                    help="face model (default: ict, the embedded one)")
    ap.add_argument("--procedural", action="store_true", help="same as --face-model procedural")
    args = ap.parse_args(argv)

    from ferbench.synth import load_face_model

    tmp = tempfile.mkdtemp(prefix="ferbench_bench_synth_")
    face_model = "procedural" if args.procedural else args.face_model
    model = load_face_model(face_model=face_model)
    workers = args.workers or os.cpu_count() or 1
    n = args.subjects
    print(f"synthetic data benchmark - model {model.name} (sha256 {model.sha256[:12]}), {os.cpu_count()} CPUs, "
          f"{n} subjects per run, texture 256, images 256")
    try:
        _run(os.path.join(tmp, "warm"), 1, 1, ("bu3dfe",), face_model)  # imports, model load, caches
        rows = []
        for layout, per in (("bu3dfe", 25), ("bosphorus", 7)):
            base, cpu = _run(os.path.join(tmp, "serial"), n, 1, (layout,), face_model)
            pool, _ = _run(os.path.join(tmp, "pool"), n, workers, (layout,), face_model)
            rows.append((layout, per, base, pool, cpu))
        print(f"{'layout':<10} {'scans':>6} {'1 process s':>12} {f'{workers} workers s':>12} {'speed-up':>9} "
              f"{'ms/scan (pool)':>15} {'100 subjects, pool s':>21}")
        for layout, per, base, pool, cpu in rows:
            scans = n * per
            label = "measured" if n == 100 else "extrapolated"
            print(f"{layout:<10} {scans:>6} {base:>12.2f} {pool:>12.2f} {base / pool:>8.2f}x "
                  f"{1000 * pool / scans:>15.1f} {pool * 100 / n:>14.1f} ({label})")
        print("CPU time of the single-process baseline (less sensitive to other load on the machine):")
        for layout, per, base, pool, cpu in rows:
            print(f"  {layout:<10} {1000 * cpu / (n * per):6.1f} ms CPU/scan -> 100 subjects on {workers} idle cores "
                  f"~ {cpu * 100 / n / workers:5.1f} s (estimate)")
        if hasattr(os, "getloadavg"):
            print(f"load average during the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        print("ratio = single-process baseline / pool, both measured in this run; 100-subject times are "
              + ("measured." if n == 100 else f"linear extrapolations from {n} subjects."))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
