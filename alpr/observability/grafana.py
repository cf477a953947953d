"""Grafana panel builders shared by the dashboards (:mod:`alpr.observability.dashboards`,
:mod:`alpr.observability.flink_dashboard`): panels laid out left to right, 24 columns wide."""

from __future__ import annotations

from typing import Optional, Sequence

DS = {"type": "prometheus", "uid": "prometheus"}
W = 24


class _Layout:
    def __init__(self):
        self.x = self.y = self.row_h = 0
        self.next_id = 1

    def place(self, w: int, h: int) -> dict:
        if self.x + w > W:
            self.x, self.y = 0, self.y + self.row_h
            self.row_h = 0
        pos = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.x += w
        self.row_h = max(self.row_h, h)
        return pos


def _targets(exprs: Sequence[tuple[str, str]]) -> list[dict]:
    return [{"datasource": DS, "expr": e, "legendFormat": legend, "refId": chr(ord("A") + i)}
            for i, (e, legend) in enumerate(exprs)]


def timeseries(title: str, exprs: Sequence[tuple[str, str]], unit: str = "short", w: int = 12, h: int = 8,
               description: str = "") -> dict:
    return {"type": "timeseries", "title": title, "description": description, "datasource": DS,
            "targets": _targets(exprs), "_size": (w, h),
            "fieldConfig": {"defaults": {"unit": unit, "custom": {"lineWidth": 1, "fillOpacity": 10}},
                            "overrides": []},
            "options": {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "max"]},
                        "tooltip": {"mode": "multi"}}}


def stat(title: str, expr: str, unit: str = "short", w: int = 4, h: int = 4, red_above: Optional[float] = None,
         red_below: Optional[float] = None, description: str = "") -> dict:
    steps = [{"color": "green", "value": None}]
    if red_above is not None:
        steps.append({"color": "red", "value": red_above})
    if red_below is not None:
        steps = [{"color": "red", "value": None}, {"color": "green", "value": red_below}]
    return {"type": "stat", "title": title, "description": description, "datasource": DS,
            "targets": _targets([(expr, "")]), "_size": (w, h),
            "fieldConfig": {"defaults": {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}},
                            "overrides": []},
            "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "colorMode": "background", "graphMode": "area", "textMode": "auto"}}


def table(title: str, exprs: Sequence[tuple[str, str]], unit: str = "short", w: int = 12, h: int = 8,
          description: str = "") -> dict:
    targets = _targets(exprs)
    for t in targets:
        t.update({"instant": True, "format": "table"})
    return {"type": "table", "title": title, "description": description, "datasource": DS, "targets": targets,
            "_size": (w, h), "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "transformations": [{"id": "merge", "options": {}}], "options": {"showHeader": True}}


def dashboard(uid: str, title: str, panels: list[dict], tags: Sequence[str] = (),
              variables: Sequence[dict] = (), description: str = "") -> dict:
    layout = _Layout()
    out = []
    for p in panels:
        w, h = p.pop("_size")
        p["gridPos"] = layout.place(w, h)
        p["id"] = layout.next_id
        layout.next_id += 1
        out.append(p)
    return {"uid": uid, "title": title, "description": description, "tags": ["alpr", *tags],
            "timezone": "utc", "schemaVersion": 39, "version": 1, "editable": True, "refresh": "30s",
            "time": {"from": "now-6h", "to": "now"}, "graphTooltip": 1,
            "templating": {"list": list(variables)}, "annotations": {"list": []}, "links": [
                {"type": "dashboards", "tags": ["alpr"], "asDropdown": True, "title": "ALPR dashboards"}],
            "panels": out}


def query_var(name: str, query: str, label: str, multi: bool = True) -> dict:
    return {"name": name, "label": label, "type": "query", "datasource": DS,
            "query": {"query": query, "refId": f"{name}-var"}, "definition": query, "refresh": 2,
            "includeAll": True, "multi": multi, "allValue": ".*", "current": {"text": "All", "value": "$__all"},
            "sort": 1}


def q(p: float, metric: str, by: str = "", sel: str = "", window: str = "5m") -> str:
    """``histogram_quantile`` over a ``_bucket`` series, summed ``by (le, ...)``."""
    labels = "le" + (", " + by if by else "")
    return f"histogram_quantile({p}, sum by ({labels}) (rate({metric}_bucket{sel}[{window}])))"
