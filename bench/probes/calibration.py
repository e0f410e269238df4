"""Per-call costs measured at the start of a run, for the capacity model (bench/model.py).

- async_to_sync_ms: one `async_to_sync(noop)()` call, which starts a thread and an event loop;
- scram_client_ms: one PBKDF2-HMAC-SHA256 of 4096 iterations, the CPU a SCRAM login costs the client
  (the server keeps derived keys and only checks HMACs).
Medians of repeated calls in bench's own process, on this machine.
"""

from __future__ import annotations

import hashlib
import statistics
import time

from asgiref.sync import async_to_sync

SCRAM_ITERATIONS = 4096  # PostgreSQL's scram_iterations default


async def _noop() -> None:
    return None


def _median_ms(call, times: int) -> float:
    samples = []
    for _ in range(times):
        started = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - started) / 1e6)
    return statistics.median(samples)


def calibrate() -> dict[str, float]:
    bridge = async_to_sync(_noop)
    return {
        "async_to_sync_ms": round(_median_ms(bridge, 200), 4),
        "scram_client_ms": round(_median_ms(
            lambda: hashlib.pbkdf2_hmac("sha256", b"password", b"0123456789abcdef", SCRAM_ITERATIONS), 30), 4),
    }
