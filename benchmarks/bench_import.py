"""Benchmark: the time of ``import ferbench`` in a fresh interpreter, against ``import numpy`` in the same run.

Each import runs in its own subprocess (``python -X importtime`` is not used: the wall clock of a fresh
``python -c "import X"`` is what a user waits for); the best of ``--repeats`` runs is printed, with the bare
interpreter start-up subtracted, and the heavy modules that ``import ferbench`` loaded (none expected).

Usage: python benchmarks/bench_import.py [--repeats 5]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time

HEAVY = ("torch", "sklearn", "matplotlib", "scipy", "pandas", "napari", "pyvista")


def best_of(code: str, repeats: int) -> float:
    """Best wall time (s) of ``python -c code`` over ``repeats`` fresh interpreters."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    bare = best_of("pass", args.repeats)
    numpy_s = best_of("import numpy", args.repeats) - bare
    ferbench_s = best_of("import ferbench", args.repeats) - bare
    loaded = subprocess.run([sys.executable, "-c", "import sys, ferbench; print(' '.join(m for m in "
                             f"{HEAVY!r} if m in sys.modules))"], check=True, capture_output=True,
                            text=True).stdout.split()
    print(f"interpreter start-up      {bare * 1e3:7.1f} ms (best of {args.repeats}, subtracted below)")
    print(f"import numpy              {numpy_s * 1e3:7.1f} ms")
    print(f"import ferbench           {ferbench_s * 1e3:7.1f} ms  ({ferbench_s / max(numpy_s, 1e-9):.2f}x numpy)")
    print(f"heavy modules loaded      {', '.join(loaded) if loaded else 'none'}")
    return 1 if loaded else 0


if __name__ == "__main__":
    sys.exit(main())
