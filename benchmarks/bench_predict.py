"""End-to-end prediction throughput (scans/s) of every model: read -> preprocess -> maps -> model.

For each registered model (random weights: throughput does not depend on training) this measures, on the
same scan files and in the same run:

* the time of each stage for one scan at a time in this thread (read, preprocess, maps + stacking, model
  per scan in batches) and each stage's share of their sum;
* ``ferbench.eval.inference.predict_scans`` end to end with 0, 1 and 2 reading threads (``--workers``) and
  with 2 worker processes (``--processes``, their start-up included);
* the model alone on the stacked batch (scans/s), the ceiling end-to-end throughput is compared with.

The scans are a generated synthetic BU-3DFE-layout dataset (or ``--data``), read from disk each time (the
OS file cache is warm after the first pass). Numbers are machine-dependent: compare ratios within one run.

Usage::

    python benchmarks/bench_predict.py                        # all models, 96 px, CPU or CUDA if present
    python benchmarks/bench_predict.py --size native --device cuda --scans 64
    python benchmarks/bench_predict.py --models dfcnn cmcnn --markdown
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings


PAPER_MODELS = ("dfcnn", "gemax_fa", "attention_transformer", "cmcnn", "mffcnn")
SMALL_SIZE = {"mffcnn": 60}
"""Models whose geometry does not allow the default small size (MFF-CNN's patches: as bench_models.py)."""


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def stage_times(files, net, device, batch: int) -> dict[str, float]:
    """Seconds per scan of each stage, one scan at a time in this thread (model: per scan, in batches)."""
    import numpy as np
    import torch

    from ferbench.eval.data import stack_maps
    from ferbench.io import read_scan
    from ferbench.maps import compute_maps
    from ferbench.preprocess import preprocess_scan

    inputs = tuple((str(n), int(c)) for n, c in net.inputs)
    size = int(net.input_size)
    t = {"read": 0.0, "preprocess": 0.0, "maps": 0.0}
    xs = []
    for f in files:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scan = read_scan(f)
        t1 = time.perf_counter()
        grid = preprocess_scan(scan, size=size)
        t2 = time.perf_counter()
        xs.append(stack_maps(compute_maps(grid, [n for n, _ in inputs], size=size), inputs, size, f))
        t3 = time.perf_counter()
        t["read"] += t1 - t0
        t["preprocess"] += t2 - t1
        t["maps"] += t3 - t2
    n = len(files)
    out = {k: v / n for k, v in t.items()}
    x = torch.from_numpy(np.stack(xs))
    out["model"] = model_alone(net, x, device, batch)
    return out


def model_alone(net, x, device, batch: int, repeats: int = 3) -> float:
    """Seconds per scan of the model alone (forward + softmax, batches of ``batch``, data already stacked)."""
    import torch

    net.to(device).eval()
    with torch.no_grad():
        net(x[:batch].to(device))           # warm-up (cuDNN autotune, allocator)
        _sync(device)
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            for s in range(0, len(x), batch):
                out = net(x[s:s + batch].to(device))
                torch.softmax((out["logits"] if isinstance(out, dict) else out).float(), 1).cpu()
            _sync(device)
            best = min(best, time.perf_counter() - t0)
    return best / len(x)


def end_to_end(files, net, batch: int, workers: int, processes: bool = False) -> float:
    """Scans/s of :func:`ferbench.eval.inference.predict_scans` (the ``ferbench predict`` path; worker
    processes' start-up included)."""
    from ferbench.eval.inference import Predictor, predict_scans

    pred = Predictor([net])
    t0 = time.perf_counter()
    table = predict_scans(pred, files, batch_size=batch, workers=workers, progress=False, processes=processes)
    _sync(next(net.parameters()).device)
    dt = time.perf_counter() - t0
    assert not table.failed, table.failed[0].error
    return len(files) / dt


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=list(PAPER_MODELS),
                    help="registered model names (default: the five papers' models; 'all' for every variant)")
    ap.add_argument("--size", default="96", help="input side in pixels, or 'native' (each model's own)")
    ap.add_argument("--scans", type=int, default=24, help="scans to predict per measurement")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--device", default=None)
    ap.add_argument("--data", default=None, help="a folder of scans (default: a generated synthetic one)")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--markdown", action="store_true", help="print the README table")
    a = ap.parse_args(argv)

    import torch

    from ferbench._device import default_device
    from ferbench.eval.inference import find_scans
    from ferbench.models import create_model, list_models

    if a.threads:
        torch.set_num_threads(a.threads)
    device = default_device(a.device)
    tmp = None
    if a.data is None:
        from ferbench.synth import generate_dataset

        tmp = tempfile.TemporaryDirectory(prefix="bench_predict_")
        n_sub = max(1, -(-a.scans // 25))
        generate_dataset(os.path.join(tmp.name, "data"), n_subjects=n_sub, seed=0, layouts=("bu3dfe",),
                         progress=False, workers=1, scanner_traits=0.0)
        root = os.path.join(tmp.name, "data")
    else:
        root = a.data
    files = find_scans([root])[: a.scans]
    models = list_models() if a.models == ["all"] else a.models
    cpu_name = f"{os.cpu_count()} CPU core(s)"
    dev_name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name
    print(f"# bench_predict: {len(files)} SYNTHETIC scans, batch {a.batch}, device {device} ({dev_name}), "
          f"torch threads {torch.get_num_threads()}, {cpu_name}")
    rows = []
    for name in models:
        size = None if a.size == "native" else SMALL_SIZE.get(name.split("_no_")[0], int(a.size)) \
            if a.size == "96" else int(a.size)
        net = create_model(name, input_size=size).to(device).eval()
        st = stage_times(files, net, device, a.batch)
        e2e = {w: end_to_end(files, net, a.batch, w) for w in (0, 1, 2)}
        e2e["p2"] = end_to_end(files, net, a.batch, 2, processes=True)
        total = sum(st.values())
        rows.append((name, int(net.input_size), e2e, 1.0 / st["model"], {k: v / total for k, v in st.items()}, st))
        r = rows[-1]
        print(f"{name:24s} {r[1]:4d}px  e2e scans/s: w0 {e2e[0]:7.2f}  w1 {e2e[1]:7.2f}  w2 {e2e[2]:7.2f}  "
              f"2 processes {e2e['p2']:7.2f}  "
              f"| model alone {r[3]:9.1f}/s  | shares: " +
              "  ".join(f"{k} {100 * v:4.1f}%" for k, v in r[4].items()), flush=True)
    if a.markdown:
        print()
        print("| model | input | scans/s, no worker | 1 thread | 2 threads | 2 processes | model alone (scans/s) | "
              "read | preprocess | maps | model |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for name, size, e2e, alone, share, _ in rows:
            print(f"| {name} | {size} px | {e2e[0]:.1f} | {e2e[1]:.1f} | {e2e[2]:.1f} | {e2e['p2']:.1f} | "
                  f"{alone:.0f} | "
                  + " | ".join(f"{100 * share[k]:.0f} %" for k in ("read", "preprocess", "maps", "model")) + " |")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
