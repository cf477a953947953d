"""``alpr hotlist match|import``: register with :func:`register` on an argparse subparsers object.

Each sub-command sets ``func``; call ``args.func(args)`` and use its return value as the
exit status (0 ok, 1 rows/file refused, 2 file unreadable, bad arguments, login or permission
refused).

``match`` reads a local file and touches no store. ``import`` writes the store the pipeline
matches against, so it is an access (policy 461, Civ. Code 1798.90.52): it logs ``--user`` in
(password ``$ALPR_PASSWORD`` or a prompt, ``--totp`` or a prompt), needs ``--purpose`` and
``--case``, writes entries owned by the caller's agency only (a platform account imports the
agency-less state feeds with ``--feed``) and is logged as ``hotlist_import``
(:mod:`alpr.governance.hotlist_import`).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Optional, TextIO

from alpr.config import Settings
from alpr.hotlist.matcher import HotlistMatcher

DEFAULT_STORE = Settings.store  # one source: the pipeline reads its hotlists from the same store
PROGRESS_MIN_LINES = 20_000     # smaller files import in well under a second: no progress line
MAX_BLANK_LINES_SHOWN = 10

FORMAT_CHOICES = ("auto", "csv", "openalpr", "ncic", "clew")


def register(subparsers) -> argparse.ArgumentParser:
    hp = subparsers.add_parser("hotlist", help="hotlist import and matching")
    hsub = hp.add_subparsers(dest="hotlist_cmd", required=True)

    m = hsub.add_parser("match", help="match plates against a hotlist file")
    m.add_argument("--hotlist", required=True, help="hotlist file")
    m.add_argument("--format", default="auto", choices=FORMAT_CHOICES)
    m.add_argument("--list", dest="list_code", default="HOT", help="list code for CSV/CLEW files (default HOT)")
    m.add_argument("--json", action="store_true", help="one JSON object per plate per line")
    m.add_argument("plates", nargs="+", metavar="PLATE")
    m.set_defaults(func=cmd_match)

    i = hsub.add_parser("import", help="import a hotlist file into the hotlist store")
    i.add_argument("file", metavar="FILE")
    i.add_argument("--format", default="auto", choices=FORMAT_CHOICES)
    i.add_argument("--list", dest="list_code", required=True,
                   help="list code (NCIC: the parse code to keep, e.g. V)")
    mode = i.add_mutually_exclusive_group()
    mode.add_argument("--replace", dest="mode", action="store_const", const="replace",
                      help="full replacement of the list (default)")
    mode.add_argument("--incremental", dest="mode", action="store_const", const="incremental",
                      help="add/remove entries, keep the rest")
    i.add_argument("--store", default=None,
                   help="hotlist store, sqlite:PATH or cassandra://host:port/keyspace (default: the configured "
                        f"store, ALPR_STORE / -c; {DEFAULT_STORE} when unset)")
    i.add_argument("-c", "--config", help="YAML settings file (store, Kafka) as for alpr run")
    pub = i.add_mutually_exclusive_group()
    pub.add_argument("--publish", dest="publish", action="store_const", const=True,
                     help="also publish every change to the compacted Kafka hotlist topic (the streaming job's "
                          "live hotlists); default: when the configured source is kafka or the runner is flink")
    pub.add_argument("--no-publish", dest="publish", action="store_const", const=False)
    i.add_argument("--states", default="", help="comma-separated state whitelist")
    i.add_argument("--user", required=True,
                   help="the importing account (password: $ALPR_PASSWORD or prompt); its agency owns the entries")
    i.add_argument("--totp", help="its current MFA code (prompted if omitted)")
    i.add_argument("--purpose", help="purpose code (policy 461.3; see the public policy page), e.g. STOLEN-VEHICLE")
    i.add_argument("--case", help="case or incident number; also the case of rows that carry none")
    i.add_argument("--feed", action="store_true",
                   help="an agency-less state/NCIC feed list (every agency's cameras): platform accounts only")
    i.add_argument("--gov-db", help="governance SQLite file with the accounts and the access log "
                                    "(default $ALPR_GOV_DB_PATH or .run/governance.db)")
    i.add_argument("--matching", choices=["auto", "exact", "ocr", "fuzzy"], default="auto",
                   help="per-list fuzziness: exact only; OCR-equivalent characters (1 substitution); "
                        "fuzzy (OCR + one edit). auto = exact for state feeds (ncic, clew), ocr otherwise: "
                        "keeps fuzzy candidates under 0.1%% of reads (benchmarks/bench_hotlist_precision.py)")
    i.set_defaults(func=cmd_import, mode=None, publish=None)
    return hp


def _options(args, for_match: bool = False, on_row=None, **scope):
    from alpr.connectors.hotlists import ImportOptions

    states = frozenset(s.strip().upper() for s in getattr(args, "states", "").split(",") if s.strip()) or None
    fmt = args.format
    ncic_codes = None
    if fmt == "ncic" and not for_match:
        ncic_codes = frozenset({args.list_code})
    matching = getattr(args, "matching", "fuzzy")
    if matching == "auto":
        matching = "exact" if fmt in ("ncic", "clew") else "ocr"
    fuzz = {"exact": dict(fuzzy=False, max_ocr_subs=0, max_edits=0),
            "ocr": dict(fuzzy=True, max_ocr_subs=1, max_edits=0),
            "fuzzy": dict(fuzzy=True, max_ocr_subs=1, max_edits=1)}[matching]
    return ImportOptions(list_code=args.list_code, state_whitelist=states, list_codes=ncic_codes,
                         on_row=on_row, **scope, **fuzz)


def _read(args, for_match: bool, err: TextIO) -> Optional[str]:
    """The file's text (its format detected into ``args.format``), or None (reported)."""
    from alpr.connectors.hotlists import HotlistFormatError, detect_format, read_text

    path = args.hotlist if for_match else args.file
    try:
        text = read_text(path)
        args.format = args.format if args.format != "auto" else detect_format(text, path)
    except HotlistFormatError as exc:
        print(f"error: {exc}", file=err)
        return None
    return text


