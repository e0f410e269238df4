"""Runs coroutines for gevent greenlets, for producers whose library is asyncio-only (taskiq).

One asyncio loop runs in a greenlet of its own; under gevent's monkey-patching its selector waits
cooperatively, so the loop and Locust's users share the thread. A user hands a coroutine over
and waits on a gevent AsyncResult, which the loop fills when the coroutine ends.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

import gevent
from gevent.event import AsyncResult


class AsyncioBridge:
    def __init__(self, startup: Callable[[], Awaitable[Any]] | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        started = AsyncResult()
        self._greenlet = gevent.spawn(self._run, startup, started)
        started.get(timeout=30)

    def _run(self, startup, started: AsyncResult) -> None:
        asyncio.set_event_loop(self.loop)
        if startup is not None:
            self.loop.run_until_complete(startup())
        started.set(True)
        self.loop.run_forever()

    def call(self, make_coroutine: Callable[[], Awaitable[Any]], timeout_s: float = 30) -> Any:
        """Run `make_coroutine()` on the loop; block this greenlet (only) until it is done."""
        result = AsyncResult()

        def done(future: asyncio.Future) -> None:
            if future.exception() is not None:
                result.set_exception(future.exception())
            else:
                result.set(future.result())

        def submit() -> None:
            asyncio.ensure_future(make_coroutine(), loop=self.loop).add_done_callback(done)

        self.loop.call_soon_threadsafe(submit)
        return result.get(timeout=timeout_s)
