"""The approved, unexpired hotlist agreements as the engines' ``agreements`` hook.

The governance store is the record (:mod:`.agreements`); the engines read it here, read-only:

* Beam / embedded (``alpr run``): :func:`engine_agreements` reloads the grants from the
  governance SQLite file (``$ALPR_GOV_DB_PATH``, default ``.run/governance.db``, the file
  ``alpr serve`` writes) every ``hotlist_refresh_s`` seconds, like the hotlist reloader.
* Flink: the job loads the grants when it is submitted and the operator reloads them from the
  same file on the same period where a TaskManager can read it (local cluster, shared volume);
  see :mod:`alpr.pipelines.flink.job`. With ``ALPR_GOV_HOTLIST_KAFKA`` set, :class:`TopicFeed`
  also publishes each approval, revocation and expiry to the compacted hotlist topic, which the
  running job applies at once (a revocation wins over what the job was submitted with), and
  every maintenance run republishes them all (a publish that failed is made good there).

A missing file or table means no agreements: an agency's entries alert on its own cameras only.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Callable, Iterable, Optional

from alpr.pipelines.core.agreements import AgreementGrant, ReloadingAgreements
from alpr.records import AgreementChange

from .models import HotlistAgreement
from .store_sqlite_agreements import agreement_from_body

DEFAULT_DB = ".run/governance.db"
log = logging.getLogger(__name__)


def governance_db_path() -> str:
    return os.environ.get("ALPR_GOV_DB_PATH") or DEFAULT_DB


def grant_of(a: HotlistAgreement) -> AgreementGrant:
    return AgreementGrant(a.owner_agency, a.partner_agency, float(a.start_ts), float(a.expires_ts),
                          frozenset(c.upper() for c in a.list_codes), a.agreement_id)


def grants_from(agreements, now: Optional[float] = None) -> list[AgreementGrant]:
    """The grants of the approved agreements not yet expired at ``now`` (one that starts later is
    kept: its window is checked at match time)."""
    now = time.time() if now is None else now
    return [grant_of(a) for a in agreements
            if a.status == "approved" and (a.active_at(now) or a.start_ts > now)]


def load_grants(db_path: Optional[str] = None, now: Optional[float] = None) -> list[AgreementGrant]:
    """Read-only: the grants in the governance SQLite file (none when it or the table is missing)."""
    path = db_path or governance_db_path()
    if path == ":memory:" or not Path(path).exists():
        return []
    conn = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute("SELECT body FROM hotlist_agreements WHERE status = 'approved'").fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    finally:
        conn.close()
    return grants_from((agreement_from_body(b) for (b,) in rows), now)


def engine_agreements(refresh_s: float = 30.0, db_path: Optional[str] = None, fallback: Iterable = (),
                      clock: Callable[[], float] = time.time) -> ReloadingAgreements:
    """The engines' hook: grants reloaded from the governance file every ``refresh_s`` seconds;
    ``fallback`` (the grants loaded when a Flink job was submitted) while the file is not readable
    from here (a remote TaskManager)."""
    path = db_path or governance_db_path()
    fallback = tuple(fallback)

    def load() -> list[AgreementGrant]:
        if fallback and not Path(path).exists():
            return list(fallback)
        return load_grants(path, clock())
    return ReloadingAgreements(load, refresh_s=refresh_s, clock=clock)


def agreement_change(a: HotlistAgreement, reason: str, now: Optional[float] = None) -> AgreementChange:
    """The topic record of ``a``: its grant while it is approved and unexpired, else a removal."""
    now = time.time() if now is None else now
    if a.status == "approved" and now < a.expires_ts:
        return AgreementChange("upsert", a.agreement_id, a.owner_agency, a.partner_agency, float(a.start_ts),
                               float(a.expires_ts), tuple(a.list_codes), ts=now, reason=reason)
    return AgreementChange("remove", a.agreement_id, ts=now, reason=reason)


class TopicFeed:
    """Agreement changes to the hotlist topic through a publisher (``publish(changes)``, e.g.
    :class:`alpr.connectors.kafka_hotlist.HotlistPublisher`). A failed publish never undoes the
    recorded step: it is logged (agreement id only) and counted, and :meth:`resync` (each
    maintenance run) publishes the state of every agreement again."""

    def __init__(self, publisher, clock: Callable[[], float] = time.time):
        self.publisher, self.clock = publisher, clock
        self.failed = 0

    def _publish(self, changes: list[AgreementChange]) -> int:
        try:
            return self.publisher.publish(changes)
        except Exception as exc:  # noqa: BLE001 - Kafka down: the next resync makes it good
            self.failed += 1
            log.warning("hotlist topic: %d agreement change(s) not published (%s: %s); the next maintenance "
                        "run publishes them again", len(changes), type(exc).__name__, exc)
            return 0

    def agreement(self, a: HotlistAgreement, reason: str) -> None:
        self._publish([agreement_change(a, reason, self.clock())])

    def resync(self, agreements: Iterable[HotlistAgreement]) -> int:
        """Every agreement that ever was approved, as its current grant or a removal."""
        now = self.clock()
        changes = [agreement_change(a, "resync", now) for a in agreements
                   if a.status in ("approved", "revoked", "expired") and a.reviewed_ts]
        return self._publish(changes) if changes else 0
