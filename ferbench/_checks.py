"""Range checks of numeric settings, shared by the library entry points and the command line.

Each check returns the value (converted to ``int``/``float``) or raises
:class:`~ferbench.errors.SettingError` with a one-line message naming the setting, so a
library caller and ``ferbench <command>`` see the same words.
"""
from __future__ import annotations

import math
import numbers
from typing import Any

from ferbench.errors import SettingError

SEED_MAX = 2**32 - 1  # numpy's legacy seeding and torch's generators both take a 32-bit seed safely
MAP_SIZE_MAX = 2048   # a map side beyond this is a typo (224 is the papers' largest); 2048^2 x 8 maps stays small


def check_int(name: str, value: Any, lo: int | None = None, hi: int | None = None, *,
              allow_none: bool = False) -> int | None:
    """``value`` as an int in ``[lo, hi]``; SettingError otherwise (bools and non-integral floats refused)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value) \
                and float(value).is_integer():
            value = int(value)
        else:
            raise SettingError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise SettingError(f"{name} must be {_range(lo, hi)}, got {value}")
    return value


def check_float(name: str, value: Any, lo: float | None = None, hi: float | None = None, *,
                lo_open: bool = False, allow_none: bool = False) -> float | None:
    """``value`` as a finite float in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``); SettingError otherwise."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SettingError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise SettingError(f"{name} must be a finite number, got {value}")
    if lo is not None and (value < lo or (lo_open and value == lo)):
        raise SettingError(f"{name} must be {'>' if lo_open else '>='} {lo:g}, got {value:g}")
    if hi is not None and value > hi:
        raise SettingError(f"{name} must be <= {hi:g}, got {value:g}")
    return value


def _range(lo, hi) -> str:
    if lo is not None and hi is not None:
        return f"between {lo} and {hi}"
    return f">= {lo}" if lo is not None else f"<= {hi}"
