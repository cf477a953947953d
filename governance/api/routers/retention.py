"""/api/retention and /api/evidence: retention settings, purge, evidence holds and export."""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from pathlib import Path

from fastapi import APIRouter, BackgroundTasks, Depends
from fastapi.responses import FileResponse

from ...models import User
from ...search import SearchCriteria
from ...service import Governance
from ..deps import current_user, get_gov
from ..schemas import HoldIn, RetentionIn

router = APIRouter(tags=["retention"])


@router.get("/api/retention")
def get_retention(user: User = Depends(current_user), gov: Governance = Depends(get_gov)) -> dict:
    return {"agency": user.agency, "days": gov.retention.retention_days(user.agency),
            "ttl_seconds": gov.ttl_seconds_for(user.agency), "floor_days": 365}


@router.put("/api/retention/{agency}")
def set_retention(agency: str, body: RetentionIn, user: User = Depends(current_user),
                  gov: Governance = Depends(get_gov)) -> dict:
    return asdict(gov.retention.set_retention(user, agency, body.days))


@router.post("/api/retention/purge")
def purge(user: User = Depends(current_user), gov: Governance = Depends(get_gov)) -> dict:
    return {"rows_purged": gov.retention.run_purge(user, channel="api")}


@router.post("/api/evidence/holds", status_code=201)
def hold(body: HoldIn, user: User = Depends(current_user), gov: Governance = Depends(get_gov)) -> dict:
    crit = SearchCriteria(body.plate_pattern, body.camera_id, body.start_ts, body.end_ts, body.limit)
    h = gov.evidence.place_hold(user, body.case_number, body.reason, crit)
    return {**asdict(h), "items": len(gov.store.evidence_items(h.agency, h.case_number))}


@router.post("/api/evidence/{case_number}/export")
def export(case_number: str, background: BackgroundTasks, user: User = Depends(current_user),
           gov: Governance = Depends(get_gov)) -> FileResponse:
    tmp = Path(tempfile.mkdtemp(prefix="alpr-evidence-")) / f"evidence-{case_number}.zip"
    gov.evidence.export_evidence(user, case_number, tmp)
    background.add_task(lambda: (tmp.unlink(missing_ok=True), tmp.parent.rmdir()))
    return FileResponse(tmp, media_type="application/zip", filename=tmp.name)
