"""Kafka producers on confluent-kafka without Beam: the durable producer settings, delivery
checks and the camera gateway that publishes frames to the frames topic (with their headers).
:mod:`alpr.connectors.kafka` (the Beam transforms) and :mod:`alpr.connectors.kafka_hotlist`
build on it; the names are re-exported there."""

from __future__ import annotations

import logging
import time
from typing import Iterable, Iterator, Optional, Sequence

from alpr.config import KafkaConfig
from alpr.connectors.auth import kafka_client_config
from alpr.observability import metrics as obs
from alpr.records import Frame

log = logging.getLogger(__name__)

H_CAMERA, H_AGENCY, H_TS, H_SEQ, H_SOURCE = "camera_id", "agency", "capture_ts", "seq", "source"
H_REASON, H_STAGE, H_KEY, H_DETAIL = "reason", "stage", "key", "detail"
ALERT_SCHEMA = "Alert/1"


def producer_config(bootstrap: str, kafka: Optional[KafkaConfig] = None, **extra) -> dict:
    """Durable producer: acks from all in-sync replicas, idempotent (no duplicates on retry).
    Credentials from ``kafka`` or the environment (:mod:`alpr.connectors.auth`)."""
    return kafka_client_config(bootstrap, kafka, **{"acks": "all", "enable.idempotence": True, "linger.ms": 5,
                                                    "compression.type": "lz4", "message.max.bytes": 20_000_000,
                                                    **extra})


class DeliveryError(RuntimeError):
    """Kafka did not acknowledge a message."""


def _flush(producer, errors: list, timeout_s: float = 30.0) -> None:
    remaining = producer.flush(timeout_s)
    if remaining:
        raise DeliveryError(f"{remaining} message(s) not delivered within {timeout_s}s")
    if errors:
        raise DeliveryError(f"{len(errors)} message(s) failed: {errors[0]}")


def _on_delivery(errors: list):
    def cb(err, msg):
        if err is not None:
            errors.append(str(err))
    return cb


# --------------------------------------------------------------------------- gateway
def frame_headers(frame: Frame) -> list[tuple[str, bytes]]:
    return [(H_CAMERA, frame.camera_id.encode()), (H_AGENCY, frame.agency.encode()),
            (H_TS, repr(float(frame.capture_ts)).encode()), (H_SEQ, str(int(frame.seq)).encode()),
            (H_SOURCE, frame.source.encode())]


class CameraGateway:
    """Publishes camera frames to the frames topic: JPEG bytes keyed by camera id, with
    headers for camera id, agency, capture time and frame sequence."""

    def __init__(self, bootstrap: str, topic: str):
        from confluent_kafka import Producer

        self.topic = topic
        self._errors: list = []
        self._producer = Producer(producer_config(bootstrap))

    def publish(self, frames: Iterable[Frame]) -> int:
        n = 0
        for frame in frames:
            self.publish_raw(frame.camera_id, frame.data, frame_headers(frame))
            n += 1
        self.flush()
        return n

    def publish_raw(self, key: str, value: bytes, headers: Sequence[tuple[str, bytes]]) -> None:
        while True:
            try:
                self._producer.produce(self.topic, key=key.encode(), value=value, headers=list(headers),
                                       on_delivery=_on_delivery(self._errors))
                break
            except BufferError:  # local queue full: let it drain
                self._producer.poll(0.5)
        agency = next((bytes(v).decode(errors="replace") for k, v in headers if k == H_AGENCY), "")
        obs.observe_gateway_frame(key, agency)  # counted per agency: no camera label
        self._producer.poll(0)

    def flush(self) -> None:
        _flush(self._producer, self._errors)


def stream_rtsp(url: str, camera_id: str, agency: str, max_frames: Optional[int] = None,
                reconnect_s: float = 2.0, max_reconnect_s: float = 60.0) -> Iterator[Frame]:
    """Frames from an RTSP (or any OpenCV-readable) URL, reconnecting with backoff on loss."""
    import cv2

    seq, delay = 0, reconnect_s
    while max_frames is None or seq < max_frames:
        cap = cv2.VideoCapture(url)
        if not cap.isOpened():
            log.warning("camera %s: cannot open %s, retrying in %.0fs", camera_id, url, delay)
            time.sleep(delay)
            delay = min(delay * 2, max_reconnect_s)
            continue
        delay = reconnect_s
        while max_frames is None or seq < max_frames:
            ok, img = cap.read()
            if not ok:
                log.warning("camera %s: stream lost, reconnecting", camera_id)
                break
            ok, jpg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
            if ok:
                yield Frame(camera_id, agency, seq, time.time(), jpg.tobytes(), source=url)
                seq += 1
        cap.release()
