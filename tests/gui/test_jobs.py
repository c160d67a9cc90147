"""The job runner (gui/jobs/runner.py): start, progress, pause, cancel, error, finish, resources, and an owner that
closes mid-run. Every callback must run on the GUI thread; every job must end (the conftest checks none is left)."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QObject, QThread

from ddpm_studio.gui.jobs.runner import MODEL, Job, JobRunner, Throttle

TIMEOUT_MS = 10_000


class Recorder:
    """Collects a job's callbacks and the thread each ran on."""

    def __init__(self) -> None:
        self.items: list = []
        self.results: list = []
        self.errors: list[str] = []
        self.done = 0
        self.threads: set = set()

    def _note(self) -> None:
        self.threads.add(QThread.currentThread())

    def on_events(self, items: list) -> None:
        self._note()
        self.items.extend(items)

    def on_result(self, value) -> None:
        self._note()
        self.results.append(value)

    def on_error(self, text: str) -> None:
        self._note()
        self.errors.append(text)

    def on_done(self) -> None:
        self._note()
        self.done += 1

    def callbacks(self) -> dict:
        return dict(on_events=self.on_events, on_result=self.on_result, on_error=self.on_error, on_done=self.on_done)


@pytest.fixture
def jobs(qapp):
    runner = JobRunner()
    yield runner
    runner.join_all()


def count(n: int, gate: threading.Event | None = None):
    for i in range(n):
        if gate is not None:
            gate.wait(5)
        yield i
    return n * 10


def endless(started: threading.Event, *, stop: threading.Event):
    """A cooperative job: yields until asked to stop, then returns what it reached."""
    i = 0
    started.set()
    while not stop.is_set():
        yield i
        i += 1
        stop.wait(0.002)
    return ("stopped", i)


def test_a_job_reports_progress_and_its_result_on_the_gui_thread(qtbot, jobs):
    rec = Recorder()
    job = jobs.start("count", count, 5, throttle=Throttle(interval=0), **rec.callbacks())
    assert isinstance(job, Job) and jobs.running("count") and jobs.busy
    qtbot.waitUntil(lambda: rec.done == 1, timeout=TIMEOUT_MS)
    assert rec.items == [0, 1, 2, 3, 4]
    assert rec.results == [50] and rec.errors == []
    assert rec.threads == {QThread.currentThread()}  # the GUI thread, never the job's
    assert not jobs.busy


def test_a_failing_job_sends_one_line_and_still_ends(qtbot, jobs):
    def boom():
        yield 1
        raise ValueError("the data has 3 columns, expected 2")

    rec = Recorder()
    jobs.start("boom", boom, throttle=Throttle(interval=0), **rec.callbacks())
    qtbot.waitUntil(lambda: rec.done == 1, timeout=TIMEOUT_MS)
    assert rec.results == []
    assert len(rec.errors) == 1 and "3 columns" in rec.errors[0] and "\n" not in rec.errors[0]


def test_a_non_generator_is_refused_at_once(jobs):
    with pytest.raises(TypeError, match="not a generator"):
        jobs.start("plain", lambda: 3)


def test_cancel_a_cooperative_job_gets_its_partial_result(qtbot, jobs):
    rec, started = Recorder(), threading.Event()
    job = jobs.start("endless", endless, started, cooperative=True, throttle=Throttle(interval=0), **rec.callbacks())
    assert started.wait(5)
    qtbot.waitUntil(lambda: len(rec.items) >= 3, timeout=TIMEOUT_MS)
    jobs.stop("endless")
    assert job.stopping
    qtbot.waitUntil(lambda: rec.done == 1, timeout=TIMEOUT_MS)
    assert rec.results and rec.results[0][0] == "stopped" and rec.results[0][1] >= 3


def test_cancel_a_plain_job_abandons_it_at_its_next_yield_and_runs_its_finally(qtbot, jobs):
    cleaned = threading.Event()

    def forever():
        try:
            while True:
                yield 0
        finally:
            cleaned.set()

    rec = Recorder()
    jobs.start("forever", forever, throttle=Throttle(interval=0), **rec.callbacks())
    qtbot.waitUntil(lambda: bool(rec.items), timeout=TIMEOUT_MS)
    jobs.stop("forever")
    qtbot.waitUntil(lambda: rec.done == 1, timeout=TIMEOUT_MS)
    assert cleaned.is_set() and rec.results == [] and rec.errors == []


