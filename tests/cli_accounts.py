"""Accounts for tests of `alpr` commands that log a ``--user`` in (not a test module).

Every such call logs its account in with a TOTP code, and a code is accepted once: an account
serves two calls (the current 30-s step's code, then the next one's). :meth:`CliAccounts.login`
hands out codes and adds a fresh account of the same agency and role when one runs out.
"""

from __future__ import annotations

import time

from alpr.governance.auth import totp_now
from alpr.governance.roles import PLATFORM_AGENCY

from governance_helpers import HOME, PASSWORD, add_user, bootstrap, make_gov

PURPOSE = "STOLEN-VEHICLE"


class CliAccounts:
    """A governance database in ``tmp_path`` (``$ALPR_GOV_DB_PATH`` points at it, ``$ALPR_PASSWORD``
    is every account's password, the key files are absolute paths in ``tmp_path``, so a command run
    in another working directory or process reads the same accounts), agencies that have gone live,
    and their accounts."""

    def __init__(self, tmp_path, monkeypatch):
        self.db = str(tmp_path / "gov.db")
        keys = {"secrets_key_file": str(tmp_path / "keys" / "secrets.key"),
                "audit_key_file": str(tmp_path / "keys" / "audit.key")}
        monkeypatch.setenv("ALPR_PASSWORD", PASSWORD)
        monkeypatch.setenv("ALPR_GOV_DB_PATH", self.db)
        monkeypatch.setenv("ALPR_GOV_ARGON2_TIME_COST", "1")
        monkeypatch.setenv("ALPR_GOV_ARGON2_MEMORY_KIB", "8192")
        for name, path in keys.items():
            monkeypatch.setenv(f"ALPR_GOV_{name.upper()}", path)
        self.gov = make_gov(db_path=self.db, read_path=str(tmp_path / "gov-reads.db"), **keys)
        self.admins: dict[str, object] = {}
        self.secrets: dict[str, str] = {}
        self.used: dict[str, int] = {}
        self.pool: dict[tuple[str, str], list[str]] = {}

    def admin(self, agency: str = HOME):
        if agency not in self.admins:
            name = "platform.op" if agency == PLATFORM_AGENCY else f"chief.{agency.lower()}"
            user, secret = bootstrap(self.gov, agency, name)
            self.admins[agency], self.secrets[user.username] = user, secret
            role = "platform" if agency == PLATFORM_AGENCY else "administrator"
            self.pool.setdefault((agency, role), []).append(user.username)
        return self.admins[agency]

    def account(self, agency: str = HOME, role: str = "operator") -> str:
        """An account of ``agency`` with ``role`` that still has an unused code."""
        admin = self.admin(agency)
        names = self.pool.setdefault((agency, role), [])
        for name in names:
            if self.used.get(name, 0) < 2:
                return name
        if role == "platform":
            raise AssertionError("the one platform account has used its two codes")
        name = f"{agency.lower()}.{role}{len(names)}"
        user, secret = add_user(self.gov, admin, name, role)
        self.secrets[name] = secret
        names.append(name)
        return name

    def login(self, agency: str = HOME, role: str = "operator", username: str = "") -> list[str]:
        """``--user U --totp CODE`` for a call of an account of ``agency`` (or ``username``)."""
        name = username or self.account(agency, role)
        n = self.used.get(name, 0)
        assert n < 2, f"{name}: only the current and the next code are valid"
        self.used[name] = n + 1
        return ["--user", name, "--totp", totp_now(self.secrets[name], time.time() + 30 * n)]

    def as_(self, agency: str = HOME, role: str = "operator", purpose: str = PURPOSE, case: str = "C-2024-0042",
            feed: bool = False) -> list[str]:
        """The login plus the purpose code and case number of an access."""
        return [*self.login(agency, role), "--purpose", purpose, "--case", case, *(["--feed"] if feed else [])]

    def records(self, action: str):
        return [r for r in self.gov.store.access_records() if r.action == action]
