"""Run notebooks in JupyterLab in headless Chromium (Debian's ``chromium`` driven by Playwright), offline.

Used by ``tests/test_notebooks_browser.py`` and ``scripts/notebook_screenshots.py``.

* :class:`JupyterLab` starts ``jupyter lab`` as a subprocess (own process group) on 127.0.0.1 and a free port,
  with a token, no browser, every network-touching feature off (news feed, update check, PyPI extension manager,
  terminals), Jupyter's config/data/runtime dirs and IPython's dir in a temporary folder, a ``python3``
  kernelspec that runs this very interpreter, and a copy of the notebooks folder as its root (outputs never touch
  the repository). It always kills the process group on exit.
* :func:`launch_chromium` starts the system Chromium (never a Playwright download).
* :func:`run_notebook` opens a notebook, runs all cells, waits (bounded) for the kernel to be idle and every cell
  to have run, and returns what the page shows (:class:`NotebookRun`): error outputs, widget fallbacks, widget
  views, and requests the page tried to make to other hosts (blocked).
* :func:`check_redraw` moves the first slider (arrow key on its focused handle) or, failing that, changes the
  first dropdown sitting next to a figure, and measures how long the figure takes to change.
* :func:`check_embedding_click` hovers and clicks a point of the interactive (ipympl) embedding scatter and
  waits until the hover line names it and the scan list, the explanation and the ring follow the click.
* :func:`screenshot_notebook` grows the viewport to the notebook's height and writes one PNG of it.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NB_DIR = REPO / "notebooks"

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
                 "--disable-default-apps", "--metrics-recording-only", "--mute-audio"]

# The lab plugins that would reach the internet (the news feed asks first; disabled so nothing pops up).
DISABLED_LAB_PLUGINS = ["@jupyterlab/apputils-extension:announcements"]


def lab_flags(port: int, token: str, root: Path, settings_dir: Path, workspaces_dir: Path) -> list[str]:
    """The command-line flags of ``jupyter lab`` used by :class:`JupyterLab` (reported in the test's docs)."""
    return [
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        "--ServerApp.open_browser=False", "--LabApp.open_browser=False",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.terminals_enabled=False",
        "--LabApp.news_url=None",                                             # no announcements feed
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",    # no update check
        "--LabApp.extension_manager=readonly",                                # no PyPI queries
        "--LabApp.collaborative=False",
        "--LabApp.expose_app_in_browser=True",                                # window.jupyterapp for the test
        f"--LabApp.user_settings_dir={settings_dir}",
        f"--LabApp.workspaces_dir={workspaces_dir}",
        "--ServerApp.shutdown_no_activity_timeout=900",                       # a leaked server ends by itself
        "--MappingKernelManager.cull_idle_timeout=0",
    ] + (["--ServerApp.allow_root=True"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])


def find_chromium() -> str | None:
    """Path of the system Chromium (``$FERBENCH_CHROMIUM``, /usr/bin/chromium, or on PATH), or None."""
    for cand in (os.environ.get("FERBENCH_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                 shutil.which("chromium-browser")):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    return None


def missing_requirements() -> str | None:
    """Why the browser harness cannot run here (a sentence), or None when it can."""
    import importlib.util

    for mod in ("playwright", "jupyterlab", "ipykernel", "ipywidgets"):
        if importlib.util.find_spec(mod) is None:
            return f"python package {mod!r} is not installed"
    if find_chromium() is None:
        return ("Chromium not found (/usr/bin/chromium; apt-get install chromium, as .ci/run does); "
                "the browser test never downloads one")
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterLab:
    """A JupyterLab server on 127.0.0.1 serving a temporary copy of ``notebooks/``; a context manager.

    Parameters
    ----------
    notebooks
        Notebook file names to copy (all ``*.ipynb`` of ``src`` when None).
    src
        Folder to copy them from.
    env
        Extra environment for the server and its kernels (e.g. ``FERBENCH_NOTEBOOK_QUICK=1``).
    start_timeout
        Seconds to wait for the server to answer.
    """

    def __init__(self, notebooks: list[str] | None = None, src: Path = NB_DIR, env: dict[str, str] | None = None,
                 start_timeout: float = 60.0):
        self.src = Path(src)
        self.notebooks = notebooks
        self.extra_env = dict(env or {})
        self.start_timeout = float(start_timeout)
        self.token = secrets.token_hex(16)
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self.root = Path()
        self.log_path = Path()

    # -- set-up -------------------------------------------------------------------------------------------------
    def _prepare(self) -> dict[str, str]:
        self._tmp = tempfile.TemporaryDirectory(prefix="ferbench_lab_")
        base = Path(self._tmp.name)
        self.root = base / "notebooks"
        self.root.mkdir()
        names = self.notebooks or sorted(p.name for p in self.src.glob("*.ipynb"))
        for name in names:
            shutil.copy2(self.src / name, self.root / name)
        cfg, data, runtime, ipy = (base / d for d in ("config", "data", "runtime", "ipython"))
        for d in (cfg, data, runtime, ipy):
            d.mkdir()
        # kernel "python3" = this interpreter (the venv's python), whatever else is on the Jupyter path
        kdir = data / "kernels" / "python3"
        kdir.mkdir(parents=True)
        (kdir / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (ipykernel)", "language": "python",
            "metadata": {"debugger": False}}))
        # plugins that talk to the internet: off
        (cfg / "labconfig").mkdir()
        (cfg / "labconfig" / "page_config.json").write_text(json.dumps(
            {"disabledExtensions": {p: True for p in DISABLED_LAB_PLUGINS}}))
        # every cell attached to the DOM (no windowing), so the checks and the screenshot see all of them
        self.settings_dir = base / "user-settings"
        nbset = self.settings_dir / "@jupyterlab" / "notebook-extension"
        nbset.mkdir(parents=True)
        (nbset / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
        ap = self.settings_dir / "@jupyterlab" / "apputils-extension"
        ap.mkdir(parents=True)
        (ap / "notification.jupyterlab-settings").write_text(json.dumps(
            {"fetchNews": "false", "checkForUpdates": False}))
        self.workspaces_dir = base / "workspaces"
        self.workspaces_dir.mkdir()
        self.log_path = base / "jupyterlab.log"

        env = dict(os.environ)
        env.update({"JUPYTER_CONFIG_DIR": str(cfg), "JUPYTER_DATA_DIR": str(data),
                    "JUPYTER_RUNTIME_DIR": str(runtime), "IPYTHONDIR": str(ipy),
                    # first on the search path: jupyter_core would otherwise prefer the venv's own kernelspec
                    "JUPYTER_PATH": str(data),
                    "JUPYTER_PLATFORM_DIRS": "1",
                    "MPLBACKEND": "module://matplotlib_inline.backend_inline",
                    "PYTHONHASHSEED": "0", "PYVISTA_OFF_SCREEN": "true",
                    "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "1"),
                    "MKL_NUM_THREADS": env.get("MKL_NUM_THREADS", "1")})
        # the kernel's own path: this worktree first, as for the rest of the tests
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "plugins")] +
                                            ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        env.update(self.extra_env)
        return env

    def start(self) -> "JupyterLab":
        env = self._prepare()
        self.port = _free_port()
        cmd = [sys.executable, "-m", "jupyterlab",
               *lab_flags(self.port, self.token, self.root, self.settings_dir, self.workspaces_dir)]
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        url = f"http://127.0.0.1:{self.port}/api/status?token={self.token}"
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"jupyter lab did not answer within {self.start_timeout:.0f} s:\n"
                                   f"{self.log()[-3000:]}")
            time.sleep(0.3)

    def url(self, notebook: str) -> str:
        return f"http://127.0.0.1:{self.port}/lab/tree/{notebook}?token={self.token}&reset"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """Terminate the server and its kernels (the whole process group), then delete the temp folder."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None:
            # kernels are in the same group; make sure nothing is left
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        if getattr(self, "_log", None) is not None:
            self._log.close()
            self._log = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "JupyterLab":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def launch_chromium(playwright, executable: str | None = None):
    """The system Chromium, headless, with background networking off."""
    exe = executable or find_chromium()
    if exe is None:
        raise RuntimeError("Chromium not found")
    return playwright.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS, timeout=60_000)


# -- in the page --------------------------------------------------------------------------------------------------

_JS_STATE = """() => {
  const app = window.jupyterapp;
  if (!app) return {ready: false, why: 'no window.jupyterapp'};
  const w = app.shell.currentWidget;
  if (!w || !w.content || !w.sessionContext) return {ready: false, why: 'no notebook panel'};
  const sc = w.sessionContext;
  const kernel = sc.session && sc.session.kernel;
  const cells = w.content.widgets.filter(c => c.model.type === 'code');
  return {
    ready: sc.isReady && !!kernel,
    kernel: kernel ? kernel.status : null,
    kernelName: kernel ? kernel.name : null,
    cells: cells.length,
    counts: cells.map(c => c.model.executionCount),
    pending: cells.filter(c => c.promptNode && c.promptNode.textContent.includes('*')).length,
    // error outputs from the notebook model (the DOM renders them as stderr text)
    errors: cells.flatMap(c => c.model.outputs.toJSON().filter(o => o.output_type === 'error')
                                  .map(o => o.ename + ': ' + o.evalue + '\\n' + (o.traceback || []).join('\\n'))),
  };
}"""

_JS_RUN_ALL = """async () => {
  const app = window.jupyterapp;
  await app.commands.execute('application:set-mode', {mode: 'single-document'}).catch(() => {});
  if (!app.shell.leftCollapsed) app.shell.collapseLeft();
  if (!app.shell.rightCollapsed) app.shell.collapseRight();
  app.commands.execute('notebook:run-all-cells');
  return true;
}"""

# What a person would see as broken, collected from the DOM.
_JS_INSPECT = """() => {
  const q = s => Array.from(document.querySelectorAll(s));
  const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook') || document;
  const within = s => Array.from(nb.querySelectorAll(s));
  const text = e => (e.innerText || e.textContent || '').trim();
  const errors = within('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
      .map(text).filter(t => /Traceback|Error|Exception/.test(t));
  const outputsText = within('.jp-OutputArea-output').map(text).join('\\n');
  const fallbacks = [];
  for (const pat of ['Loading widget...', 'Error displaying widget', 'HBox(children=', 'VBox(children=',
                     'IntSlider(value=', 'Dropdown(', 'Output(', 'HTML(value=', 'Tab(children=']) {
    if (outputsText.includes(pat)) fallbacks.push(pat);
  }
  const widgetViews = within('.jp-OutputArea-output .jupyter-widgets').length;
  const widgetErrors = within('.jupyter-widgets.jupyter-widgets-error, .jp-RenderedText.jp-mod-error, ' +
                              '.widget-error').map(text);
  const sliders = within('.widget-slider').length;
  const figures = within('.jp-OutputArea-output img').length;
  return {text: outputsText, errors, fallbacks, widgetViews, widgetErrors, sliders, figures};
}"""


@dataclass
class NotebookRun:
    """What the page showed after running all cells of one notebook."""
    name: str
    seconds: float
    cells: int
    counts: list
    kernel_status: str | None
    kernel_name: str | None
    errors: list = field(default_factory=list)
    tracebacks: list = field(default_factory=list)
    fallbacks: list = field(default_factory=list)
    widget_errors: list = field(default_factory=list)
    widget_views: int = 0
    sliders: int = 0
    figures: int = 0
    external_requests: list = field(default_factory=list)
    console_errors: list = field(default_factory=list)
    text: str = ""            # the text of all outputs, as shown


LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def block_external(page) -> list[str]:
    """Abort every request that leaves this machine (the notebooks must work offline); returns their list.

    Local hosts stay allowed: pyvista's trame backend serves its 3D views from another port on localhost.
    """
    from urllib.parse import urlsplit

    blocked: list[str] = []

    def handle(route):
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about") or parts.hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    page.route("**/*", handle)
    return blocked


def _wait_for(page, pred, timeout: float, what: str, poll: float = 0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = page.evaluate(_JS_STATE)
        if pred(last):
            return last
        page.wait_for_timeout(int(poll * 1000))
    raise TimeoutError(f"{what} not reached within {timeout:.0f} s; last state: {last}")


def open_notebook(page, lab: JupyterLab, name: str, timeout: float = 90.0) -> dict:
    """Open ``name`` in the lab and wait (bounded) until its kernel is idle."""
    page.goto(lab.url(name), wait_until="domcontentloaded", timeout=int(timeout * 1000))
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell && "
                           "window.jupyterapp.shell.currentWidget && window.jupyterapp.shell.currentWidget.content",
                           timeout=int(timeout * 1000))
    return _wait_for(page, lambda s: s.get("ready") and s.get("kernel") == "idle", timeout, "kernel idle")


def run_notebook(page, lab: JupyterLab, name: str, timeout: float = 300.0) -> NotebookRun:
    """Open ``name``, run all cells, wait until the kernel is idle and every cell has run (or one failed)."""
    blocked = block_external(page)
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    t0 = time.monotonic()
    open_notebook(page, lab, name, timeout=min(timeout, 120.0))
    page.evaluate(_JS_RUN_ALL)

    def done(s):
        if not s.get("ready"):
            return False
        counts = s.get("counts") or []
        all_ran = counts and all(c is not None for c in counts)
        idle = s.get("kernel") == "idle" and s.get("pending") == 0
        return idle and (all_ran or bool(s.get("errors")))

    # idle for two polls in a row: a kernel goes idle briefly between queued cells
    state = _wait_for(page, done, timeout, f"{name}: all cells run")
    page.wait_for_timeout(1000)
    state = _wait_for(page, done, max(5.0, timeout - (time.monotonic() - t0)), f"{name}: all cells run")
    seconds = time.monotonic() - t0
    page.wait_for_timeout(1500)            # widget views render after the last message
    info = page.evaluate(_JS_INSPECT)
    return NotebookRun(name=name, seconds=seconds, cells=state["cells"], counts=state["counts"],
                       kernel_status=state["kernel"], kernel_name=state["kernelName"], errors=info["errors"],
                       tracebacks=[re.sub(r"\x1b\[[0-9;]*m", "", t) for t in state["errors"]],
                       fallbacks=info["fallbacks"],
                       widget_errors=info["widgetErrors"], widget_views=info["widgetViews"],
                       sliders=info["sliders"], figures=info["figures"], external_requests=list(blocked),
                       console_errors=console_errors, text=info["text"])


# -- redraw ---------------------------------------------------------------------------------------------------------

_JS_FIGURE_SIG = """(el) => {
  // the output area (one cell's output) that holds this control; its figures' pixels identify the drawing
  const out = el.closest('.jp-OutputArea-output') || el.closest('.jp-OutputArea');
  if (!out) return null;
  const imgs = Array.from(out.querySelectorAll('img')).map(i => i.src.length + ':' + i.src.slice(-200));
  const canv = Array.from(out.querySelectorAll('canvas')).map(c => {
      try { return c.toDataURL().slice(-200); } catch (e) { return 'x'; } });
  return imgs.concat(canv).join('|');
}"""


@dataclass
class Redraw:
    control: str            # "slider" or "dropdown"
    label: str
    before: str
    after: str
    seconds: float
    output: object = None   # the cell output (Playwright ElementHandle) holding the control and its figure


def _candidates(page, selector: str):
    """(control, figure signature) for every control matching ``selector`` whose cell output holds a figure."""
    for h in page.query_selector_all(selector):
        sig = h.evaluate(_JS_FIGURE_SIG)
        if sig:
            yield h, sig


def check_redraw(page, timeout: float = 30.0, prefer: str = "slider") -> Redraw | None:
    """Move the first slider next to a figure one step (keyboard), else change the first dropdown next to one.

    Returns None when the notebook has neither; raises TimeoutError when the figure does not change in time.
    """
    order = [("slider", ".jp-Notebook .widget-slider:not(.widget-vslider)"),
             ("dropdown", ".jp-Notebook .widget-dropdown")]
    if prefer == "dropdown":
        order.reverse()
    for kind, sel in order:
        for box, before in _candidates(page, sel):
            box.scroll_into_view_if_needed()
            label = (box.query_selector("label") or box).inner_text().strip()
            if kind == "slider":
                handle = box.query_selector(".noUi-handle") or box.query_selector("input[type=range]")
                if handle is None:
                    continue
                # one step towards the side with room (a notebook may leave the slider at its maximum)
                now, top = handle.get_attribute("aria-valuenow"), handle.get_attribute("aria-valuemax")
                at_max = now is not None and top is not None and float(now) >= float(top)
                handle.focus()
                t0 = time.monotonic()
                handle.press("ArrowLeft" if at_max else "ArrowRight")
                label = f"{label} {now} -> {'down' if at_max else 'up'}"
            else:
                select = box.query_selector("select")
                if select is None or select.is_disabled():
                    continue
                values = select.evaluate("s => Array.from(s.options).map(o => o.value)")
                cur = select.evaluate("s => s.value")
                nxt = next((v for v in values if v != cur), None)
                if nxt is None:
                    continue
                t0 = time.monotonic()
                select.select_option(nxt)
                label = f"{label} {cur!r} -> {nxt!r}"
            while time.monotonic() < t0 + timeout:
                after = box.evaluate(_JS_FIGURE_SIG)
                if after and after != before:
                    dt = time.monotonic() - t0
                    return Redraw(kind, label, before, after, dt,
                                  box.evaluate_handle("e => e.closest('.jp-OutputArea-output') || e"))
                page.wait_for_timeout(100)
            raise TimeoutError(f"the figure next to {kind} {label!r} did not change within {timeout:.0f} s")
    return None


# -- the interactive (ipympl) embedding scatter ----------------------------------------------------------------

_JS_KERNEL_EXPRESSIONS = """async (exprs) => {
  const w = window.jupyterapp.shell.currentWidget;
  const kernel = w.sessionContext.session.kernel;
  const future = kernel.requestExecute({code: '', silent: true, store_history: false, user_expressions: exprs});
  const reply = await future.done;
  return reply.content.user_expressions;
}"""


def kernel_values(page, expressions: dict[str, str]) -> dict:
    """Evaluate Python expressions in the open notebook's (idle) kernel; their ``repr`` read back as values."""
    import ast

    out = page.evaluate(_JS_KERNEL_EXPRESSIONS, expressions)
    values = {}
    for key, res in out.items():
        if res.get("status") != "ok":
            raise RuntimeError(f"kernel expression {expressions[key]!r} failed: {res.get('ename')}: "
                               f"{res.get('evalue')}")
        values[key] = ast.literal_eval(res["data"]["text/plain"])
    return values


_JS_MPL_CANVASES = """() => Array.from(document.querySelectorAll(
    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jupyter-matplotlib-canvas-div')).map(d => {
  const c = d.querySelector('canvas');
  let inked = 0;
  if (c && c.width && c.height) {
    const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 0; i < px.length; i += 4 * 7) if (px[i + 3] > 0 && (px[i] < 200 || px[i + 1] < 200)) inked++;
  }
  return {width: d.getBoundingClientRect().width, height: d.getBoundingClientRect().height, inked};
})"""

# The panel's state as the page shows it: the scan list's shown text, the hover line, the explanation picture
# and the scatter's pixels (within the cell output holding the ipympl canvas).
_JS_EMBED_STATE = """(div) => {
  const out = div.closest('.jp-OutputArea-output');
  const sel = out.querySelector('.widget-dropdown select');
  // ipywidgets shows a Dropdown's option labels with no-break spaces
  const opt = sel && sel.selectedOptions.length ?
      sel.selectedOptions[0].textContent.replace(/\\u00a0/g, ' ') : null;
  const html = Array.from(out.querySelectorAll('.widget-html-content')).map(e => e.textContent);
  const imgs = out.querySelectorAll('.widget-output img, .jupyter-widgets-output-area img');
  const img = imgs.length ? imgs[imgs.length - 1] : null;   // the explanation beside the scatter
  const c = div.querySelector('canvas');
  return {selected: opt, html: html, img: img ? img.src.length + ':' + img.src.slice(-120) : null,
          canvas: c ? c.toDataURL().slice(-200) : null};
}"""


@dataclass
class EmbeddingClick:
    point: int                # 0-based point clicked
    label: str                # its label in the scan list
    x: float                  # where, page CSS pixels
    y: float
    hover_seconds: float      # mouse over the point -> its label in the hover line
    click_seconds: float      # click -> list shows it, explanation and ring redrawn
    output: object = None     # the cell output (Playwright ElementHandle)


def check_embedding_click(page, var: str = "embedding_panel", timeout: float = 30.0) -> EmbeddingClick:
    """Hover, then click, the most isolated point (not the chosen one) of the notebook's interactive scatter.

    The point's position comes from the kernel (``{var}.point_pixel(i)``: CSS pixels from the canvas's
    top-left); the mouse moves there for real (Playwright), so the event goes through ipympl's front end,
    the comm and matplotlib's event handling. Raises TimeoutError when the hover line, the list, the
    explanation or the ring do not follow within ``timeout`` seconds.
    """
    import math

    divs = page.query_selector_all(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook "
                                   ".jupyter-matplotlib-canvas-div")
    if not divs:
        raise AssertionError("no ipympl canvas in the notebook")
    v = kernel_values(page, {
        "pix": f"[{var}.point_pixel(i) for i in range(len({var}.view.points))]",
        "cur": f"int({var}.point.value)",
        "labels": f"[label for label, _ in {var}.point.options]",
        "size": f"(float({var}.scatter_figure.bbox.width / {var}._dpr()), "
                f"float({var}.scatter_figure.bbox.height / {var}._dpr()))"})
    pix, labels = v["pix"], v["labels"]

    def isolation(i):
        return min((math.dist(pix[i], pix[j]) for j in range(len(pix)) if j != i), default=math.inf)

    k = max((i for i in range(len(pix)) if i != v["cur"]), key=isolation)
    div = divs[0]
    div.scroll_into_view_if_needed()
    box = div.bounding_box()
    sx, sy = box["width"] / v["size"][0], box["height"] / v["size"][1]   # 1 unless the page zooms
    x, y = box["x"] + pix[k][0] * sx, box["y"] + pix[k][1] * sy
    before = div.evaluate(_JS_EMBED_STATE)

    def wait(pred, what):
        t0 = time.monotonic()
        while time.monotonic() < t0 + timeout:
            state = div.evaluate(_JS_EMBED_STATE)
            if pred(state):
                return time.monotonic() - t0
            page.wait_for_timeout(100)
        raise TimeoutError(f"{what} within {timeout:.0f} s; page shows {div.evaluate(_JS_EMBED_STATE)}")

    page.mouse.move(x, y)
    hover_s = wait(lambda s: any(f"hover: {labels[k]}" in h for h in s["html"]),
                   f"hovering point {k + 1} did not name it")
    page.mouse.click(x, y)
    click_s = wait(lambda s: s["selected"] == labels[k] and s["img"] != before["img"]
                   and s["canvas"] != before["canvas"],
                   f"clicking point {k + 1} did not choose it (list, explanation and ring)")
    return EmbeddingClick(k, labels[k], x, y, hover_s, click_s,
                          div.evaluate_handle("e => e.closest('.jp-OutputArea-output')"))


def shutdown_kernel(page) -> None:
    """Stop the open notebook's kernel (frees the CPU for the next notebook); best effort."""
    try:
        page.evaluate("() => window.jupyterapp && window.jupyterapp.shell.currentWidget && "
                      "window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
    except Exception:
        pass


def screenshot_notebook(page, path: Path, width: int = 1280, max_height: int = 16000) -> Path:
    """One PNG of the whole notebook: the viewport grows to the notebook's height (capped)."""
    page.evaluate("() => { const a = document.activeElement; if (a && a.blur) a.blur(); }")
    h = page.evaluate("""() => {
      const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer')
              || document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
      if (!nb) return document.body.scrollHeight;
      // down to the last cell (the notebook adds empty scroll room after it)
      const cells = nb.querySelectorAll('.jp-Cell');
      const last = cells.length ? cells[cells.length - 1] : null;
      const top = nb.getBoundingClientRect().top;
      const bottom = last ? last.getBoundingClientRect().bottom - top + nb.scrollTop : nb.scrollHeight;
      return Math.ceil(top + bottom + 60);
    }""")
    page.set_viewport_size({"width": width, "height": int(min(max(h, 800), max_height))})
    page.wait_for_timeout(800)
    page.evaluate("""() => { const nb = document.querySelector(
        '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer'); if (nb) nb.scrollTop = 0; }""")
    page.wait_for_timeout(300)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path
