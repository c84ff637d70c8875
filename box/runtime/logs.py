"""Log lines of the core thread leave it through a queue: formatting and writing them (stderr,
journald, a slow SD card) happen on a listener thread, so the alarm path never waits on a log
handler. The alarm transition lines are the ones written from the core thread."""

from __future__ import annotations

import logging
import logging.handlers
import queue

CORE_LOGGERS = ("box.alarms.transitions",)


class CoreLog:
    """Reroutes the core thread's loggers through a queue while started."""

    def __init__(self, names: tuple[str, ...] = CORE_LOGGERS) -> None:
        self.names = names
        self._listener: logging.handlers.QueueListener | None = None
        self._handler: _PassOn | None = None

    def start(self) -> None:
        if self._listener is not None:
            return
        q: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        self._handler = _PassOn(q)
        # The records go on to wherever the root logger writes (console, journald, JSON lines).
        self._listener = logging.handlers.QueueListener(q, _ToRoot(), respect_handler_level=False)
        for name in self.names:
            logger = logging.getLogger(name)
            logger.addHandler(self._handler)
            logger.propagate = False
        self._listener.start()

    def stop(self) -> None:
        """Write what is queued, then route the loggers back to the root logger."""
        if self._listener is None or self._handler is None:
            return
        for name in self.names:
            logger = logging.getLogger(name)
            logger.removeHandler(self._handler)
            logger.propagate = True
        self._listener.stop()
        self._listener = self._handler = None


class _PassOn(logging.handlers.QueueHandler):
    """Queues the record as it is. The stock handler formats it first (for a queue to another
    process), which is the very work that should leave the core thread: the listener's
    handlers format it. The records' arguments are finished strings and numbers."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


class _ToRoot(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        root = logging.getLogger()
        if record.levelno >= root.getEffectiveLevel():
            root.handle(record)
