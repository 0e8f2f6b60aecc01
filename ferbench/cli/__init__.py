"""The ``ferbench`` command line.

Every subcommand is a thin wrapper over a public library function, so anything the
command line does a script or notebook can do too. Heavy packages are imported inside the
handlers so that ``ferbench --help`` answers at once.
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

from ferbench._checks import MAP_SIZE_MAX, SEED_MAX
from ferbench.cli._args import OneLineParser, device, float_in, int_in, one_line
from ferbench.errors import FerbenchError

from ferbench.papers import PAPERS  # noqa: E402  (one owner of the paper keys)

CAM_METHODS = ("gradcam", "hirescam", "gradcam++", "saliency")  # ferbench.views.EXPLAIN_METHODS (no import at start)


# --------------------------------------------------------------------------- handlers
def _cmd_demo(a: argparse.Namespace) -> int:
    from ferbench.demo import run_demo

    report = run_demo(out_dir=a.out, paper=a.paper, data_dir=a.data, n_subjects=a.subjects,
                      epochs=a.epochs, seed=a.seed, device=a.device, quick=a.quick,
                      progress=not a.no_progress, workers=a.workers, dask_scheduler=a.dask_scheduler)
    print(f"ferbench demo: report written to {report}")
    return 0


def _cmd_synth(a: argparse.Namespace) -> int:
    from ferbench.synth import generate_dataset

    # a --model-dir given on the command line must hold the model: no silent procedural fallback
    manifest = generate_dataset(a.out, n_subjects=a.subjects, seed=a.seed, layouts=tuple(a.layouts),
                                model_dir=a.model_dir, face_model=a.face_model, workers=a.workers,
                                progress=not a.no_progress,
                                allow_fallback=a.model_dir is None, overwrite=a.overwrite,
                                scanner_traits=a.scanner_traits, trait_kinds=a.trait_kinds)
    print(f"ferbench synth: synthetic dataset written to {Path(a.out).resolve()}")
    print(f"  {manifest}")
    return 0


def _cmd_info(a: argparse.Namespace) -> int:
    from ferbench.io import read_scan

    for p in a.scans:
        scan = read_scan(p)
        print(f"{p}: {scan!r}")
    return 0


def _cmd_index(a: argparse.Namespace) -> int:
    from ferbench.io.dataset import index_dataset

    idx = index_dataset(a.root, dataset=a.dataset)
    print(idx.summary())
    return 0


def _cmd_maps(a: argparse.Namespace) -> int:
    from ferbench.cli.maps import run_maps

    missing: dict[str, str] = {}
    out = run_maps(a.scan, a.out, size=a.size, missing=missing)
    for name, why in missing.items():
        print(f"ferbench maps: {name}: missing, {why}")
    print(f"ferbench maps: figure written to {out}")
    return 0


def _cmd_tau_sweep(a: argparse.Namespace) -> int:
    from ferbench.cli.maps import run_tau_sweep

    out = run_tau_sweep(a.scan, a.tau, a.out)
    print(f"ferbench tau-sweep: written to {out}")
    return 0


def _cmd_train(a: argparse.Namespace) -> int:
    from ferbench.eval.commands import train
    from ferbench.models import list_models

    if a.model not in list_models():  # before the data are indexed
        raise FerbenchError(f"unknown model {a.model!r}; `ferbench models` lists them")

    out = train(a.model, a.protocol, a.data, a.out, epochs=a.epochs, batch_size=a.batch_size, lr=a.lr,
                folds=a.folds, rounds=a.rounds, seed=a.seed, size=a.size, device=a.device,
                progress=not a.no_progress, max_subjects=a.max_subjects, workers=a.workers,
                dask_scheduler=a.dask_scheduler)
    from ferbench.eval.results import Run

    # scans left out were said once already, by train's ExcludedScansWarning (one line on stderr)
    try:
        summary = Run(out).summary().text
    except FerbenchError:
        summary = "no results.json (no split finished)"
    print(f"ferbench train: {summary}")
    print(f"ferbench train: results written to {out}")
    return 0


def _cmd_evaluate(a: argparse.Namespace) -> int:
    from ferbench.eval.commands import evaluate

    res = evaluate(a.results, a.data, device=a.device, progress=not a.no_progress)
    print(f"ferbench evaluate: {res['label']} accuracy {res['accuracy']}")
    return 0


def _cmd_predict(a: argparse.Namespace) -> int:
    from ferbench.eval.inference import predict_scans

    out = Path(a.out)
    table = predict_scans(a.run, a.scans, folds="all" if a.fold is None else a.fold - 1, device=a.device,
                          batch_size=a.batch_size, workers=a.workers, cam=a.cam,
                          cam_dir=out / "cam" if a.cam else None, progress=not a.no_progress,
                          processes=a.processes)
    csv_path = table.write_csv(a.csv if a.csv else out / "predictions.csv")
    print(f"ferbench predict: {table.summary_text()}")
    print(f"ferbench predict: predictions written to {csv_path}")
    if a.cam:
        print(f"ferbench predict: {a.cam} images written to {out / 'cam'}")
    for p in table.failed:  # one line per failure, on stderr too, so scripts see them
        print(f"ferbench predict: error: {p.path}: {p.error}", file=sys.stderr)
    return 1 if table.failed else 0


def _cmd_models(a: argparse.Namespace) -> int:
    from ferbench.models import list_models

    for name in list_models():
        print(name)
    return 0


def _cmd_papers(a: argparse.Namespace) -> int:
    from ferbench import papers

    if a.table:
        print(papers.table(a.paper, a.table).to_text())
        return 0
    for paper, tid, caption in papers.list_tables(a.paper):
        print(f"{paper:22s} {tid:8s} {caption}")
    return 0


# --------------------------------------------------------------------------- argument types
EPOCHS = int_in(1, 100_000)
SEED = int_in(0, SEED_MAX)


def out_dir(text: str) -> str:
    """An output folder: may not exist yet, but may not be an existing file."""
    if os.path.exists(text) and not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text}: exists and is not a folder")
    return text


def out_file(text: str) -> str:
    """An output file: may not exist yet, but may not be a folder."""
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text}: is a folder, expected a file name")
    return text


def in_dir(text: str) -> str:
    """An existing, readable folder."""
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text}: no such folder" if not os.path.exists(text)
                                         else f"{text}: not a folder")
    if not os.access(text, os.R_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text}: folder not readable")
    return text


def in_file(text: str) -> str:
    """An existing, readable file."""
    if not os.path.isfile(text):
        raise argparse.ArgumentTypeError(f"{text}: no such file" if not os.path.exists(text) else f"{text}: not a file")
    if not os.access(text, os.R_OK):
        raise argparse.ArgumentTypeError(f"{text}: file not readable")
    return text


def in_path(text: str) -> str:
    """An existing file or folder."""
    if not os.path.exists(text):
        raise argparse.ArgumentTypeError(f"{text}: no such file or folder")
    return text


# --------------------------------------------------------------------------- parser
def _add_worker_args(sp: argparse.ArgumentParser) -> None:
    """--workers / --scheduler: where the splits train (each split is one task)."""
    g = sp.add_mutually_exclusive_group()
    g.add_argument("--workers", type=int_in(1, 1024), default=None,
                   help="local worker processes, one split each at a time (default: CPU count; 1 = this process)")
    g.add_argument("--scheduler", dest="dask_scheduler", default=None, metavar="ADDRESS",
                   help="a running Dask scheduler (tcp://host:8786); data and --out must be on a file system "
                        "every worker mounts")


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="ferbench",
        description="ferbench: a workbench for 2D+3D facial expression recognition research. "
                    "Numbers computed on synthetic data are labelled 'synthetic'; paper numbers carry their table.")
    from ferbench import __version__

    p.add_argument("--version", action="version", version=f"ferbench {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, func, help: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        sp.set_defaults(func=func)
        return sp

    sp = add("demo", _cmd_demo, "run the main job: synthetic data -> maps -> training -> evaluation -> HTML report")
    sp.add_argument("--out", type=out_dir, default="ferbench_output",
                    help="output folder (default: ./ferbench_output)")
    sp.add_argument("--paper", choices=PAPERS + ("all",), default="dfcnn", help="which paper's model to run")
    sp.add_argument("--data", type=in_dir, default=None,
                    help="a real BU-3DFE or Bosphorus folder instead of synthetic data")
    sp.add_argument("--subjects", type=int_in(2, 999), default=None, help="synthetic subjects to generate")
    sp.add_argument("--epochs", type=EPOCHS, default=None)
    sp.add_argument("--seed", type=SEED, default=0)
    sp.add_argument("--device", type=device, default=None,
                    help="torch device (default: cuda if available, else cpu)")
    sp.add_argument("--quick", action="store_true", help="smallest possible run (for smoke tests)")
    _add_worker_args(sp)
    sp.add_argument("--no-progress", action="store_true")

    sp = add("synth", _cmd_synth, "generate a synthetic textured-scan dataset in BU-3DFE and Bosphorus layouts")
    sp.add_argument("out", type=out_dir, help="output folder")
    sp.add_argument("--subjects", type=int_in(1, 999), default=100)
    sp.add_argument("--seed", type=SEED, default=0)
    sp.add_argument("--layouts", nargs="+", default=["bu3dfe", "bosphorus"], choices=["bu3dfe", "bosphorus"])
    sp.add_argument("--face-model", choices=["ict", "sfm", "procedural"], default=None,
                    help="face model: ict (default, shipped with ferbench), sfm (Surrey, needs --model-dir or "
                         "shared/models/sfm3448), procedural")
    sp.add_argument("--model-dir", type=in_dir, default=None,
                    help="folder of the face model: the Surrey Face Model (--face-model sfm; implied by --model-dir "
                         "unless the folder holds an ICT npz) or another ICT npz; a folder without it is an error")
    sp.add_argument("--workers", type=int_in(0, 1024), default=None)
    sp.add_argument("--overwrite", action="store_true",
                    help="replace a previous synthetic dataset in OUT (an interrupted one is always replaced)")
    sp.add_argument("--scanner-traits", type=float_in(0.0, 1.0), default=0.3, metavar="SHARE",
                    help="share of BU-3DFE scans given scanner traits (seams, holes, spikes; a tenth of them "
                         "also no texture file); 0 = none")
    sp.add_argument("--trait-kinds", nargs="+", default=None,
                    choices=["seams", "holes", "spikes", "missing_texture"])
    sp.add_argument("--no-progress", action="store_true")

    sp = add("info", _cmd_info, "read scans and print a one-line summary of each")
    sp.add_argument("scans", nargs="+", type=in_file)

    sp = add("index", _cmd_index, "list the scans of a BU-3DFE or Bosphorus folder with their labels")
    sp.add_argument("root", type=in_dir)
    sp.add_argument("--dataset", choices=["bu3dfe", "bosphorus"], default=None)

    sp = add("maps", _cmd_maps, "write a figure of all attribute maps of one scan")
    sp.add_argument("scan", type=in_file)
    sp.add_argument("--out", type=out_dir, default="ferbench_output/maps")
    sp.add_argument("--size", type=int_in(16, MAP_SIZE_MAX), default=224)

    sp = add("tau-sweep", _cmd_tau_sweep, "GEMax maps and entropy for a list of distortion bounds tau")
    sp.add_argument("scan", type=in_file)
    sp.add_argument("--tau", type=int_in(1, 65536), nargs="+", default=[16, 20, 30, 40, 60, 4096])
    sp.add_argument("--out", type=out_dir, default="ferbench_output/tau_sweep")

    sp = add("train", _cmd_train, "train a model under a subject-independent protocol")
    sp.add_argument("model")
    sp.add_argument("--protocol", required=True)
    sp.add_argument("--data", type=in_dir, required=True, help="dataset folder (synthetic or real)")
    sp.add_argument("--out", type=out_dir, default="ferbench_output/results")
    sp.add_argument("--epochs", type=EPOCHS, default=10)
    sp.add_argument("--batch-size", type=int_in(1, 1_000_000), default=32)
    sp.add_argument("--lr", type=float_in(0.0, 10.0, lo_open=True), default=None)
    sp.add_argument("--folds", type=int_in(2, 1000), default=None)
    sp.add_argument("--rounds", type=int_in(1, 1000), default=1)
    sp.add_argument("--size", type=int_in(16, MAP_SIZE_MAX), default=None,
                    help="input size in pixels (default: the model's)")
    sp.add_argument("--max-subjects", type=int_in(2), default=None)
    sp.add_argument("--seed", type=SEED, default=0)
    sp.add_argument("--device", type=device, default=None)
    _add_worker_args(sp)
    sp.add_argument("--no-progress", action="store_true")

    sp = add("evaluate", _cmd_evaluate, "evaluate a trained results folder or checkpoint on a dataset")
    sp.add_argument("results", type=in_path)
    sp.add_argument("--data", type=in_dir, default=None)
    sp.add_argument("--device", type=device, default=None)
    sp.add_argument("--no-progress", action="store_true")

    sp = add("predict", _cmd_predict, "predict the expression of scan files (folders: recursively) with a trained "
                                      "results folder; writes a CSV and optional Grad-CAM images")
    sp.add_argument("run", type=in_path, help="results folder (or one of its checkpoints)")
    sp.add_argument("scans", nargs="+", type=in_path, metavar="SCAN_OR_FOLDER")
    sp.add_argument("--fold", type=int_in(1, 1000), default=None,
                    help="1-based fold to use (default: every fold, probabilities averaged)")
    sp.add_argument("--out", type=out_dir, default="ferbench_output/predict",
                    help="output folder for predictions.csv and cam/ (default: ./ferbench_output/predict)")
    sp.add_argument("--csv", type=out_file, default=None, help="CSV file (default: OUT/predictions.csv)")
    sp.add_argument("--cam", choices=CAM_METHODS, default=None,
                    help="also write a heat map per scan and modality (input + overlay PNGs in OUT/cam)")
    sp.add_argument("--batch-size", type=int_in(1, 100_000), default=32)
    sp.add_argument("--workers", type=int_in(0, 64), default=2,
                    help="threads reading and mapping scans ahead of the model (0: none)")
    sp.add_argument("--processes", action="store_true",
                    help="use worker processes instead of threads (start-up of a few seconds; no GIL)")
    sp.add_argument("--device", type=device, default=None,
                    help="torch device (default: cuda if available, else cpu)")
    sp.add_argument("--no-progress", action="store_true")

    add("models", _cmd_models, "list the registered models")

    sp = add("papers", _cmd_papers, "list the papers' transcribed tables, or print one")
    sp.add_argument("paper", nargs="?", choices=PAPERS, default=None)
    sp.add_argument("table", nargs="?", default=None)
    return p


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings on the command line as one line each (Python's default adds the source line)."""
    print(f"ferbench: warning: {one_line(message)}", file=file or sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run one ``ferbench`` command; return its exit code.

    A bad input ends in one line on stderr (``ferbench <command>: error: ...``) and a non-zero code:
    argparse errors exit 2, FerbenchError / OSError / ValueError raised by the library return 2.
    ``FERBENCH_DEBUG=1`` re-raises them with the traceback; any other exception is a bug and keeps its traceback.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        with warnings.catch_warnings():  # restores the caller's warning display afterwards
            if not os.environ.get("FERBENCH_DEBUG"):
                warnings.showwarning = _one_line_warning
            return int(args.func(args) or 0)
    except (FerbenchError, OSError, ValueError) as exc:  # user-facing problems: one line, no traceback
        if os.environ.get("FERBENCH_DEBUG"):
            raise
        print(f"ferbench {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ferbench {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
