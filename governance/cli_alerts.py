"""``alpr alerts tail``: follow the alerts topic as a logged-in user, one agency's alerts only.

    alpr alerts tail --user U [--totp CODE] --purpose P --case C [--bootstrap H:P] [--topic T]
                     [--json] [--from-beginning] [--max N] [--idle-timeout S] [--connect-timeout S]

The topic carries every agency's alerts (each already reduced to what its receiving agency may
see, :func:`alpr.pipelines.core.matching.visible_alert`). Viewing them is an access like the
API's alert list: ``view_alerts`` with a purpose code and a case number, refusals logged by the
guard. Only alerts of the caller's agency (the camera's) are printed. The access is logged as
``alerts_tail`` when it starts and again when it ends, with the number of alerts shown and their
ids (the plates stay out of the log; an auditor resolves ids to alerts in the store).
"""

from __future__ import annotations

import argparse
import sys

from .errors import GovernanceError
from .roles import Action

MAX_IDS_LOGGED = 1000


def cmd_alerts_tail(args: argparse.Namespace) -> int:
    from alpr.connectors.kafka_cli import alert_line, tail_alerts

    from .cli import _acting_user, _gov

    gov = _gov(args)
    try:
        actor, token = _acting_user(gov, args)
        try:
            elements = {"alerts_of_agency": actor.agency, "topic": args.topic}
            purpose = gov.guard.check_with_purpose(actor, Action.VIEW_ALERTS, args.purpose, args.case,
                                                   channel="cli", data_elements=elements)
            gov.log.record(username=actor.username, agency=actor.agency, action="alerts_tail",
                           data_elements={**elements, "phase": "start"}, purpose=purpose, channel="cli")
            shown: list[str] = []

            def emit(alert) -> None:
                shown.append(alert.alert_id)
                print(alert.to_json() if args.json else alert_line(alert), flush=True)

            try:
                tail_alerts(args.bootstrap, args.topic, accept=lambda a: a.agency == actor.agency, emit=emit,
                            from_beginning=args.from_beginning, connect_timeout=args.connect_timeout,
                            max_alerts=args.max, idle_timeout=args.idle_timeout)
            finally:
                gov.log.record(username=actor.username, agency=actor.agency, action="alerts_tail",
                               data_elements={**elements, "phase": "end", "result_count": len(shown),
                                              "alert_ids": shown[:MAX_IDS_LOGGED]},
                               purpose=purpose, channel="cli")
            return 0
        finally:
            gov.auth.logout(token)
    except GovernanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        gov.close()


def register(subparsers: "argparse._SubParsersAction") -> None:
    from alpr.connectors.kafka_cli import register_tail_options

    p = subparsers.add_parser("alerts", help="follow the alerts topic (your agency's alerts, logged in)")
    asub = p.add_subparsers(dest="alerts_command", required=True)
    t = asub.add_parser("tail", help="consume and print your agency's alerts (an access: logged, with a purpose)")
    t.add_argument("--user", required=True, help="the viewing account (password: $ALPR_PASSWORD or prompt)")
    t.add_argument("--totp", help="its current MFA code (prompted if omitted)")
    t.add_argument("--purpose", help="purpose code, e.g. HOTLIST-HIT")
    t.add_argument("--case", help="case or incident number")
    t.add_argument("--gov-db", help="governance SQLite file (default $ALPR_GOV_DB_PATH or .run/governance.db)")
    t.add_argument("--read-store", help="read store, sqlite:PATH (default $ALPR_GOV_READ_STORE or sqlite:.run/alpr.db)")
    register_tail_options(t)
    t.set_defaults(func=cmd_alerts_tail)
