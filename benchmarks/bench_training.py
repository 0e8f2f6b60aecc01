"""Training / inference throughput and the data pipeline's cached-vs-uncached speed-up.

Run:  python benchmarks/bench_training.py [--model dfcnn] [--size 96] [--scans 48] [--data DIR]

Without ``--data`` a small synthetic BU-3DFE-layout dataset is generated in a temporary folder,
so every number printed is labelled "synthetic". Speeds are reported as images/s and the map
cache as a ratio against uncached map computation measured in the same run (no absolute
thresholds: machines differ).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="dfcnn", help="registered model name (ferbench models)")
    ap.add_argument("--size", type=int, default=None, help="input size (default: small per model)")
    ap.add_argument("--scans", type=int, default=48, help="scans used for the measurements")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--data", default=None, help="dataset folder (default: generate synthetic data)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    a = ap.parse_args(argv)

    import numpy as np
    import torch

    from ferbench.eval.data import InputSet, MapCache, compute_input, record_to_dict
    from ferbench.eval.protocols import make_splits
    from ferbench.eval.runner import build_model
    from ferbench.eval.training import config_for, fit, predict, set_seed
    from ferbench.io.dataset import index_dataset

    if a.threads:
        torch.set_num_threads(a.threads)
    small = {"dfcnn": 72, "cmcnn": 64, "mffcnn": 60, "gemax_fa": 64, "attention_transformer": 64}
    tmp = tempfile.TemporaryDirectory(prefix="ferbench_bench_")
    data = a.data
    if data is None:
        from ferbench.synth import generate_dataset

        n_sub = max(2, -(-a.scans // 24))
        t0 = time.perf_counter()
        generate_dataset(os.path.join(tmp.name, "data"), n_subjects=n_sub, seed=0, layouts=("bu3dfe",),
                         workers=1, progress=False, texture_size=128, image_size=128)
        data = os.path.join(tmp.name, "data")
        print(f"generated {n_sub} synthetic subjects in {time.perf_counter() - t0:.1f} s")
    idx = index_dataset(data)
    ps = make_splits("bu3dfe_subset2_cv10", idx, folds=2, seed=0)
    recs = [record_to_dict(r) for r in ps.records][: a.scans]
    labels = ps.labels[: len(recs)]
    synthetic = any(r["synthetic"] for r in recs)
    tag = " (synthetic)" if synthetic else ""

    set_seed(0)
    default = next((v for k, v in small.items() if a.model.startswith(k)), None)
    probe = build_model(a.model, 6, a.size or default)
    size, inputs = probe.input_size, probe.inputs
    print(f"model {a.model}: {probe.describe() if hasattr(probe, 'describe') else ''}")
    print(f"device {torch.device(a.device) if a.device else ('cuda' if torch.cuda.is_available() else 'cpu')}, "
          f"torch threads {torch.get_num_threads()}, {len(recs)} scans, size {size}")

    # --- data pipeline: uncached (compute maps) vs cached (read .npy) -------------------------
    cache_dir = os.path.join(tmp.name, "cache")
    t0 = time.perf_counter()
    cache = MapCache(cache_dir, inputs, size, "3d")
    for r in recs:
        cache.get(r)
    t_uncached = time.perf_counter() - t0
    t0 = time.perf_counter()
    cache2 = MapCache(cache_dir, inputs, size, "3d")
    for r in recs:
        cache2.get(r)
    t_cached = time.perf_counter() - t0
    assert cache2.misses == 0
    t0 = time.perf_counter()
    for r in recs[: min(8, len(recs))]:
        compute_input(r, inputs, size)
    per_scan_direct = (time.perf_counter() - t0) / min(8, len(recs))
    print(f"data pipeline: uncached {len(recs) / t_uncached:8.1f} scans/s, cached {len(recs) / t_cached:8.1f} scans/s,"
          f" ratio cached/uncached = {t_uncached / t_cached:.1f}x{tag}"
          f"  (direct compute_input {1 / per_scan_direct:.1f} scans/s)")

    # --- training and inference ----------------------------------------------------------------
    cfg = config_for(probe.paper, epochs=a.epochs, batch_size=a.batch_size, lr=1e-3, optimizer="adam",
                     scheduler="none", seed=0)
    ds = InputSet(recs, labels, cache2)
    ds.batch(list(range(len(ds))))  # warm the in-memory copy: measure the model, not the disk
    model = probe
    info = fit(model, ds, cfg, device=a.device, progress=False)
    train_ips = info["images"] / info["seconds"]
    pr = predict(model, ds, batch_size=a.batch_size, device=a.device)
    infer_ips = len(ds) / pr["seconds"]
    print(f"training  {train_ips:8.1f} images/s{tag} ({info['images']} images, {info['seconds']:.1f} s)")
    print(f"inference {infer_ips:8.1f} images/s{tag}; ratio inference/training = {infer_ips / train_ips:.1f}x")
    print(f"map computation is {train_ips * per_scan_direct:.1f}x the cost of a training step per image"
          f" -> the cache matters{tag}")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
