"""``alpr`` subcommands of the policy layer. The lead's ``alpr/cli.py`` calls :func:`register`
on its subparsers and then ``args.func(args)`` (each handler returns an exit code).

    alpr serve [--host H] [--port P]
    alpr audit verify [--anchors FILE]... [--mirror [--access-log-mirror SPEC]]
    alpr audit anchor
    alpr evidence export --case C --out F.zip --user U [--totp CODE]   (password: $ALPR_PASSWORD or prompt)
    alpr users bootstrap --username U --agency A [--role designee] [--display-name N] | --platform
                                                              (password: $ALPR_ADMIN_PASSWORD)
    alpr users create --user ADMIN --username U --role R     -> a one-time enrolment link for U
    alpr users enrol --token T                                (U's new password: $ALPR_NEW_PASSWORD or prompt)
    alpr users approve|train|suspend|unlock|reenrol --user ADMIN --username U [--course C] [--reason R]
    alpr users list --user ADMIN | alpr users suspend-inactive
    alpr go-live meeting --user ADMIN --date D --body B --agenda-item I --minutes M | start | status
    (--user: the acting account; its password from $ALPR_PASSWORD or a prompt, --totp or a prompt)

Common options: ``--gov-db PATH`` (governance SQLite), ``--read-store sqlite:PATH``; otherwise the
``ALPR_GOV_*`` environment variables and defaults of :class:`GovernanceSettings` apply.
Secrets are never written to the repository: the TOTP secret is printed once.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from dataclasses import asdict
from typing import Optional

from .errors import GovernanceError
from .roles import Action
from .settings import GovernanceSettings


def _settings(args: argparse.Namespace) -> GovernanceSettings:
    overrides = {}
    if getattr(args, "gov_db", None):
        overrides["db_path"] = args.gov_db
    if getattr(args, "read_store", None):
        overrides["read_store"] = args.read_store
    if getattr(args, "access_log_cassandra", None):
        overrides["access_log_cassandra"] = args.access_log_cassandra
    if getattr(args, "access_log_mirror", None):
        overrides["access_log_mirror"] = args.access_log_mirror
    return GovernanceSettings.from_env(**overrides)


def _gov(args: argparse.Namespace):
    from .service import Governance
    return Governance.build(_settings(args))


def _secret(env_name: str, prompt: str) -> str:
    value = os.environ.get(env_name)
    if value:
        return value
    if not sys.stdin.isatty():
        raise SystemExit(f"set ${env_name} or run interactively to enter the password")
    return getpass.getpass(prompt)


def _os_user() -> str:
    try:
        return "cli:" + getpass.getuser()
    except Exception:  # pragma: no cover
        return "cli:unknown"


def cmd_serve(args: argparse.Namespace) -> int:
    from .api import serve
    serve(args.host, args.port, _settings(args))
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """Keyed chain + anchors (configured sinks and ``--anchors`` copies) + primary-vs-mirror."""
    gov = _gov(args)
    try:
        if getattr(args, "mirror", False) and not gov.log.mirrors:
            print("error: --mirror: no access-log mirror configured (set --access-log-mirror, "
                  "--access-log-cassandra or $ALPR_GOV_ACCESS_LOG_MIRROR)", file=sys.stderr)
            return 2
        try:
            report = gov.verify_chain(tuple(args.anchors or ()))
        except (OSError, ValueError, RuntimeError) as exc:
            print(f"error: anchors unreadable: {exc}", file=sys.stderr)
            return 2
        mirrors = gov.verify_mirrors() if getattr(args, "mirror", False) else []
        ok = report.ok and all(m.ok for m in mirrors)
        data = {"ok": report.ok, "checked": report.checked, "first_bad_seq": report.first_bad_seq,
                "anchors_checked": report.anchors_checked}
        if mirrors:
            data["mirrors_ok"] = all(m.ok for m in mirrors)
        gov.log.record(username=_os_user(), agency=gov.settings.home_agency, action="verify_chain",
                       data_elements=data, channel="cli", purpose_code="AUDIT")
        out = asdict(report)  # "ok" is the primary's; the exit code covers the mirrors too
        if getattr(args, "mirror", False):
            out["mirrors"] = [{k: v for k, v in asdict(m).items() if k != "anchors_checked"} for m in mirrors]
        print(json.dumps(out))
        return 0 if ok else 1
    finally:
        gov.close()


def cmd_audit_anchor(args: argparse.Namespace) -> int:
    """Publish a signed checkpoint of the access-log head now (cron between maintenance runs)."""
    gov = _gov(args)
    try:
        cp = gov.log.anchor_now()
        print(json.dumps(asdict(cp) if cp else {"anchored": None}))
        return 0 if cp else 1
    finally:
        gov.close()


def cmd_evidence_export(args: argparse.Namespace) -> int:
    gov = _gov(args)
    try:
        password = _secret("ALPR_PASSWORD", f"password for {args.user}: ")
        code = args.totp or input("MFA code: ")
        token, _ = gov.auth.login(args.user, password, code, channel="cli")
        user = gov.auth.authenticate(token, channel="cli")
        manifest = gov.evidence.export_evidence(user, args.case, args.out, channel="cli")
        gov.auth.logout(token)
        print(json.dumps({"out": args.out, "files": len(manifest["files"])}))
        return 0
    except GovernanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        gov.close()


def cmd_users_bootstrap(args: argparse.Namespace) -> int:
    import pyotp

    from .roles import PLATFORM_AGENCY
    gov = _gov(args)
    try:
        password = _secret("ALPR_ADMIN_PASSWORD", f"new password for {args.username}: ")
        agency = PLATFORM_AGENCY if args.platform else (args.agency or gov.settings.home_agency)
        user, secret = gov.auth.bootstrap_admin(args.username, agency, password,
                                                display_name=args.display_name or args.username,
                                                role="" if args.platform else args.role)
        print(f"{'platform operator' if args.platform else user.role} {user.username} ({user.agency}) created.")
        print(f"TOTP secret (shown once, add it to an authenticator app now): {secret}")
        print(f"otpauth URI: {pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name='alpr-stream')}")
        return 0
    except GovernanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        gov.close()


def _acting_user(gov, args: argparse.Namespace):
    """Log the acting account in (password: $ALPR_PASSWORD or prompt; code: --totp or prompt)."""
    password = _secret("ALPR_PASSWORD", f"password for {args.user}: ")
    code = args.totp or input("MFA code: ")
    token, _ = gov.auth.login(args.user, password, code, channel="cli")
    return gov.auth.authenticate(token, channel="cli"), token


def cmd_users_action(args: argparse.Namespace) -> int:
    """create | approve | train | suspend | unlock | reenrol | list, as the logged-in ``--user``."""
    gov = _gov(args)
    try:
        actor, token = _acting_user(gov, args)
        try:
            op, name = args.users_cmd, getattr(args, "username", None)
            if op == "create":
                user, link = gov.auth.create_user(actor, name, actor.agency, args.role,
                                                  args.display_name or "", args.title or "", channel="cli")
                print(f"{user.username} ({user.agency}, {user.role}) created, pending approval.")
                print(f"one-time enrolment link (give it to {user.username} only; valid "
                      f"{gov.settings.enrol_valid_h} h): /console/enrol?token={link}")
            elif op == "reenrol":
                link = gov.auth.reissue_enrolment(actor, name, channel="cli")
                print(f"new one-time enrolment link for {name}: /console/enrol?token={link}")
                print(f"{name} is pending until a supervisor other than {actor.username} approves the account.")
            elif op == "approve":
                print(json.dumps({"username": gov.auth.approve_user(actor, name, channel="cli").username,
                                  "status": "active"}))
            elif op == "train":
                rec = gov.auth.record_training(actor, name, args.course, valid_days=args.valid_days, channel="cli")
                print(json.dumps({"username": name, "course": rec.course, "expires_ts": rec.expires_ts}))
            elif op == "suspend":
                gov.auth.suspend_user(actor, name, args.reason or "suspended", channel="cli")
                print(json.dumps({"username": name, "status": "suspended"}))
            elif op == "unlock":
                gov.auth.unlock_user(actor, name, channel="cli")
                print(json.dumps({"username": name, "unlocked": True}))
            elif op == "list":
                gov.guard.check(actor, Action.MANAGE_USERS, channel="cli", data_elements={"users_of": actor.agency})
                users = gov.store.list_users(actor.agency)
                gov.log.record(username=actor.username, agency=actor.agency, action="user_list",
                               data_elements={"users_of": actor.agency, "count": len(users)}, channel="cli",
                               purpose_code="ADMIN")
                for u in users:
                    print(f"{u.username}\t{u.agency}\t{u.role}\t{u.status}\ttraining="
                          f"{'current' if gov.auth.training_current(u.username) else 'NONE'}")
            return 0
        finally:
            gov.auth.logout(token)
    except GovernanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        gov.close()


def cmd_golive(args: argparse.Namespace) -> int:
    """``alpr go-live meeting|start|status`` as the agency's logged-in administrator."""
    gov = _gov(args)
    try:
        actor, token = _acting_user(gov, args)
        try:
            if args.golive_cmd == "meeting":
                m = gov.policies.record_public_meeting(actor, meeting_date=args.date, governing_body=args.body,
                                                       agenda_item=args.agenda_item, minutes_ref=args.minutes,
                                                       channel="cli")
                print(json.dumps(asdict(m)))
            elif args.golive_cmd == "start":
                print(json.dumps(asdict(gov.policies.go_live(actor, channel="cli"))))
            else:
                gov.guard.check(actor, Action.PUBLISH_POLICY, channel="cli", data_elements={"go_live_checklist": 1})
                print(json.dumps({"agency": actor.agency, **gov.policies.go_live_checklist(actor.agency)}))
            return 0
        finally:
            gov.auth.logout(token)
    except GovernanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        gov.close()


