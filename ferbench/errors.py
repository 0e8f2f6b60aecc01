"""Exceptions raised by ferbench.

Every problem with user input is reported as a :class:`FerbenchError` subclass whose
message is one line naming the file (when there is one) and the problem.
"""
from __future__ import annotations

import os


class FerbenchError(Exception):
    """Base class of every error ferbench raises on purpose."""


class ScanFormatError(FerbenchError, ValueError):
    """A scan, landmark or texture file is malformed, truncated, hostile or unsupported.

    Parameters
    ----------
    path
        The offending file.
    problem
        A short description of what is wrong (one line).
    """

    def __init__(self, path: str | os.PathLike | None, problem: str):
        self.path = None if path is None else os.fspath(path)
        self.problem = " ".join(str(problem).split())  # force a single line
        super().__init__(f"{self.path}: {self.problem}" if self.path else self.problem)


class DatasetError(FerbenchError, ValueError):
    """A dataset folder, manifest or split is inconsistent."""


class SettingError(FerbenchError, ValueError):
    """A numeric or named setting (epochs, batch size, learning rate, device, ...) is out of range."""


class ModelAssetError(FerbenchError):
    """A model asset (e.g. the Surrey Face Model) is missing or fails its checksum."""


class FerbenchWarning(UserWarning):
    """Base class of the warnings ferbench gives (the data is usable but something is off)."""


class TextureMissingWarning(FerbenchWarning):
    """A scan file names a texture image that is not there (the scan is read without texture)."""


class ExcludedScansWarning(FerbenchWarning):
    """Scans of a dataset were left out of training / evaluation because they cannot give the model's
    inputs (e.g. texture maps of a scan whose texture image is missing); results.json lists them."""
