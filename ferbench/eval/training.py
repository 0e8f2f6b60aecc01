"""The training and prediction loop, with resumable checkpoints.

:func:`fit` trains a :class:`~ferbench.models._base.FERModel` on an :class:`~ferbench.eval.data.InputSet`
for a fixed number of epochs (the papers name no validation set: the final-epoch model is
evaluated). After every epoch it writes a checkpoint holding the model, optimiser(s) and
scheduler state dicts, all RNG states (torch, CUDA, numpy, python, the batch-order generator)
and the epoch counter, as plain tensors / numbers / strings, so it loads with
``torch.load(..., weights_only=True)`` (nothing is unpickled). Restarting ``fit`` with the same
checkpoint path continues after the last completed epoch and ends with bit-identical weights to
an uninterrupted run from the same seed (same device, deterministic kernels).

Per-paper optimiser presets (:data:`PRESETS`) follow the specs; ``lr``/``optimizer`` overrides
are recorded in the results.
"""
from __future__ import annotations

import json
import os
import random
import time
from dataclasses import asdict, dataclass, fields
from typing import Any, Callable

import numpy as np

from ferbench.errors import FerbenchError
from ferbench.models.cfgs import PAPER_CFGS

__all__ = ["TrainConfig", "PRESETS", "config_for", "fit", "predict", "save_checkpoint", "load_checkpoint",
           "CheckpointError", "set_seed", "remove_stale_temp_files"]


class CheckpointError(FerbenchError):
    """A checkpoint is missing, damaged or does not match the model."""


@dataclass
class TrainConfig:
    """Optimisation settings of one training run.

    Attributes
    ----------
    epochs, batch_size, lr
        Fixed-length training (no early stopping, no test-set model selection).
    optimizer
        ``"sgd"``, ``"adam"`` or ``"adamw"``.
    momentum, weight_decay, betas
        Optimiser parameters.
    scheduler
        ``"none"``, ``"step"`` (``StepLR(step_size, gamma)`` per epoch) or ``"onecycle"`` (per batch).
    step_size, gamma
        StepLR parameters.
    seed
        Seed of initialisation, batch order and dropout.
    drop_last_single
        Skip a final batch of one sample (BatchNorm cannot train on it).
    recalibrate_bn
        After the last epoch, recompute every BatchNorm's running statistics as the exact average
        over the training set with the final weights ("precise BN"; no gradient, fixed order).
        Short runs otherwise evaluate with running statistics that lag far behind the weights.
    source
        Where the preset comes from (spec section), or "override".
    """

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    scheduler: str = "none"
    step_size: int = 10
    gamma: float = 0.1
    seed: int = 0
    drop_last_single: bool = True
    recalibrate_bn: bool = False
    source: str = ""

    def __post_init__(self) -> None:
        # nonsense settings fail here with one line instead of training an untrained or NaN model
        from ferbench._checks import SEED_MAX, check_float, check_int

        self.epochs = check_int("epochs", self.epochs, 1, 100_000)
        self.batch_size = check_int("batch_size", self.batch_size, 1, 1_000_000)
        self.lr = check_float("lr", self.lr, 0.0, 10.0, lo_open=True)
        self.momentum = check_float("momentum", self.momentum, 0.0, 1.0)
        self.weight_decay = check_float("weight_decay", self.weight_decay, 0.0, 10.0)
        self.step_size = check_int("step_size", self.step_size, 1)
        self.gamma = check_float("gamma", self.gamma, 0.0, 10.0, lo_open=True)
        self.seed = check_int("seed", self.seed, 0, SEED_MAX)
        if self.optimizer not in ("sgd", "adam", "adamw"):
            raise FerbenchError(f"optimizer must be sgd, adam or adamw, got {self.optimizer!r}")
        if self.scheduler not in ("none", "step", "onecycle"):
            raise FerbenchError(f"scheduler must be none, step or onecycle, got {self.scheduler!r}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        d = {k: v for k, v in d.items() if k in names}
        if "betas" in d:
            d["betas"] = tuple(d["betas"])
        return cls(**d)


# owned by the model configurations (ferbench/models/cfgs.py, one PaperCfg per paper)
PRESETS: dict[str, dict[str, Any]] = {p: dict(c.preset) for p, c in PAPER_CFGS.items()}
"""Per-paper defaults (lr of gemax_fa: the spec's stable preset; attention_transformer: ``lr`` is the backbone lr,
the model's ``lr_groups`` scale the fusion network to 10x)."""


def config_for(paper: str, **overrides: Any) -> TrainConfig:
    """The paper's preset with ``overrides`` (None values ignored) applied."""
    base = dict(PRESETS.get(paper, {}))
    over = {k: v for k, v in overrides.items() if v is not None}
    if over.keys() & {"lr", "optimizer", "scheduler"}:
        base["source"] = (base.get("source", "") + " + override " + ", ".join(sorted(over))).strip()
    base.update(over)
    return TrainConfig.from_dict(base)


def set_seed(seed: int) -> None:
    """Seed python, numpy and torch global generators."""
    import torch

    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


# --------------------------------------------------------------------------- optimisers
def _build_optimizers(model, cfg: TrainConfig, steps_per_epoch: int):
    import torch

    params = [p for p in (model.model_parameters() if hasattr(model, "model_parameters") else model.parameters())
              if p.requires_grad]
    if hasattr(model, "lr_groups"):
        # per-group learning rates: cfg.lr times each group's ``lr_scale`` (attention_transformer.md §5:
        # backbones 1e-4, fusion network 1e-3); parameters in no group keep cfg.lr
        wanted = {id(p) for p in params}
        groups, seen = [], set()
        for g in model.lr_groups():
            ps = [p for p in g["params"] if id(p) in wanted and id(p) not in seen]
            seen.update(id(p) for p in ps)
            if ps:
                groups.append({"params": ps, "lr": cfg.lr * float(g.get("lr_scale", 1.0))})
        rest = [p for p in params if id(p) not in seen]
        if rest:
            groups.append({"params": rest, "lr": cfg.lr})
        params = groups
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    elif cfg.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
    elif cfg.optimizer == "adamw":
        opt = torch.optim.AdamW(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
    else:
        raise FerbenchError(f"unknown optimizer {cfg.optimizer!r}; expected sgd, adam or adamw")
    extra = []
    for g in (model.extra_param_groups() if hasattr(model, "extra_param_groups") else []):
        # loss-owned parameters (e.g. class centers) with their own plain SGD (attention_transformer.md §5)
        extra.append(torch.optim.SGD(g["params"], lr=float(g.get("lr", cfg.lr))))
    if cfg.scheduler == "none":
        sched = None
    elif cfg.scheduler == "step":
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.step_size, gamma=cfg.gamma)
    elif cfg.scheduler == "onecycle":
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[g["lr"] for g in opt.param_groups],
                                                    total_steps=max(1, cfg.epochs * steps_per_epoch))
    else:
        raise FerbenchError(f"unknown scheduler {cfg.scheduler!r}; expected none, step or onecycle")
    return opt, extra, sched


