"""Evidence holds and export (461.4): reads (and images if an image loader is configured)
are copied out of the TTL into the evidence table, and exported as a zip with a SHA-256
manifest and a chain-of-custody record. Every step is audited."""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Callable, Optional

from alpr.connectors.stores.base import ReadQuery, ReadStore
from alpr.records import PlateRead

from .errors import ValidationError
from .guard import Guard
from .models import EvidenceHold, EvidenceItem, User
from .roles import Action
from .search import SearchCriteria

ImageLoader = Callable[[PlateRead], Optional[bytes]]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class EvidenceService:
    def __init__(self, guard: Guard, reads: ReadStore, image_loader: Optional[ImageLoader] = None,
                 clock: Callable[[], float] = time.time):
        self.guard, self.reads, self.image_loader, self.clock = guard, reads, image_loader, clock
        self.store = guard.auth.store

    def place_hold(self, user: User, case_number: str, reason: str, criteria: SearchCriteria,
                   channel: str = "api") -> EvidenceHold:
        elements = {**criteria.elements(), "evidence_case": case_number}
        purpose = self.guard.check_with_purpose(user, Action.EVIDENCE_HOLD, "EVIDENCE", case_number, reason,
                                                channel=channel, data_elements=elements)
        if not (reason or "").strip():
            exc = ValidationError("a reason for the evidence hold is required")
            self.guard.deny(user, "evidence_hold", exc, channel, elements, purpose.code, purpose.case_number)
            raise exc
        # the agency's own hold on its own case number: another agency's hold of the same number is
        # neither seen nor touched (no "held by another agency" oracle)
        existing = self.store.get_hold(user.agency, purpose.case_number)
        criteria.validate()
        reads = self.reads.search_reads(ReadQuery(criteria.plate_pattern, criteria.camera_id, criteria.start_ts,
                                                  criteria.end_ts, [user.agency], criteria.limit))
        now = self.clock()
        items = [EvidenceItem(purpose.case_number, r.read_id, r.to_json(),
                              self.image_loader(r) if self.image_loader else None, now, user.username, user.agency)
                 for r in reads]
        added = self.store.add_evidence_items(items)
        event = {"event": "hold", "by": user.username, "ts": now, "reads_added": added,
                 "criteria": criteria.elements(), "reason": reason.strip()}
        hold = (replace(existing, custody=existing.custody + (event,)) if existing else
                EvidenceHold(purpose.case_number, user.agency, reason.strip(), user.username, now, (event,)))
        self.store.put_hold(hold)
        self.guard.log.record(username=user.username, agency=user.agency, action="evidence_hold",
                              data_elements={**elements, "reads_added": added, "plates": sorted({r.plate for r in reads})},
                              purpose=purpose, channel=channel)
        # bookkeeping after the log record (a self-registered case never counts as known to the audit)
        self.store.register_case(purpose.case_number, user.agency, "evidence", now)
        return hold

    def export_evidence(self, user: User, case_number: str, out_zip: str | Path, channel: str = "api") -> dict:
        """Write ``out_zip``; returns the manifest (files with SHA-256, custody, counts)."""
        elements = {"evidence_case": case_number, "out": str(out_zip)}
        purpose = self.guard.check_with_purpose(user, Action.EVIDENCE_EXPORT, "EVIDENCE", case_number, None,
                                                channel=channel, data_elements=elements)
        hold = self.store.get_hold(user.agency, purpose.case_number)
        hold = self.guard.owned(user, "evidence_export", hold, hold.agency if hold else None,
                                f"evidence hold for case {case_number}", channel=channel, data_elements=elements)
        items = self.store.evidence_items(user.agency, purpose.case_number)
        files: dict[str, bytes] = {}
        for it in items:
            files[f"reads/{it.read_id}.json"] = it.read_json.encode()
            if it.image:
                files[f"images/{it.read_id}.jpg"] = it.image
        now = self.clock()
        event = {"event": "export", "by": user.username, "ts": now, "file": Path(out_zip).name, "items": len(items)}
        hold = replace(hold, custody=hold.custody + (event,))
        manifest = {"case_number": hold.case_number, "agency": hold.agency, "created_ts": now,
                    "created_by": user.username, "algorithm": "sha256",
                    "files": [{"path": p, "sha256": _sha(b), "bytes": len(b)} for p, b in sorted(files.items())]}
        custody = {"case_number": hold.case_number, "hold_reason": hold.reason, "events": list(hold.custody)}
        custody_bytes = json.dumps(custody, indent=2, sort_keys=True).encode()
        manifest["files"].append({"path": "custody.json", "sha256": _sha(custody_bytes), "bytes": len(custody_bytes)})
        out = Path(out_zip)
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for p, b in sorted(files.items()):
                zf.writestr(p, b)
            zf.writestr("custody.json", custody_bytes)
            zf.writestr("manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
        self.store.put_hold(hold)
        self.guard.log.record(username=user.username, agency=user.agency, action="evidence_export",
                              data_elements={**elements, "items": len(items), "zip_sha256": _sha(out.read_bytes())},
                              purpose=purpose, channel=channel)
        return manifest


def verify_evidence_zip(path: str | Path) -> list[str]:
    """Check every file listed in manifest.json against its SHA-256; returns the problems (empty = ok)."""
    problems = []
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        if "manifest.json" not in names:
            return ["manifest.json missing"]
        manifest = json.loads(zf.read("manifest.json"))
        listed = set()
        for f in manifest.get("files", []):
            listed.add(f["path"])
            if f["path"] not in names:
                problems.append(f"{f['path']}: missing")
            elif _sha(zf.read(f["path"])) != f["sha256"]:
                problems.append(f"{f['path']}: sha256 mismatch")
        for extra in names - listed - {"manifest.json"}:
            problems.append(f"{extra}: not in manifest")
    return problems


def read_zip(path: str | Path) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(Path(path).read_bytes())) as zf:
        return {n: zf.read(n) for n in zf.namelist()}