def cmd_users_enrol(args: argparse.Namespace) -> int:
    """The holder of a one-time link sets their password and gets their MFA secret (shown to them only)."""
    import pyotp
    gov = _gov(args)
    try:
        password = _secret("ALPR_NEW_PASSWORD", "choose your password: ")
        user, secret = gov.auth.enrol(args.token, password, channel="cli")
        print(f"{user.username} enrolled. TOTP secret (shown once): {secret}")
        print(f"otpauth URI: {pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name='alpr-stream')}")
        return 0
    except GovernanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        gov.close()


def cmd_users_suspend_inactive(args: argparse.Namespace) -> int:
    gov = _gov(args)
    try:
        for name in gov.auth.suspend_inactive():
            print(f"suspended {name}")
        return 0
    finally:
        gov.close()


def cmd_maintenance_run(args: argparse.Namespace) -> int:
    """The periodic jobs once (for cron/systemd timers when ``alpr serve`` is not running):
    retention purge, inactivity suspension, share expiry, scheduled audit sample. Audited."""
    gov = _gov(args)
    try:
        print(json.dumps(gov.run_maintenance()))
        return 0
    finally:
        gov.close()


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gov-db", help="governance SQLite file (default $ALPR_GOV_DB_PATH or .run/governance.db)")
    p.add_argument("--read-store", help="read store, sqlite:PATH (default $ALPR_GOV_READ_STORE or sqlite:.run/alpr.db)")


