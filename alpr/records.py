"""Domain records shared by every stage: typed, frozen dataclasses with versioned JSON.

Each record serialises to a JSON object carrying ``"schema": "<Name>/<version>"``.
``from_json`` refuses an unknown record name or a newer major version with a
:class:`SchemaError`, so a consumer never guesses at a payload it does not understand.

Confidences are percentages (0-100), as in OpenALPR's and Rekor's JSON; timestamps are
epoch seconds (float, UTC).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Optional, Tuple, Type, TypeVar

T = TypeVar("T", bound="Record")

Point = Tuple[float, float]


class SchemaError(ValueError):
    """A serialised record has the wrong name, an unsupported version or bad fields."""


def _coerce(tp: Any, value: Any) -> Any:
    """Rebuild ``value`` (plain JSON) as type ``tp`` (nested records, tuples, optionals)."""
    if value is None:
        return None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value) if len(inner) == 1 else value
    if origin in (tuple, Tuple):
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v) for v in value)
        return tuple(_coerce(a, v) for a, v in zip(args, value))
    if isinstance(tp, type) and issubclass(tp, Record):
        return tp.from_dict(value)
    if tp is bytes and isinstance(value, str):
        return bytes.fromhex(value)
    if tp is float and isinstance(value, int):
        return float(value)
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class Record:
    """Mixin: versioned dict/JSON round trip for a frozen dataclass."""

    SCHEMA_VERSION: ClassVar[int] = 1

    @classmethod
    def schema_id(cls) -> str:
        return f"{cls.__name__}/{cls.SCHEMA_VERSION}"

    def to_dict(self) -> dict:
        out = {"schema": self.schema_id()}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            out[f.name] = _plain(getattr(self, f.name))
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_dict(cls: Type[T], data: dict) -> T:
        if not isinstance(data, dict):
            raise SchemaError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
        schema = data.get("schema", cls.schema_id())
        name, _, ver = str(schema).partition("/")
        if name != cls.__name__:
            raise SchemaError(f"expected a {cls.__name__} record, got {schema!r}")
        try:
            version = int(ver)
        except ValueError as exc:
            raise SchemaError(f"bad schema version in {schema!r}") from exc
        if version > cls.SCHEMA_VERSION:
            raise SchemaError(
                f"{cls.__name__} schema version {version} is newer than supported "
                f"{cls.SCHEMA_VERSION}"
            )
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name in data:
                kwargs[f.name] = _coerce(hints[f.name], data[f.name])
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise SchemaError(f"{cls.__name__}: missing field {f.name!r}")
        return cls(**kwargs)  # type: ignore[call-arg]

    @classmethod
    def from_json(cls: Type[T], text: str | bytes) -> T:
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SchemaError(f"{cls.__name__}: not JSON: {exc}") from exc
        return cls.from_dict(data)


def stable_id(*parts: Any) -> str:
    """Deterministic short id from its parts (so a replayed frame yields the same ids)."""
    h = hashlib.sha1("\x1f".join(str(p) for p in parts).encode()).hexdigest()
    return h[:20]


@dataclass(frozen=True)
class Frame(Record):
    """One encoded camera frame (JPEG/PNG bytes) with its provenance."""

    camera_id: str
    agency: str
    seq: int
    capture_ts: float
    data: bytes = field(repr=False)
    source: str = ""
    lat: Optional[float] = None
    lon: Optional[float] = None

    @property
    def frame_id(self) -> str:
        return f"{self.camera_id}:{self.seq}"


@dataclass(frozen=True)
class Candidate(Record):
    plate: str
    confidence: float


@dataclass(frozen=True)
class PlateRead(Record):
    """One plate recognised in one frame."""

    read_id: str
    frame_id: str
    camera_id: str
    agency: str
    capture_ts: float
    plate: str
    confidence: float
    coordinates: Tuple[Point, ...]
    candidates: Tuple[Candidate, ...] = ()
    img_width: int = 0
    img_height: int = 0
    seq: int = 0
    processing_time_ms: float = 0.0
    region: str = ""  # OpenALPR style, e.g. "us-ca"; "" when unknown
    region_confidence: float = 0.0
    detector: str = ""  # model provenance: name@sha256:<12 hex> or name@version
    recognizer: str = ""


@dataclass(frozen=True)
class PlateGroup(Record):
    """All reads of one vehicle passage at one camera, voted into a best plate."""

    group_id: str
    camera_id: str
    agency: str
    epoch_start: float
    epoch_end: float
    frame_start: int
    frame_end: int
    best_plate: str
    best_confidence: float
    best_read_id: str
    candidates: Tuple[Candidate, ...]
    read_ids: Tuple[str, ...]
    num_reads: int
    expires_at: Optional[float] = None


@dataclass(frozen=True)
class HotlistEntry(Record):
    """A wanted plate (or a partial-plate pattern with ``*``) on a list."""

    entry_id: str
    plate: str
    list_code: str
    state: str = ""
    list_name: str = ""
    priority: int = 50
    description: str = ""
    case_number: str = ""
    expires_at: Optional[float] = None
    covert: bool = False
    source: str = "csv"
    match_strategy: str = "lenient"  # exact | lenient
    agency: str = ""
    shared_with: Tuple[str, ...] = ()
    fuzzy: bool = True
    max_ocr_subs: int = 1
    max_edits: int = 1
    clets_derived: bool = False
    created_ts: float = 0.0

    @property
    def is_wildcard(self) -> bool:
        return "*" in self.plate


@dataclass(frozen=True)
class Alert(Record):
    """A plate group that hit a hotlist entry (``connectors/schemas/alert.v1.schema.json``).

    ``alert_id`` is deterministic: the same vehicle passage and entry always give the same id.
    Delivery on the alerts topic: the Flink job writes alerts **exactly once** by default (a
    transactional ``KafkaSink``): consumers read with ``isolation.level=read_committed``. With
    ``--alerts-delivery at-least-once`` a replay may repeat an alert with the same id: consumers
    deduplicate on ``alert_id``."""

    alert_id: str
    group_id: str
    camera_id: str
    agency: str
    capture_ts: float
    read_plate: str
    entry_plate: str
    entry_id: str
    list_code: str
    list_name: str
    match_type: str  # exact | ocr-equivalent | edit | wildcard
    distance: int
    priority: int = 50
    covert: bool = False
    description: str = ""
    case_number: str = ""
    entry_source: str = ""
    entry_agency: str = ""
    aligned: str = ""
    confidence: float = 0.0
    emitted_ts: float = 0.0
    state: str = "new"


@dataclass(frozen=True)
class HotlistChange(Record):
    """One change to the live hotlists, as published on the compacted ``hotlist`` topic (key =
    ``entry_id``; the value is the entry for ``upsert``, a tombstone for ``remove``)."""

    op: str  # upsert | remove
    entry_id: str
    entry: Optional[HotlistEntry] = None
    ts: float = 0.0
    reason: str = ""  # import | add | remove | expire

    def __post_init__(self):
        if self.op not in ("upsert", "remove"):
            raise SchemaError(f"HotlistChange.op must be 'upsert' or 'remove', got {self.op!r}")
        if self.op == "upsert" and (self.entry is None or self.entry.entry_id != self.entry_id):
            raise SchemaError("an upsert HotlistChange carries the entry with the same entry_id")
        if self.entry_id.startswith(AGREEMENT_KEY_PREFIX):
            raise SchemaError(f"a hotlist entry id never starts with {AGREEMENT_KEY_PREFIX!r}")


#: key prefix of agreement changes on the hotlist topic (entry ids never contain a colon)
AGREEMENT_KEY_PREFIX = "agreement:"


@dataclass(frozen=True)
class AgreementChange(Record):
    """A hotlist agreement between two agencies as the engines learn it on the compacted
    ``hotlist`` topic (key ``agreement:<id>``): ``upsert`` when it is approved (the grant: the
    entries of ``owner``, optionally only ``list_codes``, also alert on ``partner``'s cameras from
    ``start_ts`` until ``expires_ts``), ``remove`` (a tombstone) when it is revoked, rejected
    after approval or expired. A removal overrides whatever the job loaded when it was submitted."""

    op: str  # upsert | remove
    agreement_id: str
    owner: str = ""
    partner: str = ""
    start_ts: float = 0.0
    expires_ts: float = 0.0
    list_codes: Tuple[str, ...] = ()
    ts: float = 0.0
    reason: str = ""  # approve | revoke | expire | resync

    def __post_init__(self):
        if self.op not in ("upsert", "remove"):
            raise SchemaError(f"AgreementChange.op must be 'upsert' or 'remove', got {self.op!r}")
        if not self.agreement_id or ":" in self.agreement_id:
            raise SchemaError("AgreementChange needs an agreement_id without ':'")
        if self.op == "upsert" and (not self.owner or not self.partner or self.expires_ts <= self.start_ts):
            raise SchemaError("an upsert AgreementChange names both agencies and a validity window")

    @property
    def key(self) -> str:
        return AGREEMENT_KEY_PREFIX + self.agreement_id


DEAD = "dead_letter"  # the tagged output / sink name of dead letters in every engine binding
MAX_DEAD_LETTER_PAYLOAD = 2 << 20  # whole frames (for replay) fit; below Cassandra's mutation limit


@dataclass(frozen=True)
class DeadLetter(Record):
    """Anything a stage could not process, with why; never silently dropped."""

    stage: str
    reason: str
    key: str
    ts: float
    payload: bytes = field(default=b"", repr=False)
    detail: str = ""


RECORD_TYPES = {c.__name__: c for c in (Frame, Candidate, PlateRead, PlateGroup, HotlistEntry, Alert, DeadLetter,
                                         HotlistChange, AgreementChange)}


def record_from_json(text: str | bytes) -> Record:
    """Decode any record by its ``schema`` field."""
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SchemaError(f"not JSON: {exc}") from exc
    name = str(data.get("schema", "")).partition("/")[0] if isinstance(data, dict) else ""
    if name not in RECORD_TYPES:
        raise SchemaError(f"unknown record schema {data.get('schema') if isinstance(data, dict) else data!r}")
    return RECORD_TYPES[name].from_dict(data)
