"""Does every model learn? Train each paper's demo plan on synthetic data and test it against chance.

For every model this trains the settings of ``ferbench demo --paper NAME`` (``ferbench.demo.PLANS``)
on a synthetic dataset, then prints, per model: held-out accuracy on the first split of subject-disjoint
folds, its Wilson 95 % interval, the one-sided binomial p-value against chance, and a baseline measured on
the same split: logistic regression on the same raw inputs (``ferbench.eval.linear_probe``). Every number is
a SYNTHETIC sanity check, not a result on real faces.

Usage (from the repository root; about 25 min on a 2-core CPU with the defaults)::

    .venv/bin/python scripts/synthetic_sanity.py --subjects 40 --out sanity
    .venv/bin/python scripts/synthetic_sanity.py --models attention_transformer --data /path/to/synthetic

Writes ``sanity.json`` and ``sanity.md`` to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from ferbench.demo import PLANS
    from ferbench.eval.commands import linear_probe, train
    from ferbench.eval.results import open_run

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(PLANS), choices=list(PLANS), help="demo plans to run")
    ap.add_argument("--data", help="dataset folder (default: generate --subjects synthetic subjects)")
    ap.add_argument("--subjects", type=int, default=40, help="synthetic subjects to generate (default 40)")
    ap.add_argument("--out", default="sanity", help="output folder")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, help="override every plan's epochs")
    ap.add_argument("--device", help="torch device (default: CUDA when present, else CPU)")
    a = ap.parse_args(argv)

    out = Path(a.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    data = Path(a.data) if a.data else out / "data"
    if not a.data and not (data / "manifest.csv").is_file():
        from ferbench.synth import generate_dataset

        generate_dataset(data, n_subjects=a.subjects, layouts=("bu3dfe",), seed=a.seed)
    rows = []
    for name in a.models:
        plan = PLANS[name]
        t0 = time.perf_counter()
        res_dir = train(plan.model, plan.protocol, data, out / "results", epochs=a.epochs or plan.epochs,
                        lr=plan.lr, optimizer=plan.optimizer, batch_size=plan.batch_size, folds=plan.folds,
                        max_splits=1, seed=a.seed, size=plan.size, recalibrate_bn=plan.recalibrate_bn,
                        device=a.device, progress=False, model_options=dict(plan.options) or None)
        seconds = time.perf_counter() - t0
        run = open_run(res_dir)
        res = run.results
        probe = linear_probe(res_dir)
        row = {"plan": name, "model": plan.model, "options": plan.options, "protocol": plan.protocol,
               "size": plan.size, "epochs": a.epochs or plan.epochs, "n_train": res["folds"][0]["n_train"],
               "chance": res["chance"], "chance_test": res["chance_test"], "probe": probe,
               "seconds": round(seconds, 1), "synthetic": res["synthetic"], "summary": run.summary().text}
        rows.append(row)
        print(f"{name}: {row['summary']}; linear probe {100 * probe['accuracy']:.1f} %; {seconds:.0f} s", flush=True)

    label = "synthetic" if all(r["synthetic"] for r in rows) else "real"
    lines = [f"| model (demo plan) | protocol | train / held-out scans | accuracy ({label}) | 95 % CI | p vs chance "
             "| linear probe, same split | train time |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ct, lo, hi = r["chance_test"], *r["chance_test"]["ci95"]
        lines.append(f"| {r['plan']} ({r['size']} px, {r['epochs']} epochs) | `{r['protocol']}` | {r['n_train']} / "
                     f"{ct['n']} | {100 * ct['accuracy']:.1f} % | {100 * lo:.0f}-{100 * hi:.0f} % | {ct['p_value']:.1g} "
                     f"| {100 * r['probe']['accuracy']:.1f} % | {r['seconds']:.0f} s |")
    text = "\n".join(lines)
    (out / "sanity.md").write_text(text + "\n", encoding="utf-8")
    (out / "sanity.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