def test_pause_holds_the_job_at_a_yield_and_resume_continues(qtbot, jobs):
    gate = threading.Event()
    rec = Recorder()
    job = jobs.start("count", count, 50, gate, throttle=Throttle(interval=0), **rec.callbacks())
    jobs.pause(job)  # asked while the generator is held inside its first item: honoured at that item's yield
    gate.set()
    qtbot.waitUntil(lambda: job.is_paused, timeout=TIMEOUT_MS)
    qtbot.wait(50)  # the items yielded before the pause took hold arrive
    held = len(rec.items)
    qtbot.wait(100)
    assert len(rec.items) == held and job.paused  # nothing moves while paused
    jobs.resume(job)
    qtbot.waitUntil(lambda: rec.done == 1, timeout=TIMEOUT_MS)
    assert rec.items == list(range(50)) and rec.results == [500]


def test_a_stop_wins_over_a_pause(qtbot, jobs):
    rec, started = Recorder(), threading.Event()
    job = jobs.start("endless", endless, started, cooperative=True, **rec.callbacks())
    assert started.wait(5)
    jobs.pause(job)
    qtbot.waitUntil(lambda: job.is_paused, timeout=TIMEOUT_MS)
    jobs.stop("endless")
    qtbot.waitUntil(lambda: rec.done == 1, timeout=TIMEOUT_MS)
    assert rec.results[0][0] == "stopped"


def test_a_writer_waits_for_readers_it_preempts_and_a_reader_is_refused_while_it_writes(qtbot, jobs):
    started = threading.Event()
    reader, writer = Recorder(), Recorder()
    jobs.start("bound", endless, started, cooperative=True, reads={MODEL}, **reader.callbacks())
    assert started.wait(5)
    assert jobs.start("train", count, 3, writes={MODEL}) is None  # conflicts, not preempting: refused
    training = jobs.start("train", count, 3, writes={MODEL}, preempt=True, **writer.callbacks())
    assert training is not None and not training.started_running  # waits for the reader to end
    qtbot.waitUntil(lambda: writer.done == 1, timeout=TIMEOUT_MS)
    assert reader.done == 1 and reader.results[0][0] == "stopped"
    assert writer.results == [30]


def test_an_owner_that_closes_mid_run_stops_and_joins_only_its_jobs(qtbot, jobs):
    """What MainWindow.closeEvent does: stop the owner's jobs and join them, without an event loop; another
    owner's job carries on."""
    owner, other = QObject(), QObject()
    mine, theirs = Recorder(), Recorder()
    s1, s2 = threading.Event(), threading.Event()
    jobs.start("sample", endless, s1, cooperative=True, owner=owner, **mine.callbacks())
    jobs.start("race", endless, s2, cooperative=True, owner=other, **theirs.callbacks())
    assert s1.wait(5) and s2.wait(5)
    jobs.stop(owner=owner)
    jobs.join(owner=owner)  # returns once the owner's job has ended; delivers its result and on_done here
    assert mine.done == 1 and mine.results[0][0] == "stopped"
    assert theirs.done == 0 and jobs.running("race")
    del owner  # the owner is gone: the other job's callbacks still arrive
    jobs.stop("race")
    qtbot.waitUntil(lambda: theirs.done == 1, timeout=TIMEOUT_MS)


def test_a_throttle_batches_and_latest_only_keeps_the_last(qtbot, jobs):
    gate = threading.Event()
    rec = Recorder()
    batches: list[list] = []

    def on_events(items):
        batches.append(list(items))
        rec.on_events(items)

    job = jobs.start("frames", count, 200, gate, throttle=Throttle(interval=10.0, latest_only=True),
                     on_events=on_events, on_done=rec.on_done)
    assert job is not None
    gate.set()
    qtbot.waitUntil(lambda: rec.done == 1, timeout=TIMEOUT_MS)
    assert rec.items[-1] == 199  # the end always flushes the latest
    assert len(rec.items) < 200  # and a 10 s interval let no burst through item by item
