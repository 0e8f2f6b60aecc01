"""Loading local weight files into ferbench models (no downloads, ever).

* ``.pt`` / ``.pth`` / ``.bin``: a state dict (or a checkpoint holding one under ``"state_dict"``,
  ``"model"`` or ``"model_state_dict"``) read with ``torch.load(weights_only=True)``, so no
  pickled code is ever executed.
* ``.safetensors``: read with the ``safetensors`` package when it is installed.

A 3-channel (ImageNet-style) stem loaded into a k-channel convolution is adapted with the
timm rule (:func:`adapt_input_conv`): summed over RGB for k = 1, repeated and rescaled by
3/k otherwise.
"""
from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import Any, Callable, Mapping

from ferbench.errors import ModelAssetError

STATE_DICT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")


def adapt_input_conv(in_chans: int, conv_weight):
    """Adapt a 3-channel stem weight ``(O, 3, kh, kw)`` to ``in_chans`` input channels (timm rule).

    Parameters
    ----------
    in_chans
        Wanted number of input channels.
    conv_weight
        Tensor ``(O, I, kh, kw)``; ``I`` is normally 3.

    Returns
    -------
    torch.Tensor
        ``(O, in_chans, kh, kw)`` in the input dtype: for ``in_chans == 1`` the sum over the input
        channels (a space-to-depth stem with ``I > 3`` sums each RGB triple); otherwise the RGB
        filters repeated ``ceil(in_chans / 3)`` times, cut to ``in_chans`` and scaled by
        ``3 / in_chans`` so the response to a constant input is unchanged.
    """
    if conv_weight.ndim != 4:
        raise ValueError(f"expected a 4-D conv weight, got shape {tuple(conv_weight.shape)}")
    dtype = conv_weight.dtype
    w = conv_weight.float()
    O, I, J, K = w.shape
    if in_chans == 1:
        if I > 3:
            if I % 3:
                raise ValueError(f"cannot adapt a {I}-channel stem to 1 channel")
            w = w.reshape(O, I // 3, 3, J, K).sum(dim=2)
        else:
            w = w.sum(dim=1, keepdim=True)
    elif in_chans != 3:
        if I != 3:
            raise ValueError(f"cannot adapt a {I}-channel stem to {in_chans} channels (needs 3)")
        repeat = int(math.ceil(in_chans / 3))
        w = w.repeat(1, repeat, 1, 1)[:, :in_chans, :, :]
        w = w * (3 / float(in_chans))
    return w.to(dtype)


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file (recorded in ``init_note``)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def load_state_dict_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a state dict from a local ``.pt/.pth/.bin/.ckpt`` or ``.safetensors`` file.

    Raises
    ------
    ModelAssetError
        Missing file, unsupported suffix, unreadable/corrupt content, a pickle that needs code
        execution (refused by ``weights_only=True``), or no tensor mapping inside.
    """
    import torch

    p = Path(path)
    if not p.is_file():
        raise ModelAssetError(f"{p}: weight file not found")
    suffix = p.suffix.lower()
    if suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise ModelAssetError(f"{p}: reading .safetensors needs the 'safetensors' package") from None
        try:
            sd: Any = load_file(str(p), device="cpu")
        except Exception as e:  # corrupt header etc.
            raise ModelAssetError(f"{p}: not a readable safetensors file ({type(e).__name__}: {e})") from None
    elif suffix in STATE_DICT_SUFFIXES:
        try:
            sd = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as e:  # pickle refused / truncated zip / garbage
            msg = " ".join(str(e).split())[:200]
            raise ModelAssetError(f"{p}: not a loadable state dict ({type(e).__name__}: {msg})") from None
    else:
        raise ModelAssetError(f"{p}: unsupported weight file type {suffix!r} "
                              f"(use {', '.join(STATE_DICT_SUFFIXES)} or .safetensors)")
    if isinstance(sd, Mapping):
        for key in ("state_dict", "model_state_dict", "model"):
            if key in sd and isinstance(sd[key], Mapping):
                sd = sd[key]
                break
    if not isinstance(sd, Mapping) or not sd or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ModelAssetError(f"{p}: file holds no mapping of parameter names to tensors")
    return dict(sd)


def load_weights(model, path_or_state: str | os.PathLike | Mapping[str, Any], *, strict: bool = False,
                 adapt_stems: bool = True, key_map: Callable[[str], str | None] | None = None
                 ) -> dict[str, list[str]]:
    """Copy weights from a local file (or an in-memory state dict) into ``model``.

    Parameters
    ----------
    model
        The target module (its ``init_note`` is updated when it has one).
    path_or_state
        A weight file (see :func:`load_state_dict_file`) or a state dict.
    strict
        Raise when any model key is missing or any file key is unused or mis-shaped.
    adapt_stems
        A 4-D weight whose only mismatch is a file input-channel count of 3 (or a target of 1)
        is converted with :func:`adapt_input_conv` (the timm rule) instead of being skipped.
    key_map
        Optional renaming of file keys to model keys (return ``None`` to drop a key).

    Returns
    -------
    dict
        ``{"loaded": [...], "adapted": [...], "missing": [...], "unexpected": [...],
        "mismatched": [...]}`` (model keys for the first three).
    """
    import torch

    if isinstance(path_or_state, Mapping):
        src, label = dict(path_or_state), "<state dict>"
    else:
        src, label = load_state_dict_file(path_or_state), str(path_or_state)
    if key_map is not None:
        mapped = {}
        for k, v in src.items():
            nk = key_map(k)
            if nk is not None:
                mapped[nk] = v
        src = mapped
    own = model.state_dict()
    new_sd: dict[str, Any] = {}
    report: dict[str, list[str]] = {"loaded": [], "adapted": [], "missing": [], "unexpected": [],
                                    "mismatched": []}
    for k, v in src.items():
        if k not in own:
            report["unexpected"].append(k)
            continue
        target = own[k]
        if tuple(v.shape) == tuple(target.shape):
            new_sd[k] = v.to(target.dtype)
            report["loaded"].append(k)
        elif (adapt_stems and v.ndim == 4 and target.ndim == 4 and v.shape[0] == target.shape[0]
              and v.shape[2:] == target.shape[2:] and (v.shape[1] == 3 or target.shape[1] == 1)):
            try:
                new_sd[k] = adapt_input_conv(int(target.shape[1]), v).to(target.dtype)
                report["adapted"].append(k)
            except ValueError:
                report["mismatched"].append(k)
        else:
            report["mismatched"].append(k)
    report["missing"] = [k for k in own if k not in new_sd]
    if strict and (report["missing"] or report["unexpected"] or report["mismatched"]):
        raise ModelAssetError(
            f"{label}: does not match {type(model).__name__} (missing {len(report['missing'])}, "
            f"unexpected {len(report['unexpected'])}, mismatched {len(report['mismatched'])}; "
            f"first: {(report['missing'] + report['unexpected'] + report['mismatched'])[0]})")
    if not new_sd:
        raise ModelAssetError(f"{label}: no parameter of the file matches {type(model).__name__}")
    with torch.no_grad():
        model.load_state_dict(new_sd, strict=False)
    if hasattr(model, "init_note"):
        n_total = len(own)
        note = f"weights from {label}"
        if not isinstance(path_or_state, Mapping):
            note += f" (sha256 {file_sha256(path_or_state)[:12]})"
        if report["missing"]:
            note += f"; {len(report['missing'])}/{n_total} tensors left at random initialisation"
        if report["adapted"]:
            note += f"; stems adapted (timm rule): {', '.join(report['adapted'])}"
        model.init_note = note
    return report


def save_weights(model, path: str | os.PathLike) -> Path:
    """Write ``model.state_dict()`` to ``path`` (``.pt``/``.pth``; ``.safetensors`` when installed)."""
    import torch

    p = Path(path)
    sd = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if p.suffix.lower() == ".safetensors":
        try:
            from safetensors.torch import save_file
        except ImportError:
            raise ModelAssetError(f"{p}: writing .safetensors needs the 'safetensors' package") from None
        save_file(sd, str(p))
    else:
        torch.save(sd, p)
    return p
