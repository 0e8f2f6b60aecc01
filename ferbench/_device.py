"""Device selection: CUDA when present, CPU otherwise."""
from __future__ import annotations

import re

_DEVICE = re.compile(r"^(cpu|cuda|mps|xpu)(:(\d{1,3}))?$")


def default_device(device: "str | None" = None):
    """Return a ``torch.device``: the one asked for, else CUDA if available, else CPU.

    Raises
    ------
    ferbench.errors.SettingError
        When ``device`` is not a device name (``cpu``, ``cuda``, ``cuda:1``, ``mps``) or names
        an accelerator this machine does not have.
    """
    import torch

    from ferbench.errors import SettingError

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(device, torch.device):
        return device
    name = str(device).strip().lower()
    m = _DEVICE.match(name)
    if m is None:
        raise SettingError(f"unknown device {device!r}; expected cpu, cuda, cuda:N or mps")
    kind, index = m.group(1), m.group(3)
    if kind == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            raise SettingError(f"device {device!r}: CUDA is not available on this machine (use --device cpu)")
        if index is not None and int(index) >= n:
            raise SettingError(f"device {device!r}: this machine has {n} CUDA device(s) (cuda:0..cuda:{n - 1})")
    elif kind == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise SettingError(f"device {device!r}: Apple MPS is not available on this machine (use --device cpu)")
    elif kind == "xpu":
        xpu = getattr(torch, "xpu", None)
        if xpu is None or not xpu.is_available():
            raise SettingError(f"device {device!r}: Intel XPU is not available on this machine (use --device cpu)")
    elif kind == "cpu" and index not in (None, "0"):
        raise SettingError(f"unknown device {device!r}; expected cpu, cuda, cuda:N or mps")
    return torch.device(name)
