"""Hotlist agreements in the SQLite governance store (a mixin of
:class:`~alpr.governance.store_sqlite.SqliteGovernanceStore`; the table is in its schema)."""

from __future__ import annotations

import dataclasses
import json
from typing import Optional

from .models import HotlistAgreement

AGREEMENTS_DDL = """
CREATE TABLE IF NOT EXISTS hotlist_agreements (agreement_id TEXT PRIMARY KEY, owner_agency TEXT NOT NULL,
    partner_agency TEXT NOT NULL, status TEXT NOT NULL, body TEXT NOT NULL);
"""


def agreement_from_body(body: str) -> HotlistAgreement:
    data = json.loads(body)
    data["list_codes"] = tuple(data.get("list_codes") or ())
    known = {f.name for f in dataclasses.fields(HotlistAgreement)}
    return HotlistAgreement(**{k: v for k, v in data.items() if k in known})


class SqliteAgreementRows:
    """``put_agreement`` / ``get_agreement`` / ``list_agreements`` over ``self._q`` / ``self._x``."""

    def put_agreement(self, a: HotlistAgreement) -> None:
        self._x("INSERT OR REPLACE INTO hotlist_agreements VALUES (?,?,?,?,?)",  # type: ignore[attr-defined]
                (a.agreement_id, a.owner_agency, a.partner_agency, a.status,
                 json.dumps(dataclasses.asdict(a), sort_keys=True)))

    def get_agreement(self, agreement_id: str) -> Optional[HotlistAgreement]:
        rows = self._q("SELECT body FROM hotlist_agreements WHERE agreement_id = ?",  # type: ignore[attr-defined]
                       (agreement_id,))
        return agreement_from_body(rows[0][0]) if rows else None

    def list_agreements(self, agency: Optional[str] = None,
                        status: Optional[str] = None) -> list[HotlistAgreement]:
        """Agreements ``agency`` is a party to (all when None), optionally of one status."""
        where, args = ["1=1"], []
        if agency is not None:
            where.append("(owner_agency = ? OR partner_agency = ?)")
            args += [agency, agency]
        if status is not None:
            where.append("status = ?")
            args.append(status)
        rows = self._q(f"SELECT body FROM hotlist_agreements WHERE {' AND '.join(where)} "  # type: ignore
                       "ORDER BY agreement_id", tuple(args))
        return [agreement_from_body(b) for (b,) in rows]
