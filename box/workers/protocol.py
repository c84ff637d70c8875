"""Messages between parent and child, and a decoder that builds only allowed classes.

Every message is a tuple whose first item is its tag. The child pickles what it sends; the
parent unpickles with :class:`RestrictedDecoder`, so a confused or compromised worker can send
wrong data (counted as garbage) but cannot make the parent construct arbitrary objects.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Iterable
from typing import Any

# child -> parent
HELLO = "hello"  # (HELLO, pid): the worker function was imported and is about to run
HEARTBEAT = "hb"  # (HEARTBEAT,): still making progress
RECORDS = "records"  # (RECORDS, [record, ...])
ERROR = "error"  # (ERROR, "Type: message", traceback text): the worker raised, exit follows
# parent -> child
STOP = "stop"  # (STOP,)
FRAME = "frame"  # (FRAME, slot, generation)

CHILD_TAGS = frozenset({HELLO, HEARTBEAT, RECORDS, ERROR})


class BadMessage(ValueError):
    """What arrived is not a message of the protocol; the text says what was wrong."""


def encode(message: tuple[Any, ...]) -> bytes:
    return pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)


class RestrictedDecoder:
    """Unpickles messages whose only classes are the allowed record (and field) types."""

    def __init__(self, allowed: Iterable[type]) -> None:
        self._allowed = {(cls.__module__, cls.__qualname__): cls for cls in allowed}

    def decode(self, data: bytes) -> tuple[Any, ...]:
        allowed = self._allowed

        class _Unpickler(pickle.Unpickler):
            def find_class(self, module: str, name: str) -> Any:
                cls = allowed.get((module, name))
                if cls is None:
                    raise BadMessage(f"class {module}.{name} is not an allowed record type")
                return cls

        try:
            message = _Unpickler(io.BytesIO(data)).load()
        except BadMessage:
            raise
        except Exception as exc:  # noqa: BLE001 - any decoding failure is the sender's fault
            raise BadMessage(f"undecodable message ({type(exc).__name__}: {exc})") from None
        if not (isinstance(message, tuple) and message and message[0] in CHILD_TAGS):
            raise BadMessage(f"not a protocol message: {_short(message)}")
        return message


def _short(obj: object, limit: int = 80) -> str:
    text = repr(obj)
    return text if len(text) <= limit else text[: limit - 3] + "..."
