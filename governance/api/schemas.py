"""Request bodies of the JSON API."""

from __future__ import annotations

from typing import Optional

from pydantic import BaseModel, Field


class LoginIn(BaseModel):
    username: str
    password: str
    totp: str = Field(description="6-digit code from the authenticator app")


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
    course: str
    valid_days: Optional[int] = None
    completed_ts: Optional[float] = None


class ReasonIn(BaseModel):
    reason: str = ""


class PurposeIn(BaseModel):
    purpose_code: Optional[str] = Field(None, description="structured purpose code (GET /public/purposes)")
    case_number: Optional[str] = Field(None, description="case or incident number (mandatory)")
    note: Optional[str] = Field(None, description="free-text supplement; never sufficient alone")


class SearchIn(PurposeIn):
    plate_pattern: Optional[str] = Field(None, description="'*' any run of characters, '?' exactly one")
    camera_id: Optional[str] = None
    start_ts: Optional[float] = None
    end_ts: Optional[float] = None
    limit: int = 500


class AcknowledgeIn(BaseModel):
    incident_number: str


class VerifyIn(BaseModel):
    system: str = Field(description="CLETS or NCIC")
    reference: str = Field(description="response / message reference of the confirmation")
    confirmed: bool
    visual_check: bool = Field(description="plate and state visually checked against the image / vehicle")


class EnforcementIn(BaseModel):
    action: str


class DispositionIn(BaseModel):
    disposition: str


class HotlistIn(BaseModel):
    plate: str = Field(max_length=64)
    list_code: str = Field(max_length=64)
    case_number: str = Field(max_length=64)
    purpose_code: Optional[str] = Field(default=None, max_length=64)
    expires_at: Optional[float] = Field(default=None, allow_inf_nan=False)
    description: str = Field(default="", max_length=200)
    state: str = Field(default="", max_length=2)
    priority: int = Field(default=50, ge=0, le=100)
    covert: bool = False
    clets_derived: bool = False


class RetentionIn(BaseModel):
    days: int


class HoldIn(BaseModel):
    case_number: str
    reason: str
    plate_pattern: Optional[str] = None
    camera_id: Optional[str] = None
    start_ts: Optional[float] = None
    end_ts: Optional[float] = None
    limit: int = 1000


class AgencyIn(BaseModel):
    """Only the id is taken: name, kind, state and flags come from the curated list."""
    agency_id: str = Field(max_length=32)


class AgencyProfileIn(BaseModel):
    name: Optional[str] = Field(default=None, max_length=200)
    contact: Optional[str] = Field(default=None, max_length=200)


class ScopeIn(BaseModel):
    plate_pattern: Optional[str] = None
    camera_id: Optional[str] = None
    start_ts: Optional[float] = None
    end_ts: Optional[float] = None


class ShareIn(BaseModel):
    requesting_agency: str
    requester_name: str
    purpose_code: Optional[str] = None
    case_number: Optional[str] = None
    purpose_text: str
    scope: ScopeIn


class ReviewIn(BaseModel):
    approve: bool
    note: str = ""
    days: Optional[int] = None


class SampleIn(BaseModel):
    period_start: float
    period_end: float
    size: Optional[int] = None
    seed: Optional[int] = None


class FindingIn(BaseModel):
    seq: int
    result: str
    note: str = ""


class SignIn(BaseModel):
    summary: str
