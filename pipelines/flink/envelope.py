"""Byte envelopes between Kafka and the Python operators (see infra/flink/java).

PyFlink's value-only Kafka deserializers drop a record's key and headers, and its record
serializer cannot set them from a Python element. The job's Java part therefore carries whole
records as ``byte[]``: :func:`decode_record` reads what ``alpr.flink.FrameRecordDeserializer``
wrote; :func:`encode_message` writes what ``alpr.flink.EnvelopeRecordSerializer`` turns into a
Kafka record. Big-endian, lengths as int32 (-1 = null).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Optional, Sequence

from alpr.records import Alert, DeadLetter, Frame

H_CAMERA, H_AGENCY, H_TS, H_SEQ, H_SOURCE = "camera_id", "agency", "capture_ts", "seq", "source"
ALERT_SCHEMA = "Alert/1"

_I32 = struct.Struct(">i")
_HEAD = struct.Struct(">qiqq")  # capture ms, partition, offset, Kafka timestamp ms


class EnvelopeError(ValueError):
    """A record envelope is truncated or malformed."""


@dataclass(frozen=True)
class KafkaRecord:
    """One consumed Kafka record (what a confluent-kafka ``Message`` offers, for reuse)."""

    partition: int
    offset: int
    timestamp_ms: int
    capture_ms: int
    key_bytes: Optional[bytes]
    header_list: tuple[tuple[str, Optional[bytes]], ...]
    value_bytes: Optional[bytes]

    # confluent-kafka Message-like accessors
    def key(self) -> Optional[bytes]:
        return self.key_bytes

    def value(self) -> Optional[bytes]:
        return self.value_bytes

    def headers(self) -> list:
        return list(self.header_list)

    def header(self, name: str) -> str:
        for k, v in reversed(self.header_list):
            if k == name:
                return (v or b"").decode("utf-8", "replace")
        return ""


def _take(buf: memoryview, pos: int) -> tuple[Optional[bytes], int]:
    if pos + 4 > len(buf):
        raise EnvelopeError("truncated envelope (length)")
    (n,) = _I32.unpack_from(buf, pos)
    pos += 4
    if n < 0:
        return None, pos
    if pos + n > len(buf):
        raise EnvelopeError("truncated envelope (bytes)")
    return bytes(buf[pos:pos + n]), pos + n


def decode_record(data: bytes) -> KafkaRecord:
    buf = memoryview(data)
    if len(buf) < _HEAD.size:
        raise EnvelopeError("truncated envelope (head)")
    capture_ms, partition, offset, ts = _HEAD.unpack_from(buf, 0)
    pos = _HEAD.size
    key, pos = _take(buf, pos)
    if pos + 4 > len(buf):
        raise EnvelopeError("truncated envelope (header count)")
    (count,) = _I32.unpack_from(buf, pos)
    pos += 4
    headers = []
    for _ in range(count):
        name, pos = _take(buf, pos)
        value, pos = _take(buf, pos)
        headers.append(((name or b"").decode("utf-8", "replace"), value))
    value, pos = _take(buf, pos)
    return KafkaRecord(partition, offset, ts, capture_ms, key, tuple(headers), value)


def encode_record(rec: KafkaRecord) -> bytes:
    """Inverse of :func:`decode_record` (tests; the job gets these from Java)."""
    out = [_HEAD.pack(rec.capture_ms, rec.partition, rec.offset, rec.timestamp_ms), _bytes(rec.key_bytes),
           _I32.pack(len(rec.header_list))]
    for k, v in rec.header_list:
        out += [_bytes(k.encode()), _bytes(v)]
    out.append(_bytes(rec.value_bytes))
    return b"".join(out)


def _bytes(b: Optional[bytes]) -> bytes:
    return _I32.pack(-1) if b is None else _I32.pack(len(b)) + b


def encode_message(key: Optional[bytes], value: Optional[bytes],
                   headers: Sequence[tuple[str, Optional[bytes]]] = ()) -> bytes:
    out = [_bytes(key), _I32.pack(len(headers))]
    for k, v in headers:
        out += [_bytes(k.encode()), _bytes(v)]
    out.append(_bytes(value))
    return b"".join(out)


def record_to_frame(rec: KafkaRecord) -> Frame:
    """A frames-topic record as a Frame; ``ValueError`` says what is wrong with it (the same
    rules as the gateway's headers: camera id, agency, capture time and sequence required)."""
    missing = [k for k in (H_CAMERA, H_AGENCY, H_TS, H_SEQ) if not rec.header(k)]
    if missing:
        raise ValueError(f"bad frame header: missing {', '.join(missing)}")
    try:
        ts, seq = float(rec.header(H_TS)), int(rec.header(H_SEQ))
    except ValueError as exc:
        raise ValueError(f"bad frame header: capture_ts/seq not numeric "
                         f"({rec.header(H_TS)!r}, {rec.header(H_SEQ)!r})") from exc
    return Frame(rec.header(H_CAMERA), rec.header(H_AGENCY), seq, ts, rec.value() or b"",
                 source=rec.header(H_SOURCE) or "kafka")


def alert_message(alert: Alert) -> bytes:
    """Alerts topic: key = agency, value = Alert JSON, schema/list/priority headers."""
    return encode_message(alert.agency.encode(), alert.to_json().encode(),
                          [("schema", ALERT_SCHEMA.encode()), ("list_code", alert.list_code.encode()),
                           ("priority", str(alert.priority).encode()), ("alert_id", alert.alert_id.encode())])


def dead_letter_message(d: DeadLetter) -> bytes:
    """Dead-letter topic: key = the item's key, value = its payload (the frame), why in headers."""
    return encode_message(d.key.encode(), d.payload,
                          [("reason", d.reason.encode()[:1000]), ("stage", d.stage.encode()),
                           ("key", d.key.encode()), ("detail", d.detail.encode()[:1000]),
                           ("ts", repr(d.ts).encode())])
