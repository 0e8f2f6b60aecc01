"""The main job: synthetic (or real) data -> maps -> training -> evaluation -> explanations -> HTML report.

``ferbench demo`` calls :func:`run_demo`; a notebook can call it too. Each paper has a
:class:`DemoPlan` saying which model, protocol and paper tables it is compared with. On the
embedded default (synthetic data, CPU) the DF-CNN run takes a few minutes; ``quick=True`` is
the smallest run that still exercises every stage (used by the test-suite).
"""
from __future__ import annotations

import json
import logging
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ferbench.models.cfgs import PAPER_CFGS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoPlan:
    """What the demo runs for one paper and which of the paper's numbers it shows beside ferbench's."""

    paper: str
    model: str
    protocol: str
    size: int
    epochs: int
    lr: float | None = None
    optimizer: str | None = None
    batch_size: int | None = None
    folds: int = 5
    max_splits: int | None = None  # train only the first splits of the protocol (CPU budget)
    recalibrate_bn: bool | None = None
    confusion: tuple[str, str | None] | None = None  # (table/figure id, variant) of the paper's matrix
    # (table id, row) of the paper's per-class accuracies, or (table id, row, column) of its overall accuracy
    accuracy: tuple[str, ...] | None = None
    cam_method: str = "gradcam"
    options: dict[str, Any] = field(default_factory=dict)
    # synthetic subjects with which the plan was measured to beat chance clearly (README table, 40 subjects);
    # the report suggests it when a smaller run is not above chance
    subjects_to_learn: int = 40


# the plans' settings live beside each paper's model settings (ferbench/models/cfgs.py, PaperCfg.demo)
PLANS: dict[str, DemoPlan] = {p: DemoPlan(paper=p, **c.demo) for p, c in PAPER_CFGS.items()}


class _Stages:
    """Prints numbered stage lines (the heavy stages have their own tqdm bars)."""

    def __init__(self, total: int, enabled: bool):
        self.i, self.total, self.enabled, self.t0 = 0, total, enabled, time.perf_counter()

    def __call__(self, text: str) -> None:
        self.i += 1
        if self.enabled:
            print(f"[{self.i}/{self.total}] {text}  ({time.perf_counter() - self.t0:.0f} s)", flush=True)


def _prepare_data(out: Path, data_dir: str | os.PathLike | None, n_subjects: int, seed: int,
                  progress: bool) -> tuple[Path, bool]:
    """Return (dataset root, synthetic?). Synthetic data are generated once and reused."""
    if data_dir is not None:
        root = Path(data_dir)
        if not root.is_dir():
            from ferbench.errors import DatasetError

            raise DatasetError(f"{root}: no such dataset folder")
        return root, False
    from ferbench.synth import generate_dataset

    root = out / "data"
    stamp = root / "demo_data.json"
    want = {"n_subjects": n_subjects, "seed": seed, "layouts": ["bu3dfe"]}
    try:
        have = json.loads(stamp.read_text(encoding="utf-8")) if stamp.is_file() else None
    except (OSError, ValueError):
        have = None
    if have == want:
        return root, True
    # Never delete what ferbench did not write: an earlier demo's data (its stamp file) is replaced, any other
    # non-empty folder is refused (generate_dataset itself replaces only a complete or interrupted synthetic dataset)
    ours = stamp.is_file() and (root / "SYNTHETIC_DATA.txt").is_file()
    if root.exists() and not ours and (not root.is_dir() or any(root.iterdir())):
        from ferbench.errors import DatasetError

        raise DatasetError(f"{root}: exists and was not written by ferbench demo; refusing to replace it "
                           "(choose another --out or move the folder)")
    if stamp.is_file():
        stamp.unlink()  # a dataset whose stamp does not match is being replaced: never leave a stale stamp
    generate_dataset(root, n_subjects=n_subjects, seed=seed, layouts=("bu3dfe",), progress=progress,
                     overwrite=ours)
    stamp.write_text(json.dumps(want), encoding="utf-8")
    return root, True


def _sample_scan(index):
    """A level-4 happiness scan if there is one (the most visible expression), else the first scan."""
    recs = [r for r in index if r.expression == "happiness" and (r.intensity or 0) >= 4] or list(index)
    return recs[0].load()


