"""Run notebooks in JupyterLab in headless Chromium and check what a person would see.

One JupyterLab server (127.0.0.1, free port, token, every network-touching feature off, temp Jupyter dirs, a copy
of the notebooks, kernel = this interpreter, ``FERBENCH_NOTEBOOK_QUICK=1``) and one Chromium (Debian's
``/usr/bin/chromium`` driven by Playwright; never a browser download) serve all notebooks in ``NOTEBOOKS``.
For each: Run All Cells, wait (bounded) until every cell has run and the kernel is idle, then assert no error
output, no "Loading widget..." or widget text fallback, widget views present, no request left 127.0.0.1, and that
moving a slider (keyboard arrow on its handle) -- or, where a notebook has no slider, changing a dropdown --
redraws the figure beside it; in the tour, the embedding scatter is an ipympl canvas and a real mouse hover and
click on one of its points name and choose that scan. A PNG of each notebook (and of the redrawn control) goes to
``$FERBENCH_SCREENSHOT_DIR`` (default: pytest's temp dir). Skips where Chromium or playwright is missing.

Run: ``python -m pytest tests/test_notebooks_browser.py -m browser -p no:cacheprovider -s``
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

import _jupyterlab as jl  # tests/ is on sys.path (pytest rootdir-relative import)

# The notebooks checked in the browser (the integrator sets this to the tour and one paper notebook).
NOTEBOOKS = ["00_tour.ipynb", "05_mffcnn.ipynb"]
# Notebooks whose redraw check must move a slider (the others may use a dropdown).
SLIDER_NOTEBOOKS = {"00_tour.ipynb", "02_gemax_fa.ipynb"}
# Notebooks with an interactive EmbeddingPanel (ipympl scatter): the panel's variable in the notebook.
EMBEDDING_NOTEBOOKS = {"00_tour.ipynb": "embedding_panel"}
RUN_TIMEOUT_S = 300          # Run All Cells until idle, per notebook
REDRAW_TIMEOUT_S = 30        # a moved control's figure must change within this

_why = jl.missing_requirements()
pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(_why is not None, reason=f"browser test skipped: {_why}")]


@pytest.fixture(scope="module")
def lab():
    env = {"FERBENCH_NOTEBOOK_QUICK": os.environ.get("FERBENCH_NOTEBOOK_QUICK", "1")}
    with jl.JupyterLab(NOTEBOOKS, env=env) as server:
        yield server


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = jl.launch_chromium(p)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def shot_dir(tmp_path_factory) -> Path:
    d = os.environ.get("FERBENCH_SCREENSHOT_DIR")
    path = Path(d) if d else tmp_path_factory.mktemp("notebook_screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.mark.timeout(RUN_TIMEOUT_S + 120)
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_in_jupyterlab(name, lab, browser, shot_dir):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(60_000)
    page = context.new_page()
    stem = name[:-6]
    try:
        run = jl.run_notebook(page, lab, name, timeout=RUN_TIMEOUT_S)
        jl.screenshot_notebook(page, shot_dir / f"{stem}.png")
        print(f"\n{name}: all cells ran in {run.seconds:.1f} s; {run.widget_views} widget views, "
              f"{run.sliders} sliders, {run.figures} figures; screenshot {shot_dir / (stem + '.png')}")

        assert run.kernel_name == "python3"
        assert run.cells > 0 and all(c is not None for c in run.counts), f"{name}: cells not run: {run.counts}"
        assert not run.tracebacks, f"{name}: error output:\n{run.tracebacks[0][:2000]}"
        assert not run.errors, f"{name}: stderr with an error:\n{run.errors[0][:2000]}"
        assert not run.fallbacks, f"{name}: widgets not rendered, the page shows {run.fallbacks}"
        assert not run.widget_errors, f"{name}: widget error: {run.widget_errors[0][:500]}"
        assert run.widget_views > 0, f"{name}: no widget view rendered"
        assert run.figures > 0, f"{name}: no figure"
        assert not run.external_requests, f"{name}: the page tried to reach {run.external_requests[:5]}"
        widget_console = [m for m in run.console_errors if re.search(r"widget|model|Class", m, re.I)]
        assert not widget_console, f"{name}: browser console: {widget_console[:3]}"

        redraw = jl.check_redraw(page, timeout=REDRAW_TIMEOUT_S)
        assert redraw is not None, f"{name}: no slider or dropdown next to a figure"
        if name in SLIDER_NOTEBOOKS:
            assert redraw.control == "slider", f"{name}: no slider next to a figure"
        assert redraw.after != redraw.before
        print(f"{name}: {redraw.control} {redraw.label}: figure redrawn in {redraw.seconds:.2f} s")
        redraw.output.as_element().screenshot(path=str(shot_dir / f"{stem}_redraw.png"))
        if name in EMBEDDING_NOTEBOOKS:
            # the scatter is an ipympl canvas, drawn (not a text fallback), and a real click on a point chooses it
            canvases = page.evaluate(jl._JS_MPL_CANVASES)
            assert len(canvases) == 1 and canvases[0]["width"] > 200 and canvases[0]["inked"] > 100, \
                f"{name}: the embedding scatter is not a drawn ipympl canvas: {canvases}"
            click = jl.check_embedding_click(page, EMBEDDING_NOTEBOOKS[name], timeout=REDRAW_TIMEOUT_S)
            print(f"{name}: embedding point {click.point + 1} hovered ({click.hover_seconds:.2f} s) and clicked: "
                  f"{click.label!r} shown in {click.click_seconds:.2f} s")
            click.output.as_element().screenshot(path=str(shot_dir / f"{stem}_embedding_click.png"))
        # nothing broke while redrawing
        after = page.evaluate(jl._JS_INSPECT)
        assert not after["errors"] and not after["fallbacks"], f"{name}: after the redraw: {after}"
        assert not page.evaluate(jl._JS_STATE)["errors"], f"{name}: an error output after the redraw"
    except BaseException:
        page.screenshot(path=str(shot_dir / f"{stem}_failed.png"))
        print(f"JupyterLab log (tail):\n{lab.log()[-3000:]}")
        raise
    finally:
        jl.shutdown_kernel(page)  # free the CPU for the next notebook
        context.close()


@pytest.mark.timeout(180)
def test_harness_sees_errors_and_fallbacks(browser, tmp_path):
    """The checks above can fail: a cell that raises, a widget's text fallback and a figure that does not change
    are each seen (a tiny generated notebook; the cells after the failing one do not run)."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    cells = [
        new_code_cell("import sys, ipywidgets as w\nfrom IPython.display import display\n"
                      "print('kernel python:', sys.executable)\n"
                      "s = w.IntSlider(value=3, min=0, max=9)\nout = w.Output()\n"
                      "with out:\n    display(w.HTML('<img src=\"data:image/png;base64,iVBORw0KGgo=\">'))\n"
                      "display(w.VBox([s, out]))"),         # the figure never changes when the slider moves
        new_code_cell("print('IntSlider(value=3)')"),
        new_code_cell("1 / 0"),
        new_code_cell("print('not reached')"),
    ]
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                            "language": "python"}})
    nbformat.write(nb, tmp_path / "broken.ipynb")
    with jl.JupyterLab(["broken.ipynb"], src=tmp_path) as server:
        page = browser.new_page(viewport={"width": 1000, "height": 800})
        try:
            run = jl.run_notebook(page, server, "broken.ipynb", timeout=90)
            assert run.counts[:3] == [1, 2, 3] and run.counts[3] is None, run.counts
            assert f"kernel python: {sys.executable}" in run.text      # the kernel is this interpreter
            assert run.tracebacks and "ZeroDivisionError" in run.tracebacks[0]
            assert run.fallbacks == ["IntSlider(value="]
            assert run.widget_views > 0 and run.sliders == 1
            with pytest.raises(TimeoutError, match="did not change"):
                jl.check_redraw(page, timeout=3)
        finally:
            page.close()
