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

    cluster = Cluster([cassandra_service.host], port=cassandra_service.port, protocol_version=5)
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
