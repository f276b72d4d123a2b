"""Running a stage of the run on its own thread, joined to the next by a small bounded queue.

:class:`Background` turns a producer (an iterator) into items the consumer takes in order, with back-pressure
(the producer waits while the queue is full, so memory stays flat whatever the length), errors raised in the
consumer, and a clean stop: :meth:`Background.close` (or leaving a ``with`` block) tells the producer to stop,
wakes it if it waits on the queue, and joins the thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")
_DONE = object()


class Stopped(Exception):
    """Raised inside a producer (by :meth:`Background.check`) once the consumer has gone away."""


class Background(Generic[T]):
    """Items of ``produce(check)`` computed on a thread, ``ahead`` items ahead of the consumer at most.

    ``produce`` receives ``check``, a function that raises :class:`Stopped` once the consumer has closed the
    stage: long producers call it between steps so a cancelled run stops promptly.
    """

    def __init__(self, produce: Callable[[Callable[[], None]], Iterator[T]], ahead: int = 1, name: str = "stage"):
        self._queue: queue.Queue = queue.Queue(maxsize=ahead)
        self._stop = threading.Event()
        self._produce = produce
        self._thread = threading.Thread(target=self._run, name=f"joyvasa-{name}", daemon=True)
        self._thread.start()

    def check(self) -> None:
        if self._stop.is_set():
            raise Stopped

    def _put(self, item: object) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise Stopped

    def _run(self) -> None:
        try:
            for item in self._produce(self.check):
                self._put(item)
            self._put(_DONE)
        except Stopped:
            pass
        except BaseException as exc:  # handed to the consumer, which raises it
            try:
                self._put(exc)
            except Stopped:
                pass

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        """Stop the producer and wait for its thread to end."""
        self._stop.set()
        while self._thread.is_alive():
            try:  # make room for a producer blocked on a full queue
                self._queue.get_nowait()
            except queue.Empty:
                pass
            self._thread.join(timeout=0.05)

    def __enter__(self) -> Background[T]:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class Sink(Generic[T]):
    """``consume(item)`` for every item :meth:`put`, on a thread, ``ahead`` items behind the producer at most.

    :meth:`put` waits while the queue is full (back-pressure) and raises the consumer's error, if any;
    :meth:`finish` waits for everything put to be consumed; :meth:`close` stops at once (items still queued are
    dropped) and joins the thread.
    """

    def __init__(self, consume: Callable[[T], None], ahead: int = 2, name: str = "sink") -> None:
        self._consume = consume
        self._queue: queue.Queue = queue.Queue(maxsize=ahead)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"joyvasa-{name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is _DONE:
                return
            try:
                self._consume(item)
            except BaseException as exc:  # raised in the producer by put() or finish()
                self._error = exc
                return

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def put(self, item: T) -> None:
        while True:
            self._raise()
            if not self._thread.is_alive():
                raise Stopped
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def finish(self) -> None:
        """Wait until every item put has been consumed; raise the consumer's error, if any."""
        self.put(_DONE)  # type: ignore[arg-type]
        self._thread.join()
        self._raise()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
