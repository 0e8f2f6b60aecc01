"""Shared pytest configuration: headless plotting, GPU skips, shared-asset discovery."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

REPO_ROOT = Path(__file__).resolve().parents[1]


def _cuda_available() -> bool:
    try:
        import torch
    except Exception:  # pragma: no cover - torch is a hard dependency
        return False
    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config, items):
    if _cuda_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs CUDA (no GPU on this machine)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def sfm_dir() -> Path:
    """The Surrey Face Model folder from shared/ (skips the test when it is absent)."""
    env = os.environ.get("FERBENCH_SFM_DIR")
    candidates = [Path(env)] if env else []
    candidates += [REPO_ROOT.parent / "shared" / "models" / "sfm3448", REPO_ROOT / "shared" / "models" / "sfm3448"]
    for c in candidates:
        if (c / "sfm_shape_3448.bin").is_file():
            return c
    pytest.skip("Surrey Face Model not found (set FERBENCH_SFM_DIR or place shared/ beside the checkout)")
