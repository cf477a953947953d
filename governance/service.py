"""The policy layer wired together: one :class:`Governance` object the API, console and CLI share."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Optional

from alpr.connectors.stores import open_store
from alpr.connectors.stores.base import HotlistStore, ReadStore
from alpr.observability.metrics import observe_chain_report

from .access_log import CHAIN, AccessLog, ChainReport, compare_stores, verify_chain
from .agreement_feed import TopicFeed
from .agreements import AgreementService
from .anchors import AnchorSink, FileAnchorSink, gather, open_sinks
from .alerts import AlertWorkflowService
from .audits import AuditService
from .auth import AuthService
from .evidence import EvidenceService, ImageLoader
from .guard import Guard
from .hotlists import HotlistService, retro_alerts_search
from .keys import AUDIT_KEY_ENV, AuditKey, load_key
from .models import Agency, User
from .policy_record import PolicyRegistry
from .purposes import PurposeCatalog
from .registry import AgencyRegistry, curated
from .retention import RetentionService
from .roles import Action
from .search import SearchService
from .settings import GovernanceSettings
from .sharing import SharingService
from .store import AccessLogStore, GovernanceStore
from .store_sqlite import SqliteGovernanceStore
from .transparency import TransparencyService


@dataclass
class Governance:
    settings: GovernanceSettings
    store: GovernanceStore
    reads: ReadStore
    hotlist_store: HotlistStore
    log: AccessLog
    auth: AuthService
    purposes: PurposeCatalog
    guard: Guard
    search: SearchService
    alerts: AlertWorkflowService
    hotlists: HotlistService
    retention: RetentionService
    evidence: EvidenceService
    sharing: SharingService
    agreements: AgreementService
    registry: AgencyRegistry
    audits: AuditService
    policies: PolicyRegistry
    transparency: TransparencyService
    clock: Callable[[], float]
    feed: Optional[TopicFeed] = None  # agreement changes to the hotlist topic (ALPR_GOV_HOTLIST_KAFKA)

    @classmethod
    def build(cls, settings: GovernanceSettings, *, store: Optional[GovernanceStore] = None,
              reads: Optional[Any] = None, hotlist_store: Optional[HotlistStore] = None,
              log_mirrors: tuple[AccessLogStore, ...] = (), image_loader: Optional[ImageLoader] = None,
              clock: Callable[[], float] = time.time, retro_search: Optional[Callable[..., Any]] = None,
              audit_key: Optional[AuditKey] = None, anchors: Optional[tuple[AnchorSink, ...]] = None
              ) -> "Governance":
        store = store if store is not None else SqliteGovernanceStore(settings.db_path)
        reads = reads if reads is not None else open_store(settings.read_store)
        hotlist_store = hotlist_store if hotlist_store is not None else reads
        feed = None
        if settings.hotlist_kafka:  # a running Flink job follows entries and agreements on the topic
            from alpr.connectors.kafka_hotlist import HotlistPublisher, PublishingHotlistStore

            publisher = HotlistPublisher(settings.hotlist_kafka, settings.hotlist_topic)
            hotlist_store, feed = PublishingHotlistStore(hotlist_store, publisher), TopicFeed(publisher, clock)
        if not log_mirrors and (settings.access_log_mirror or settings.access_log_cassandra):
            log_mirrors = (open_access_log_mirror(settings.access_log_mirror or settings.access_log_cassandra),)
        audit_key = audit_key or AuditKey.from_secret(load_key(AUDIT_KEY_ENV, settings.audit_key_file))
        if anchors is None:
            anchors = open_sinks(settings.anchor_file(), settings.audit_anchor_kafka, settings.audit_anchor_topic)
        log = AccessLog(store, log_mirrors, clock, key=audit_key, anchors=anchors,
                        anchor_every=settings.audit_anchor_every)
        auth = AuthService(store, log, settings, clock)
        purposes = PurposeCatalog(settings.purposes, settings.case_pattern)
        guard = Guard(auth, log, purposes)
        sharing = SharingService(guard, reads, settings.sharing_california_only, settings.share_max_days, clock,
                                 max_window_days=settings.share_max_window_days)
        retention = RetentionService(guard, reads, settings.default_retention_days, clock)
        policies = PolicyRegistry(guard, clock)
        if store.get_agency(settings.home_agency) is None:
            store.put_agency(curated(settings.home_agency) or
                             Agency(settings.home_agency, settings.home_agency_name, "local", "CA", True, False))
        gov = cls(
            settings=settings, store=store, reads=reads, hotlist_store=hotlist_store, log=log, auth=auth,
            purposes=purposes, guard=guard,
            search=SearchService(guard, reads, sharing, clock, retention.retention_days),
            alerts=AlertWorkflowService(guard, reads, clock),
            hotlists=HotlistService(guard, hotlist_store, reads, settings.hotlist_entry_max_days, clock,
                                    retro_search=retro_search or retro_alerts_search(
                                        settings.retro_lookback_days * 86_400, clock)),
            retention=retention,
            evidence=EvidenceService(guard, reads, image_loader, clock),
            sharing=sharing,
            agreements=AgreementService(guard, settings.agreement_max_days, settings.sharing_california_only,
                                        clock, on_change=feed.agreement if feed else None),
            registry=AgencyRegistry(guard),
            audits=AuditService(guard, interval_days=settings.audit_interval_days,
                                sample_size=settings.audit_sample_size, working_hours=tuple(settings.working_hours),
                                timezone=settings.timezone, max_searches_per_day=settings.max_searches_per_day,
                                clock=clock),
            policies=policies,
            transparency=TransparencyService(store, reads, policies, retention.retention_days, settings.home_agency,
                                             settings.home_agency_name, clock),
            clock=clock, feed=feed)
        policies.ensure_default()
        return gov

    def run_maintenance(self, now: Optional[float] = None) -> dict:
        """Periodic jobs (``alpr serve`` runs this every ``maintenance_interval_s``): purge expired reads,
        suspend idle accounts, expire share approvals, agreements and hotlist entries (tombstones on
        the hotlist topic), create the scheduled audit sample."""
        now = self.clock() if now is None else now
        purged = self.retention.run_purge(now=now)
        suspended = self.auth.suspend_inactive(now)
        expired = self.sharing.expire_approvals(now)
        agreements = self.agreements.expire(now)
        entries = self.hotlists.expire_entries(now)
        republished = self.feed.resync(self.store.list_agreements()) if self.feed else 0
        audit = self.audits.run_scheduled(now)
        anchor = self.log.anchor_now()
        return {"rows_purged": purged, "suspended": suspended, "shares_expired": expired,
                "agreements_expired": agreements, "agreements_published": republished, "entries_expired": entries,
                "audit_sample": audit.audit_id if audit else None, "anchored_seq": anchor.seq if anchor else None}

    def ttl_seconds_for(self, agency: str, capture_ts: Optional[float] = None, now: Optional[float] = None) -> int:
        return self.retention.ttl_seconds_for(agency, capture_ts, now)

    def verify_chain(self, extra_anchor_files: tuple[str, ...] = ()) -> ChainReport:
        """The keyed chain, checked against every anchor (configured sinks + auditors' copies)."""
        sinks = self.log.anchors + tuple(FileAnchorSink(p) for p in extra_anchor_files)
        report = verify_chain(self.store, self.log.key, gather(sinks, CHAIN),
                              self.log.anchors_expected_after(len(extra_anchor_files)))
        observe_chain_report(report)
        return report

    def verify_for(self, user: User, channel: str = "api") -> dict:
        """What the API and the console show an auditor: the keyed chain against its anchors and,
        where a mirror is configured, the primary compared with each mirror record by record
        (``ok`` only when all hold); checked by the guard and logged."""
        self.guard.check(user, Action.VERIFY_CHAIN, channel=channel, data_elements={"verify_chain": True})
        report, mirrors = self.verify_chain(), self.verify_mirrors()
        ok = report.ok and all(m.ok for m in mirrors)
        self.log.record(username=user.username, agency=user.agency, action="verify_chain",
                        data_elements={"ok": ok, "checked": report.checked, "first_bad_seq": report.first_bad_seq,
                                       "mirrors": len(mirrors), "mirrors_ok": all(m.ok for m in mirrors)},
                        purpose_code="AUDIT", channel=channel)
        return {**asdict(report), "ok": ok, "chain_ok": report.ok, "mirrors": [asdict(m) for m in mirrors]}

    def verify_mirrors(self) -> list[ChainReport]:
        """Each mirror: its own keyed chain, then a record-by-record comparison with the primary
        (the first failure is reported)."""
        out = []
        for m in self.log.mirrors:
            chain = verify_chain(m, self.log.key)
            out.append(chain if not chain.ok else compare_stores(self.store, m))
        return out

    def close(self) -> None:
        self.store.close()
        if self.feed is not None:
            self.feed.publisher.close()
        for sink in self.log.anchors:
            close_sink = getattr(sink, "close", None)
            if callable(close_sink):
                close_sink()
        for mirror in self.log.mirrors:  # e.g. the Cassandra access-log mirror's cluster connection
            close_mirror = getattr(mirror, "close", None)
            if callable(close_mirror):
                close_mirror()
        close = getattr(self.reads, "close", None)
        if callable(close):
            close()


def open_access_log_mirror(spec: str) -> AccessLogStore:
    """``sqlite:PATH`` (a second SQLite file) or a Cassandra spec (``host:port/keyspace``)."""
    if spec.startswith("sqlite:"):
        return SqliteGovernanceStore(spec[len("sqlite:"):])
    from .store_cassandra import CassandraAccessLogStore
    return CassandraAccessLogStore.from_spec(spec)
