"""The access log on Cassandra: prepared statements, LWT-claimed sequence numbers, chain verification."""

import pytest

pytestmark = pytest.mark.services

pytest.importorskip("cassandra")
try:
    import services  # noqa: F401  (provides the cassandra_service fixture)
except ImportError:  # pragma: no cover
    pytest.skip("tests/services.py (service fixtures) is not present", allow_module_level=True)


@pytest.fixture(scope="module")
def session(cassandra_service):
    from cassandra.cluster import Cluster

    cluster = Cluster([cassandra_service.host], port=cassandra_service.port, protocol_version=5,
                      auth_provider=cassandra_service.auth_provider())  # the application role
    sess = cluster.connect()
    yield sess, cassandra_service.keyspace
    cluster.shutdown()


def test_cassandra_access_log_chain(session):
    import uuid

    from alpr.governance.access_log import AccessLog, verify_chain
    from alpr.governance.purposes import Purpose
    from alpr.governance.store_cassandra import CassandraAccessLogStore

    sess, keyspace = session
    store = CassandraAccessLogStore(sess, keyspace, chain=f"test-{uuid.uuid4().hex[:8]}")
    log = AccessLog(store)
    for i in range(5):
        log.record(username="ofc.a", agency="DHSPD", action="search_reads",
                   data_elements={"plate_pattern": f"7ABC{i}*"}, purpose=Purpose("STOLEN-VEHICLE", f"C-{i:03d}"))
    recs = store.access_records()
    assert [r.seq for r in recs] == [1, 2, 3, 4, 5]
    assert recs[2].data_elements == {"plate_pattern": "7ABC2*"} and recs[2].case_number == "C-002"
    assert store.access_head() == (5, recs[-1].hash)
    assert verify_chain(store).ok
    sess.execute(f"UPDATE {keyspace}.access_log SET case_number = 'X' WHERE chain = %s AND seq = 3",
                 (store.chain,))
    rep = verify_chain(store)
    assert not rep.ok and rep.first_bad_seq == 3
    sess.execute(f"DELETE FROM {keyspace}.access_log WHERE chain = %s AND seq = 5", (store.chain,))
    assert verify_chain(store).first_bad_seq == 3


def test_sqlite_primary_with_cassandra_mirror(session):
    import uuid

    from alpr.governance.access_log import verify_chain
    from alpr.governance.search import SearchCriteria
    from alpr.governance.store_cassandra import CassandraAccessLogStore

    from governance_helpers import add_user, bootstrap, make_gov, seed_reads

    sess, keyspace = session
    mirror = CassandraAccessLogStore(sess, keyspace, chain=f"mirror-{uuid.uuid4().hex[:8]}")
    gov = make_gov()
    gov.log.mirrors = (mirror,)
    admin, _ = bootstrap(gov)
    op, _ = add_user(gov, admin, "ofc.a", "operator")
    seed_reads(gov)
    gov.search.search(op, SearchCriteria(plate_pattern="7ABC*"), "STOLEN-VEHICLE", "C-24-1")
    mirrored = [r for r in mirror.access_records() if r.action == "search_reads"]
    assert len(mirrored) == 1 and mirrored[0].case_number == "C-24-1"
    assert verify_chain(mirror, gov.log.key).ok


