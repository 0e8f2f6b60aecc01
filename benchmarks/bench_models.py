"""Training and inference throughput (images/s) of every paper model, against a named baseline.

The baseline is torchvision's ResNet-18 (random weights, 3-channel input at the same size and
batch), measured in the same run; every model's throughput is printed with its ratio to it.
Runs on CPU, and on CUDA too when present. Numbers are machine-dependent: only the ratios are
meant for comparison across machines. Synthetic random inputs; nothing is downloaded.

Usage::

    python benchmarks/bench_models.py                 # small inputs (quick CPU run)
    python benchmarks/bench_models.py --size native   # the papers' input sizes
    python benchmarks/bench_models.py --device cuda --size native --batch 32 --amp
"""
from __future__ import annotations

import argparse
import time

import torch

from ferbench.models import create_model

# model -> (small input size, options for the small preset)
MODELS = {
    "dfcnn": (96, {}),
    "dfcnn_unshared": (96, {}),
    "gemax_fa": (96, {}),
    "attention_transformer": (96, {}),
    "cmcnn": (96, {}),
    "mffcnn": (60, {}),
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timeit(fn, device, warmup: int, iters: int) -> float:
    for _ in range(warmup):
        fn()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    _sync(device)
    return (time.perf_counter() - t0) / iters


def bench_one(model, x, y, device, warmup, iters, amp):
    """Return (train images/s, inference images/s) for one model on one batch."""
    model.to(device)
    x, y = x.to(device), y.to(device)
    params = model.model_parameters() if hasattr(model, "model_parameters") else list(model.parameters())
    opt = torch.optim.SGD([p for p in params if p.requires_grad], lr=1e-4, momentum=0.9)
    ac = dict(device_type=device.type, dtype=torch.bfloat16, enabled=amp)

    def train_step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(**ac):
            if hasattr(model, "forward_train"):
                loss = model.compute_loss(model.forward_train(x), y)
            else:
                loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    def infer_step():
        with torch.no_grad(), torch.autocast(**ac):
            model(x)

    model.train()
    t_train = _timeit(train_step, device, warmup, iters)
    model.eval()
    t_inf = _timeit(infer_step, device, warmup, iters)
    return x.shape[0] / t_train, x.shape[0] / t_inf


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=("small", "native"), default="small")
    ap.add_argument("--batch", type=int, default=None, help="default 4 on CPU, 32 on CUDA")
    ap.add_argument("--iters", type=int, default=None)
    ap.add_argument("--device", default=None, help="cpu, cuda or 'all' (default: cpu, plus cuda if present)")
    ap.add_argument("--models", nargs="*", default=list(MODELS))
    ap.add_argument("--amp", action="store_true", help="bf16 autocast")
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    devices = [torch.device(a.device)] if a.device not in (None, "all") else \
        [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for device in devices:
        bs = a.batch or (32 if device.type == "cuda" else 4)
        iters = a.iters or (10 if device.type == "cuda" else 2)
        print(f"\n== device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}"
              f", {torch.get_num_threads()} threads), batch {bs}, {a.size} inputs, amp={a.amp}, "
              f"random init, synthetic inputs ==")
        print(f"{'model':<24}{'size':>5}{'train img/s':>13}{'x base':>8}{'infer img/s':>13}{'x base':>8}")
        base_cache: dict[int, tuple[float, float]] = {}
        for name in a.models:
            small_size, opts = MODELS[name]
            torch.manual_seed(0)
            model = create_model(name, **({} if a.size == "native" else {"input_size": small_size}), **opts)
            size = model.input_size
            x = torch.rand(bs, model.in_channels, size, size)
            y = torch.arange(bs) % model.n_classes
            if size not in base_cache:
                import torchvision

                torch.manual_seed(0)
                base = torchvision.models.resnet18(weights=None, num_classes=6)
                base_cache[size] = bench_one(base, torch.rand(bs, 3, size, size), y, device, 1, iters, a.amp)
                bt, bi = base_cache[size]
                print(f"{'resnet18 (baseline)':<24}{size:>5}{bt:>13.1f}{1.0:>8.2f}{bi:>13.1f}{1.0:>8.2f}")
            tr, inf = bench_one(model, x, y, device, 1, iters, a.amp)
            bt, bi = base_cache[size]
            print(f"{name:<24}{size:>5}{tr:>13.1f}{tr / bt:>8.2f}{inf:>13.1f}{inf / bi:>8.2f}")
            del model
            if device.type == "cuda":
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
