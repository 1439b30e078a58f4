"""Kinds of job that only the tests use, registered in the test process and in the real worker
that the tests start (``tests.worker_app``)."""

from __future__ import annotations

import time

from workshop.services import jobs


@jobs.handler("test.steps")
def steps(run: jobs.JobRun) -> dict:
    """Counts to ``steps``, ``delay`` seconds a step, resuming from the progress it reported: a worker
    that dies loses at most the step under way. Stops when asked to."""
    total = run.params["steps"]
    done = (run.job.progress or {}).get("done", 0)
    started_at = done
    while done < total:
        run.check_cancel()
        time.sleep(run.params.get("delay", 0))
        done += 1
        run.progress(done, total, f"step {done} of {total}")
    return {"counted": total, "resumed_at": started_at, "attempt": run.attempt}


@jobs.handler("test.fails")
def fails(run: jobs.JobRun) -> dict:
    raise RuntimeError(f"the solver ran out of patience (attempt {run.attempt})")