def recalibrate_batchnorm(model, data, batch_size: int = 32, device=None) -> int:
    """Reset and recompute the running mean / var of all BatchNorm layers over ``data`` with the
    current weights (cumulative average, training-mode forward, no gradient). Returns the number
    of BatchNorm layers updated. Other layers (dropout) run in eval mode."""
    import torch
    from torch import nn

    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not bns:
        return 0
    was_training = model.training
    saved = [m.momentum for m in bns]
    model.eval()
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    n = len(data)
    try:
        with torch.no_grad():
            for i in range(0, n, batch_size):
                idx = list(range(i, min(n, i + batch_size)))
                if len(idx) < 2 and n > 1:
                    continue
                x, _ = data.batch(idx)
                model.forward_train(x.to(device) if device is not None else x)
    finally:
        for m, mom in zip(bns, saved):
            m.momentum = mom
        model.train(was_training)
    return len(bns)


def _batches(n: int, cfg: TrainConfig, gen) -> list:
    import torch

    perm = torch.randperm(n, generator=gen)
    out = [perm[i:i + cfg.batch_size] for i in range(0, n, cfg.batch_size)]
    if cfg.drop_last_single and len(out) > 1 and len(out[-1]) == 1:
        out.pop()
    return out


def _steps_per_epoch(n: int, cfg: TrainConfig) -> int:
    k = -(-n // cfg.batch_size)
    if cfg.drop_last_single and k > 1 and n % cfg.batch_size == 1:
        k -= 1
    return max(1, k)


# --------------------------------------------------------------------------- checkpoints
def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Atomically write a weights_only-loadable checkpoint (temp file + rename)."""
    import torch

    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    remove_stale_temp_files(path)
    # the temp file names its checkpoint and its writer's pid, so a killed writer's file is recognised later
    tmp = f"{os.path.abspath(path)}.{os.getpid()}.tmp"
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


_LEGACY_TEMP_AGE_S = 600.0  # a checkpoint write takes seconds; an older anonymous temp file is a killed writer's


def _pid_alive(pid: int) -> bool:
    if os.name != "posix":
        return True  # cannot tell cheaply: keep it (the age rule below still applies to anonymous files)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: a live process of another user
        return True
    return True


def remove_stale_temp_files(path: str | os.PathLike) -> list[str]:
    """Delete temp files that killed writers of checkpoint ``path`` left in its folder; return their paths.

    ``<checkpoint>.<pid>.tmp`` is removed when process ``pid`` no longer runs; an anonymous ``tmp*.tmp``
    (the names of earlier ferbench versions) when it is older than ten minutes. Files of live writers stay.
    """
    import time

    full = os.path.abspath(os.fspath(path))
    folder, base = os.path.split(full)
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    now = time.time()
    for name in names:
        if not name.endswith(".tmp"):
            continue
        f = os.path.join(folder, name)
        stale = False
        middle = name[len(base) + 1:-4] if name.startswith(base + ".") else ""
        if middle.isdigit():
            stale = not _pid_alive(int(middle))
        elif name.startswith("tmp") and len(name) <= 20:
            try:
                stale = now - os.path.getmtime(f) > _LEGACY_TEMP_AGE_S
            except OSError:
                stale = False
        if stale:
            try:
                os.remove(f)
                removed.append(f)
            except OSError:
                pass
    return removed


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``torch.load(weights_only=True)``; :class:`CheckpointError` on failure."""
    import torch

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        ck = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling problem is a bad file
        raise CheckpointError(f"{path}: not a loadable ferbench checkpoint ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''})") from None
    if not isinstance(ck, dict) or "model" not in ck:
        raise CheckpointError(f"{path}: not a ferbench checkpoint (no 'model' state dict)")
    return ck


def _np_state() -> list:
    name, key, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    return [name, key.tolist(), int(pos), int(has_gauss), float(gauss)]


def _rng_state(gen) -> dict[str, Any]:
    import torch

    st = {"rng_torch": torch.get_rng_state(), "rng_gen": gen.get_state(),
          "rng_numpy": json.dumps(_np_state()),
          "rng_python": json.dumps(random.getstate())}
    if torch.cuda.is_available():
        st["rng_cuda"] = torch.cuda.get_rng_state_all()
    return st


def _restore_rng(ck: dict[str, Any], gen) -> None:
    import torch

    torch.set_rng_state(ck["rng_torch"])
    gen.set_state(ck["rng_gen"])
    name, key, pos, has_gauss, gauss = json.loads(ck["rng_numpy"])
    np.random.set_state((name, np.asarray(key, dtype=np.uint32), int(pos), int(has_gauss), float(gauss)))
    pst = json.loads(ck["rng_python"])
    random.setstate((pst[0], tuple(pst[1]), pst[2]))
    if "rng_cuda" in ck and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(ck["rng_cuda"])


# --------------------------------------------------------------------------- fit / predict
def fit(model, data, cfg: TrainConfig, *, checkpoint: str | os.PathLike | None = None, device=None,
        progress: bool = True, stop_after_epoch: int | None = None, meta: dict[str, Any] | None = None,
        desc: str = "train", guard: Callable[[], None] | None = None) -> dict[str, Any]:
    """Train ``model`` on ``data`` for ``cfg.epochs`` epochs, resuming from ``checkpoint`` if it exists.

    Parameters
    ----------
    model
        A FERModel (``forward_train`` / ``compute_loss``), initialised by the caller after
        :func:`set_seed` (so initialisation is seeded too).
    data
        :class:`~ferbench.eval.data.InputSet` (anything with ``len`` and ``batch(idx)``).
    cfg
        :class:`TrainConfig`.
    checkpoint
        File written after every epoch; if it exists, training continues after its epoch.
    device
        Torch device (default: CUDA if present, else CPU).
    progress
        tqdm bar over batches.
    stop_after_epoch
        Return after this many completed epochs (simulates an interruption; for tests).
    meta
        Extra JSON-serialisable information stored in the checkpoint (model name, fold...).
    guard
        Called before every checkpoint write; raises to stop without writing (a worker whose run
        no longer owns the results folder, see :func:`ferbench.eval.runlock.check_owner`).

    Returns
    -------
    dict
        ``epochs_done``, ``complete``, ``losses`` (mean loss per epoch, all epochs so far),
        ``seconds`` (this call), ``images`` (trained this call), ``resumed_from``.
    """
    import torch
    from tqdm.auto import tqdm

    from ferbench._device import default_device

    dev = default_device(device)
    model.to(dev)
    n = len(data)
    if n < 1:
        raise FerbenchError("no training samples")
    spe = _steps_per_epoch(n, cfg)
    opt, extra, sched = _build_optimizers(model, cfg, spe)
    gen = torch.Generator().manual_seed(int(cfg.seed))
    start, losses, resumed = 0, [], None
    if checkpoint is not None and os.path.isfile(checkpoint):
        ck = load_checkpoint(checkpoint, map_location=dev)
        try:
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["optimizer"])
            for o, s in zip(extra, ck.get("extra_optimizers", [])):
                o.load_state_dict(s)
            if sched is not None and "scheduler" in ck:
                sched.load_state_dict(ck["scheduler"])
        except (RuntimeError, ValueError, KeyError) as e:
            raise CheckpointError(f"{checkpoint}: does not match this model/config: {str(e).splitlines()[0]}") from None
        _restore_rng(ck, gen)
        start = int(ck["epoch"])
        losses = [float(v) for v in ck["losses"].tolist()] if "losses" in ck else []
        resumed = start
    t0, images = time.perf_counter(), 0
    meta_json = json.dumps(meta or {})
    bar = tqdm(total=(cfg.epochs - start) * spe, desc=desc, unit="batch", disable=not progress, leave=False)
    try:
        for epoch in range(start, cfg.epochs):
            model.train()
            tot, cnt = 0.0, 0
            for idx in _batches(n, cfg, gen):
                x, y = data.batch(idx.tolist())
                x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
                out = model.forward_train(x)
                loss = model.compute_loss(out, y)
                if not torch.isfinite(loss):
                    raise FerbenchError(f"{desc}: loss became {float(loss)} at epoch {epoch + 1}; lower the lr")
                opt.zero_grad(set_to_none=True)
                for o in extra:
                    o.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                for o in extra:
                    o.step()
                if sched is not None and cfg.scheduler == "onecycle":
                    sched.step()
                tot += float(loss.detach()) * len(y)
                cnt += len(y)
                images += len(y)
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{tot / cnt:.4f}")
            if sched is not None and cfg.scheduler == "step":
                sched.step()
            losses.append(tot / max(cnt, 1))
            if cfg.recalibrate_bn and epoch + 1 == cfg.epochs:
                recalibrate_batchnorm(model, data, max(2, cfg.batch_size), dev)
            if checkpoint is not None:
                if guard is not None:
                    guard()
                state = {"model": model.state_dict(), "optimizer": opt.state_dict(),
                         "extra_optimizers": [o.state_dict() for o in extra], "epoch": epoch + 1,
                         "epochs": int(cfg.epochs), "losses": torch.tensor(losses, dtype=torch.float64),
                         "config_json": json.dumps(cfg.to_dict()), "meta_json": meta_json, **_rng_state(gen)}
                if sched is not None:
                    state["scheduler"] = sched.state_dict()
                save_checkpoint(checkpoint, state)
            if stop_after_epoch is not None and epoch + 1 >= stop_after_epoch and epoch + 1 < cfg.epochs:
                return {"epochs_done": epoch + 1, "complete": False, "losses": losses,
                        "seconds": time.perf_counter() - t0, "images": images, "resumed_from": resumed}
    finally:
        bar.close()
    return {"epochs_done": cfg.epochs, "complete": True, "losses": losses, "seconds": time.perf_counter() - t0,
            "images": images, "resumed_from": resumed}