def register(subparsers: "argparse._SubParsersAction") -> None:
    p = subparsers.add_parser("serve", help="run the governance API, web console and public page")
    _common(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.set_defaults(func=cmd_serve)

    audit = subparsers.add_parser("audit", help="access-log audits")
    asub = audit.add_subparsers(dest="audit_cmd", required=True)
    p = asub.add_parser("verify", help="verify the hash chain of the access log (exit 1 if broken)")
    _common(p)
    p.add_argument("--mirror", action="store_true",
                   help="also verify the Cassandra mirror of the access log (exit 1 if either is broken)")
    p.add_argument("--access-log-cassandra", metavar="HOST:PORT/KEYSPACE",
                   help="the access-log mirror (default $ALPR_GOV_ACCESS_LOG_CASSANDRA)")
    p.add_argument("--access-log-mirror", metavar="SPEC",
                   help="mirror as sqlite:PATH or cassandra://HOST:PORT/KEYSPACE ($ALPR_GOV_ACCESS_LOG_MIRROR)")
    p.add_argument("--anchors", action="append", metavar="FILE",
                   help="an auditor's copy of the anchor file (repeatable); the configured sinks are always read")
    p.set_defaults(func=cmd_audit_verify)
    p = asub.add_parser("anchor", help="publish a signed checkpoint of the access-log head to the anchor sinks")
    _common(p)
    p.set_defaults(func=cmd_audit_anchor)

    ev = subparsers.add_parser("evidence", help="evidence holds")
    esub = ev.add_subparsers(dest="evidence_cmd", required=True)
    p = esub.add_parser("export", help="export a case's evidence zip with SHA-256 manifest and custody record")
    _common(p)
    p.add_argument("--case", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--user", required=True, help="custodian or administrator username (password: $ALPR_PASSWORD)")
    p.add_argument("--totp", help="current MFA code (prompted if omitted)")
    p.set_defaults(func=cmd_evidence_export)

    users = subparsers.add_parser("users", help="user accounts")
    usub = users.add_subparsers(dest="users_cmd", required=True)
    p = usub.add_parser("bootstrap", help="create an agency's first administrator (--role designee: its second "
                                          "supervisor), or (--platform) the platform "
                                          "operator (password: $ALPR_ADMIN_PASSWORD)")
    _common(p)
    p.add_argument("--username", required=True)
    p.add_argument("--agency")
    p.add_argument("--platform", action="store_true",
                   help="the platform operator: maintains the recipient-agency registry only")
    p.add_argument("--role", choices=("administrator", "designee"), default="administrator",
                   help="designee: the agency's second supervisor, only while its administrator is its one "
                        "supervisor (the creator of an account may not approve it: two-person rule)")
    p.add_argument("--display-name")
    p.set_defaults(func=cmd_users_bootstrap)
    p = usub.add_parser("enrol", help="set your password and get your MFA secret from a one-time link "
                                      "(password: $ALPR_NEW_PASSWORD or prompt)")
    _common(p)
    p.add_argument("--token", required=True)
    p.set_defaults(func=cmd_users_enrol)
    actions = {"create": "create a pending account; prints its one-time enrolment link",
               "approve": "supervisor approval of a pending or suspended account",
               "train": "record a training course", "suspend": "suspend an account",
               "unlock": "unlock an account locked by failed logins",
               "reenrol": "new one-time enrolment link (lost MFA device, forgotten password)",
               "list": "list the accounts of your agency and their training status"}
    for name, help_ in actions.items():
        p = usub.add_parser(name, help=help_)
        _common(p)
        p.add_argument("--user", required=True, help="the acting administrator or designee ($ALPR_PASSWORD)")
        p.add_argument("--totp", help="its current MFA code (prompted if omitted)")
        if name != "list":
            p.add_argument("--username", required=True, help="the account acted on")
        if name == "create":
            p.add_argument("--role", required=True)
            p.add_argument("--display-name")
            p.add_argument("--title")
        if name == "train":
            p.add_argument("--course", required=True)
            p.add_argument("--valid-days", type=int)
        if name == "suspend":
            p.add_argument("--reason")
        p.set_defaults(func=cmd_users_action)
    p = usub.add_parser("suspend-inactive", help="suspend accounts idle for the configured number of days")
    _common(p)
    p.set_defaults(func=cmd_users_suspend_inactive)

    gl = subparsers.add_parser("go-live", help="public-comment meeting (Civ. Code 1798.90.55(a)) and go-live")
    gsub = gl.add_subparsers(dest="golive_cmd", required=True)
    for name, help_ in (("meeting", "record the governing body's public meeting on the ALPR program"),
                        ("start", "start the agency's program (refused until the meeting is recorded)"),
                        ("status", "the go-live checklist")):
        p = gsub.add_parser(name, help=help_)
        _common(p)
        p.add_argument("--user", required=True, help="the agency's administrator ($ALPR_PASSWORD)")
        p.add_argument("--totp", help="its current MFA code (prompted if omitted)")
        if name == "meeting":
            p.add_argument("--date", required=True, help="YYYY-MM-DD")
            p.add_argument("--body", required=True, help="governing body, e.g. 'Desert Hot Springs City Council'")
            p.add_argument("--agenda-item", required=True)
            p.add_argument("--minutes", required=True, help="where the minutes are published")
        p.set_defaults(func=cmd_golive)

    maint = subparsers.add_parser("maintenance", help="retention purge and other periodic jobs")
    msub = maint.add_subparsers(dest="maintenance_cmd", required=True)
    p = msub.add_parser("run", help="purge expired reads, suspend idle accounts, expire shares, sample audits")
    _common(p)
    p.set_defaults(func=cmd_maintenance_run)


def main(argv: Optional[list[str]] = None) -> int:
    """Standalone entry (for tests and until the lead wires ``alpr``)."""
    parser = argparse.ArgumentParser(prog="alpr")
    register(parser.add_subparsers(dest="cmd", required=True))
    args = parser.parse_args(argv)
    return args.func(args)
