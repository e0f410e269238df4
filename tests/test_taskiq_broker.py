"""The taskiq worker's wait for a message, on the test session's own Redis."""

import asyncio
import time
import uuid

from redis.asyncio import Redis
from redis._defaults import DEFAULT_SOCKET_TIMEOUT

from bench.architectures.async_queue import PollingListQueueBroker


def test_a_worker_waits_past_the_socket_timeout_on_an_empty_queue_and_gets_the_next_message(services):
    # taskiq-redis's own listen died here of redis-py's TimeoutError after its 5 s socket timeout, and with
    # it the worker process (a ~3 s restart in the middle of a step; a 200/s step achieved 556/s once).
    queue = f"bench-test-{uuid.uuid4().hex}"
    idle_s = DEFAULT_SOCKET_TIMEOUT + 1.5

    async def wait_for_one() -> tuple[bytes, float]:
        broker = PollingListQueueBroker(url=services.broker_url, queue_name=queue)

        async def push_later() -> None:
            await asyncio.sleep(idle_s)
            async with Redis(connection_pool=broker.connection_pool) as redis:
                await redis.lpush(queue, b"the next message")

        pusher = asyncio.create_task(push_later())
        started = time.monotonic()
        try:
            async for message in broker.listen():
                return message, time.monotonic() - started
        finally:
            await pusher
            await broker.shutdown()

    message, waited_s = asyncio.run(asyncio.wait_for(wait_for_one(), timeout=idle_s + 10))
    assert message == b"the next message"
    assert waited_s >= idle_s - 0.1
