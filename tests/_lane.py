"""A background lane for the suite's slowest self-contained processes (the tutorials, ``train`` killed and
resumed): started at collection, one after another, beside the rest of the suite,
which leaves a core idle much of the time (process starts, imports, one-thread runs). A test module offers its jobs
with a module-level ``lane_job(params, lane)``; ``tests/conftest.py`` queues them and runs the tests that read them
last, and those tests wait for their job with ``lane.result(name)``. The outcomes checked do not depend on the load
(fixed thread counts, no clock), so only the suite's wall time changes.

No thread watches the jobs (a thread in the test process would keep TF-MoDISco from compiling its kernels in
forked children): the next job starts when a test starts or a result is awaited."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Job:
    """One process of the lane: its command, environment and folder; output and status once it ended."""

    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    proc: subprocess.Popen | None = None
    started: float = 0.0
    seconds: float = 0.0
    returncode: int | None = None
    output: str = ""
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.cwd.parent / f"{self.cwd.name}.output.txt"


class Lane:
    def __init__(self, root: Path):
        self.root = root
        self.jobs: dict[str, Job] = {}

    def folder(self, name: str) -> Path:
        """A folder of the job ``name``'s own, for its inputs and outputs."""
        path = self.root / "".join(c if c.isalnum() else "_" for c in name)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def add(self, name: str, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
        """Queue a job (once per name: tests that read one job share it); returns its name."""
        if name not in self.jobs:
            cwd = cwd or self.folder(name)
            cwd.mkdir(parents=True, exist_ok=True)
            env = {**os.environ, **(env or {})}
            env.setdefault("SEQ2EXPR_CACHE", str(self.root / "user_cache"))  # never the user's ~/.cache
            self.jobs[name] = Job(name, argv, env, cwd)
        return name

    def _running(self) -> Job | None:
        """The job started and not yet finished (at most one)."""
        return next((j for j in self.jobs.values() if j.proc is not None and j.returncode is None), None)

    def advance(self) -> None:
        """Start the next job if none is running."""
        running = self._running()
        if running is not None:
            if running.proc.poll() is None:
                return
            self._finish(running)
        nxt = next((j for j in self.jobs.values() if j.proc is None), None)
        if nxt is not None:
            with open(nxt.log, "w") as log:
                nxt.started = time.perf_counter()
                nxt.proc = subprocess.Popen(nxt.argv, cwd=nxt.cwd, env=nxt.env, stdout=log,
                                            stderr=subprocess.STDOUT, text=True)

    def result(self, name: str, timeout: float = 1800) -> Job:
        """Wait for job ``name`` (starting it, and the jobs queued before it, if need be); its ended state."""
        job = self.jobs[name]
        while job.returncode is None:
            self.advance()
            running = self._running()
            running.proc.wait(timeout=timeout)
            self._finish(running)
        return job

    def _finish(self, job: Job) -> None:
        job.returncode = job.proc.wait()
        job.seconds = time.perf_counter() - job.started  # when it was noticed; for messages only
        job.output = job.log.read_text(errors="replace")

    def close(self) -> None:
        for job in self.jobs.values():
            if job.proc is not None and job.proc.poll() is None:
                job.proc.kill()
                job.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)
