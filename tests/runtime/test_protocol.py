"""The wire format: pickled payloads with out-of-band buffers, framed messages."""

from __future__ import annotations

import socket
import threading

import numpy as np

from edgeoffload.runtime.wire.protocol import dumps, loads, recv_message, send_message


def test_large_bytes_and_arrays_travel_out_of_band() -> None:
    """Big bytes and numpy arrays become their own frames, not copies inside the pickle."""
    blob = bytes(range(256)) * 1024
    array = np.arange(100_000, dtype=np.int64)
    frames = dumps({"blob": blob, "array": array, "small": b"x"})
    assert len(frames) == 3
    assert memoryview(frames[0]).nbytes < 1000
    out = loads(frames)
    assert out["blob"] == blob and out["small"] == b"x"
    np.testing.assert_array_equal(out["array"], array)


def test_messages_over_a_socket() -> None:
    """Header and frames survive a socket, in order, including empty frames."""
    a, b = socket.socketpair()
    frames = [b"", bytes(300_000), memoryview(b"abc")]
    received = {}

    def reader() -> None:
        received["msg"] = recv_message(b)

    thread = threading.Thread(target=reader)
    thread.start()
    sent = send_message(a, {"op": "call", "n": 1}, frames)
    thread.join(10)
    header, out, count = received["msg"]
    a.close()
    b.close()
    assert header == {"op": "call", "n": 1}
    assert [bytes(f) for f in out] == [b"", bytes(300_000), b"abc"]
    assert count == sent


def test_buffered_reader_keeps_message_boundaries() -> None:
    """Two messages sent back to back, one with a frame larger than the buffer, are read
    apart through one Reader."""
    from edgeoffload.runtime.wire.protocol import Reader

    a, b = socket.socketpair()
    big = bytes(range(256)) * 600  # 153,600 bytes: larger than the 64 KB buffer
    out: list[object] = []

    def reader() -> None:
        buffered = Reader(b)
        out.append(recv_message(b, buffered))
        out.append(recv_message(b, buffered))

    thread = threading.Thread(target=reader)
    thread.start()
    send_message(a, {"n": 1}, [b"small"])
    send_message(a, {"n": 2}, [big, b"tail"])
    thread.join(10)
    a.close()
    b.close()
    (h1, f1, _), (h2, f2, _) = out  # type: ignore[misc]
    assert h1 == {"n": 1} and [bytes(f) for f in f1] == [b"small"]
    assert h2 == {"n": 2} and [bytes(f) for f in f2] == [big, b"tail"]
