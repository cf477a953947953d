"""Hardening on the real Cassandra: CQL injection through every string parameter of
``CassandraStore`` fails safely, and the Cassandra mirror of the access log detects every
edit, insertion or deletion (first, middle, last row), also after further appends.

Injection: every value reaches Cassandra as a bound parameter of a prepared statement, so a
payload is just an odd string: no error leaks out, no extra rows come back, nothing is
changed or dropped. Identifiers (keyspace, table) never come from callers: they are checked
against a strict pattern and refused with ``ValueError``.

Tampering: the attacker writes to Cassandra directly (a plain driver session); the product's
store is only used to write the genuine records and the records appended afterwards.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

pytestmark = pytest.mark.services

pytest.importorskip("cassandra")

PAYLOADS = [
    "' OR '1'='1",
    "x'; DROP TABLE reads_by_id; --",
    "'); TRUNCATE hotlist; --",
    "\" OR \"\"=\"",
    "x' ALLOW FILTERING --",
    "1; DELETE FROM hotlist WHERE entry_id = 'e1'",
    "$$ ; DROP KEYSPACE alpr; $$",
    "?",
    "%s",
    "alpr\n",
    "Robert'); DROP TABLE plate_groups;--\x00",
    "\u00c9\u00e9\u4e2d' OR 1=1 /* */",
    "A" * 5000,
]
TABLES = {"reads_by_plate", "reads_by_camera_day", "reads_by_id", "plate_groups", "alerts", "dead_letters",
          "hotlist", "hotlist_meta"}


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def cluster_session(cassandra_service):
    from cassandra.cluster import Cluster

    cluster = Cluster([cassandra_service.host], port=cassandra_service.port, protocol_version=5,
                      auth_provider=cassandra_service.auth_provider("alpr_admin"))  # creates test keyspaces
    sess = cluster.connect()
    yield sess, cassandra_service
    cluster.shutdown()


def _tables(sess, keyspace: str) -> set[str]:
    rows = sess.execute("SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s", (keyspace,))
    return {r.table_name for r in rows}


@pytest.fixture(scope="module")
def seeded(cluster_session):
    """A store with reads, a group, an alert and a hotlist entry of a camera of its own."""
    from alpr.connectors.stores.cassandra import CassandraStore
    from alpr.records import Alert, Candidate, HotlistEntry, PlateGroup, PlateRead

    sess, svc = cluster_session
    store = CassandraStore.from_url(f"cassandra://{svc.host}:{svc.port}/{svc.keyspace}")
    tag = uuid.uuid4().hex[:8]
    cam, agency, t0 = f"cam-inj-{tag}", f"AG{tag.upper()}", time.time() - 60
    plates = [f"7INJ{tag[:3].upper()}", f"8INJ{tag[:3].upper()}"]
    reads = [PlateRead(f"r-{tag}-{i}", f"{cam}:{i}", cam, agency, t0 + i, plates[i % 2], 91.0,
                       ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)), (Candidate(plates[i % 2], 91.0),), seq=i)
             for i in range(4)]
    store.put_reads(reads, 3600)
    group = PlateGroup(f"g-{tag}", cam, agency, t0, t0 + 2, 0, 2, plates[0], 91.0, reads[0].read_id,
                       (Candidate(plates[0], 91.0),), (reads[0].read_id, reads[2].read_id), 2)
    store.put_groups([group], 3600)
    store.put_alerts([Alert(f"a-{tag}", group.group_id, cam, agency, t0, plates[0], plates[0], f"e-{tag}", "V",
                            list_name="Stolen", match_type="exact", distance=0, emitted_ts=t0)], 3600)
    entry = HotlistEntry(f"e-{tag}", plates[0], "V", list_name="Stolen", created_ts=t0)
    store.upsert_entries([entry])
    yield dict(store=store, sess=sess, keyspace=svc.keyspace, cam=cam, agency=agency, t0=t0, reads=reads,
               group=group, entry=entry, plates=plates, tables=_tables(sess, svc.keyspace))
    store.close()


def _intact(s) -> None:
    """Schema and the seeded rows are exactly as before."""
    from alpr.connectors.stores.base import ReadQuery

    store = s["store"]
    assert TABLES <= _tables(s["sess"], s["keyspace"]) == s["tables"]
    got = store.search_reads(ReadQuery(camera_id=s["cam"], start_ts=s["t0"] - 5, end_ts=s["t0"] + 60))
    assert sorted(r.read_id for r in got) == sorted(r.read_id for r in s["reads"])
    for plate in s["plates"]:
        assert store.search_reads(ReadQuery(plate_pattern=plate, start_ts=s["t0"] - 5, end_ts=s["t0"] + 60))
    assert [g.group_id for g in store.get_groups(s["cam"], s["t0"] - 5, s["t0"] + 60)] == [s["group"].group_id]
    assert [a.alert_id for a in store.get_alerts(s["agency"])] == [f"a-{s['cam'][8:]}"]
    assert s["entry"].entry_id in {e.entry_id for e in store.load_entries()}


def _safe(fn):
    """Call ``fn``: it may answer, or refuse with a ValueError of ours; never a driver error."""
    from cassandra import DriverException
    from cassandra.protocol import ErrorMessage

    try:
        return fn()
    except ValueError as exc:
        assert "cassandra" not in type(exc).__module__
        return exc
    except (DriverException, ErrorMessage) as exc:  # pragma: no cover - the failure this test looks for
        pytest.fail(f"driver error leaked: {type(exc).__name__}: {exc}")


# --------------------------------------------------------------------------- injection
@pytest.mark.parametrize("payload", PAYLOADS, ids=[f"p{i}" for i in range(len(PAYLOADS))])
def test_injection_through_read_queries_returns_nothing_extra(seeded, payload):
    from alpr.connectors.stores.base import ReadQuery, pattern_is_exact, plate_pattern_regex

    store, t0, cam = seeded["store"], seeded["t0"], seeded["cam"]
    span = dict(start_ts=t0 - 5, end_ts=t0 + 60)
    # plate pattern (exact path and wildcard path)
    for pattern in (payload, payload + "*", "*" + payload):
        out = _safe(lambda: store.search_reads(ReadQuery(plate_pattern=pattern, **span)))
        if isinstance(out, ValueError):
            assert "pattern" in str(out)
            continue
        if pattern_is_exact(pattern):
            assert out == [], (pattern, out)
        regex = plate_pattern_regex(pattern)  # a wildcard only returns what it documents: matching plates
        assert all(regex.match(r.plate) and span["start_ts"] <= r.capture_ts <= span["end_ts"] for r in out)
    # camera id, alone and with a pattern
    assert _safe(lambda: store.search_reads(ReadQuery(camera_id=payload, **span))) == []
    assert _safe(lambda: store.search_reads(ReadQuery(plate_pattern="*", camera_id=payload, **span))) == []
    # agency list: the payload alone matches nothing; next to the real agency it adds nothing
    assert _safe(lambda: store.search_reads(ReadQuery(camera_id=cam, agencies=[payload], **span))) == []
    both = _safe(lambda: store.search_reads(ReadQuery(camera_id=cam, agencies=[seeded["agency"], payload], **span)))
    assert sorted(r.read_id for r in both) == sorted(r.read_id for r in seeded["reads"])
    # groups, alerts, expiry lookups
    assert _safe(lambda: store.get_groups(payload, t0 - 5, t0 + 60)) == []
    assert _safe(lambda: store.get_alerts(payload)) == []
    assert _safe(lambda: store.read_expiry(payload)) is None
    # hotlist deletes by an injected id / list code delete nothing of anyone else
    assert _safe(lambda: store.remove_entries([payload])) == 0
    _intact(seeded)


def test_injection_through_hotlist_entry_fields_is_stored_verbatim(seeded):
    from alpr.records import HotlistEntry

    store = seeded["store"]
    before = {e.entry_id for e in store.load_entries()}
    tag = uuid.uuid4().hex[:6]
    entries = [HotlistEntry(entry_id=f"{p[:60]}-{tag}-{i}", plate=f"9X{tag[:4].upper()}{i}", list_code=p[:40],
                            state=p[:8], list_name=p, description=p, case_number=p, source=p, agency=p[:30],
                            shared_with=(p, "OTHER"), match_strategy="exact", created_ts=time.time())
               for i, p in enumerate(PAYLOADS)]
    assert _safe(lambda: store.upsert_entries(entries)) == len(entries)
    after = {e.entry_id: e for e in store.load_entries()}
    assert set(after) == before | {e.entry_id for e in entries}, "rows appeared or vanished"
    for e in entries:
        assert after[e.entry_id] == e, "an injected value was not stored verbatim"
    # replace_list with an injected list code (and owner) only touches that agency's list
    victim = entries[1]
    assert _safe(lambda: store.replace_list(victim.list_code, [], agency=victim.agency)) == 0
    left = {e.entry_id for e in store.load_entries()}
    assert victim.entry_id not in left and (left | {victim.entry_id}) == set(after)
    assert _safe(lambda: store.remove_entries([e.entry_id for e in entries])) == len(entries) - 1
    assert {e.entry_id for e in store.load_entries()} == before
    _intact(seeded)


@pytest.mark.parametrize("payload", ["alpr; DROP KEYSPACE alpr", "alpr.hotlist", "x' OR 1=1", "Alpr-1", "",
                                     "alpr\n", "alpr\n.hotlist"])
def test_identifiers_from_configuration_are_refused(cluster_session, payload):
    from alpr.connectors.stores.cassandra import CassandraStore
    from alpr.governance.store_cassandra import CassandraAccessLogStore

    sess, svc = cluster_session
    if payload:  # an empty keyspace path means the default keyspace, which is fine
        with pytest.raises(ValueError, match="keyspace|identifier"):
            CassandraStore([svc.host], port=svc.port, keyspace=payload)
    with pytest.raises(ValueError, match="identifier"):
        CassandraAccessLogStore(sess, payload)
    assert TABLES <= _tables(sess, svc.keyspace)


def test_injected_chain_name_is_just_a_partition_key(cluster_session):
    from alpr.governance.access_log import AccessLog, verify_chain
    from alpr.governance.store_cassandra import CassandraAccessLogStore

    sess, svc = cluster_session
    chain = f"x' OR chain != '' ; DROP TABLE access_log; -- {uuid.uuid4().hex[:6]}"
    store = CassandraAccessLogStore(sess, svc.keyspace, chain=chain)
    AccessLog(store).record(username="u' --", agency="A'; --", action="search_reads",
                            data_elements={"plate_pattern": "' OR 1=1"}, purpose_code="P'", case_number="C'")
    recs = store.access_records()
    assert len(recs) == 1 and recs[0].username == "u' --" and recs[0].data_elements == {"plate_pattern": "' OR 1=1"}
    assert verify_chain(store).ok
    assert {"access_log", "access_log_head"} <= _tables(sess, svc.keyspace)


# --------------------------------------------------------------------------- access-log mirror tamper
COLUMNS = ("seq", "ts", "username", "agency", "action", "data_elements", "purpose_code", "case_number",
           "channel", "outcome", "detail", "prev_hash", "hash")
N = 6


def _genuine_chain(sess, keyspace: str, chain: str, n: int = N):
    from alpr.governance.access_log import AccessLog
    from alpr.governance.purposes import Purpose
    from alpr.governance.store_cassandra import CassandraAccessLogStore

    store = CassandraAccessLogStore(sess, keyspace, chain=chain, lag_wait_s=0.2)
    log = AccessLog(store)
    for i in range(n):
        log.record(username="ofc.a", agency="DHSPD", action="search_reads",
                   data_elements={"plate_pattern": f"7ABC{i}*"}, purpose=Purpose("STOLEN-VEHICLE", f"C-24-{i:03d}"))
    return store, log


class Attacker:
    """Direct CQL writes to the access-log table (no product code)."""

    def __init__(self, sess, keyspace: str, chain: str):
        self.sess, self.ks, self.chain = sess, keyspace, chain

    def row(self, seq: int) -> dict:
        r = self.sess.execute(f"SELECT {','.join(COLUMNS)} FROM {self.ks}.access_log WHERE chain = %s AND seq = %s",
                              (self.chain, seq)).one()
        return {c: getattr(r, c) for c in COLUMNS}

    def put(self, row: dict) -> None:
        self.sess.execute(f"INSERT INTO {self.ks}.access_log (chain,{','.join(COLUMNS)}) "
                          f"VALUES (%s,{','.join(['%s'] * len(COLUMNS))})", (self.chain, *[row[c] for c in COLUMNS]))

    def delete(self, seq: int) -> None:
        self.sess.execute(f"DELETE FROM {self.ks}.access_log WHERE chain = %s AND seq = %s", (self.chain, seq))


def _rehash(row: dict) -> str:
    from alpr.governance.access_log import record_hash

    body = {k: v for k, v in row.items() if k != "hash"}
    body["data_elements"] = json.loads(body["data_elements"])
    return record_hash(body)


def t_edit(a: Attacker, seq: int, n: int) -> None:
    row = a.row(seq)
    row.update(case_number="C-FORGED", username="someone.else")
    a.put(row)


def t_edit_rehash(a: Attacker, seq: int, n: int) -> None:
    row = a.row(seq)
    row["case_number"] = "C-FORGED"
    row["hash"] = _rehash(row)
    a.put(row)


def t_delete(a: Attacker, seq: int, n: int) -> None:
    a.delete(seq)


def t_insert(a: Attacker, seq: int, n: int) -> None:
    """A self-consistent forged record before ``seq`` (after the last one when seq == n + 1)."""
    from alpr.governance.store import GENESIS_HASH

    for s in range(n, seq - 1, -1):  # shift the tail up by one (primary keys cannot be updated)
        row = a.row(s)
        a.delete(s)
        row["seq"] = s + 1
        a.put(row)
    prev = GENESIS_HASH if seq == 1 else a.row(seq - 1)["hash"]
    forged = dict(seq=seq, ts=1.0, username="ghost", agency="DHSPD", action="search_reads", data_elements="{}",
                  purpose_code="STOLEN-VEHICLE", case_number="C-1", channel="api", outcome="allowed", detail="",
                  prev_hash=prev, hash="")
    forged["hash"] = _rehash(forged)
    a.put(forged)


OPS = {"edit": t_edit, "edit+rehash": t_edit_rehash, "delete": t_delete, "insert": t_insert}


@pytest.mark.parametrize("position", ["first", "middle", "last"])
@pytest.mark.parametrize("op", sorted(OPS))
def test_mirror_detects_tampering_and_later_appends_do_not_hide_it(cluster_session, op, position):
    from alpr.governance.access_log import verify_chain

    sess, svc = cluster_session
    chain = f"tamper-{op}-{position}-{uuid.uuid4().hex[:6]}"
    store, log = _genuine_chain(sess, svc.keyspace, chain)
    assert verify_chain(store).ok
    seq = {"first": 1, "middle": N // 2, "last": N}[position]
    if op == "insert" and position == "last":
        seq = N + 1
    OPS[op](Attacker(sess, svc.keyspace, chain), seq, N)
    rep = verify_chain(store)
    assert not rep.ok and rep.reason, f"{op} at {position} not detected"
    assert 1 <= rep.first_bad_seq <= seq + 1
    # the next genuine appends chain from the recorded head: the tampering stays visible
    for i in range(2):
        log.record(username="ofc.b", agency="DHSPD", action="search_reads", data_elements={"i": i},
                   purpose_code="AUDIT")
    rep2 = verify_chain(store)
    assert not rep2.ok, f"{op} at {position} laundered by a later append: {rep2}"
    assert rep2.first_bad_seq <= seq + 2


def test_mirror_head_lagging_behind_a_forged_tail_is_not_adopted(cluster_session):
    """A correctly chained row appended past the head (no head move) is never re-linked."""
    from alpr.governance.access_log import verify_chain

    sess, svc = cluster_session
    chain = f"tail-{uuid.uuid4().hex[:6]}"
    store, log = _genuine_chain(sess, svc.keyspace, chain)
    t_insert(Attacker(sess, svc.keyspace, chain), N + 1, N)
    rec = log.record(username="ofc.b", agency="DHSPD", action="search_reads", purpose_code="AUDIT")
    head = store.access_head()
    assert rec.seq == N + 2 and head == (N + 2, rec.hash)
    assert rec.prev_hash == store.access_records(start_seq=N)[0].hash  # chained from the genuine head
    assert verify_chain(store).first_bad_seq == N + 2


def test_audit_verify_mirror_cli(cluster_session, tmp_path, capsys, monkeypatch):
    """``alpr audit verify --mirror`` checks the Cassandra mirror too (exit 1 when it is broken)."""
    from alpr.app.cli import main as alpr_main

    from governance_helpers import Clock, add_user, bootstrap, make_gov, seed_reads
    from alpr.governance.search import SearchCriteria
    from alpr.governance.store_cassandra import CassandraAccessLogStore

    sess, svc = cluster_session
    ks = f"t_mirror_{uuid.uuid4().hex[:8]}"
    sess.execute(f"CREATE KEYSPACE {ks} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}")
    for perm in ("SELECT", "MODIFY", "CREATE"):  # the CLI logs in as the application role, as alpr_app does on alpr
        sess.execute(f"GRANT {perm} ON KEYSPACE {ks} TO {svc.credentials()['ALPR_CASSANDRA__USERNAME']}")
    try:
        spec = f"{svc.host}:{svc.port}/{ks}"
        mirror = CassandraAccessLogStore(sess, ks)  # the chain the CLI opens ("default")
        gov = make_gov(Clock(), db_path=str(tmp_path / "gov.db"), read_path=str(tmp_path / "reads.db"))
        gov.log.mirrors = (mirror,)
        admin, _ = bootstrap(gov)
        op, _ = add_user(gov, admin, "u.operator", "operator")
        seed_reads(gov)
        for i in range(3):
            gov.search.search(op, SearchCriteria("7ABC*"), "STOLEN-VEHICLE", f"C-24-{i:03d}", None, channel="api")
        gov.close()
        n = len(mirror.access_records())
        assert n >= 5
        base = ["audit", "verify", "--gov-db", str(tmp_path / "gov.db"), "--read-store", f"sqlite:{tmp_path / 'reads.db'}"]
        args = base + ["--mirror", "--access-log-cassandra", spec]

        def verify() -> tuple[int, dict]:
            rc = alpr_main(args)
            return rc, json.loads(capsys.readouterr().out.strip().splitlines()[-1])

        rc, rep = verify()
        assert rc == 0 and rep["ok"] and rep["mirrors"] == [{"ok": True, "checked": n, "first_bad_seq": None,
                                                              "reason": ""}]
        # the verification itself was logged to both chains; now delete a middle row of the mirror only
        Attacker(sess, ks, "default").delete(n // 2)
        rc, rep = verify()
        assert rc == 1 and rep["ok"] is True and rep["mirrors"][0]["ok"] is False
        assert rep["mirrors"][0]["first_bad_seq"] == n // 2
        rc, _ = verify()  # the verifier's own (mirrored) log entry does not launder it
        assert rc == 1
        # without --mirror only the primary is checked; --mirror without a mirror is an error
        monkeypatch.delenv("ALPR_GOV_ACCESS_LOG_CASSANDRA", raising=False)
        assert alpr_main(base) == 0
        capsys.readouterr()
        assert alpr_main(base + ["--mirror"]) == 2
    finally:
        sess.execute(f"DROP KEYSPACE IF EXISTS {ks}")
