"""The ``ferbench`` command line.

Every subcommand is a thin wrapper over a public library function, so anything the
command line does a script or notebook can do too. Heavy packages are imported inside the
handlers so that ``ferbench --help`` answers at once.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ferbench.errors import FerbenchError

PAPERS = ("dfcnn", "gemax_fa", "attention_transformer", "cmcnn", "mffcnn")


# --------------------------------------------------------------------------- handlers
def _cmd_demo(a: argparse.Namespace) -> int:
    from ferbench.demo import run_demo

    report = run_demo(out_dir=a.out, paper=a.paper, data_dir=a.data, n_subjects=a.subjects,
                      epochs=a.epochs, seed=a.seed, device=a.device, quick=a.quick,
                      progress=not a.no_progress)
    print(f"ferbench demo: report written to {report}")
    return 0


def _cmd_synth(a: argparse.Namespace) -> int:
    from ferbench.synth import generate_dataset

    manifest = generate_dataset(a.out, n_subjects=a.subjects, seed=a.seed, layouts=tuple(a.layouts),
                                model_dir=a.model_dir, face_model=a.face_model, workers=a.workers,
                                progress=not a.no_progress)
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
    print(idx.summary() if hasattr(idx, "summary") else f"{len(idx)} scans, {len(idx.subjects())} subjects")
    return 0


def _cmd_maps(a: argparse.Namespace) -> int:
    from ferbench.maps.commands import run_maps

    out = run_maps(a.scan, a.out, size=a.size)
    print(f"ferbench maps: figure written to {out}")
    return 0


def _cmd_tau_sweep(a: argparse.Namespace) -> int:
    from ferbench.maps.commands import run_tau_sweep

    out = run_tau_sweep(a.scan, a.tau, a.out)
    print(f"ferbench tau-sweep: written to {out}")
    return 0


def _cmd_train(a: argparse.Namespace) -> int:
    from ferbench.eval.commands import train

    out = train(a.model, a.protocol, a.data, a.out, epochs=a.epochs, batch_size=a.batch_size, lr=a.lr,
                folds=a.folds, rounds=a.rounds, seed=a.seed, size=a.size, device=a.device,
                progress=not a.no_progress, max_subjects=a.max_subjects)
    from ferbench.eval.runner import results_summary

    try:
        summary = results_summary(json.loads((Path(out) / "results.json").read_text(encoding="utf-8")))
    except (OSError, ValueError):
        summary = "no results.json (no split finished)"
    print(f"ferbench train: {summary}")
    print(f"ferbench train: results written to {out}")
    return 0


def _cmd_evaluate(a: argparse.Namespace) -> int:
    from ferbench.eval.commands import evaluate

    res = evaluate(a.results, a.data, device=a.device, progress=not a.no_progress)
    acc = res.get("accuracy") if isinstance(res, dict) else None
    print(f"ferbench evaluate: {res.get('label', '') if isinstance(res, dict) else ''} accuracy "
          f"{acc if acc is not None else res}")
    return 0


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


# --------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
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
    sp.add_argument("--out", default="ferbench_output", help="output folder (default: ./ferbench_output)")
    sp.add_argument("--paper", choices=PAPERS + ("all",), default="dfcnn", help="which paper's model to run")
    sp.add_argument("--data", default=None, help="a real BU-3DFE or Bosphorus folder instead of synthetic data")
    sp.add_argument("--subjects", type=int, default=None, help="synthetic subjects to generate")
    sp.add_argument("--epochs", type=int, default=None)
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    sp.add_argument("--quick", action="store_true", help="smallest possible run (for smoke tests)")
    sp.add_argument("--no-progress", action="store_true")

    sp = add("synth", _cmd_synth, "generate a synthetic textured-scan dataset in BU-3DFE and Bosphorus layouts")
    sp.add_argument("out", help="output folder")
    sp.add_argument("--subjects", type=int, default=100)
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--layouts", nargs="+", default=["bu3dfe", "bosphorus"], choices=["bu3dfe", "bosphorus"])
    sp.add_argument("--face-model", choices=["ict", "sfm", "procedural"], default=None,
                    help="face model: ict (default, shipped with ferbench), sfm (Surrey, needs --model-dir or "
                         "shared/models/sfm3448), procedural")
    sp.add_argument("--model-dir", default=None,
                    help="folder of the face model: the Surrey Face Model (--face-model sfm; implied by --model-dir "
                         "unless the folder holds an ICT npz) or another ICT npz; a folder without it is an error")
    sp.add_argument("--workers", type=int, default=None)
    sp.add_argument("--no-progress", action="store_true")

    sp = add("info", _cmd_info, "read scans and print a one-line summary of each")
    sp.add_argument("scans", nargs="+")

    sp = add("index", _cmd_index, "list the scans of a BU-3DFE or Bosphorus folder with their labels")
    sp.add_argument("root")
    sp.add_argument("--dataset", choices=["bu3dfe", "bosphorus"], default=None)

    sp = add("maps", _cmd_maps, "write a figure of all attribute maps of one scan")
    sp.add_argument("scan")
    sp.add_argument("--out", default="ferbench_output/maps")
    sp.add_argument("--size", type=int, default=224)

    sp = add("tau-sweep", _cmd_tau_sweep, "GEMax maps and entropy for a list of distortion bounds tau")
    sp.add_argument("scan")
    sp.add_argument("--tau", type=int, nargs="+", default=[16, 20, 30, 40, 60, 4096])
    sp.add_argument("--out", default="ferbench_output/tau_sweep")

    sp = add("train", _cmd_train, "train a model under a subject-independent protocol")
    sp.add_argument("model")
    sp.add_argument("--protocol", required=True)
    sp.add_argument("--data", required=True, help="dataset folder (synthetic or real)")
    sp.add_argument("--out", default="ferbench_output/results")
    sp.add_argument("--epochs", type=int, default=10)
    sp.add_argument("--batch-size", type=int, default=32)
    sp.add_argument("--lr", type=float, default=None)
    sp.add_argument("--folds", type=int, default=None)
    sp.add_argument("--rounds", type=int, default=1)
    sp.add_argument("--size", type=int, default=None, help="input size in pixels (default: the model's)")
    sp.add_argument("--max-subjects", type=int, default=None)
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--device", default=None)
    sp.add_argument("--no-progress", action="store_true")

    sp = add("evaluate", _cmd_evaluate, "evaluate a trained results folder or checkpoint on a dataset")
    sp.add_argument("results")
    sp.add_argument("--data", default=None)
    sp.add_argument("--device", default=None)
    sp.add_argument("--no-progress", action="store_true")

    add("models", _cmd_models, "list the registered models")

    sp = add("papers", _cmd_papers, "list the papers' transcribed tables, or print one")
    sp.add_argument("paper", nargs="?", choices=PAPERS, default=None)
    sp.add_argument("table", nargs="?", default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except FerbenchError as exc:  # user-facing problems: one line, no traceback
        print(f"ferbench {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ferbench {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
