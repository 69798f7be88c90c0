"""A background queue of renders: one at a time, each with progress, cancel and time left.

The UI submits a :class:`~studio.render.RenderRequest` and returns at once; a worker thread runs
the jobs in order, so the interface stays responsive. A job is ``queued``, ``running``, then
``done``, ``failed`` (with the one-line reason) or ``cancelled``.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from studio.errors import CancelledError, StudioError
from studio.render.pipeline import RenderJob, RenderRequest, RenderResult
from studio.services import Studio

log = logging.getLogger(__name__)

FINISHED = ("done", "failed", "cancelled")


@dataclass
class QueuedRender:
    """One render in the queue and what is known about it (times in seconds since the epoch)."""

    id: int
    label: str
    request: RenderRequest
    state: str = "queued"
    fraction: float = 0.0
    message: str = "waiting for the renders before it"
    submitted: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    result: RenderResult | None = None
    error: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def is_finished(self) -> bool:
        return self.state in FINISHED

    def eta_s(self, now: float | None = None) -> float | None:
        """Seconds left, estimated from the time taken so far; None while unknown."""
        if self.state != "running" or self.started is None or self.fraction < 0.03:
            return None
        elapsed = (now or time.time()) - self.started
        if elapsed < 0.5:
            return None
        return max(0.0, elapsed * (1.0 - self.fraction) / self.fraction)

    def describe(self) -> str:
        """One line for the UI: state, progress and time left."""
        if self.state == "running":
            eta = self.eta_s()
            left = f", about {_duration(eta)} left" if eta is not None else ""
            return f"#{self.id} {self.label}: {self.fraction:.0%} — {self.message}{left}"
        if self.state == "done" and self.result is not None:
            took = (self.finished or 0) - (self.started or 0)
            return f"#{self.id} {self.label}: done in {_duration(took)} ({self.result.duration:.1f} s of video)"
        if self.state == "failed":
            return f"#{self.id} {self.label}: failed — {self.error}"
        return f"#{self.id} {self.label}: {self.state}"


def _duration(seconds: float) -> str:
    if seconds < 1:
        return "a moment"
    seconds = int(round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


class RenderQueue:
    """Runs submitted renders one after another on a background thread."""

    def __init__(self, studio: Studio, *, keep: int = 50, job_factory: Callable[..., RenderJob] = RenderJob):
        self.studio = studio
        self._jobs: dict[int, QueuedRender] = {}
        self._pending: queue.Queue[int] = queue.Queue()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._keep = keep
        self._factory = job_factory
        self._changed = threading.Condition(self._lock)
        self._worker = threading.Thread(target=self._run, name="render-queue", daemon=True)
        self._worker.start()

    # -- the public side ---------------------------------------------------------------------------
    def submit(self, request: RenderRequest, label: str | None = None) -> QueuedRender:
        """Queue ``request``; returns at once."""
        with self._lock:
            job = QueuedRender(id=next(self._ids), label=label or request.out.name, request=request)
            self._jobs[job.id] = job
            self._forget_old()
        self._pending.put(job.id)
        return job

    def cancel(self, job_id: int) -> bool:
        """Stop a queued or running render (the running one stops after its current frame)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.is_finished:
                return False
            job.cancel.set()
            if job.state == "queued":
                self._finish(job, "cancelled", message="cancelled before it started")
            return True

    def jobs(self) -> list[QueuedRender]:
        """All remembered jobs, oldest first."""
        with self._lock:
            return list(self._jobs.values())

    def get(self, job_id: int) -> QueuedRender | None:
        with self._lock:
            return self._jobs.get(job_id)

    def wait(self, job_id: int, timeout: float | None = None) -> QueuedRender:
        """Block until the job is finished (or ``timeout`` seconds passed); returns it."""
        deadline = None if timeout is None else time.time() + timeout
        with self._changed:
            while not self._jobs[job_id].is_finished:
                left = None if deadline is None else deadline - time.time()
                if left is not None and left <= 0:
                    break
                self._changed.wait(left)
            return self._jobs[job_id]

    # -- the worker -------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            job_id = self._pending.get()
            with self._lock:
                job = self._jobs.get(job_id)
                if job is None or job.state != "queued":
                    continue
                job.state, job.started, job.message = "running", time.time(), "starting"
            self._execute(job)

    def _execute(self, job: QueuedRender) -> None:
        def progress(fraction: float, message: str) -> None:
            with self._lock:
                job.fraction = max(job.fraction, min(1.0, float(fraction)))
                job.message = message

        try:
            result = self._factory(self.studio, job.request, progress=progress, cancel=job.cancel).run()
        except CancelledError:
            with self._lock:
                self._finish(job, "cancelled", message="cancelled; any earlier export is unchanged")
        except StudioError as exc:
            with self._lock:
                self._finish(job, "failed", error=str(exc))
        except Exception as exc:
            log.exception("render #%s failed", job.id)
            with self._lock:
                self._finish(job, "failed", error=f"unexpected problem ({type(exc).__name__}: {exc})")
        else:
            with self._lock:
                job.result = result
                job.fraction = 1.0
                self._finish(job, "done", message="done")

    def _finish(self, job: QueuedRender, state: str, *, message: str | None = None, error: str | None = None) -> None:
        job.state = state
        job.finished = time.time()
        if message is not None:
            job.message = message
        job.error = error
        self._changed.notify_all()

    def _forget_old(self) -> None:
        finished = [j for j in self._jobs.values() if j.is_finished]
        for job in finished[: max(0, len(self._jobs) - self._keep)]:
            del self._jobs[job.id]
