"""The decision log with its writer in a process of its own.

In the service, the writer thread's work (chaining, inserting, committing: ~12 us of Python
per record) competed with the event loop for the GIL, and a batch's records could only be
written after the loop had made all of them (bench/serve.py). Here the caller encodes its
records and sends them down a pipe; a child process (``python -m
riskline.decisions._child``) runs an ordinary ``GroupCommitLog`` on the same database and
answers each group with its outcomes once committed. Reads go to the database directly.

The child opens the log itself and answers ``ready`` first. It ignores SIGINT and SIGTERM
(they reach the whole process group) and stops when the pipe from its parent closes: after a
``close``, or when the parent dies; it commits what it has read before stopping (records
never acknowledged, which a retry gets back as duplicates). If the child dies, the groups in
flight fail with ``DecisionLogUnavailableError`` (nothing unacknowledged is lost) and the
next submission starts a new child.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Self

from riskline.decisions._chain import encode
from riskline.decisions._grouplog import Committer, LogReads, Outcome, Reader, _Group
from riskline.decisions._records import DecisionRecord
from riskline.errors import DecisionLogUnavailableError

_HEADER = struct.Struct("<Q")
_STOP_TIMEOUT_S = 60.0
_PIPE_BYTES = 1 << 20  # a batch's chunk fits whole: the caller never waits on a full pipe


class ProcessLog(LogReads):
    """A ``DecisionLog`` whose writer is a child process; build it with ``start``."""

    def __init__(self, url: str, schema: str | None, reader: Reader) -> None:
        super().__init__(reader)
        self._target = (url, schema)
        self._lock = threading.Lock()  # one sender at a time; the child's lifecycle
        self._closed = False
        self._child: _Child | None = None

    @classmethod
    def start(cls, url: str, schema: str | None, reader: Reader) -> Self:
        """Start the child on the log at ``url``; raises ``DecisionLogUnavailableError`` if
        it cannot open it."""
        log = cls(url, schema, reader)
        try:
            log._child = _Child.start(log._target)
        except BaseException:
            reader.close()
            raise
        return log

    def submit(self, record: DecisionRecord) -> Future[int]:
        group = _Group([encode(record)], single=True)
        self._send(group)
        return group.future  # type: ignore[return-value]  # single: the seq itself

    def submit_many(self, records: Sequence[DecisionRecord]) -> Future[list[Outcome]]:
        group = _Group([encode(r) for r in records], single=False)
        self._send(group)
        return group.future

    @property
    def writer_pid(self) -> int | None:
        """The writer process's id (None once closed)."""
        child = self._child
        return None if child is None else child.pid

    def close(self) -> None:
        """Let the child commit what it has, answer it, and stop; then close the reads."""
        with self._lock:
            self._closed = True
            child, self._child = self._child, None
        if child is not None:
            child.stop()
        self._reader.close()

    def _send(self, group: _Group) -> None:
        if not group.records:
            group.future.set_result([])
            return
        frame = pickle.dumps(group.records, protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            if self._closed:
                raise DecisionLogUnavailableError(
                    "the decision log is closed; open it again to append."
                )
            if self._child is None or not self._child.alive:
                self._child = _Child.start(self._target)  # the last one died; its groups failed
            self._child.send(group, frame)


class _Child:
    """One writer process: the pipe to it, the pipe back, and the thread reading answers
    into the groups sent to it."""

    def __init__(self, process: subprocess.Popen[bytes], down: int, up: int) -> None:
        self._process = process
        self._down = down
        self._up = up
        self._lock = threading.Lock()  # the groups in flight and ``alive``
        self._groups: dict[int, _Group] = {}
        self._next = 0
        self.alive = True
        self._answers = threading.Thread(target=self._read, name="decision-log-answers")
        self._answers.daemon = True

    @classmethod
    def start(cls, target: tuple[str, str | None]) -> _Child:
        down_r, down_w = os.pipe()
        up_r, up_w = os.pipe()
        with contextlib.suppress(OSError):  # best effort: /proc/sys/fs/pipe-max-size bounds it
            fcntl.fcntl(down_w, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        process = subprocess.Popen(
            [sys.executable, "-m", "riskline.decisions._child", str(down_r), str(up_w)],
            pass_fds=(down_r, up_w),
            stdin=subprocess.DEVNULL,
        )
        os.close(down_r)
        os.close(up_w)
        child = cls(process, down_w, up_r)
        try:
            _write_frame(down_w, pickle.dumps(target))
            ready = _read_frame(up_r)  # the child opened the log, or says why not
        except BaseException:
            child._stop_process()
            os.close(up_r)
            raise
        if ready != b"ready":
            child._stop_process()
            os.close(up_r)
            why = ready.decode(errors="replace") if ready else "it exited"
            raise DecisionLogUnavailableError(
                f"the decision log's writer process could not open the log: {why}"
            )
        child._answers.start()
        return child

    @property
    def pid(self) -> int:
        return self._process.pid

    def send(self, group: _Group, frame: bytes) -> None:
        """Send ``group`` (its records pickled as ``frame``); its future resolves with the
        child's answer, or fails if the child stops first."""
        with self._lock:
            if not self.alive:
                raise DecisionLogUnavailableError(_STOPPED.format("before this group was sent"))
            gid = self._next = self._next + 1
            self._groups[gid] = group
        try:
            _write_frame(self._down, _HEADER.pack(gid) + frame)
        except OSError as exc:
            with self._lock:
                self._groups.pop(gid, None)
            raise DecisionLogUnavailableError(_STOPPED.format(repr(exc))) from exc

    def stop(self) -> None:
        """Close the pipe to the child; wait for its last answers and its exit."""
        self._stop_process()
        self._answers.join()

    def _stop_process(self) -> None:
        if self._down >= 0:
            os.close(self._down)
            self._down = -1
        try:
            self._process.wait(_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def _read(self) -> None:
        why = "its pipe closed"
        try:
            while (frame := _read_frame(self._up)) is not None:
                gid = _HEADER.unpack_from(frame)[0]
                with self._lock:
                    group = self._groups.pop(gid)
                _settle(group, pickle.loads(frame[_HEADER.size :]))
        except Exception as exc:  # a torn answer: the child died while writing it
            why = repr(exc)
        finally:
            os.close(self._up)
            with self._lock:
                self.alive = False
                left, self._groups = list(self._groups.values()), {}
            code = self._process.poll()
            error = DecisionLogUnavailableError(
                _STOPPED.format(why if code is None else f"exit code {code}")
            )
            for group in left:
                _settle(group, error)


_STOPPED = (
    "the decision log's writer process stopped ({}); nothing pending was acknowledged: "
    "retry with the same transaction_id."
)


def _settle(group: _Group, answer: list[Outcome] | DecisionLogUnavailableError) -> None:
    if not group.future.set_running_or_notify_cancel():
        return
    if isinstance(answer, DecisionLogUnavailableError):
        group.future.set_exception(answer)
    else:
        group.settle(answer)


def _write_frame(fd: int, data: bytes) -> None:
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def _read_frame(fd: int) -> bytes | None:
    """One length-prefixed frame, or None at the end of the pipe (raises ``EOFError`` if it
    ends inside a frame)."""
    header = _read_exactly(fd, _HEADER.size)
    if header is None:
        return None
    size = _HEADER.unpack(header)[0]
    data = _read_exactly(fd, size) if size else b""
    if data is None:
        raise EOFError("the pipe ended inside a frame")
    return data


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks: list[bytes] = []
    left = size
    while left:
        chunk = os.read(fd, min(left, _PIPE_BYTES))
        if not chunk:
            if left == size:
                return None
            raise EOFError("the pipe ended inside a frame")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def serve(down: int, up: int) -> None:
    """The child: open the writer of the log it is sent, then commit the groups it reads,
    all those that have arrived in one transaction, and answer each."""
    from riskline.decisions.log import open_writer

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    first = _read_frame(down)
    if first is None:
        return
    url, schema = pickle.loads(first)
    try:
        committer = Committer(open_writer(url, schema))
    except Exception as exc:
        _answer(up, str(exc).encode())
        return
    _answer(up, b"ready")
    frames = _Frames(down)
    try:
        while (arrived := frames.take()) is not None:
            groups = []
            for frame in arrived:
                group = _Group(pickle.loads(frame[_HEADER.size :]), single=False)
                group.future.add_done_callback(_replier(up, _HEADER.unpack_from(frame)[0]))
                groups.append(group)
            committer.commit(groups)
    finally:
        committer.close()


def _replier(up: int, gid: int) -> Callable[[Future[list[Outcome]]], None]:
    def reply(future: Future[list[Outcome]]) -> None:
        error = future.exception()
        answer = future.result() if error is None else error
        _answer(up, _HEADER.pack(gid) + pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))

    return reply


def _answer(up: int, data: bytes) -> None:
    with contextlib.suppress(OSError):  # the parent is gone: nobody to tell
        _write_frame(up, data)


class _Frames:
    """Length-prefixed frames from a pipe, as many at a time as have arrived."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = bytearray()

    def take(self) -> list[bytes] | None:
        """Every whole frame that has arrived, waiting for the first; None once the pipe
        has ended (a frame torn by the sender's death is dropped: it was never answered)."""
        frames: list[bytes] = []
        while not frames or select.select([self._fd], [], [], 0)[0]:
            chunk = os.read(self._fd, _PIPE_BYTES)
            if not chunk:
                return frames or None
            self._buffer += chunk
            frames += self._whole()
        return frames

    def _whole(self) -> list[bytes]:
        buffer, at, frames = self._buffer, 0, []
        while len(buffer) - at >= _HEADER.size:
            size = _HEADER.unpack_from(buffer, at)[0]
            end = at + _HEADER.size + size
            if len(buffer) < end:
                break
            frames.append(bytes(buffer[at + _HEADER.size : end]))
            at = end
        del buffer[:at]
        return frames
