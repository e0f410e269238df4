"""basic.publish to the default exchange, with the frames encoded once and written on the socket.

py-amqp's basic_publish encodes the method, every property (the headers table in Python) and the
body for each message, then writes through gevent's socket: 0.16 ms of CPU per message at 200/s on a
2-core VM, taken by the load generator from the workers it measures. Here py-amqp makes the
connection and the channel; the method frame, and every property that is the same for all messages,
are encoded once with py-amqp's own serializer; per message only the per-message properties and
headers (a task's ids) and the body go in, and the three frames go out in one write on the socket's
file descriptor (bench/architectures/raw_socket.py). Like Celery's publish, without confirms.
"""

from __future__ import annotations

from struct import pack
from urllib.parse import unquote, urlsplit

from amqp.basic_message import Message
from amqp.serialization import dumps

from bench.architectures.raw_socket import RawSocket

METHOD_FRAME, HEADER_FRAME, BODY_FRAME, FRAME_END = 1, 2, 3, b"\xce"
BASIC_CLASS, BASIC_PUBLISH = 60, 40
FRAME_OVERHEAD = 8
"""A frame's type, channel and size before its payload, and its end octet after."""


def frame(kind: int, channel: int, payload: bytes) -> bytes:
    return pack(">BHI", kind, channel, len(payload)) + payload + FRAME_END


def shortstr(text: str) -> bytes:
    data = text.encode()
    return bytes([len(data)]) + data


class TableTemplate:
    """A field table whose `variable` keys hold strings that change per message, the rest fixed."""

    def __init__(self, table: dict, variable: set[str]) -> None:
        self._parts: list[bytes | str] = []
        fixed = b""
        for key, value in table.items():
            if key in variable:
                self._parts += [fixed + shortstr(key) + b"S", key]
                fixed = b""
            else:
                fixed += dumps("F", [{key: value}])[4:]  # the item without the table's length
        self._parts.append(fixed)

    def encode(self, values: dict[str, str]) -> bytes:
        """The table with its length, as an 'F' property or field."""
        items = b"".join(part if isinstance(part, bytes) else _longstr(values[part]) for part in self._parts)
        return pack(">I", len(items)) + items


def _longstr(text: str) -> bytes:
    data = text.encode()
    return pack(">I", len(data)) + data


class Publisher:
    """Publishes to `queue` through the default exchange, with `properties` fixed for all messages but
    the headers (a TableTemplate) and correlation_id, given per message."""

    def __init__(self, broker_url: str, queue: str, properties: dict, headers: TableTemplate) -> None:
        import amqp

        parts = urlsplit(broker_url)
        self._connection = amqp.Connection(
            host=f"{parts.hostname}:{parts.port or 5672}",
            userid=unquote(parts.username or "guest"),
            password=unquote(parts.password or "guest"),
            virtual_host=unquote(parts.path[1:]) if len(parts.path) > 1 else "/",
        )
        self._connection.connect()
        channel = self._connection.channel()
        # The workers declared the queue; to the default exchange, a message for no queue would vanish.
        channel.queue_declare(queue, passive=True)
        self._channel = channel.channel_id
        self._body_max = self._connection.frame_max - FRAME_OVERHEAD
        self._headers = headers
        self._method = frame(
            METHOD_FRAME,
            self._channel,
            pack(">HHH", BASIC_CLASS, BASIC_PUBLISH, 0) + shortstr("") + shortstr(queue) + b"\x00",
        )  # exchange, routing key, no mandatory/immediate
        self._properties = _properties_parts(properties)
        self._socket = RawSocket(self._connection.transport.sock)

    def frames(self, body: bytes, correlation_id: str, headers: dict[str, str]) -> bytes:
        """The message's three frames, ready to write."""
        if len(body) > self._body_max:  # one body frame is all Celery's small messages need here
            raise ValueError(f"a body of {len(body)} bytes is over the frame size ({self._body_max})")
        per_message = {"application_headers": self._headers.encode(headers), "correlation_id": shortstr(correlation_id)}
        properties = b"".join(part if isinstance(part, bytes) else per_message[part] for part in self._properties)
        header = frame(HEADER_FRAME, self._channel, pack(">HHQ", BASIC_CLASS, 0, len(body)) + properties)
        return self._method + header + frame(BODY_FRAME, self._channel, body)

    def write(self, frames: bytes) -> None:
        self._socket.write(frames)


def _properties_parts(fixed: dict) -> list[bytes | str]:
    """The header frame's property flags and list, in py-amqp's order of the basic class's properties:
    bytes where fixed, the property's name where it comes per message."""
    present = {**fixed, "application_headers": None, "correlation_id": None}
    flags, parts = 0, []
    for bit, (name, kind) in zip(range(15, 0, -1), Message.PROPERTIES):
        if name in present:
            flags |= 1 << bit
            parts.append(name if present[name] is None else dumps(kind, [present[name]]))
    return [pack(">H", flags), *parts]
