"""Per-agency retention on Cassandra (mixed into :class:`~alpr.connectors.stores.cassandra.CassandraStore`).

Cassandra cannot change a TTL in place: :meth:`set_agency_retention` rewrites each of the
agency's reads, alerts and vehicle groups with the TTL left from its capture time, and
:meth:`purge_past_retention` deletes rows whose capture time is past their agency's retention
whatever TTL they were written with (the maintenance job). Uses the host store's ``_rows``,
``_write``, ``_retrying``, ``_read``, ``put_reads``, ``put_alerts``, ``put_groups`` and ``get_groups``.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Optional

from alpr.records import Alert, PlateRead

from .base import DAY_S, MIN_RETENTION_DAYS, retention_ttl_s


class CassandraRetention:
    def _retention_table(self) -> None:
        if not getattr(self, "_retention_ready", False):
            self._retrying(lambda: self._session.execute(
                "CREATE TABLE IF NOT EXISTS agency_retention (agency text PRIMARY KEY, days int, set_ts double)"),
                "schema")
            self._retention_ready = True

    def agency_retention_days(self, agency: str) -> Optional[int]:
        self._retention_table()
        row = self._rows("SELECT days FROM agency_retention WHERE agency = ?", (agency,)).one()
        return int(row.days) if row is not None and row.days is not None else None

    def _read_row(self, plate: str, month: str, read_ts, read_id: str) -> Optional[PlateRead]:
        from .cassandra import READ_COLS
        row = self._rows(f"SELECT {', '.join(READ_COLS)} FROM reads_by_plate WHERE plate = ? AND month = ? "
                         "AND read_ts = ? AND read_id = ?", (plate, month, read_ts, read_id)).one()
        return self._read(row) if row is not None else None

    def _delete_read(self, r) -> None:
        self._write("DELETE FROM reads_by_plate WHERE plate = ? AND month = ? AND read_ts = ? AND read_id = ?",
                    [(r.plate, r.month, r.read_ts, r.read_id)])
        self._write("DELETE FROM reads_by_camera_day WHERE camera_id = ? AND day = ? AND read_ts = ? AND read_id = ?",
                    [(r.camera_id, r.day, r.read_ts, r.read_id)])
        self._write("DELETE FROM reads_by_id WHERE read_id = ?", [(r.read_id,)])

    def set_agency_retention(self, agency: str, days: int, now: Optional[float] = None) -> int:
        """Record the period, then rewrite each of the agency's reads and alerts with the TTL left
        from its capture time (Cassandra cannot change a TTL in place); past-retention rows go."""
        days = int(days)
        if days < MIN_RETENTION_DAYS:
            raise ValueError(f"retention {days} days is below the {MIN_RETENTION_DAYS}-day floor")
        now = time.time() if now is None else now
        self._retention_table()
        self._write("INSERT INTO agency_retention (agency, days, set_ts) VALUES (?, ?, ?)", [(agency, days, now)])
        n = 0
        for r in list(self._rows("SELECT read_id, plate, month, camera_id, day, read_ts, capture_ts FROM reads_by_id "
                                 "WHERE agency = ? ALLOW FILTERING", (agency,))):
            ttl = retention_ttl_s(r.capture_ts, days, now)
            full = self._read_row(r.plate, r.month, r.read_ts, r.read_id)
            if ttl <= 0 or full is None:
                self._delete_read(r)
            else:
                self.put_reads([full], ttl)
            n += 1
        from .cassandra import ALERT_COLS
        cols = ", ".join(ALERT_COLS)
        for a in list(self._rows(f"SELECT day, alert_ts, {cols} FROM alerts WHERE agency = ? ALLOW FILTERING",
                                 (agency,))):
            ttl = retention_ttl_s(a.capture_ts, days, now)
            if ttl <= 0:
                self._write("DELETE FROM alerts WHERE agency = ? AND day = ? AND alert_ts = ? AND alert_id = ?",
                            [(agency, a.day, a.alert_ts, a.alert_id)])
            else:
                self.put_alerts([Alert(**{c: getattr(a, c) for c in ALERT_COLS})], ttl)
            n += 1
        return n + self._retime_groups(agency, days, now)

    def _retime_groups(self, agency: str, days: int, now: float) -> int:
        """The agency's vehicle groups, rewritten like its reads (expiry from the group's start)."""
        from .cassandra import _day, _utc
        n = 0
        for g in self.get_groups():
            if g.agency != agency:
                continue
            ttl = retention_ttl_s(g.epoch_start, days, now)
            if ttl <= 0:
                self._write("DELETE FROM plate_groups WHERE camera_id = ? AND day = ? AND start_ts = ? AND group_id = ?",
                            [(g.camera_id, _day(g.epoch_start), _utc(g.epoch_start), g.group_id)])
            else:
                self.put_groups([replace(g, expires_at=g.epoch_start + days * DAY_S)], ttl)
            n += 1
        return n

    def purge_past_retention(self, now: Optional[float] = None, default_days: int = MIN_RETENTION_DAYS) -> int:
        now = time.time() if now is None else now
        self._retention_table()
        set_days = {r.agency: r.days for r in self._rows("SELECT agency, days FROM agency_retention")}
        default_days = max(int(default_days), MIN_RETENTION_DAYS)

        def cutoff(agency: str) -> float:
            return now - max(int(set_days.get(agency, default_days)), MIN_RETENTION_DAYS) * DAY_S

        total = 0
        for r in list(self._rows("SELECT read_id, plate, month, camera_id, day, read_ts, agency, capture_ts "
                                 "FROM reads_by_id")):
            if r.capture_ts is not None and r.capture_ts <= cutoff(r.agency or ""):
                self._delete_read(r)
                total += 1
        for a in list(self._rows("SELECT agency, day, alert_ts, alert_id, capture_ts FROM alerts")):
            if a.capture_ts is not None and a.capture_ts <= cutoff(a.agency or ""):
                self._write("DELETE FROM alerts WHERE agency = ? AND day = ? AND alert_ts = ? AND alert_id = ?",
                            [(a.agency, a.day, a.alert_ts, a.alert_id)])
                total += 1
        for g in list(self._rows("SELECT camera_id, day, start_ts, group_id, agency, epoch_start FROM plate_groups")):
            if g.epoch_start is not None and g.epoch_start <= cutoff(g.agency or ""):
                self._write("DELETE FROM plate_groups WHERE camera_id = ? AND day = ? AND start_ts = ? "
                            "AND group_id = ?", [(g.camera_id, g.day, g.start_ts, g.group_id)])
                total += 1
        return total
