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


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A results folder of the tiny test network (inputs depth:1 + texture:3, 16 px) trained for one epoch
    under 4 subject folds on synthetic class-dependent maps (8 fake subjects, no scan file read)."""
    from ferbench.eval.protocols import make_splits
    from ferbench.eval.runner import run_protocol
    from ferbench.eval.testing import fake_index, synthetic_map_fn, tiny_model, write_fake_files
    from ferbench.eval.training import TrainConfig

    root = tmp_path_factory.mktemp("run")
    idx = fake_index(8, root=str(root / "data"))
    write_fake_files(idx)
    ps = make_splits("bu3dfe_setting1_720", idx, folds=4, seed=0)
    cfg = TrainConfig(epochs=1, batch_size=8, lr=3e-3, optimizer="adam", scheduler="step", step_size=2, gamma=0.5,
                      seed=5)
    return run_protocol(tiny_model, ps, root / "runs" / "tiny__p__seed0", cfg,
                        model_options={"inputs": (("depth", 1), ("texture", 3))}, size=16, progress=False,
                        map_fn=synthetic_map_fn, workers=1)


@pytest.fixture(scope="session")
def one_subject_dataset(tmp_path_factory):
    """Index of a generated BU-3DFE-layout dataset of one synthetic subject (25 scans)."""
    from ferbench.io import index_dataset
    from ferbench.synth import generate_dataset

    root = tmp_path_factory.mktemp("one_subject") / "data"
    generate_dataset(root, n_subjects=1, seed=0, layouts=("bu3dfe",), progress=False, workers=1,
                     scanner_traits=0.0)  # clean scans: the tests compare exact inputs
    return index_dataset(root)
