"""Argument types and the parser class of the command line: every bad value ends in one line on stderr."""
from __future__ import annotations

import argparse
import sys

from ferbench._checks import check_float, check_int
from ferbench.errors import FerbenchError


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (``ferbench <cmd>: error: ...``) instead of usage + error."""

    def error(self, message: str):  # noqa: D401 - argparse API
        text = " ".join(str(message).split())
        self.exit(2, f"{self.prog}: error: {text} (see {self.prog} --help)\n")


def int_in(lo: int | None = None, hi: int | None = None):
    """An argparse type: an integer in ``[lo, hi]``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        try:
            return check_int("value", value, lo, hi)
        except FerbenchError as e:
            raise argparse.ArgumentTypeError(str(e).replace("value must be", "must be", 1)) from None
    parse.__name__ = "integer"
    return parse


def float_in(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False):
    """An argparse type: a finite float in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``); nan/inf refused."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        try:
            return check_float("value", value, lo, hi, lo_open=lo_open)
        except FerbenchError as e:
            raise argparse.ArgumentTypeError(str(e).replace("value must be", "must be", 1)) from None
    parse.__name__ = "number"
    return parse


def device(text: str) -> str:
    """An argparse type: a torch device this machine has (cpu, cuda, cuda:N, mps)."""
    from ferbench._device import default_device

    try:
        default_device(text)
    except FerbenchError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (an OSError names its file)."""
    if isinstance(exc, OSError) and not isinstance(exc, FerbenchError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename is not None else ""
        text = f"{where}{exc.strerror}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def stderr_line(prog: str, text: str) -> None:
    print(f"{prog}: error: {text}", file=sys.stderr)