def _load(args, for_match: bool, err: TextIO, text: Optional[str] = None, **scope):
    """Parse the file (``scope``: the owner options of a store import), report rejected rows."""
    from alpr.connectors.hotlists import HotlistFormatError, parse_text

    from alpr.app.progress import Progress

    text = _read(args, for_match, err) if text is None else text
    if text is None:
        return None
    try:
        lines = text.count("\n") + 1
        with Progress("hotlist rows", total=lines, unit="lines", stream=err,
                      enabled=None if lines >= PROGRESS_MIN_LINES else False) as bar:
            report = parse_text(text, args.format, _options(args, for_match, on_row=bar.update_to, **scope))
            bar.update_to(lines)
    except HotlistFormatError as exc:
        print(f"error: {exc}", file=err)
        return None
    for r in report.rejected:
        print(f"line {r.line_no}: rejected: {r.reason}: {r.raw}", file=err)
    for n in report.blank_lines[:MAX_BLANK_LINES_SHOWN]:
        print(f"line {n}: blank row skipped", file=err)
    if len(report.blank_lines) > MAX_BLANK_LINES_SHOWN:
        print(f"... and {len(report.blank_lines) - MAX_BLANK_LINES_SHOWN} more blank rows skipped", file=err)
    for e in report.errors:
        print(f"error: {e}", file=err)
    return report


def cmd_match(args, out: Optional[TextIO] = None, err: Optional[TextIO] = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    report = _load(args, True, err)
    if report is None:
        return 2
    matcher = HotlistMatcher.build(report.entries)
    for plate in args.plates:
        hits = matcher.match(plate)
        if args.json:
            out.write(json.dumps({"plate": plate, "hits": [
                {"entry": h.entry.plate, "list": h.entry.list_code, "match_type": h.match_type,
                 "distance": h.distance, "aligned": h.aligned, "entry_id": h.entry.entry_id}
                for h in hits]}) + "\n")
        elif not hits:
            out.write(f"{plate}: no hits\n")
        else:
            for h in hits:
                out.write(f"{plate}: {h.entry.plate} [{h.entry.list_code}] {h.match_type} "
                          f"distance={h.distance} {h.aligned} {h.entry.description}\n")
    return 0


def cmd_import(args, out: Optional[TextIO] = None, err: Optional[TextIO] = None) -> int:
    from alpr.config import ConfigError, load_settings
    from alpr.connectors.stores import open_store
    from alpr.governance.errors import GovernanceError

    out = out or sys.stdout
    err = err or sys.stderr
    try:
        settings = load_settings(getattr(args, "config", None), **({"store": args.store} if args.store else {}))
    except ConfigError as exc:
        print(f"error: {exc}", file=err)
        return 2
    publish = args.publish if args.publish is not None else (
        settings.source == "kafka" or settings.runner == "flink")
    text = _read(args, False, err)
    if text is None:
        return 2
    store = open_store(settings.store)
    try:
        gov = _governance(args, store)
    except BaseException:
        store.close()
        raise
    try:
        return _import_as(gov, args, text, store, settings, publish, out, err)
    except GovernanceError as exc:  # login, role, training, purpose or case refused (logged)
        print(f"error: {exc}", file=err)
        return 2
    finally:
        gov.close()  # closes the store too


def _governance(args, store):
    """The policy layer over the pipeline's store (accounts and access log: ``--gov-db``)."""
    from alpr.governance.service import Governance
    from alpr.governance.settings import GovernanceSettings

    overrides = {"db_path": args.gov_db} if getattr(args, "gov_db", None) else {}
    return Governance.build(GovernanceSettings.from_env(**overrides), reads=store)


def _import_as(gov, args, text: str, store, settings, publish: bool, out: TextIO, err: TextIO) -> int:
    from alpr.connectors.hotlists import HotlistFormatError
    from alpr.governance.cli import _acting_user
    from alpr.governance.hotlist_import import authorize_import, record_refusal, run_import

    user, token = _acting_user(gov, args)
    mode = args.mode or "replace"
    publisher = report = None
    try:
        scope = authorize_import(gov.guard, user, list_code=args.list_code, fmt=args.format, mode=mode,
                                 feed=args.feed, purpose_code=args.purpose, case_number=args.case)
        report = _load(args, False, err, text, agency=scope.owner, owner_scoped=True,
                       case_number=scope.purpose.case_number)
        if report is None:
            record_refusal(gov.guard, scope, "file refused (format, header or columns)")
            return 2
        target = store
        if publish:
            from alpr.connectors.kafka_hotlist import HotlistPublisher, PublishingHotlistStore

            publisher = HotlistPublisher(settings.kafka.bootstrap, settings.kafka.hotlist_topic)
            target = PublishingHotlistStore(store, publisher)
        written = run_import(gov.guard, scope, target, report)
    except HotlistFormatError as exc:
        print(f"error: {exc}", file=err)
        if report is not None:
            print(report.summary(), file=out)
        return 1
    finally:
        if publisher is not None:
            publisher.close()
        gov.auth.logout(token)
    topic = f" published={publisher.published} topic={settings.kafka.hotlist_topic}" if publisher else ""
    owner = scope.owner or "none (state feed)"
    print(f"{report.summary()} mode={mode} list={args.list_code} agency={owner} written={written}{topic}", file=out)
    return 0
