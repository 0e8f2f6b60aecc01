"""Execute every notebook with nbclient (kernel ``python3`` = this interpreter), in quick mode.

``FERBENCH_NOTEBOOK_QUICK=1`` shrinks each notebook's training (fewer subjects and epochs); no cell is skipped.
Every notebook must run without an error cell, within a per-cell timeout, show its results panel with a trained
run, render its widgets (ipywidgets view outputs) and print a few concrete things. The notebooks share one
working folder, so the quick synthetic dataset is generated once. The kernel is checked to be the interpreter
running the tests.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("ipywidgets")

NB_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = ["00_tour.ipynb", "01_dfcnn.ipynb", "02_gemax_fa.ipynb", "03_attention_transformer.ipynb",
             "04_cmcnn.ipynb", "05_mffcnn.ipynb"]
CELL_TIMEOUT_S = 300

# text that must appear in the outputs of each notebook (besides the common checks)
EXPECT = {
    "00_tour.ipynb": ["tau = 60: H =", "results panel shows run: mffcnn__mffcnn_2d_cv10__seed0",
                      "heat maps: gradcam gray, attention selection", "held-out scans",
                      "painted on"],
    "01_dfcnn.ipynb": ["fusion7", "(2, 32)", "shape_index", "results panel shows run: dfcnn__bu3dfe_setting1_720",
                       "shared trunk", "[dfcnn] Table XI", "DF-CNN_svm on the held-out subjects",
                       "gradcam shape_index", "t-SNE of the"],
    "02_gemax_fa.ipynb": ["paper, GEMax-FA Table 3", "tau = 60: H =", "aux_logits",
                          "results panel shows run: gemax_fa_stable__bu3dfe_jiao2020", "attention texture_part1",
                          "[gemax_fa] Table 5"],
    "03_attention_transformer.ipynb": ["x_out", "(2, 352, 9, 9)", "feature grid of this run: 2×2 (input 64 px)",
                                       "results panel shows run: attention_transformer__bu3dfe_setting1_720",
                                       "gradcam depth"],
    "04_cmcnn.ipynb": ["soft label, spacing 0.2", "lbp", "results panel shows run: cmcnn__bu3dfe_setting1_720",
                       "gradcam lbp"],
    "05_mffcnn.ipynb": ["[mffcnn] Table 6", "z_patch", "results panel shows run: mffcnn__mffcnn_2d_cv10",
                        "keep 384 of 512: scan 1 keeps vectors of", "[mffcnn] Table 2"],
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """One working folder for all notebooks (they share the generated synthetic data)."""
    return tmp_path_factory.mktemp("notebooks")


def _kernel_manager():
    """A kernel manager for ``python3`` that launches the kernel with this very interpreter.

    jupyter_client already swaps a kernelspec's leading ``python`` for ``sys.executable``; forcing it here
    as well keeps the kernel on the venv's python even if another ``python3`` kernelspec (with an absolute
    interpreter path) is found first on the Jupyter search path.
    """
    from jupyter_client.manager import AsyncKernelManager

    class ThisPythonKernelManager(AsyncKernelManager):
        def format_kernel_cmd(self, extra_arguments=None):
            cmd = super().format_kernel_cmd(extra_arguments)
            if cmd[1:3] == ["-m", "ipykernel_launcher"]:
                cmd[0] = sys.executable
            return cmd

    return ThisPythonKernelManager(kernel_name="python3")


def _text_outputs(nb) -> str:
    parts = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out.get("text", ""))
            elif "data" in out:
                parts.append(str(out["data"].get("text/plain", "")))
            elif out.get("output_type") == "error":
                parts.append("\n".join(out.get("traceback", [])))
    return "\n".join(parts)


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_executes(name, workdir, monkeypatch):
    path = NB_DIR / name
    nb = nbformat.read(path, as_version=4)
    # committed without outputs
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{name} has stored outputs"

    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYTHONHASHSEED", "0")
    monkeypatch.setenv("FERBENCH_NOTEBOOK_QUICK", "1")
    km = _kernel_manager()
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=CELL_TIMEOUT_S, km=km,
                                     resources={"metadata": {"path": str(workdir)}}, allow_errors=False)
    try:
        client.execute(cwd=str(workdir))
    finally:  # a kernel manager we pass in is ours to stop (nbclient stops only the ones it creates)
        if km.has_kernel:
            from nbclient.util import run_sync

            run_sync(km.shutdown_kernel)(now=True)

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert not errors, f"{name}: error output {errors[0].get('ename')}: {errors[0].get('evalue')}"
    assert all(c.get("execution_count") for c in nb.cells if c.cell_type == "code"), f"{name}: a cell did not run"

    text = _text_outputs(nb)
    # the kernel ran this interpreter (the venv's python), in quick mode
    assert f"sys.prefix: {sys.prefix}" in text, text[:500]
    assert f"python: {sys.executable}" in text or os.path.realpath(sys.executable) in text
    assert "| quick mode" in text
    # the data are synthetic and said so
    assert "synthetic = True" in text
    assert "Synthetic sanity check" in nb.cells[0].source
    # the notebook wrote into the working directory, not into the repository
    assert (workdir / "ferbench_output" / "notebooks" / "data_8subjects" / "manifest.csv").is_file()
    assert (workdir / "ferbench_output" / "notebooks" / name[:-6] / "results_quick").is_dir()
    # a trained run with its evidence against chance, shown by the results panel
    assert "ferbench, synthetic data: pooled accuracy" in text
    assert "95 % CI" in text and "p = " in text
    assert "results panel shows run:" in text
    for want in EXPECT[name]:
        assert want in text, f"{name}: {want!r} not in the outputs"
    # figures, widgets and the 3D view were produced
    assert any("image/png" in o.get("data", {}) for o in outputs), f"{name}: no figure"
    n_widgets = sum("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
    assert n_widgets >= 3, f"{name}: {n_widgets} widget outputs"
    assert "notebook ran in" in text


def test_notebooks_listed_and_built_from_generator(tmp_path):
    """The committed notebooks equal what ``notebooks/_build.py`` writes, and the README lists each one."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_nb_build", NB_DIR / "_build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert sorted(mod.NOTEBOOKS) == sorted(NOTEBOOKS)
    for p in mod.build(tmp_path):
        committed = (NB_DIR / p.name).read_text(encoding="utf-8")
        assert p.read_text(encoding="utf-8") == committed, f"{p.name} differs from notebooks/_build.py output"
    readme = (NB_DIR / "README.md").read_text(encoding="utf-8")
    for name in NOTEBOOKS:
        assert name in readme
