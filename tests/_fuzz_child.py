"""Child process of ``test_fuzz_readers.py``: read a batch of files under time and memory limits.

Usage: ``python _fuzz_child.py JOBS.json OUT.jsonl MEM_BYTES SECONDS_PER_FILE``

It caps its own address space (RLIMIT_AS) before importing anything but ``ferbench.io``
(no torch), then for each job writes one JSON line, flushed at once, so the parent can
name the file that was being read if the child hangs or dies:
``{"i", "outcome": "ok"|"refused"|"fail", "detail", "secs", "peak"}``. ``peak`` is the
tracemalloc peak (numpy's buffers included) while reading that file.
"""
from __future__ import annotations

import json
import resource
import signal
import sys
import time
import tracemalloc
import warnings


class _Timeout(BaseException):
    """Raised from the alarm handler; a BaseException so that no reader can swallow it."""


def _alarm(signum, frame):
    raise _Timeout


def _check_scan(scan, n_vertices_check=True) -> str | None:
    """Why a returned Scan is not valid (None if it is)."""
    import numpy as np

    from ferbench.errors import ScanFormatError

    try:
        scan.validate()
    except ScanFormatError as e:
        return f"returned an invalid Scan: {e}"
    v, f = scan.vertices, scan.faces
    if not (v.ndim == 2 and v.shape[1] == 3 and len(v) and np.isfinite(v).all()):
        return f"vertices {v.shape} not finite"
    if f.size and (f.min() < 0 or f.max() >= len(v)):
        return "face index out of range"
    if scan.texcoords is not None and not np.isfinite(scan.texcoords).all():
        return "texcoords not finite"
    if scan.landmarks is not None and np.isinf(scan.landmarks).any():
        return "landmarks contain infinity"
    ids = scan.meta.extra.get("landmark_vertex_ids")
    if ids is not None and len(ids) and (ids.min() < -1 or ids.max() >= len(v)):
        return "landmark vertex id outside the mesh"
    return None


def _read(job: dict):
    import numpy as np

    from ferbench.io import read_bnt, read_lm2, read_obj, read_ply, read_wrl

    fmt, p = job["fmt"], job["read"]
    if fmt in ("wrl", "bnd"):
        return _check_scan(read_wrl(p, load_texture=False))
    if fmt in ("bnt", "lm3"):
        return _check_scan(read_bnt(p, load_texture=False))
    if fmt == "obj":
        return _check_scan(read_obj(p, load_texture=False))
    if fmt.startswith("ply"):
        return _check_scan(read_ply(p, load_texture=False))
    if fmt == "lm2":
        lm, names = read_lm2(p)
        if lm.dtype != np.float64 or lm.ndim != 2 or lm.shape[1] != 2 or len(names) != len(lm):
            return f"landmarks {lm.dtype} {lm.shape} with {len(names)} names"
        if np.isinf(lm).any():
            return "landmarks contain infinity"
        return None
    raise ValueError(fmt)


def main() -> None:
    jobs_path, out_path, mem, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    from ferbench.errors import FerbenchError, ScanFormatError
    import ferbench.io  # noqa: F401 - imported before tracemalloc starts, so no read is charged for it

    with open(jobs_path) as fh:
        jobs = json.load(fh)
    signal.signal(signal.SIGALRM, _alarm)
    warnings.simplefilter("ignore")  # a warning (e.g. 82 landmarks) is an accepted outcome
    tracemalloc.start()
    with open(out_path, "w") as out:
        for i, job in enumerate(jobs):
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            t0 = time.perf_counter()
            signal.setitimer(signal.ITIMER_REAL, secs)
            try:
                why = _read(job)
                outcome, detail = ("ok", None) if why is None else ("fail", why)
            except _Timeout:
                outcome, detail = "fail", f"no answer within {secs} s"
            except ScanFormatError as e:
                msg = str(e)
                if not msg.startswith(job["path"] + ": ") or "\n" in msg:
                    outcome, detail = "fail", f"message does not start with the file: {msg[:200]!r}"
                elif "more memory than is available" in msg:
                    outcome, detail = "fail", f"memory blow-up: {msg[:200]}"
                else:
                    outcome, detail = "refused", msg[len(job["path"]) + 2:][:120]
            except FerbenchError as e:
                outcome, detail = "fail", f"{type(e).__name__} instead of ScanFormatError: {str(e)[:200]}"
            except MemoryError:
                outcome, detail = "fail", "MemoryError (address-space limit hit)"
            except Exception as e:  # noqa: BLE001 - anything else is what the fuzz suite looks for
                outcome, detail = "fail", f"{type(e).__name__}: {str(e)[:200]}"
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            secs_used = time.perf_counter() - t0
            peak = tracemalloc.get_traced_memory()[1] - base
            out.write(json.dumps({"i": i, "outcome": outcome, "detail": detail, "secs": round(secs_used, 4),
                                  "peak": peak}) + "\n")
            out.flush()


if __name__ == "__main__":
    main()
