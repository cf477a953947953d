"""Cross-checks between the code's metrics and the PromQL in dashboards and alert rules.

:func:`references` pulls every metric name (and the label names used in its matchers) out of
the Grafana dashboard JSON and the Prometheus rule files; :func:`exposed_names` lists the
sample names the registry's families produce (``_total`` for counters; ``_bucket``,
``_count``, ``_sum`` for histograms); :func:`unknown_references` reports the ``alpr_*``
references that the code does not export. ``alpr metrics check`` runs it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import yaml

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
            "offset", "inf", "nan", "atan2"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_MATCHER_LABEL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")


@dataclass
class Reference:
    """A metric used in PromQL: where, and which label names its matchers use."""

    metric: str
    where: str
    labels: set[str] = field(default_factory=set)
    grouping: set[str] = field(default_factory=set)


def parse_expr(expr: str, where: str = "") -> list[Reference]:
    """Metric selectors in a PromQL expression (also Grafana's ``label_values(metric, label)``)."""
    refs: list[Reference] = []
    grouping = {lbl.strip() for _, inner in _GROUPING.findall(expr) for lbl in inner.split(",") if lbl.strip()}
    text = _GROUPING.sub(" ", expr)
    # ``{...}``: collect matcher label names, then blank the block (its strings too)
    pos, out, blocks = 0, [], []
    for m in re.finditer(r"\{((?:[^{}\"']|\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')*)\}", text):
        out.append(text[pos:m.start()])
        out.append(f" __BLOCK{len(blocks)}__ ")
        blocks.append({lbl for lbl in _MATCHER_LABEL.findall(_STRING.sub('""', m.group(1)))})
        pos = m.end()
    out.append(text[pos:])
    text = _STRING.sub(" ", "".join(out))
    text = re.sub(r"\[[^\]]*\]", " ", text)           # range / subquery durations
    text = re.sub(r"\b\d+(\.\d+)?(e[+-]?\d+)?\b", " ", text)  # numbers
    tokens = list(re.finditer(r"__BLOCK(\d+)__|[A-Za-z_:][A-Za-z0-9_:]*|\S", text))
    for i, tok in enumerate(tokens):
        word = tok.group(0)
        if word.startswith("__BLOCK"):
            continue
        if not _IDENT.fullmatch(word) or word.lower() in KEYWORDS:
            continue
        nxt = tokens[i + 1].group(0) if i + 1 < len(tokens) else ""
        if nxt == "(":
            continue  # a function
        labels = set(blocks[int(tokens[i + 1].group(1))]) if nxt.startswith("__BLOCK") else set()
        labels.discard("__name__")
        refs.append(Reference(word, where, labels, grouping))
    return refs


def _dashboard_exprs(path: Path) -> Iterator[tuple[str, str]]:
    data = json.loads(path.read_text())

    def panels(items):
        for p in items:
            yield p
            yield from panels(p.get("panels", []))

    for p in panels(data.get("panels", [])):
        for t in p.get("targets", []):
            if t.get("expr"):
                yield t["expr"], f"{path.name}: {p.get('title', '?')}"
    for v in data.get("templating", {}).get("list", []):
        query = v.get("query")
        query = query.get("query") if isinstance(query, dict) else query
        if isinstance(query, str) and v.get("type") == "query":
            m = re.fullmatch(r"\s*label_values\(\s*(.+?)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*", query)
            if m:
                yield m.group(1), f"{path.name}: variable {v.get('name')}"
            else:
                yield query, f"{path.name}: variable {v.get('name')}"


def _rule_exprs(path: Path) -> Iterator[tuple[str, str]]:
    data = yaml.safe_load(path.read_text()) or {}
    for group in data.get("groups", []):
        for rule in group.get("rules", []):
            name = rule.get("alert") or rule.get("record") or "?"
            yield str(rule["expr"]), f"{path.name}: {name}"


def references(dashboards: Iterable[Path] = (), rules: Iterable[Path] = ()) -> list[Reference]:
    out: list[Reference] = []
    for path in dashboards:
        for expr, where in _dashboard_exprs(Path(path)):
            out += parse_expr(expr, where)
    for path in rules:
        for expr, where in _rule_exprs(Path(path)):
            out += parse_expr(expr, where)
    return out


SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "summary": ("_count", "_sum"),
            "gauge": ("",), "unknown": ("",), "info": ("_info",), "stateset": ("",), "gaugehistogram": ("_bucket",)}


def exposed_names(registry=None) -> dict[str, set[str]]:
    """``{sample name: label names}`` for every family of ``registry`` (default: the global one),
    whether or not it has samples yet."""
    from prometheus_client import REGISTRY

    from . import metrics as _m

    registry = registry or REGISTRY
    labels_of = {m._name: set(m._labelnames) for m in vars(_m).values() if hasattr(m, "_labelnames")}
    labels_of.update({name: set(labels) for name, labels in _m.COLLECTED_LABELS.items()})
    out: dict[str, set[str]] = {}
    for fam in registry.collect():
        labels = labels_of.get(fam.name) or {k for s in fam.samples for k in s.labels}
        for suffix in SUFFIXES.get(fam.type, ("",)):
            out[fam.name + suffix] = set(labels) | ({"le"} if suffix == "_bucket" else set())
    return out


SCRAPE_LABELS = {"job", "instance", "le"}


def unknown_references(refs: Iterable[Reference], exposed: dict[str, set[str]], prefix: str = "alpr_") -> list[str]:
    """Human-readable problems: unknown ``prefix*`` metrics, or matcher labels they do not have."""
    problems = []
    for r in refs:
        if not r.metric.startswith(prefix):
            continue
        if r.metric not in exposed:
            problems.append(f"{r.where}: metric {r.metric} is not exported by the code")
            continue
        bad = r.labels - exposed[r.metric] - SCRAPE_LABELS
        if bad:
            problems.append(f"{r.where}: {r.metric} has no label(s) {sorted(bad)}")
    return sorted(set(problems))


def unknown_grouping(refs: Iterable[Reference], exposed: dict[str, set[str]], prefix: str = "alpr_") -> list[str]:
    """``by (...)``/``on (...)`` labels that none of the expression's metrics carries."""
    by_where: dict[str, list[Reference]] = {}
    for r in refs:
        by_where.setdefault(r.where + "\x00" + ",".join(sorted(r.grouping)), []).append(r)
    problems = []
    for key, group in by_where.items():
        metrics = [r.metric for r in group if r.metric.startswith(prefix) and r.metric in exposed]
        if not metrics or len(metrics) != len([r for r in group if r.metric.startswith(prefix)]):
            continue
        available = set().union(*(exposed[m] for m in metrics)) | SCRAPE_LABELS
        missing = group[0].grouping - available
        if missing:
            problems.append(f"{group[0].where}: grouping label(s) {sorted(missing)} on none of {sorted(set(metrics))}")
    return sorted(set(problems))


def repo_files(root: str | Path) -> tuple[list[Path], list[Path]]:
    root = Path(root)
    return (sorted((root / "infra/grafana/dashboards").glob("*.json")),
            sorted((root / "infra/prometheus").glob("*.rules.yml")))
