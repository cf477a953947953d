"""``alpr agreements``: hotlist (live-matching) agreements between two agencies, as a logged-in
administrator or designee of one of them (see :mod:`.agreements`).

    alpr agreements list --user U [--totp CODE]
    alpr agreements show --user U --id ID
    alpr agreements propose --user U --owner A --partner B --document REF --start DATE --expires DATE
                            [--list-code CODE]... [--note TEXT]
    alpr agreements approve|reject --user U --id ID [--note TEXT]     (the OTHER agency)
    alpr agreements revoke --user U --id ID [--reason TEXT]           (either agency)

DATE: ``YYYY-MM-DD`` (UTC midnight) or epoch seconds. Every step is logged for both agencies.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from dataclasses import asdict

from .errors import GovernanceError, ValidationError


def _when(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        day = datetime.date.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{text!r} is neither YYYY-MM-DD nor epoch seconds") from None
    return datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.timezone.utc).timestamp()


def cmd_agreements(args: argparse.Namespace) -> int:
    from .cli import _acting_user, _gov

    gov = _gov(args)
    try:
        actor, token = _acting_user(gov, args)
        try:
            op, svc = args.agreements_cmd, gov.agreements
            if op == "list":
                for a in svc.list(actor, channel="cli"):
                    print(json.dumps(asdict(a)))
                return 0
            if op == "propose":
                a = svc.propose(actor, owner_agency=args.owner, partner_agency=args.partner,
                                document_ref=args.document, start_ts=_when(args.start),
                                expires_ts=_when(args.expires), list_codes=args.list_code or (),
                                note=args.note or "", channel="cli")
            elif op == "show":
                a = svc.get(actor, args.id, channel="cli")
            elif op in ("approve", "reject"):
                a = svc.review(actor, args.id, op == "approve", args.note or "", channel="cli")
            else:
                a = svc.revoke(actor, args.id, args.reason or "", channel="cli")
            print(json.dumps(asdict(a)))
            return 0
        finally:
            gov.auth.logout(token)
    except GovernanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        gov.close()


def register(subparsers: "argparse._SubParsersAction") -> None:
    from .cli import _common

    ag = subparsers.add_parser("agreements", help="hotlist agreements: an agency's entries on another agency's "
                                                  "cameras (proposed by one agency, approved by the other)")
    asub = ag.add_subparsers(dest="agreements_cmd", required=True)
    for name, help_ in (("list", "agreements your agency is a party to"), ("show", "one agreement"),
                        ("propose", "propose an agreement (your agency is the owner or the partner)"),
                        ("approve", "approve the other agency's proposal"),
                        ("reject", "reject the other agency's proposal"),
                        ("revoke", "end a proposed or approved agreement")):
        p = asub.add_parser(name, help=help_)
        _common(p)
        p.add_argument("--user", required=True, help="the acting administrator or designee ($ALPR_PASSWORD)")
        p.add_argument("--totp", help="its current MFA code (prompted if omitted)")
        if name == "propose":
            p.add_argument("--owner", required=True, help="the agency whose hotlist entries extend")
            p.add_argument("--partner", required=True, help="the agency whose cameras they alert on")
            p.add_argument("--document", required=True, help="the written agreement's document id or number")
            p.add_argument("--start", required=True, help="YYYY-MM-DD or epoch seconds")
            p.add_argument("--expires", required=True, help="YYYY-MM-DD or epoch seconds")
            p.add_argument("--list-code", action="append", help="only this list of the owner (repeatable)")
            p.add_argument("--note")
        elif name != "list":
            p.add_argument("--id", required=True, help="the agreement id")
            if name in ("approve", "reject"):
                p.add_argument("--note")
            if name == "revoke":
                p.add_argument("--reason")
        p.set_defaults(func=cmd_agreements)
