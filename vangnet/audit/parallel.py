"""Replaying many episodes in several processes: one `CaseReplayer` per worker process.

Replay is CPU-bound Python, so one process replays on one core; `ParallelReplayer` spreads the
episodes over `jobs` spawned worker processes while the calling process goes on fetching
histories and building the reports. Each run's history crosses to a worker as serialized
protobuf (≈ 20 kB for a full lifecycle; its JSON would be 75 kB and cost ≈ 10 ms to write and read
back), and only the outcome comes back: the failures and the case state.

    with ParallelReplayer(jobs=2) as replayer:
        async for episode in replayer.replay_many(episodes):   # same interface as CaseReplayer
            ...
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from temporalio.api.history.v1 import History
from temporalio.client import WorkflowHistory

from vangnet.audit.history import Run, make_run
from vangnet.audit.replay import CaseReplayer, ReplayedEpisode

# One episode per task; this many tasks per process are queued, so no worker waits for the next.
TASKS_PER_PROCESS = 2


def default_jobs() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class ParallelReplayer:
    """Replays episodes in `jobs` worker processes (started on first use, stopped by `close`)."""

    def __init__(
        self, jobs: int, workflows: Sequence[type] | None = None, *, sandboxed: bool = False
    ) -> None:
        """`workflows`: as for CaseReplayer; the classes must be importable by module and name
        (they are pickled by reference)."""
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, not {jobs}")
        self.jobs = jobs
        self._init_args = (list(workflows) if workflows is not None else None, sandboxed)
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> ParallelReplayer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _workers(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.jobs,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=self._init_args,
            )
        return self._pool

    async def replay_many(
        self, episodes: AsyncIterator[list[Run]]
    ) -> AsyncIterator[ReplayedEpisode]:
        """Replay episodes as they arrive; yields one result per episode, in the order they are
        done (a long episode holds up no other)."""
        pool = self._workers()
        slots = asyncio.Semaphore(TASKS_PER_PROCESS * self.jobs)  # episodes in flight
        running: dict[asyncio.Future[Any], list[Run]] = {}
        finished: asyncio.Queue[asyncio.Future[Any] | None] = asyncio.Queue()

        def done(task: asyncio.Future[Any]) -> None:
            slots.release()
            finished.put_nowait(task)

        async def submit() -> None:
            try:
                async for runs in episodes:
                    await slots.acquire()
                    histories = [_serialize(r.history) for r in runs]
                    task = asyncio.wrap_future(
                        pool.submit(_replay_in_worker, runs[0].case_id, histories)
                    )
                    running[task] = runs
                    task.add_done_callback(done)
            finally:
                finished.put_nowait(None)

        feeder = asyncio.create_task(submit())
        try:
            fed = False
            while not fed or running:
                task = await finished.get()
                if task is None:
                    fed = True
                    continue
                runs = running.pop(task)
                failures, state = task.result()
                yield ReplayedEpisode(
                    case_id=runs[0].case_id, runs=runs, failures=failures, state=state
                )
            await feeder  # the episodes' own iterator may have failed
        finally:
            feeder.cancel()
            for task in running:  # stopped early: drop what is still under way
                _discard(task)


def _discard(task: asyncio.Future[Any]) -> None:
    if not task.cancel() and not task.cancelled():  # done: take its exception, unreported else
        task.exception()


def _serialize(history: WorkflowHistory) -> bytes:
    return History(events=history.events).SerializeToString()


# ---------------------------------------------------------------------------------------------
# In a worker process
# ---------------------------------------------------------------------------------------------

_loop: asyncio.AbstractEventLoop | None = None
_replayer: CaseReplayer | None = None


def _start_worker(workflows: list[type] | None, sandboxed: bool) -> None:
    global _loop, _replayer
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent, which stops us
    _loop = asyncio.new_event_loop()
    asyncio.set_event_loop(_loop)
    _replayer = CaseReplayer(workflows, quiet=True, sandboxed=sandboxed)


def _replay_in_worker(
    case_id: str, histories: list[bytes]
) -> tuple[dict[str, str], dict[str, Any] | None]:
    """Replay the runs of one episode; their failures (by run id) and the final case state."""
    assert _loop is not None and _replayer is not None, "not started by ParallelReplayer"
    runs = [make_run(WorkflowHistory(case_id, list(History.FromString(h).events)), "worker")
            for h in histories]
    episode = _loop.run_until_complete(_replayer.replay(runs))
    return episode.failures, episode.state
