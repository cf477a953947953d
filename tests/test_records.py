import pytest

from alpr.records import (Alert, Candidate, DeadLetter, Frame, HotlistEntry, PlateGroup, PlateRead,
                          SchemaError, record_from_json)


def _read(**kw):
    base = dict(read_id="r1", frame_id="cam:1", camera_id="cam", agency="A", capture_ts=10.0,
                plate="7ABC123", confidence=91.5, coordinates=((1, 2), (3, 2), (3, 4), (1, 4)),
                candidates=(Candidate("7ABC123", 91.5), Candidate("7A8C123", 60.0)))
    base.update(kw)
    return PlateRead(**base)


def test_round_trip_every_record_type():
    records = [
        Frame("cam", "A", 3, 12.5, b"\xff\xd8jpeg"),
        _read(),
        PlateGroup("g", "cam", "A", 1.0, 2.0, 0, 4, "7ABC123", 90.0, "r1",
                   (Candidate("7ABC123", 90.0),), ("r1", "r2"), 2, expires_at=99.0),
        HotlistEntry("e1", "S*K3*7", "F", shared_with=("B",), expires_at=5.0),
        Alert("a", "g", "cam", "A", 1.0, "7ABC123", "7ABC123", "e1", "V", "Stolen", "exact", 0),
        DeadLetter("decode", "empty frame", "cam:1", 1.0, b"\x00\x01"),
    ]
    for rec in records:
        text = rec.to_json()
        assert f'"schema":"{type(rec).__name__}/1"' in text
        back = type(rec).from_json(text)
        assert back == rec
        assert record_from_json(text) == rec


def test_nested_types_are_rebuilt():
    back = PlateRead.from_json(_read().to_json())
    assert isinstance(back.candidates[0], Candidate)
    assert isinstance(back.coordinates, tuple) and back.coordinates[0] == (1.0, 2.0)


def test_newer_version_and_wrong_type_refused():
    d = _read().to_dict()
    d["schema"] = "PlateRead/2"
    with pytest.raises(SchemaError, match="newer"):
        PlateRead.from_dict(d)
    with pytest.raises(SchemaError, match="expected a PlateRead"):
        PlateRead.from_dict({**d, "schema": "Alert/1"})
    with pytest.raises(SchemaError, match="missing field"):
        PlateRead.from_dict({"schema": "PlateRead/1", "read_id": "x"})
    with pytest.raises(SchemaError, match="not JSON"):
        PlateRead.from_json(b"\xff{")
    with pytest.raises(SchemaError, match="unknown record"):
        record_from_json('{"schema": "Nope/1"}')


def test_alert_json_matches_the_published_json_schema():
    import jsonschema

    from alpr.connectors.kafka import alert_json_schema

    schema = alert_json_schema()
    alert = Alert("a", "g", "cam", "A", 1.0, "7ABC123", "7AB*123", "e1", "V", "Stolen", "wildcard", 1,
                  priority=10, covert=True, aligned="7ABC123~7AB*123", confidence=93.5, emitted_ts=2.0)
    jsonschema.validate(alert.to_dict(), schema)
    # the schema and the record stay in step: every field is described, nothing extra
    assert set(schema["properties"]) == set(alert.to_dict())
    bad = {**alert.to_dict(), "match_type": "guess"}
    try:
        jsonschema.validate(bad, schema)
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError("schema accepted an unknown match_type")
