"""Request bodies of the JSON API."""

from __future__ import annotations

from typing import Annotated, Optional

from pydantic import BaseModel, Field

# every field is bounded: an oversized or non-finite value is a 422, never a 500 or a slow request
Short = Annotated[str, Field(max_length=64)]
Text = Annotated[str, Field(max_length=500)]
Pattern = Annotated[str, Field(max_length=32, description="'*' any run of characters, '?' exactly one")]
Ts = Annotated[float, Field(ge=0, le=4_102_444_800, allow_inf_nan=False)]  # epoch seconds up to 2100
Days = Annotated[int, Field(ge=-100_000, le=100_000)]


class LoginIn(BaseModel):
    username: Short
    password: str = Field(max_length=1000)
    totp: str = Field(max_length=12, description="6-digit code from the authenticator app")


class UserIn(BaseModel):
    """No password and no MFA secret: the holder sets both from the one-time enrolment link."""
    username: str = Field(max_length=64)
    role: str = Field(max_length=32)
    display_name: str = Field(default="", max_length=200)
    title: str = Field(default="", max_length=200)


class EnrolIn(BaseModel):
    token: str = Field(max_length=200)
    password: str = Field(max_length=1000)


class PasswordChangeIn(BaseModel):
    current_password: str = Field(max_length=1000)
    new_password: str = Field(max_length=1000)
    totp: str = Field(max_length=12)


class MfaResetIn(BaseModel):
    password: str = Field(max_length=1000)
    totp: str = Field(max_length=12)


class TrainingIn(BaseModel):
    course: Text
    valid_days: Optional[Days] = None
    completed_ts: Optional[Ts] = None


class ReasonIn(BaseModel):
    reason: Text = ""


class PurposeIn(BaseModel):
    purpose_code: Optional[str] = Field(None, max_length=64, description="structured purpose code (GET /public/purposes)")
    case_number: Optional[str] = Field(None, max_length=64, description="case or incident number (mandatory)")
    note: Optional[str] = Field(None, max_length=500, description="free-text supplement; never sufficient alone")


class SearchIn(PurposeIn):
    plate_pattern: Optional[Pattern] = None
    camera_id: Optional[Short] = None
    start_ts: Optional[Ts] = None
    end_ts: Optional[Ts] = None
    limit: int = Field(500, ge=1, le=10_000)


class AcknowledgeIn(BaseModel):
    incident_number: Short


class VerifyIn(BaseModel):
    system: str = Field(max_length=16, description="CLETS or NCIC")
    reference: str = Field(max_length=128, description="response / message reference of the confirmation")
    confirmed: bool
    visual_check: bool = Field(description="plate and state visually checked against the image / vehicle")


class EnforcementIn(BaseModel):
    action: Text


class DispositionIn(BaseModel):
    disposition: Text


class HotlistIn(BaseModel):
    plate: str = Field(max_length=64)
    list_code: str = Field(max_length=64)
    case_number: str = Field(max_length=64)
    purpose_code: Optional[str] = Field(default=None, max_length=64)
    expires_at: Optional[Ts] = None
    description: str = Field(default="", max_length=200)
    state: str = Field(default="", max_length=2)
    priority: int = Field(default=50, ge=0, le=100)
    covert: bool = False
    clets_derived: bool = False


class RetentionIn(BaseModel):
    days: Days


class HoldIn(BaseModel):
    case_number: Short
    reason: Text
    plate_pattern: Optional[Pattern] = None
    camera_id: Optional[Short] = None
    start_ts: Optional[Ts] = None
    end_ts: Optional[Ts] = None
    limit: int = Field(1000, ge=1, le=10_000)


class AgencyIn(BaseModel):
    """Only the id is taken: name, kind, state and flags come from the curated list."""
    agency_id: str = Field(max_length=32)


class AgencyProfileIn(BaseModel):
    name: Optional[str] = Field(default=None, max_length=200)
    contact: Optional[str] = Field(default=None, max_length=200)


class ScopeIn(BaseModel):
    plate_pattern: Optional[str] = Field(None, max_length=300, description="named plates, comma separated")
    camera_id: Optional[Short] = None
    start_ts: Optional[Ts] = None
    end_ts: Optional[Ts] = None


class ShareIn(BaseModel):
    requesting_agency: Short
    requester_name: Text
    purpose_code: Optional[Short] = None
    case_number: Optional[Short] = None
    purpose_text: Text
    scope: ScopeIn


class ReviewIn(BaseModel):
    approve: bool
    note: Text = ""
    days: Optional[Days] = None


class SampleIn(BaseModel):
    period_start: Ts
    period_end: Ts
    size: Optional[int] = Field(None, ge=1, le=1000)
    seed: Optional[int] = Field(None, ge=0, le=2**63 - 1)


class FindingIn(BaseModel):
    seq: int = Field(ge=1, le=2**63 - 1)
    result: Short
    note: Text = ""


class SignIn(BaseModel):
    summary: Text


class MeetingIn(BaseModel):
    """Civ. Code 1798.90.55(a): the governing body's public meeting before the program starts."""
    meeting_date: str = Field(max_length=10, description="YYYY-MM-DD")
    governing_body: str = Field(max_length=300)
    agenda_item: str = Field(max_length=300)
    minutes_ref: str = Field(max_length=300, description="where the minutes are published")


class AgreementIn(BaseModel):
    """A hotlist (live-matching) agreement: ``owner_agency``'s entries alert on ``partner_agency``'s
    cameras. The caller's agency is one of the two; the other agency approves."""
    owner_agency: Short
    partner_agency: Short
    document_ref: str = Field(max_length=128, description="the written agreement's document id or number")
    start_ts: Ts
    expires_ts: Ts
    list_codes: list[Short] = Field(default_factory=list, max_length=20,
                                    description="only these lists of the owner (empty: all)")
    note: Text = ""


class AgreementReviewIn(BaseModel):
    approve: bool
    note: Text = ""