# ---------------------------------------------------------------------------------------------
# Issue 12 items 3 and 6 on Cassandra: primary vs mirror record by record; retention from the
# capture time (re-TTL on a change, purge past retention) on the Cassandra read store.
def test_primary_and_cassandra_mirror_compared_record_by_record(session, cassandra_service, tmp_path):
    import uuid

    from alpr.governance.search import SearchCriteria
    from alpr.governance.service import open_access_log_mirror
    from governance_helpers import Clock, add_user, bootstrap, make_gov, seed_reads

    sess, keyspace = session
    spec = f"{cassandra_service.host}:{cassandra_service.port}/{keyspace}"
    chain = f"cmp-{uuid.uuid4().hex[:8]}"
    mirror = open_access_log_mirror(spec)
    mirror.chain = chain
    gov = make_gov(Clock(), db_path=str(tmp_path / "gov.db"), read_path=str(tmp_path / "reads.db"))
    gov.log.mirrors = (mirror,)
    # the mirror starts with the records written before it was attached: copy them in order
    for rec in gov.store.access_records():
        mirror.append_access(lambda seq, prev, r=rec: r)
    admin, _ = bootstrap(gov)
    op, _ = add_user(gov, admin, "ofc.m", "operator")
    seed_reads(gov)
    gov.search.search(op, SearchCriteria("7ABC*"), "STOLEN-VEHICLE", "C-24-1")
    [rep] = gov.verify_mirrors()
    assert rep.ok and rep.checked == len(gov.store.access_records())
    n = rep.checked
    sess.execute(f"DELETE FROM {keyspace}.access_log WHERE chain = %s AND seq = %s", (chain, n))
    sess.execute(f"UPDATE {keyspace}.access_log_head SET seq = %s WHERE chain = %s", (n - 1, chain))
    [rep] = gov.verify_mirrors()
    assert not rep.ok
    gov.close()


def test_cassandra_store_retention_from_capture_time(cassandra_service):
    import time

    from alpr.connectors.stores.base import DAY_S, ReadQuery, RetentionStore, ttl_seconds_for
    from alpr.connectors.stores.cassandra import CassandraStore
    from alpr.records import PlateGroup
    from governance_helpers import read

    store = CassandraStore.from_url(f"cassandra://{cassandra_service.host}:{cassandra_service.port}/"
                                    f"{cassandra_service.keyspace}")
    try:
        assert isinstance(store, RetentionStore)
        now = time.time()
        tag = str(int(now))[-4:]
        ag, other = f"RT{tag}", f"RO{tag}"
        r400 = read(f"c400-{tag}", f"4C{tag}", agency=ag, ts=now - 400 * DAY_S)
        r800 = read(f"c800-{tag}", f"8C{tag}", agency=ag, ts=now - 800 * DAY_S)
        o400 = read(f"o400-{tag}", f"4O{tag}", agency=other, ts=now - 400 * DAY_S)
        store.put_reads([r400, r800, o400], ttl_s=365 * DAY_S)  # the old bug: TTL from the write time
        g400, g800 = (PlateGroup(f"g{d}-{tag}", f"cam-{tag}", ag, now - d * DAY_S, now - d * DAY_S + 3, 1, 4,
                                 f"{d // 100}G{tag}", 91.0, "r", (), ("r",), 1) for d in (400, 800))
        store.put_groups([g400, g800], ttl_s=365 * DAY_S)
        store.set_agency_retention(ag, 730, now)
        [kept] = [g for g in store.get_groups(f"cam-{tag}") if g.agency == ag]  # the 800-day group is gone
        assert kept.group_id == g400.group_id and abs(kept.expires_at - (g400.epoch_start + 730 * DAY_S)) < 5
        assert store.agency_retention_days(ag) == 730
        assert abs(store.read_expiry(r400.read_id) - (r400.capture_ts + 730 * DAY_S)) < 5
        assert store.read_expiry(r800.read_id) is None  # past 730 days: gone at once
        assert ttl_seconds_for(ag, now - DAY_S, now, store=store) == pytest.approx(729 * DAY_S, abs=1)
        n = store.purge_past_retention(now)
        assert n >= 1
        assert store.read_expiry(o400.read_id) is None  # the default 365 days, from capture
        assert store.read_expiry(r400.read_id) is not None
        got = {r.read_id for r in store.search_reads(ReadQuery(plate_pattern=r400.plate, start_ts=now - 500 * DAY_S,
                                                               end_ts=now))}
        assert got == {r400.read_id}
    finally:
        store.close()