def _section(report, title: str, fn, *args, **kwargs) -> Any:
    """Run one report section; a failure is written into the report instead of aborting the demo."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the report must still be written
        log.debug("demo section %s failed", title, exc_info=True)
        report.add_text(f"[{title}] could not be produced: {type(exc).__name__}: {exc}")
        if os.environ.get("FERBENCH_DEBUG"):
            traceback.print_exc()
        return None


def _maps_section(report, scan, synthetic: bool, size: int) -> None:
    from ferbench.viz.maps import MapGridDisplay, TauSweepDisplay

    from ferbench.views.scan_maps import scan_maps_view

    src = "synthetic" if synthetic else "real"
    disp = MapGridDisplay.from_view(scan_maps_view(scan, size=size)).plot()
    report.add_figure(disp.figure_, caption=f"Attribute maps of {Path(scan.meta.source_path or '').name} "
                      f"(DF-CNN six maps, CM-CNN gray/LBP/depth, GEMax).", sources=[src])
    sweep = TauSweepDisplay.from_scan(scan, taus=(16, 20, 30, 40, 60)).plot()
    report.add_figure(sweep.figure_, caption="GEMax maps and entropy versus the distortion bound τ; the paper's "
                      "entropies (GEMax Table 3) are marked beside ferbench's.", sources=[src, "paper: GEMax Table 3"])


def _explain_section(report, plan: DemoPlan, results: Path, synthetic: bool, device, seed: int) -> None:
    import numpy as np
    import torch

    from ferbench.eval.results import open_run
    from ferbench.views.embedding import embedding_view
    from ferbench.views.explanation import modality_images
    from ferbench.viz import EmbeddingDisplay, ExplanationGridDisplay

    src = "synthetic" if synthetic else "real"
    run = open_run(results)
    fm = run.load_fold_model(0, device=str(device))     # the evaluated model of the first split
    model, inputs, train_idx, test_idx = fm.model, fm.inputs, fm.train, fm.test
    rng = np.random.default_rng(seed)
    # a random subset (at most 96) of the held-out scans keeps t-SNE and the CAM grids quick on a CPU
    test_idx = list(rng.permutation(test_idx)[: min(len(test_idx), 96)])
    x_test, y_test = inputs(test_idx)
    x_test = x_test.to(device)
    texture = None
    for name, img in modality_images(model, x_test).items():    # the first texture / gray input, as RGB
        if name in ("texture", "gray"):
            texture = img if img.ndim == 4 else np.repeat(img[..., None], 3, axis=3)
            break

    if plan.paper == "dfcnn":
        from ferbench.models.dfcnn import DFCNNSVM

        tr = list(rng.permutation(train_idx)[: min(len(train_idx), 240)])
        x_train, y_train = inputs(tr)
        svm = DFCNNSVM(model).fit(x_train.to(device), y_train)
        acc = float((np.asarray(svm.predict(x_test)) == y_test).mean())
        report.add_text(f"Linear SVM on the 32-d DF-CNN feature (fold 1, {len(y_test)} held-out scans): "
                        f"accuracy {100 * acc:.1f} % ({src}).", sources=[src])
        disp = ExplanationGridDisplay.from_saliency(model, x_test, svm, y_test, images=texture,
                                                    synthetic=synthetic).plot()
        report.add_figure(disp.figure_, caption="DF-CNN saliency, eq. (14)-(15): SVM-weighted gradient of the "
                          "32-d feature with respect to the input, summed over the six maps, blended over the "
                          "texture on a dark-blue background; rows are expressions.", sources=[src])
    cam = ExplanationGridDisplay.from_cam(model, x_test, y_test, method=plan.cam_method, images=texture,
                                          synthetic=synthetic).plot()
    report.add_figure(cam.figure_, caption=f"{plan.cam_method} (pytorch-grad-cam) over all input modalities, "
                      "per expression.", sources=[src])
    emb = EmbeddingDisplay.from_view(embedding_view(run, 0, "tsne", max_scans=96, seed=seed,
                                                    device=str(device))).plot()
    report.add_figure(emb.figure_, caption=f"t-SNE of the {model.feature_layer} features of held-out scans "
                      "(fold 1), coloured by expression.", sources=[src])
    if hasattr(model, "attention_maps"):
        from ferbench.explain import attention_maps

        maps = attention_maps(model, x_test[:6])
        if maps:
            from ferbench.viz.explanations import display_images

            name, a = next(iter(maps.items()))
            grid = ExplanationGridDisplay.from_arrays(texture[:6] if texture is not None
                                                      else display_images(model, x_test[:6]),
                                                      np.asarray(a)[:6], y_test[:6], synthetic=synthetic,
                                                      kind="attention", method=name).plot()
            report.add_figure(grid.figure_, caption=f"Attention map '{name}' of the model.", sources=[src])
    del model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _results_section(report, plan: DemoPlan, results: Path, synthetic: bool) -> None:
    from ferbench.eval.results import open_run
    from ferbench.views.results import results_view
    from ferbench.viz import AccuracyTableDisplay, ConfusionComparisonDisplay

    run = open_run(results)
    res = run.results
    src = "synthetic" if synthetic else "real"
    splits_run = (res.get("protocol_meta") or {}).get("splits_run")
    report.add_text(
        f"ferbench's {plan.model} under protocol {res.get('protocol')}{f' ({splits_run} splits)' if splits_run else ''}: "
        f"{run.summary().text} of held-out subjects "
        f"({src} data; {res.get('init_note', 'random initialisation')}).", sources=[src])
    summ = run.summary()
    if summ.n and summ.p_value >= 0.05:
        n_train = (res.get("folds") or [{}])[0].get("n_train", "?")
        report.add_text(
            f"This run is not distinguishable from guessing (p = {summ.p_value:.2g} >= 0.05): with {n_train} "
            f"training scans this model has not learnt the expressions. It does with more subjects "
            f"(`ferbench demo --paper {plan.paper} --subjects {plan.subjects_to_learn}`; README, \"What the models "
            f"reach on synthetic data\").", sources=[src])
    table, variant = plan.confusion if plan.confusion else (None, None)
    atab = tuple(plan.accuracy) if plan.accuracy else None
    view = results_view(run, (table, variant) if table else None, paper=plan.paper, accuracy_table=atab)
    cm = ConfusionComparisonDisplay.from_view(view)
    report.add_display(cm.plot(), caption="Confusion matrix, row-normalised (%): ferbench's run"
                       + (f" beside the paper's ({plan.paper} {table}{' ' + variant if variant else ''}) and "
                          "their difference" if table else " (the paper prints no confusion matrix)"),
                       sources=[src] + ([f"paper: {plan.paper} {table}"] if table else []))
    acc = AccuracyTableDisplay.from_view(view)
    report.add_display(acc.plot(), caption="Accuracy per expression: the paper's number and ferbench's.",
                       sources=[src] + ([f"paper: {plan.paper} {atab[0]}"] if atab else []))


def run_demo(out_dir: str | os.PathLike = "ferbench_output", paper: str = "dfcnn",
             data_dir: str | os.PathLike | None = None, n_subjects: int | None = None, epochs: int | None = None,
             seed: int = 0, device: str | None = None, quick: bool = False, progress: bool = True,
             workers: int | None = None, dask_scheduler: str | None = None) -> Path:
    """Run the demo and write ``<out_dir>/report.html``.

    Parameters
    ----------
    out_dir
        Output folder (data, results, report).
    paper
        ``"dfcnn"`` (default), another paper key of :data:`PLANS`, or ``"all"``.
    data_dir
        A real BU-3DFE/Bosphorus folder; default: generate synthetic data.
    n_subjects
        Synthetic subjects (default 12; 6 with ``quick``).
    epochs
        Training epochs (default: the plan's; 1 with ``quick``).
    seed
        Seeds data generation, splits and training.
    device
        Torch device; default CUDA when present, else CPU.
    quick
        Smallest run that exercises every stage (tiny inputs, 2 folds, 1 epoch).
    progress
        Print stage lines and progress bars.
    workers, dask_scheduler
        Where the splits train: local worker processes, or a Dask scheduler's workers
        (see :func:`ferbench.eval.commands.train`).

    Returns
    -------
    pathlib.Path
        The HTML report.
    """
    from ferbench._device import default_device
    from ferbench.eval.commands import train
    from ferbench.io.dataset import index_dataset
    from ferbench.report import Report

    papers = list(PLANS) if paper == "all" else [paper]
    for p in papers:
        if p not in PLANS:
            raise ValueError(f"unknown paper {p!r}; expected one of {', '.join(PLANS)} or 'all'")
    from ferbench._checks import SEED_MAX, check_int

    check_int("n_subjects", n_subjects, 2, 999, allow_none=True)  # 0 / -1 must not mean "the default"
    check_int("epochs", epochs, 1, 100_000, allow_none=True)
    check_int("seed", seed, 0, SEED_MAX)
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    dev = default_device(device)
    n_subjects = n_subjects or (6 if quick else 12)
    stage = _Stages(3 + 2 * len(papers), progress)

    stage(f"data: {'reading ' + str(data_dir) if data_dir else f'generating {n_subjects} synthetic subjects'}")
    root, synthetic = _prepare_data(out, data_dir, n_subjects, seed, progress)
    index = index_dataset(root)
    synthetic = synthetic or any(r.synthetic for r in index)
    label = "synthetic" if synthetic else "real"
    report = Report(f"ferbench demo — {', '.join(papers)} ({label} data)")
    from ferbench.synth import FACE_MODEL_DESCRIPTIONS, dataset_face_model

    face_model = dataset_face_model(root) if synthetic else None
    made_by = FACE_MODEL_DESCRIPTIONS.get(face_model or "", face_model or "a synthetic face model")
    report.add_text(
        (f"All ferbench numbers below come from SYNTHETIC scans (face model: {made_by}; procedural "
         "textures): a synthetic sanity check that the pipeline runs and learns, saying nothing about "
         "accuracy on BU-3DFE or Bosphorus. " if synthetic else
         f"ferbench numbers below come from the real dataset at {root}. ")
        + "Numbers from the papers are labelled with their table or figure and were transcribed as printed. "
        + f"Models start from random initialisation (no pretrained weights are downloaded). Device: {dev}.",
        sources=[label])
    report.add_text(f"Dataset: {root} — {len(index)} scans of {len(index.subjects())} subjects.", sources=[label])

    stage("attribute maps and GEMax tau-sweep of a sample scan")
    report.add_heading("Attribute maps")
    scan = _sample_scan(index)
    _section(report, "maps", _maps_section, report, scan, synthetic, 112 if quick else 224)

    for p in papers:
        plan = PLANS[p]
        size = plan.size  # the smallest sizes the architectures allow are already CPU-friendly
        ep = epochs or (1 if quick else plan.epochs)
        stage(f"{p}: training {plan.model} under {plan.protocol} ({ep} epochs, {size} px, {dev})")
        report.add_heading(f"{p}: results beside the paper's")
        results = _section(report, f"{p} training", train, plan.model, plan.protocol, root, out / "results",
                           epochs=ep, lr=plan.lr, optimizer=plan.optimizer, batch_size=plan.batch_size,
                           folds=2 if quick else plan.folds, max_splits=plan.max_splits, seed=seed, size=size,
                           recalibrate_bn=plan.recalibrate_bn, device=device, progress=progress,
                           max_subjects=n_subjects, model_options=dict(plan.options) or None,
                           workers=workers, dask_scheduler=dask_scheduler)
        if results is None:
            continue
        _section(report, f"{p} results", _results_section, report, plan, Path(results), synthetic)
        stage(f"{p}: explanations (saliency, CAM, t-SNE, attention)")
        report.add_heading(f"{p}: what the model looks at")
        _section(report, f"{p} explanations", _explain_section, report, plan, Path(results), synthetic, dev, seed)
        from ferbench.report.cam3d import add_cam_on_face

        _section(report, f"{p} explanation on the face", add_cam_on_face, report, Path(results),
                 method="gradcam", device=str(dev), sources=["synthetic" if synthetic else "real"])

    stage("writing the report")
    path = report.write(out / "report.html")
    return Path(path)
