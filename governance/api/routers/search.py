"""/api/search: purpose-bound search of stored reads."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ...models import User
from ...search import SearchCriteria
from ...service import Governance
from ..deps import current_user, get_gov
from ..schemas import SearchIn

router = APIRouter(tags=["search"])


@router.post("/api/search")
def search(body: SearchIn, user: User = Depends(current_user), gov: Governance = Depends(get_gov)) -> dict:
    crit = SearchCriteria(body.plate_pattern, body.camera_id, body.start_ts, body.end_ts, body.limit)
    reads = gov.search.search(user, crit, body.purpose_code, body.case_number, body.note, channel="api")
    return {"count": len(reads), "results": [r.to_dict() for r in reads]}
