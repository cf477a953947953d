"""Settings: YAML + ALPR_* environment + keyword layering, typed values, unknown keys named
with the nearest valid one, sinks validated."""
import pickle

import pytest

from alpr.config import ConfigError, GroupingConfig, Settings, load_settings


def test_environment_values_are_typed():
    s = load_settings(env={"ALPR_KAFKA__MAX_RECORDS": "100", "ALPR_KAFKA__IDLE_TIMEOUT_S": "2.5",
                           "ALPR_RETENTION_DAYS": "730", "ALPR_GROUPING__MIN_CONFIDENCE": "85",
                           "ALPR_PRINT_RESULTS": "true", "ALPR_DEBUG_PLATES": "0", "ALPR_METRICS_PORT": "9464",
                           "ALPR_CAMERA_ID": "12"})
    assert s.kafka.max_records == 100 and type(s.kafka.max_records) is int
    assert s.kafka.idle_timeout_s == 2.5 and s.retention_days == 730 and s.metrics_port == 9464
    assert s.grouping.min_confidence == 85.0 and s.print_results is True and s.debug_plates is False
    assert s.camera_id == "12"
    assert isinstance(s.grouping, GroupingConfig) and pickle.loads(pickle.dumps(s)) == s


@pytest.mark.parametrize("env,message", [
    ({"ALPR_KAFKA__MAX_RECORDS": "lots"}, "kafka.max_records (ALPR_KAFKA__MAX_RECORDS): Input should be a valid integer"),
    ({"ALPR_PRINT_RESULTS": "maybe"}, "print_results (ALPR_PRINT_RESULTS): Input should be a valid boolean"),
    ({"ALPR_RETENTION_DAYS": "400.5"}, "retention_days"),
])
def test_bad_values_name_the_setting(env, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_settings(env=env)


@pytest.mark.parametrize("key,nearest", [
    ("ALPR_STOER", "ALPR_STORE"),
    ("ALPR_KAFKA_MAX_RECORDS", "ALPR_KAFKA__MAX_RECORDS"),
    ("ALPR_GROUPING__MIN_REEDS", "ALPR_GROUPING__MIN_READS"),
    ("ALPR_ALERT_SINK", "ALPR_ALERTS_SINK"),
])
def test_unknown_env_key_is_an_error_naming_the_nearest(key, nearest):
    with pytest.raises(ConfigError, match=f"unknown setting {key}; did you mean {nearest}\\?"):
        load_settings(env={key: "x"})


def test_other_components_variables_and_removed_settings():
    # variables of other components (governance, CLI, services) are not settings and pass
    s = load_settings(env={"ALPR_GOV_DB_PATH": "x", "ALPR_PROGRESS": "off", "ALPR_SERVICES": "off",
                           "ALPR_EXPECTED_CAMERAS": "cam-1", "HOME": "/root"})
    assert s == load_settings(env={})
    with pytest.raises(ConfigError, match="ALPR_ENVIRONMENT_TYPE is no longer a setting: the Beam worker pool"):
        load_settings(env={"ALPR_ENVIRONMENT_TYPE": "EXTERNAL"})
    with pytest.raises(ConfigError, match="ALPR_GROUPING is a group of settings"):
        load_settings(env={"ALPR_GROUPING": "1"})


def test_unknown_yaml_and_keyword_keys(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("store: sqlite:x.db\ngrouping:\n  min_read: 3\n")
    with pytest.raises(ConfigError, match=r"unknown setting grouping.min_read; did you mean grouping.min_reads\?"):
        load_settings(cfg, env={})
    with pytest.raises(ConfigError, match=r"unknown setting stroe; did you mean store\?"):
        load_settings(env={}, stroe="sqlite:x")


def test_layering_yaml_then_env_then_keywords(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("store: sqlite:yaml.db\nseed: 3\ngrouping:\n  min_reads: 3\n  time_delta_s: 2\n"
                   "kafka:\n  bootstrap: yaml:9092\n")
    s = load_settings(cfg, env={"ALPR_SEED": "5", "ALPR_GROUPING__MIN_READS": "4"}, store="sqlite:kw.db")
    assert (s.store, s.seed, s.grouping.min_reads, s.grouping.time_delta_s, s.kafka.bootstrap) == \
        ("sqlite:kw.db", 5, 4, 2.0, "yaml:9092")
    assert load_settings(env={}, grouping=GroupingConfig(min_reads=3)).grouping.min_reads == 3


@pytest.mark.parametrize("field,value,ok", [
    ("deadletter_sink", "store", True), ("deadletter_sink", "kafka", True), ("deadletter_sink", "jsonl:d.jsonl", True),
    ("deadletter_sink", "s3://bucket", False), ("deadletter_sink", "jsonl:", False), ("deadletter_sink", "", False),
    ("alerts_sink", "kafka", True), ("alerts_sink", "jsonl:a.jsonl", True), ("alerts_sink", "stdout", False),
    ("retention_days", 300, False), ("runner", "spark", False), ("alert_dedupe_s", 0, False),
])
def test_sinks_and_ranges_are_validated(field, value, ok):
    if ok:
        assert getattr(load_settings(env={}, **{field: value}), field) == value
    else:
        with pytest.raises(ConfigError, match=field if field != "retention_days" else "below the policy floor"):
            load_settings(env={}, **{field: value})


def test_plates_are_not_printed_by_default():
    s = Settings()
    assert s.print_results is False and s.debug_plates is False
    assert load_settings(env={"ALPR_DEBUG_PLATES": "1"}).debug_plates is True


def test_region_hints_reach_the_recogniser():
    """ALPR_STATE=ca (a California agency, OpenALPR's -p ca) becomes the recogniser's state hint
    in the stage both engines build; an unknown state is a configuration error."""
    from alpr.pipelines.core.recognize import RecognizeStage

    s = load_settings(env={"ALPR_STATE": "ca", "ALPR_COUNTRY": "us"})
    assert (s.country, s.state) == ("us", "ca")
    stage = RecognizeStage.from_settings(s).open()
    try:
        assert (stage._recognizer.country, stage._recognizer.state) == ("us", "CA")
        assert stage._recognizer._selector.state == "CA"
    finally:
        stage.close()
    assert RecognizeStage.from_settings(Settings()).open()._recognizer.state is None
    with pytest.raises(ConfigError, match="state must be a US state"):
        load_settings(env={"ALPR_STATE": "XX"})


def test_fine_long_side_reaches_the_recogniser_of_both_engines():
    """``ALPR_FINE_LONG_SIDE`` is an int, negative values are refused, and the stage both engine
    bindings build (``RecognizeStage.from_settings``) hands it to the recogniser."""
    from alpr.pipelines.core.recognize import RecognizeStage

    s = load_settings(env={"ALPR_FINE_LONG_SIDE": "0"})
    assert s.fine_long_side == 0
    assert load_settings(env={}).fine_long_side == 1280
    with pytest.raises(ConfigError, match="fine_long_side"):
        load_settings(env={"ALPR_FINE_LONG_SIDE": "-1"})
    stage = RecognizeStage.from_settings(s).open()
    try:
        assert stage._recognizer.fine_long_side == 0
    finally:
        stage.close()
    stage = RecognizeStage.from_settings(load_settings(env={"ALPR_FINE_LONG_SIDE": "1600"})).open()
    try:
        assert stage._recognizer.fine_long_side == 1600
    finally:
        stage.close()
