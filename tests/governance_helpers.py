"""Shared builders for the governance tests (not a test module)."""

from __future__ import annotations

import time
from typing import Optional

from alpr.connectors.stores.sqlite import SqliteStore
from alpr.governance.auth import totp_now
from alpr.governance.models import Agency, User
from alpr.governance.service import Governance
from alpr.governance.settings import GovernanceSettings
from alpr.governance.store_sqlite import SqliteGovernanceStore
from alpr.records import Alert, PlateRead

PASSWORD = "correct horse battery staple"
HOME, OTHER = "DHSPD", "PSPD"


class Clock:
    """A controllable clock starting at the real current time (the read store expires rows on real time)."""

    def __init__(self, t: Optional[float] = None):
        self.t = time.time() if t is None else t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def make_gov(clock: Optional[Clock] = None, db_path: str = ":memory:", read_path: str = ":memory:",
             **overrides) -> Governance:
    clock = clock or Clock()
    overrides.setdefault("argon2_time_cost", 1)      # fast hashing for tests; production keeps defaults
    overrides.setdefault("argon2_memory_kib", 8192)
    settings = GovernanceSettings(db_path=db_path, read_store=f"sqlite:{read_path}", **overrides)
    gov = Governance.build(settings, store=SqliteGovernanceStore(db_path), reads=SqliteStore(read_path),
                           clock=clock)
    gov.store.put_agency(Agency(OTHER, "Palm Springs Police Department", "local", "CA", True, False))
    return gov


def bootstrap(gov: Governance, agency: str = HOME, username: Optional[str] = None,
              live: bool = True) -> tuple[User, str]:
    """The agency's first administrator; ``live``: record the 1798.90.55(a) public meeting and go live
    (data access is refused before that)."""
    admin, secret = gov.auth.bootstrap_admin(username or f"chief.{agency.lower()}", agency, PASSWORD,
                                             display_name=f"Chief {agency}")
    if live and agency != "PLATFORM":
        go_live(gov, admin)
    return admin, secret


def go_live(gov: Governance, admin: User) -> None:
    if gov.guard.is_live(admin.agency):
        return
    gov.policies.record_public_meeting(admin, meeting_date="2024-01-09", governing_body=f"{admin.agency} council",
                                       agenda_item="Item 7: ALPR program", minutes_ref="https://example.org/min")
    gov.policies.go_live(admin)


def add_user(gov: Governance, admin: User, username: str, role: str, trained: bool = True,
             approve: bool = True) -> tuple[User, str]:
    """Create the account (admin), enrol it from its one-time link (the holder), approve, train."""
    _, link_token = gov.auth.create_user(admin, username, admin.agency, role, display_name=username)
    _, secret = gov.auth.enrol(link_token, PASSWORD)
    if approve:  # two-person rule: another supervisor than the creator approves
        gov.auth.approve_user(second_supervisor(gov, admin), username)
    if trained:
        gov.auth.record_training(admin, username, "ALPR operator course")
    return gov.store.get_user(username), secret


def second_supervisor(gov: Governance, creator: User) -> User:
    """An active supervisor of the creator's agency other than the creator (who may not approve the
    accounts it created); bootstraps the agency's designee ``deputy.<agency>`` when there is none."""
    for u in gov.store.list_users(creator.agency):
        if u.username != creator.username and u.role in ("administrator", "designee") and u.status == "active":
            return u
    user, _ = gov.auth.bootstrap_admin(f"deputy.{creator.agency.lower()}", creator.agency, PASSWORD,
                                       display_name=f"Deputy {creator.agency}", role="designee")
    return user


def next_code(gov: Governance, secret: str) -> str:
    """A TOTP code not used before: each code is accepted once, so a test that logs in again
    within the same 30 s step moves its clock to the next step first."""
    clock = gov.clock
    if isinstance(clock, Clock):
        clock.advance(30)
    return totp_now(secret, gov.clock())


def login(gov: Governance, username: str, secret: str) -> str:
    token, _ = gov.auth.login(username, PASSWORD, next_code(gov, secret))
    return token


def read(read_id: str, plate: str, agency: str = HOME, camera: str = "cam-1", ts: Optional[float] = None) -> PlateRead:
    return PlateRead(read_id=read_id, frame_id=f"{camera}:{read_id}", camera_id=camera, agency=agency,
                     capture_ts=ts if ts is not None else time.time() - 3600, plate=plate, confidence=91.0,
                     coordinates=((0, 0), (10, 0), (10, 5), (0, 5)))


def seed_reads(gov: Governance) -> list[PlateRead]:
    now = time.time()
    reads = [
        read("r1", "7ABC123", ts=now - 7200), read("r2", "7ABC124", ts=now - 3600, camera="cam-2"),
        read("r3", "8XYZ999", ts=now - 1800), read("r4", "7ABC123", agency=OTHER, ts=now - 900),
        read("r5", "5QRS777", agency=OTHER, ts=now - 600),
    ]
    gov.reads.put_reads(reads, ttl_s=365 * 86_400)
    return reads


def alert(alert_id: str, agency: str = HOME, plate: str = "7ABC123") -> Alert:
    return Alert(alert_id=alert_id, group_id=f"g-{alert_id}", camera_id="cam-1", agency=agency,
                 capture_ts=time.time() - 60, read_plate=plate, entry_plate=plate, entry_id="e1",
                 list_code="STOLEN", list_name="Stolen vehicles", match_type="exact", distance=0,
                 case_number="C-2024-001")


def seed_alerts(gov: Governance) -> None:
    gov.reads.put_alerts([alert("a1"), alert("a2", plate="8XYZ999"), alert("b1", agency=OTHER)], ttl_s=365 * 86_400)
