"""Small stand-ins for tests, benchmarks and quick smoke runs of the evaluation machinery.

* :class:`TinyNet` - a two-conv FERModel (any inputs, any size) that trains in milliseconds.
* :func:`tiny_model` - module-level factory usable as ``model`` in
  :func:`ferbench.eval.runner.run_protocol` (picklable, so it runs in worker processes).
* :func:`fake_index` - an in-memory BU-3DFE / Bosphorus-shaped index (no files) for protocol tests.
* :func:`synthetic_map_fn` - a map function that draws class-dependent patterns from the record's
  labels (no scan files read); numbers obtained with it are synthetic by construction.
"""
from __future__ import annotations

import hashlib
from typing import Any, Sequence

import numpy as np

__all__ = ["TinyNet", "tiny_model", "fake_index", "synthetic_map_fn", "write_fake_files"]


def _tiny_cls():
    import torch
    from torch import nn

    from ferbench.models._base import FERModel

    class TinyNet(FERModel):
        """conv(8) - ReLU - pool - conv(16) - ReLU - 2x2 average pool (64-D embedding) - dropout - linear."""

        paper = "tiny"

        def __init__(self, n_classes: int = 6, input_size: int | None = None,
                     inputs: Sequence[tuple[str, int]] = (("depth", 1),), dropout: float = 0.1):
            super().__init__(tuple(inputs), 16 if input_size is None else int(input_size), n_classes)
            c = self.in_channels
            self.body = nn.Sequential(nn.Conv2d(c, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                                      nn.Flatten())
            self.embed = nn.Identity()
            self.drop = nn.Dropout(dropout)  # exercises the global torch RNG in resume tests
            self.head = nn.Linear(64, n_classes)

        def forward_train(self, x: torch.Tensor) -> dict[str, Any]:
            self.check_input(x)
            f = self.embed(self.body(x))
            return {"logits": self.head(self.drop(f)), "features": f}

    return TinyNet


def __getattr__(name: str):
    if name == "TinyNet":
        return _tiny_cls()
    raise AttributeError(name)


def tiny_model(n_classes: int = 6, input_size: int | None = None, **options: Any):
    """Build a :class:`TinyNet` (``options``: ``inputs``, ``dropout``)."""
    return _tiny_cls()(n_classes=n_classes, input_size=input_size, **options)


def fake_index(n_bu3dfe: int = 100, n_bosphorus: int = 0, bosphorus_incomplete: int = 0, root: str = "/fake"):
    """A :class:`~ferbench.io.dataset.DatasetIndex` of records that point to no files.

    BU-3DFE: 25 records per subject (neutral + 6 x 4 levels); Bosphorus: 7 per subject (neutral +
    six E_ scans), plus ``bosphorus_incomplete`` subjects missing the fear scan.
    """
    from ferbench.io.dataset import DatasetIndex, ScanRecord
    from ferbench.labels import EXPRESSIONS

    recs = []
    nf = int(round(0.56 * n_bu3dfe))
    ids = [f"F{i:04d}" for i in range(1, nf + 1)] + [f"M{i:04d}" for i in range(1, n_bu3dfe - nf + 1)]
    for s in ids:
        recs.append(ScanRecord(f"{root}/BU3DFE/{s}/{s}_NE00WH_F3D.wrl", "bu3dfe", s, "neutral", 0, True))
        for e in EXPRESSIONS:
            code = {"anger": "AN", "disgust": "DI", "fear": "FE", "happiness": "HA", "sadness": "SA",
                    "surprise": "SU"}[e]
            for lv in range(1, 5):
                recs.append(ScanRecord(f"{root}/BU3DFE/{s}/{s}_{code}{lv:02d}WH_F3D.wrl", "bu3dfe", s, e, lv, True))
    for i in range(n_bosphorus + bosphorus_incomplete):
        s = f"bs{i:03d}"
        recs.append(ScanRecord(f"{root}/Bosphorus/{s}/{s}_N_N_0.bnt", "bosphorus", s, "neutral", None, True,
                               {"kind": "N", "code": "N", "take": 0}))
        for e in EXPRESSIONS:
            if i >= n_bosphorus and e == "fear":
                continue
            recs.append(ScanRecord(f"{root}/Bosphorus/{s}/{s}_E_{e.upper()}_0.bnt", "bosphorus", s, e, None, True,
                                   {"kind": "E", "code": e.upper(), "take": 0}))
    return DatasetIndex(recs, root=root)


def synthetic_map_fn(record: dict, names: Sequence[str], size: int, modality: str) -> dict[str, np.ndarray]:
    """Class-dependent synthetic maps: a grating whose orientation encodes the expression,
    plus a blob and noise seeded by the file path. Learnable from a few examples; reads no file."""
    from ferbench.labels import ALL_EXPRESSIONS

    e = ALL_EXPRESSIONS.index(record["expression"]) if record["expression"] in ALL_EXPRESSIONS else 0
    h = int(hashlib.sha256(record["path"].encode()).hexdigest()[:8], 16)
    rng = np.random.default_rng(h)
    yy, xx = np.mgrid[0:size, 0:size] / max(size - 1, 1)
    ang = np.pi * e / 7
    cy, cx = rng.uniform(0.2, 0.8, 2)
    grating = np.sin(2 * np.pi * 3.5 * (np.cos(ang) * xx + np.sin(ang) * yy) + rng.uniform(0, 2 * np.pi))
    base = grating + np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 0.02) + 0.3 * rng.standard_normal((size, size))
    out = {}
    for n in names:
        a = base.astype(np.float32)
        out[n] = np.repeat(a[..., None], 3, axis=2) if n == "texture" else a
    return out


def write_fake_files(index) -> None:
    """Create empty files at the records' paths (so the map cache can stat them)."""
    import os

    for r in index.records:
        os.makedirs(os.path.dirname(r.path), exist_ok=True)
        with open(r.path, "ab"):
            pass
