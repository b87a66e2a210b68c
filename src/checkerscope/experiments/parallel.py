"""Per-seed work in worker processes, with results that depend on neither jobs nor threads.

Every task runs with exactly :data:`THREADS_PER_TASK` torch thread, in a forked worker or, with
one job, in the calling process, and starts from global random states seeded from its own
index (:func:`task_seed`); so a task computes the same numbers whichever worker runs it, how
many workers there are and how many threads the caller's torch had. Parallelism comes from
processes only: on a shared machine a process per free core, one thread each, never spins
against its neighbours the way a pool of OpenMP threads does (see ``benchmarks/busy_neighbour.py``).

Workers are forked, so a task is any callable (a closure over tensors is fine: the worker gets
a copy of the caller's memory); its result travels back pickled, tensors included. Workers die
with the process that forked them (Linux), so a killed run leaves no orphan writing checkpoints.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import pickle
import random
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch

from checkerscope import checks as v

T = TypeVar("T")
R = TypeVar("R")

THREADS_PER_TASK = 1
"""Torch threads of every task, in workers and in the calling process alike."""

_TASKS: tuple[Callable[[Any], Any], Sequence[Any], int] | None = None
_IN_WORKER = False


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _cpu_times() -> tuple[int, int] | None:
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return idle, sum(fields[:8])


def free_cores(sample_s: float = 0.3) -> int:
    """CPUs idle right now, between 1 and :func:`cpu_count`: ``--jobs``'s default.

    Reads the machine's idle time from ``/proc/stat`` over ``sample_s`` seconds (elsewhere the
    1-minute load average), so a neighbour busy on one core of two leaves one.

    Example:
        >>> 1 <= free_cores(0.05) <= cpu_count()
        True
    """
    cpus = cpu_count()
    first = _cpu_times()
    if first is not None:
        time.sleep(sample_s)
        second = _cpu_times()
        assert second is not None
        idle, total = second[0] - first[0], second[1] - first[1]
        online = os.cpu_count() or cpus
        free = idle / total * online if total > 0 else cpus
    else:
        try:
            free = cpus - os.getloadavg()[0]
        except OSError:
            free = cpus
    return max(1, min(cpus, round(free)))


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def task_seed(seed: int, index: int) -> int:
    """The seed of the global random states when task ``index`` of a map seeded ``seed`` starts.

    Example:
        >>> task_seed(7, 0) != task_seed(7, 1)
        True
    """
    return (seed * 1_000_003 + 7919 * (index + 1)) % 2**31


@dataclass(frozen=True)
class Done:
    """One finished task: its index, its result and the seconds it ran."""

    index: int
    result: Any
    seconds: float


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _init_worker(parent: int) -> None:
    global _IN_WORKER
    _IN_WORKER = True
    _die_with_parent(parent)
    torch.set_num_threads(THREADS_PER_TASK)


def _call(fn: Callable[[Any], Any], item: Any, seed: int, index: int) -> tuple[Any, float]:
    start = time.perf_counter()
    seed_everything(task_seed(seed, index))
    result = fn(item)
    return result, time.perf_counter() - start


def _worker_task(index: int) -> tuple[int, bool, Any, float]:
    assert _TASKS is not None
    fn, items, seed = _TASKS
    try:
        result, seconds = _call(fn, items[index], seed, index)
        return index, True, pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL), seconds
    except Exception as err:
        text = traceback.format_exc()
        try:
            payload: bytes | None = pickle.dumps(err)
        except Exception:
            payload = None
        return index, False, (payload, text), 0.0


def _raise_from_worker(payload: bytes | None, text: str) -> None:
    err: BaseException
    try:
        err = pickle.loads(payload) if payload is not None else RuntimeError(text)
    except Exception:
        err = RuntimeError(text)
    if hasattr(err, "add_note"):
        err.add_note(f"in a worker process:\n{text}")
    raise err


@functools.cache
def warm_up() -> None:
    """Load, once in the calling process, what torch and scipy load lazily on first use, so
    that forked workers inherit it instead of each paying for it (the first optimizer alone
    imports torch._dynamo: about 2 s per process)."""
    import scipy.stats  # noqa: F401

    torch.optim.Adam([torch.zeros(1, requires_grad=True)])


def in_worker() -> bool:
    """True inside a worker of :func:`imap`: nested maps run in the worker itself."""
    return _IN_WORKER


def imap(fn: Callable[[T], R], items: Sequence[T], jobs: int, seed: int) -> Iterator[Done]:
    """``fn(item)`` for every item, in up to ``jobs`` forked workers; yields :class:`Done` in
    completion order.

    Each task gets one torch thread and global random states seeded with
    ``task_seed(seed, index)``. With ``jobs == 1``, one item, or inside a worker, the tasks run
    here, one after the other, the same way. An exception in a task is raised here (with the
    worker's traceback as a note).

    Example:
        >>> sorted(d.result for d in imap(lambda x: x * x, [1, 2, 3], jobs=2, seed=0))
        [1, 4, 9]
    """
    global _TASKS
    jobs = v.positive_int("jobs", jobs)
    if jobs == 1 or len(items) <= 1 or _IN_WORKER or "fork" not in _start_methods():
        before = torch.get_num_threads()
        torch.set_num_threads(THREADS_PER_TASK)
        try:
            for index, item in enumerate(items):
                result, seconds = _call(fn, item, seed, index)
                yield Done(index, result, seconds)
        finally:
            torch.set_num_threads(before)
        return
    warm_up()
    _TASKS = (fn, items, seed)
    context = multiprocessing.get_context("fork")
    try:
        workers = min(jobs, len(items))
        with context.Pool(workers, initializer=_init_worker, initargs=(os.getpid(),)) as pool:
            for index, ok, payload, seconds in pool.imap_unordered(_worker_task, range(len(items))):
                if not ok:
                    _raise_from_worker(*payload)
                yield Done(index, pickle.loads(payload), seconds)
    finally:
        _TASKS = None


def _start_methods() -> list[str]:
    return multiprocessing.get_all_start_methods()