def predict(model, data, *, batch_size: int = 64, device=None, features: bool = False,
            progress: bool = False) -> dict[str, np.ndarray]:
    """Class probabilities (softmax of the logits) for every sample of ``data``.

    Returns
    -------
    dict
        ``probabilities`` float64 ``(N, n_classes)``, ``pred`` int64 ``(N,)``, ``seconds``, and
        ``features`` ``(N, D)`` when asked.
    """
    import torch
    from tqdm.auto import tqdm

    from ferbench._device import default_device

    dev = default_device(device)
    model.to(dev).eval()
    probs, feats = [], []
    t0 = time.perf_counter()
    n = len(data)
    with torch.no_grad():
        for s in tqdm(range(0, n, batch_size), desc="predict", unit="batch", disable=not progress, leave=False):
            x, _ = data.batch(list(range(s, min(n, s + batch_size))))
            x = x.to(dev)
            if features:
                out = model.forward_train(x)
                logits = out["logits"]
                feats.append(out["features"].float().cpu().numpy())
            else:
                logits = model(x)
            probs.append(torch.softmax(logits.float(), dim=1).double().cpu().numpy())
    p = np.concatenate(probs) if probs else np.zeros((0, getattr(model, "n_classes", 0)))
    out = {"probabilities": p, "pred": p.argmax(axis=1).astype(np.int64), "seconds": time.perf_counter() - t0}
    if features:
        out["features"] = np.concatenate(feats) if feats else np.zeros((0, 0), np.float32)
    return out
