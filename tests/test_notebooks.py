"""Execute every per-paper notebook with nbclient (kernel ``python3`` = this interpreter) in a temp folder.

Each notebook must run without an error cell and print a few concrete things (its synthetic label, the
paper's table, the model's output shapes). The kernel is checked to be the interpreter running the tests.
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
NOTEBOOKS = ["01_dfcnn.ipynb", "02_gemax_fa.ipynb", "03_attention_transformer.ipynb", "04_cmcnn.ipynb",
             "05_mffcnn.ipynb"]

# text that must appear in the outputs of each notebook (besides the common checks)
EXPECT = {
    "01_dfcnn.ipynb": ["[dfcnn] Table V", "fusion7", "(2, 32)", "shape_index"],
    "02_gemax_fa.ipynb": ["[gemax_fa] Table 3", "paper, GEMax-FA Table 3", "tau = 60: H =", "aux_logits"],
    "03_attention_transformer.ipynb": ["[attention_transformer] Table IV", "x_out", "(2, 352, 9, 9)"],
    "04_cmcnn.ipynb": ["[cmcnn] Table II", "soft label, spacing 0.2", "lbp", "ferbench, synthetic data: cmcnn"],
    "05_mffcnn.ipynb": ["[mffcnn] Table 6", "z_patch", "results folder:", "ferbench, synthetic data: mffcnn"],
}


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
def test_notebook_executes(name, tmp_path, monkeypatch):
    path = NB_DIR / name
    nb = nbformat.read(path, as_version=4)
    # committed without outputs
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{name} has stored outputs"

    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYTHONHASHSEED", "0")
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=300, km=_kernel_manager(),
                                     resources={"metadata": {"path": str(tmp_path)}}, allow_errors=False)
    client.execute(cwd=str(tmp_path))

    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, f"{name}: error output {errors[0].get('ename')}: {errors[0].get('evalue')}"
    assert all(c.get("execution_count") for c in nb.cells if c.cell_type == "code"), f"{name}: a cell did not run"

    text = _text_outputs(nb)
    # the kernel ran this interpreter (the venv's python)
    assert f"sys.prefix: {sys.prefix}" in text, text[:500]
    assert f"python: {sys.executable}" in text or os.path.realpath(sys.executable) in text
    # the data are synthetic and said so
    assert "synthetic = True" in text
    assert "synthetic" in text.lower()
    assert "Synthetic sanity check" in nb.cells[0].source
    # the notebook wrote its data into the temporary working directory, not into the repository
    assert (tmp_path / "ferbench_output" / "notebooks" / name[:-6] / "data" / "manifest.csv").is_file()
    for want in EXPECT[name]:
        assert want in text, f"{name}: {want!r} not in the outputs"
    # at least one figure was produced
    assert any("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
               for o in c.get("outputs", [])), f"{name}: no figure"


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
