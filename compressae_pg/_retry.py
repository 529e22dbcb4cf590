"""How work on a live table treats it: short timeouts, and a backoff and retry when a lock is not had in time.

Shared by the backfill's batches, a re-compression's swap and a partitioned index's catalog steps; no torch.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from psycopg import errors

from ._defaults import BATCH_SIZE, LOCK_TIMEOUT, MAX_RETRIES, SLEEP, STATEMENT_TIMEOUT
from .errors import RetriesExhaustedError

T = TypeVar("T")
RETRYABLE = (errors.LockNotAvailable, errors.QueryCanceled, errors.DeadlockDetected, errors.SerializationFailure)


@dataclass(frozen=True)
class Limits:
    """How a backfill treats the live table."""

    batch_size: int = BATCH_SIZE
    lock_timeout: str = LOCK_TIMEOUT
    statement_timeout: str = STATEMENT_TIMEOUT
    sleep: float = SLEEP
    max_retries: int = MAX_RETRIES
    backoff: float = 0.05
    backoff_cap: float = 5.0


def retrying(step: Callable[[], T], limits: Limits, stop: threading.Event, on_retry: Callable[[], None] = lambda: None) -> T:
    """Run ``step``; on a lock/statement timeout, deadlock or serialization failure, back off and retry.

    The wait doubles from ``limits.backoff`` up to ``limits.backoff_cap`` (with jitter); after
    ``limits.max_retries`` retries, or once ``stop`` is set, RetriesExhaustedError is raised.
    """
    failures = 0
    while True:
        try:
            return step()
        except RETRYABLE as exc:
            failures += 1
            on_retry()
            if failures > limits.max_retries or stop.is_set():
                raise RetriesExhaustedError(f"gave up after {failures} attempts: {exc}".strip()) from exc
            delay = min(limits.backoff_cap, limits.backoff * 2 ** (failures - 1))
            stop.wait(delay * random.uniform(0.5, 1.0))
