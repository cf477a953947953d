"""Envelopes between the Flink job's Java part and its Python operators (no cluster needed)."""

from __future__ import annotations

import struct

import pytest

from alpr.pipelines.flink.envelope import (EnvelopeError, KafkaRecord, alert_message, dead_letter_message,
                                           decode_record, encode_record, record_to_frame)
from alpr.records import Alert, DeadLetter


def _rec(headers, value=b"\xff\xd8jpeg", key=b"cam-1"):
    return KafkaRecord(1, 42, 1_700_000_000_123, 1_700_000_000_000, key, tuple(headers), value)


def test_record_round_trip_keeps_nulls_and_order():
    rec = _rec([("camera_id", b"cam-1"), ("x", None), ("camera_id", b"cam-2")], value=None, key=None)
    back = decode_record(encode_record(rec))
    assert back == rec
    assert back.header("camera_id") == "cam-2"  # last header wins, as Kafka's lastHeader()


def test_truncated_envelopes_are_errors_not_garbage():
    data = encode_record(_rec([("camera_id", b"cam-1")]))
    for cut in (0, 10, len(data) - 3):
        with pytest.raises(EnvelopeError):
            decode_record(data[:cut])


def test_frame_from_record_and_bad_headers():
    good = _rec([("camera_id", b"cam-1"), ("agency", b"DHSPD"), ("capture_ts", b"1700000000.5"), ("seq", b"7")])
    f = record_to_frame(good)
    assert (f.camera_id, f.agency, f.seq, f.capture_ts, f.data) == ("cam-1", "DHSPD", 7, 1700000000.5, b"\xff\xd8jpeg")
    with pytest.raises(ValueError, match="missing agency, seq"):
        record_to_frame(_rec([("camera_id", b"c"), ("capture_ts", b"1")]))
    with pytest.raises(ValueError, match="not numeric"):
        record_to_frame(_rec([("camera_id", b"c"), ("agency", b"a"), ("capture_ts", b"x"), ("seq", b"1")]))


def _message(data: bytes):
    """Parse what EnvelopeRecordSerializer reads: key, headers, value."""
    pos, out = 0, []

    def take():
        nonlocal pos
        (n,) = struct.unpack_from(">i", data, pos)
        pos += 4
        if n < 0:
            return None
        b = data[pos:pos + n]
        pos += n
        return b
    key = take()
    (count,) = struct.unpack_from(">i", data, pos)
    pos += 4
    for _ in range(count):
        out.append((take().decode(), take()))
    return key, dict(out), take()


def test_alert_and_dead_letter_messages_match_the_beam_producers():
    a = Alert("aid", "gid", "cam-1", "DHSPD", 1.0, "ABC123", "ABC123", "e1", "V", "Stolen", "exact", 0, priority=10)
    key, headers, value = _message(alert_message(a))
    assert key == b"DHSPD" and headers["schema"] == b"Alert/1" and headers["alert_id"] == b"aid"
    assert Alert.from_json(value) == a
    d = DeadLetter("decode", "cannot decode", "cam-1:3", 2.0, payload=b"\x00\x01", detail="camera=cam-1")
    key, headers, value = _message(dead_letter_message(d))
    assert (key, value, headers["stage"], headers["reason"]) == (b"cam-1:3", b"\x00\x01", b"decode", b"cannot decode")
