"""The one worker and the one job runner: every long piece of work is a generator run on a thread.

A **job** is a generator function (training, sampling, the bound, a comparison, opening a run, loading data). It
runs in a :class:`Job`, a ``QRunnable`` on the runner's own thread pool: its signal object is created on the GUI
thread, and ``pause`` / ``resume`` / stop are honoured at each ``yield``. What it yields is batched by a
:class:`Throttle`, a policy passed in (an interval, "only the latest", which items go at once, and a conversion
made on the job's thread when a batch leaves), so no job writes its own consume → throttle → emit loop. Items are
the core's frozen events or display copies (numpy arrays the job owns), never live tensors.

The :class:`JobRunner` (one per application, :func:`runner`) owns start / pause / stop / join and the busy state.
Every signal of every job goes to the runner (a QObject on the GUI thread), which calls the job's plain-Python
callbacks there, so a caller may pass any callable, a lambda included, and it runs on the GUI thread. Jobs say
which resources they read and write; the runner never runs a writer beside a reader of the same resource
(training writes the model the bound and the sampler read) and can start a job once the jobs in its way have
stopped (``preempt``).

Why our own worker and not superqt's ``GeneratorWorker`` (measured with superqt 0.9, docs/ARCHITECTURE.md): its
``run`` patches the process-wide ``warnings.showwarning`` inside ``warnings.catch_warnings`` on the job thread,
which is not thread-safe (two overlapping jobs left the patch installed for good); its ``start`` uses the global
QThreadPool (two threads on a two-core machine, so a third job waited) and defers the start by a timer when an
event loop runs, so a join right after a start missed the job; and a paused worker only sleeps, where a paused
training job must still answer a save. Subclassing it to fix these meant replacing ``run`` and ``work`` and
reading its private pause flags and signal class (``superqt.utils._qthreading``), which its public API does not
offer. :class:`Job` is therefore a plain ``QRunnable`` (Qt's public API) with the same contract: a signal object
born on the GUI thread, pause / resume / stop honoured at each ``yield``, and errors delivered as a signal.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QRunnable, QThreadPool, Signal

from ddpm_studio.core.app.run_io import KNOWN_ERRORS, describe_error
from ddpm_studio.gui import collector

logger = logging.getLogger(__name__)

#: The resource training writes and sampling, the bound, opening and saving read: the model's weights.
MODEL = "model"
#: Minimum seconds between two batches of the same job (~30 Hz).
EMIT_INTERVAL_S = 1.0 / 30.0
#: How often a paused job wakes up to look for a stop, a resume or a service request.
PAUSE_POLL_S = 0.02
#: Threads the runner's pool may use: every job gets its own (jobs wait for each other only through resources).
MAX_JOB_THREADS = 16


@dataclass
class Throttle:
    """When a job's yielded items are handed to the GUI: the emission policy, one per job.

    Attributes:
        interval: minimum seconds between two batches (0: every item at once).
        latest_only: keep only the newest pending item (a live frame) instead of all of them (loss points).
        urgent: item types that go at once, with everything pending before them.
        prepare: called on the job's thread with the batch as it leaves (e.g. copy the latest frame out of a
            store the job keeps writing); returns what is handed over.
    """

    interval: float = EMIT_INTERVAL_S
    latest_only: bool = False
    urgent: tuple[type, ...] = ()
    prepare: Callable[[list], list] | None = None
    _last: float = field(default=-float("inf"), repr=False)

    def due(self, item: Any) -> bool:
        now = time.monotonic()
        if isinstance(item, self.urgent) or now - self._last >= self.interval:
            self._last = now
            return True
        return False


class JobSignals(QObject):
    """The signals the runner listens to (each carries the job, so one slot serves all); made on the GUI thread."""

    batch = Signal(object, object)  # job, list of items
    result = Signal(object, object)  # job, the generator's return value
    failure = Signal(object, object)  # job, the exception
    ended = Signal(object)  # job: always the last one


class Job(QRunnable):
    """One generator on one thread, with the runner's callbacks; see the module docstring.

    Args:
        name: what the job is ("train", "sample", "bound", ...): the runner finds jobs by it.
        func, args, kwargs: the generator function and its arguments. When ``cooperative``, it also gets
            ``stop=`` a :class:`threading.Event` it must honour by ending on its own (e.g. a sampler returning
            the partial trajectory); otherwise a stop abandons it at its next ``yield``.
        throttle: the emission policy. service: called between items and while paused, on the job's thread;
            what it returns is handed over at once (e.g. a save the user asked for while training).
        reads, writes: names of the resources the job uses (e.g. "model").
        on_events, on_result, on_error, on_done: callbacks run on the GUI thread with a batch of items, the
            return value, the one-line error, and nothing (always last).
    """

    def __init__(
        self,
        name: str,
        func: Callable[..., Any],
        *args: Any,
        throttle: Throttle | None = None,
        cooperative: bool = False,
        service: Callable[[], Iterable[Any]] | None = None,
        reads: Iterable[str] = (),
        writes: Iterable[str] = (),
        on_events: Callable[[list], None] | None = None,
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_done: Callable[[], None] | None = None,
        owner: object | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.stop_event = threading.Event()
        if cooperative:
            kwargs["stop"] = self.stop_event
        self._gen = func(*args, **kwargs)
        if not hasattr(self._gen, "send"):
            raise TypeError(f"job {name!r}: {func!r} is not a generator function")
        self.signals = JobSignals()  # created here, on the GUI thread: its signals are delivered there
        self.batch, self.result = self.signals.batch, self.signals.result
        self.failure, self.ended = self.signals.failure, self.signals.ended
        # Pause handshake: the GUI asks (``_pause_requested``), the job thread honours it at its next yield.
        self._pause_requested = self._resume_requested = self._paused = False
        self.setAutoDelete(False)  # the runner drops it on the GUI thread, never the pool on the job's thread
        self.name = name
        self.throttle = throttle or Throttle()
        self.cooperative = cooperative
        self.service = service
        self.reads, self.writes = frozenset(reads), frozenset(writes)
        self.on_events, self.on_result, self.on_error, self.on_done = on_events, on_result, on_error, on_done
        self.owner = weakref.ref(owner) if owner is not None else None
        self._pause_interval = PAUSE_POLL_S
        self._abort = False
        self.started_running = False  # submitted to the pool (a preempting job waits first)
        self.finished_event = threading.Event()

    # ------------------------------------------------------------------ control (any thread)
    def stop(self) -> None:
        """End at the next ``yield`` (cooperative: the generator ends itself); wakes a paused job."""
        self.stop_event.set()
        if not self.cooperative:
            self._abort = True

    def pause(self) -> None:
        """Pause at the next ``yield`` (a stop asked for already wins)."""
        if not self._paused:
            self._pause_requested = True

    def resume(self) -> None:
        if self._pause_requested:  # asked to pause, not yet at a yield: simply withdraw the request
            self._pause_requested = False
        elif self._paused:
            self._resume_requested = True

    @property
    def abort_requested(self) -> bool:
        """A non-cooperative stop: the job is abandoned at its next ``yield``."""
        return self._abort

    @property
    def is_paused(self) -> bool:
        return self._paused

    @property
    def stopping(self) -> bool:
        return self.stop_event.is_set()

    @property
    def paused(self) -> bool:
        return self.is_paused or (self._pause_requested and not self.stopping)

    def owned_by(self, owner: object) -> bool:
        return self.owner is not None and self.owner() is owner

    # ------------------------------------------------------------------ the thread
    def run(self) -> None:  # QRunnable.run, on a pool thread; no process-wide state is touched here
        try:
            value = self.work()
            if not self.abort_requested:
                self.result.emit(self, value)
        except Exception as exc:  # every failure becomes a message; the window stays usable
            if not isinstance(exc, KNOWN_ERRORS):
                logger.exception("job %r failed", self.name)
            self.failure.emit(self, exc)
        finally:
            self._gen.close()  # a generator abandoned at a yield runs its finally blocks here, on its thread
            self.ended.emit(self)  # posted before the event is set, so a join finds it among the posted events
            self.finished_event.set()

    def work(self) -> Any:
        pending: list = []
        while True:
            if self.abort_requested:
                self._flush(pending)
                return None
            self._serve()
            if self.stop_event.is_set():  # a stop always wins over a pause, whichever was asked for first
                self._paused = self._pause_requested = False
            if self._paused:
                if self._resume_requested:
                    self._paused = self._resume_requested = False
                else:
                    time.sleep(self._pause_interval)
                continue
            if self._pause_requested:
                self._flush(pending)
                self._paused, self._pause_requested = True, False
                continue
            try:
                item = next(self._gen)
            except StopIteration as exc:
                self._flush(pending)
                return exc.value
            if self.throttle.latest_only:
                pending[:] = [item]
            else:
                pending.append(item)
            if self.throttle.due(item):
                self._flush(pending)

    def _serve(self) -> None:
        if self.service is not None:
            answers = list(self.service())
            if answers:
                self.batch.emit(self, answers)

    def _flush(self, pending: list) -> None:
        if pending:
            items = list(pending)
            pending.clear()
            self.batch.emit(self, self.throttle.prepare(items) if self.throttle.prepare else items)


def _task(fn: Callable[..., Any], *args: Any) -> Any:
    """A one-shot function as a job: no yield before it returns (open, save, export, load data)."""
    return fn(*args)
    yield  # noqa: B901 - makes this a generator; unreachable on purpose


class JobRunner(QObject):
    """Starts, pauses, stops and joins jobs; knows what runs (``busy``); see the module docstring."""

    changed = Signal()  # a job started, paused, resumed, was asked to stop or ended

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(MAX_JOB_THREADS)
        self._jobs: list[Job] = []

    # ------------------------------------------------------------------ starting
    def start(
        self, name: str, func: Callable[..., Any], *args: Any, preempt: bool = False, **options: Any
    ) -> Job | None:
        """Run the generator ``func(*args)`` as a job (options: see :class:`Job`).

        Returns None, starting nothing, when a running job uses a resource this one would conflict on, unless
        ``preempt``: then those jobs are asked to stop and this one starts once they have ended.
        """
        job = Job(name, func, *args, **options)
        blocking = self.conflicts(job)
        if blocking and not preempt:
            return None
        self._jobs.append(job)
        job.batch.connect(self._on_batch)
        job.result.connect(self._on_result)
        job.failure.connect(self._on_failure)
        job.ended.connect(self._on_ended)
        for other in blocking:
            other.stop()
        if not blocking:
            self._submit(job)
        self.changed.emit()
        return job

    def task(self, name: str, fn: Callable[..., Any], *args: Any, **options: Any) -> Job | None:
        """Run a plain function once as a job; its return value goes to ``on_result``."""
        return self.start(name, _task, fn, *args, **options)

    def conflicts(self, job: Job) -> list[Job]:
        """The jobs (running or waiting) that ``job`` may not run beside."""
        return [other for other in self._jobs if other is not job and (
            job.writes & (other.reads | other.writes) or job.reads & other.writes)]

    def _submit(self, job: Job) -> None:
        job.started_running = True
        self._pool.start(job)

    # ------------------------------------------------------------------ state
    def jobs(self, name: str | None = None) -> list[Job]:
        return [job for job in self._jobs if name is None or job.name == name]

    def job(self, name: str) -> Job | None:
        found = self.jobs(name)
        return found[-1] if found else None

    def running(self, name: str) -> bool:
        return bool(self.jobs(name))

    @property
    def busy(self) -> bool:
        return bool(self._jobs)

    # ------------------------------------------------------------------ control
    def pause(self, job: Job) -> None:
        job.pause()
        self.changed.emit()

    def resume(self, job: Job) -> None:
        job.resume()
        self.changed.emit()

    def stop(self, name: str | None = None, owner: object | None = None) -> None:
        """Ask the named jobs (all, or those of ``owner``) to stop; they end at their next ``yield``."""
        for job in list(self._jobs):
            if (name is None or job.name == name) and (owner is None or job.owned_by(owner)):
                if not job.started_running:  # never started: nothing to wait for
                    self._drop(job)
                else:
                    job.stop()
        self.changed.emit()

    def join(self, owner: object | None = None) -> None:
        """Wait until the jobs (all, or those of ``owner``) have ended and deliver what they handed over.

        Call after :meth:`stop` (each job stops within one item). Results and ``on_done`` are delivered here,
        without an event loop, and the GUI thread collects garbage at once.
        """
        for job in [j for j in self._jobs if owner is None or j.owned_by(owner)]:
            if job.started_running:
                job.finished_event.wait()
        if owner is None:
            self._pool.waitForDone()
        QCoreApplication.sendPostedEvents(self, 0)  # the queued batches, results and ends of the joined jobs
        collector.collect_now()

    def join_all(self) -> None:
        self.stop()
        self.join()

    # ------------------------------------------------------------------ delivery (GUI thread)
    def _on_batch(self, job: Job, items: list) -> None:
        if job in self._jobs and job.on_events is not None:
            job.on_events(items)

    def _on_result(self, job: Job, value: Any) -> None:
        if job in self._jobs and job.on_result is not None:
            job.on_result(value)

    def _on_failure(self, job: Job, exc: BaseException) -> None:
        if job in self._jobs and job.on_error is not None:
            job.on_error(describe_error(exc))

    def _on_ended(self, job: Job) -> None:
        if job in self._jobs:
            self._drop(job)

    def _drop(self, job: Job) -> None:
        self._jobs.remove(job)
        if job.on_done is not None:
            job.on_done()
        for waiting in [j for j in self._jobs if not j.started_running]:
            if not self.conflicts(waiting):
                self._submit(waiting)
        self.changed.emit()


_runner: JobRunner | None = None


def runner() -> JobRunner:
    """The application's job runner (created on first use, a child of the QApplication)."""
    global _runner
    if _runner is None or not _alive(_runner):
        app = QCoreApplication.instance()
        assert app is not None, "create the QApplication first"
        _runner = JobRunner(app)
    return _runner


def _alive(obj: QObject) -> bool:
    try:
        obj.objectName()
    except RuntimeError:
        return False
    return True


def running_jobs() -> list[Job]:
    """Jobs not yet ended (the tests check it is empty after each test)."""
    return [] if _runner is None or not _alive(_runner) else _runner.jobs()
