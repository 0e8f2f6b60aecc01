"""Seeded fuzz suite of the scan readers (issue 13): >= 300 malformed files per format.

Formats: ``.wrl``, ``.bnd`` (read beside a valid ``.wrl``), ``.bnt``, ``.lm3`` (beside a
valid ``.bnt``), ``.lm2``, ``.obj``, ascii and binary ``.ply``. Mutations (see
``_fuzz_corpus.py``): truncations, byte flips, overwrites, splices, huge and negative
counts, NaN and infinite values, out-of-range indices, very long lines, repeated keywords,
and format-specific header and body edits.

Each file is read in a child process (``_fuzz_child.py``, two children in parallel for
CI's two cores) with an address-space limit and a per-file alarm. A read must either
return a valid Scan (finite vertices, faces and landmark ids inside the mesh) or raise a
one-line ``ScanFormatError`` that starts with the mutated file's path. Anything else, a
hang, a child that dies, or a tracemalloc peak out of proportion to the file fails.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from _fuzz_corpus import FORMATS, make_corpus

# fixed in CI; set FERBENCH_FUZZ_SEED / FERBENCH_FUZZ_N to explore other corpora locally
N_PER_FORMAT = int(os.environ.get("FERBENCH_FUZZ_N", 320))
SEED = int(os.environ.get("FERBENCH_FUZZ_SEED", 1313))
MEM_LIMIT = 2 * 1024**3  # RLIMIT_AS of each child
SECONDS_PER_FILE = 10.0
N_CHILDREN = 2
CHILD = Path(__file__).with_name("_fuzz_child.py")
REPO = Path(__file__).resolve().parents[1]


def _peak_allowed(size: int) -> int:
    """Memory a read may take: proportional to the file, never a blow-up from a declared count."""
    return 200 * max(size, 4096) + (8 << 20)


def _run_children(jobs: list[dict], tmp: Path) -> list[dict | None]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    batches = [list(range(k, len(jobs), N_CHILDREN)) for k in range(N_CHILDREN)]  # interleaved: mixed formats
    procs = []
    for k, idx in enumerate(batches):
        jp, op = tmp / f"jobs{k}.json", tmp / f"out{k}.jsonl"
        jp.write_text(json.dumps([jobs[i] for i in idx]))
        procs.append((idx, op, subprocess.Popen(
            [sys.executable, str(CHILD), str(jp), str(op), str(MEM_LIMIT), str(SECONDS_PER_FILE)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)))
    results: list[dict | None] = [None] * len(jobs)
    for idx, op, proc in procs:
        try:
            _, err = proc.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        lines = op.read_text().splitlines() if op.exists() else []
        for ln in lines:
            r = json.loads(ln)
            results[idx[r["i"]]] = r
        if len(lines) < len(idx):  # the child hung or died on the next file
            culprit = idx[len(lines)]
            results[culprit] = {"outcome": "fail", "secs": None, "peak": 0,
                                "detail": f"child ended (rc {proc.returncode}) while reading this file: "
                                          f"{err.decode(errors='replace')[-300:]}"}
    return results


@pytest.mark.timeout(900)
def test_fuzz_readers(tmp_path):
    jobs = make_corpus(tmp_path / "corpus", N_PER_FORMAT, SEED)
    results = _run_children(jobs, tmp_path)
    table: dict[str, Counter] = {f: Counter() for f in FORMATS}
    slowest: dict[str, float] = dict.fromkeys(FORMATS, 0.0)
    failures = []
    for job, r in zip(jobs, results):
        if r is None:  # after a dead child's culprit: not read at all
            table[job["fmt"]]["unread"] += 1
            continue
        outcome = r["outcome"]
        size = Path(job["path"]).stat().st_size
        if outcome != "fail" and r["peak"] > _peak_allowed(size):
            outcome, r["detail"] = "fail", f"tracemalloc peak {r['peak']} bytes for a {size}-byte file"
        table[job["fmt"]][outcome] += 1
        slowest[job["fmt"]] = max(slowest[job["fmt"]], r["secs"] or 0.0)
        if outcome == "fail":
            failures.append(f"{job['fmt']}/{job['mutation']} {job['path']}: {r['detail']}")
    print("\nfuzz figures (seed %d): format, files, valid scan, ScanFormatError, failures, slowest read [s]" % SEED)
    for f in FORMATS:
        c = table[f]
        print(f"  {f:11s} {sum(c.values()):5d} {c['ok']:5d} {c['refused']:5d} {c['fail'] + c['unread']:4d} "
              f"{slowest[f]:7.3f}")
    mutation_counts = Counter(j["mutation"] for j in jobs)
    print("  mutations:", dict(sorted(mutation_counts.items())))
    assert not failures, f"{len(failures)} failures, e.g.\n" + "\n".join(failures[:20])
    for f in FORMATS:
        c = table[f]
        assert c["ok"] + c["refused"] >= 300, (f, c)
        assert c["refused"] >= 30, f"{f}: too few refusals, the mutations do not bite: {c}"
        assert c["ok"] >= 1, f"{f}: no mutant read as a valid scan, the valid-output branch is untested: {c}"
