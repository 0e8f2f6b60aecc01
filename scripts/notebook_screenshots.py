"""Run notebooks in JupyterLab in headless Chromium and write a PNG of each (for the README and for review).

Uses the harness of the browser test (``tests/_jupyterlab.py``): a JupyterLab server on 127.0.0.1 with every
network-touching feature off, serving a temporary copy of ``notebooks/`` (the repository stays clean), kernel =
this interpreter, and Debian's Chromium driven by Playwright (never a browser download). Each notebook is run
top to bottom (Run All Cells), then the whole notebook is captured in one PNG; a notebook that shows an error or
an unrendered widget is reported (exit status 1) but still captured.

Usage (from the repository root)::

    .venv/bin/python scripts/notebook_screenshots.py --out screenshots            # every notebook
    .venv/bin/python scripts/notebook_screenshots.py 02_gemax_fa.ipynb --full      # full-size training

``--full`` runs the notebooks as a person would (without ``FERBENCH_NOTEBOOK_QUICK=1``).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import _jupyterlab as jl  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("notebooks", nargs="*", help="notebook file names in notebooks/ (default: all)")
    ap.add_argument("--out", type=Path, default=Path("notebook_screenshots"), help="folder for the PNGs")
    ap.add_argument("--width", type=int, default=1280, help="page width in pixels")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds allowed per notebook")
    ap.add_argument("--full", action="store_true", help="do not set FERBENCH_NOTEBOOK_QUICK=1")
    args = ap.parse_args(argv)

    why = jl.missing_requirements()
    if why:
        print(f"cannot take screenshots: {why}", file=sys.stderr)
        return 2
    names = args.notebooks or sorted(p.name for p in jl.NB_DIR.glob("*.ipynb"))
    missing = [n for n in names if not (jl.NB_DIR / n).is_file()]
    if missing:
        print(f"no such notebook in {jl.NB_DIR}: {', '.join(missing)}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    env = {} if args.full else {"FERBENCH_NOTEBOOK_QUICK": "1"}

    from playwright.sync_api import sync_playwright

    failed = 0
    with jl.JupyterLab(names, env=env) as lab, sync_playwright() as p:
        browser = jl.launch_chromium(p)
        try:
            for name in names:
                context = browser.new_context(viewport={"width": args.width, "height": 900})
                page = context.new_page()
                t0 = time.monotonic()
                try:
                    run = jl.run_notebook(page, lab, name, timeout=args.timeout)
                    png = jl.screenshot_notebook(page, args.out / f"{name[:-6]}.png", width=args.width)
                    problems = run.tracebacks + run.errors + run.fallbacks + run.widget_errors
                    status = "ok" if not problems else f"PROBLEM: {problems[0][:200]!r}"
                    failed += bool(problems)
                    print(f"{name}: ran in {run.seconds:.1f} s, {run.widget_views} widget views, "
                          f"{run.figures} figures -> {png} ({status})", flush=True)
                except Exception as exc:          # keep going: capture what the page shows
                    failed += 1
                    png = args.out / f"{name[:-6]}_failed.png"
                    page.screenshot(path=str(png))
                    print(f"{name}: FAILED after {time.monotonic() - t0:.0f} s: {exc} -> {png}", flush=True)
                finally:
                    jl.shutdown_kernel(page)
                    context.close()
        finally:
            browser.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
