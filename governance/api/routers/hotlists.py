"""/api/hotlist: agency hotlist entries."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ...models import User
from ...service import Governance
from ..deps import current_user, get_gov
from ..schemas import HotlistIn

router = APIRouter(tags=["hotlists"])


@router.get("/api/hotlist")
def list_entries(user: User = Depends(current_user), gov: Governance = Depends(get_gov)) -> list[dict]:
    return [e.to_dict() for e in gov.hotlists.list_entries(user)]


@router.post("/api/hotlist", status_code=201)
def add_entry(body: HotlistIn, user: User = Depends(current_user), gov: Governance = Depends(get_gov)) -> dict:
    entry, hits = gov.hotlists.add_entry(user, **body.model_dump())
    return {"entry": entry.to_dict(), "historical_hits": hits}


@router.delete("/api/hotlist/{entry_id}")
def remove_entry(entry_id: str, user: User = Depends(current_user), gov: Governance = Depends(get_gov)) -> dict:
    gov.hotlists.remove_entry(user, entry_id)
    return {"ok": True}
