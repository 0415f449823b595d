"""``scripts/report [--out FILE] [--date D]``: one self-contained HTML page of the KPIs in DynamoDB
and the file ledger's states. Tables are written here; the charts (top genres per day, per-genre
trends, data quality, file states) are drawn in the browser by the page's own script from the
data embedded in it: no network, no library, one file to mail or archive."""

from __future__ import annotations

import argparse
import html
import json
import sys
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

from devstack.core import arguments
from devstack.core.stack_config import StackConfig
from devstack.tools.kpi_query import plain, settled_fetch, snapshot_reader
from music_streaming import config, dynamo_items
from music_streaming import ledger as file_ledger

TREND_GENRES = 8  # the genres with most plays overall get a line each


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("kpi_report.html"), help="the HTML file")
    parser.add_argument(
        "--date",
        type=arguments.iso_date,
        help="the day of the per-genre and top-song tables (default: the latest)",
    )
    parser.add_argument("--aws", action="store_true", help="from AWS (default credentials)")


def page_data(kpi_items: list[dict], ledger_items: list[dict]) -> dict:
    """What the page shows, from KPI items (plain numbers) and ledger items."""
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for item in kpi_items:
        by_kind[item.get("kpi", "")].append(item)
    days = sorted({i["date"] for i in by_kind[dynamo_items.GENRE_DAILY]})
    top_genres: dict[str, list[dict]] = defaultdict(list)
    for item in sorted(by_kind[dynamo_items.TOP_GENRE], key=lambda i: (i["date"], i["rank"])):
        top_genres[item["date"]].append(
            {"rank": item["rank"], "genre": item["genre"], "listen_count": item["listen_count"]}
        )
    plays: dict[str, Counter] = defaultdict(Counter)
    for item in by_kind[dynamo_items.GENRE_DAILY]:
        plays[item["genre"]][item["date"]] = item["listen_count"]
    trend = sorted(plays, key=lambda g: (-sum(plays[g].values()), g))[:TREND_GENRES]
    states = Counter(i["state"] for i in ledger_items)
    return {
        "days": days,
        "genre_daily": sorted(
            by_kind[dynamo_items.GENRE_DAILY], key=lambda i: (i["date"], -i["listen_count"])
        ),
        "top_genres": dict(top_genres),
        "top_songs": sorted(
            by_kind[dynamo_items.TOP_SONG], key=lambda i: (i["date"], i["genre"], i["rank"])
        ),
        "trends": {"genres": trend, "series": {g: [plays[g][d] for d in days] for g in trend}},
        "quality": sorted(by_kind[dynamo_items.QUALITY], key=lambda i: i["date"]),
        "file_states": {s: states[s] for s in file_ledger.STATES},
        "files": sorted(ledger_items, key=lambda i: i.get("updated_at", ""), reverse=True),
    }


def _cell(value, **data) -> str:
    attributes = "".join(
        f' data-{k.replace("_", "-")}="{html.escape(str(v))}"' for k, v in data.items()
    )
    text = (
        f"{value:,}" if isinstance(value, int) else html.escape("" if value is None else str(value))
    )
    return f"<td{attributes}>{text}</td>"


def _table(headers: list[str], rows: list[str], table_id: str) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(f"<tr>{r}</tr>" for r in rows) or (
        f'<tr><td colspan="{len(headers)}">none</td></tr>'
    )
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def render(data: dict, day: str | None, source: str, generated: datetime) -> str:
    """The page; ``day`` selects the per-genre and top-song tables (default: the latest)."""
    day = day or (data["days"][-1] if data["days"] else None)
    genre_rows = [
        _cell(i["genre"])
        + _cell(i["listen_count"], kpi="listen_count", genre=i["genre"])
        + _cell(i["unique_listeners"], kpi="unique_listeners", genre=i["genre"])
        + _cell(round(i["total_listening_time_ms"] / 3_600_000, 1))
        + _cell(round(i["avg_listening_time_per_user_ms"] / 60_000, 1))
        for i in data["genre_daily"]
        if i["date"] == day
    ]
    top_rows = [
        _cell(d)
        + "".join(
            _cell(f"{g['genre']} ({g['listen_count']:,})", rank=g["rank"], genre=g["genre"])
            for g in data["top_genres"][d]
        )
        for d in sorted(data["top_genres"])
    ]
    song_rows = [
        _cell(s["genre"])
        + _cell(s["rank"])
        + _cell(s.get("track_name") or s["track_id"])
        + _cell(s.get("artists"))
        + _cell(s["play_count"], kpi="play_count", genre=s["genre"], rank=s["rank"])
        for s in data["top_songs"]
        if s["date"] == day
    ]
    quality_rows = [
        _cell(q["date"])
        + _cell(q["streams"], kpi="streams", date=q["date"])
        + _cell(q["unknown_track_streams"])
        + _cell(q["unknown_user_streams"])
        for q in data["quality"]
    ]
    file_rows = [
        _cell(f"s3://{f['bucket']}/{f['key']}")
        + _cell(f["state"], state=f["state"])
        + _cell(f.get("batch_id", "-"))
        + _cell(f.get("row_count", ""))
        + _cell(f.get("updated_at", ""))
        + _cell(f.get("reason", ""))
        for f in data["files"]
    ]
    chart_data = {k: data[k] for k in ("days", "top_genres", "trends", "quality", "file_states")}
    embedded = json.dumps(chart_data, default=str).replace("</", "<\\/")
    sections = [
        (
            "Top genres per day",
            '<div class="grid" id="top-genres-charts"></div>'
            + _table(["day", "#1", "#2", "#3", "#4", "#5"], top_rows, "top-genres"),
        ),
        ("Per-genre trends (plays per day)", '<div class="chart" id="trend-chart"></div>'),
        (
            f"Genres on {day or '-'}",
            _table(
                ["genre", "plays", "listeners", "listening (h)", "avg per listener (min)"],
                genre_rows,
                "genre-daily",
            ),
        ),
        (
            f"Top songs on {day or '-'}",
            _table(["genre", "rank", "track", "artists", "plays"], song_rows, "top-songs"),
        ),
        (
            "Data quality",
            '<div class="chart" id="quality-chart"></div>'
            + _table(["day", "streams", "unknown track", "unknown user"], quality_rows, "quality"),
        ),
        (
            "Files",
            '<div class="chart" id="states-chart"></div>'
            + _table(["file", "state", "batch", "rows", "updated", "reason"], file_rows, "files"),
        ),
    ]
    body = "".join(
        f"<section><h2>{html.escape(t)}</h2>{content}</section>" for t, content in sections
    )
    return PAGE.format(
        title=f"{config.PROJECT} KPIs",
        subtitle=html.escape(
            f"{len(data['days'])} day(s), {len(data['files'])} file(s); from {source}, "
            f"{generated:%Y-%m-%d %H:%M:%S} UTC"
        ),
        body=body,
        data=embedded,
        script=SCRIPT,
    )


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: .5em 0 1.5em; }}
th, td {{ border-bottom: 1px solid #ddd; padding: .25em .6em; text-align: left; }}
.grid {{ display: flex; flex-wrap: wrap; gap: 1em; }}
.grid figure {{ margin: 0; }}
figcaption {{ font-weight: 600; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
svg text {{ font-size: 11px; }}
svg text:not([fill]) {{ fill: #333; }}
</style></head>
<body><h1>{title}</h1><p>{subtitle}</p>{body}
<script type="application/json" id="report-data">{data}</script>
<script>{script}</script></body></html>
"""

# Draws each chart as SVG; every chart records in data-drawn how many marks it drew.
SCRIPT = r"""
"use strict";
const DATA = JSON.parse(document.getElementById("report-data").textContent);
const NS = "http://www.w3.org/2000/svg";
const COLORS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
                "#ff9da7"];
function svg(parent, width, height) {
  const s = document.createElementNS(NS, "svg");
  s.setAttribute("width", width); s.setAttribute("height", height);
  s.setAttribute("viewBox", `0 0 ${width} ${height}`);
  parent.appendChild(s); return s;
}
function add(parent, tag, attributes, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attributes)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  parent.appendChild(e); return e;
}
function bars(parent, labels, values, color) {   // horizontal bars, one per label
  const s = svg(parent, 320, 22 * labels.length + 8), max = Math.max(1, ...values);
  labels.forEach((label, i) => {
    add(s, "text", {x: 0, y: 22 * i + 16}, label);
    add(s, "rect", {class: "mark", x: 120, y: 22 * i + 4, height: 16,
                    width: Math.max(1, 150 * values[i] / max), fill: color});
    add(s, "text", {x: 125 + 150 * values[i] / max, y: 22 * i + 16}, values[i].toLocaleString());
  });
  return labels.length;
}
function lines(parent, days, series) {            // one polyline per genre over the days
  const w = 760, h = 260, left = 50, names = Object.keys(series);
  const max = Math.max(1, ...names.flatMap(n => series[n]));
  const s = svg(parent, w + 180, h + 30);
  const x = i => left + (days.length > 1 ? i * w / (days.length - 1) : w / 2);
  const y = v => h - v * (h - 10) / max;
  add(s, "line", {x1: left, y1: h, x2: left + w, y2: h, stroke: "#999"});
  add(s, "text", {x: 0, y: 14}, max.toLocaleString());
  days.forEach((d, i) => { if (i % Math.ceil(days.length / 8) === 0)
    add(s, "text", {x: x(i) - 30, y: h + 20}, d); });
  names.forEach((name, n) => {
    const color = COLORS[n % COLORS.length];
    add(s, "polyline", {class: "mark", fill: "none", stroke: color, "stroke-width": 2,
        points: series[name].map((v, i) => `${x(i)},${y(v)}`).join(" ")});
    add(s, "text", {x: left + w + 10, y: 14 + 16 * n, fill: color}, name);
  });
  return names.length;
}
function grouped(parent, rows, parts) {         // per row, one bar per part (they overlap:
  const h = 8 * parts.length + 10;               // a stream may name an unknown track and user)
  const s = svg(parent, 760, h * rows.length + 24);
  const max = Math.max(1, ...rows.flatMap(r => parts.map(p => r[p])));
  let marks = 0;
  parts.forEach((p, n) => add(s, "text", {x: 100 + 160 * n, y: 12, fill: COLORS[n]}, p));
  rows.forEach((r, i) => {
    add(s, "text", {x: 0, y: 24 + h * i + 12}, r.date);
    parts.forEach((p, n) => {
      if (r[p] > 0) { add(s, "rect", {class: "mark", x: 100, y: 24 + h * i + 8 * n, height: 7,
                                      width: Math.max(1, 600 * r[p] / max), fill: COLORS[n]});
                      marks++; }
    });
  });
  return marks;
}
function draw(id, paint) {
  const el = document.getElementById(id);
  el.dataset.drawn = String(paint(el));
}
draw("top-genres-charts", el => Object.entries(DATA.top_genres).reduce((marks, [day, top]) => {
  const figure = document.createElement("figure");
  figure.appendChild(document.createElement("figcaption")).textContent = day;
  el.appendChild(figure);
  return marks + bars(figure, top.map(g => g.genre), top.map(g => g.listen_count), COLORS[0]);
}, 0));
draw("trend-chart", el => lines(el, DATA.days, DATA.trends.series));
draw("quality-chart", el => grouped(el, DATA.quality,
                                    ["streams", "unknown_track_streams", "unknown_user_streams"]));
draw("states-chart", el => bars(el, Object.keys(DATA.file_states),
                                Object.values(DATA.file_states), COLORS[4]));
document.body.dataset.charts = "drawn";
"""


def run(args: argparse.Namespace, cfg: StackConfig) -> int:
    settings = config.settings()
    if args.aws:
        import boto3

        dynamodb, s3, source = boto3.resource("dynamodb"), boto3.client("s3"), "AWS"
    else:
        dynamodb, s3 = cfg.resource("dynamodb"), cfg.client("s3")
        source = f"the local stack at {cfg.endpoint}"
    kpi_table = str(settings["dynamodb_table_name"])
    snapshots = snapshot_reader(s3, str(settings["processed_bucket"]))
    items = plain(settled_fetch(dynamodb.Table(kpi_table), None, None, snapshots))
    ledger = file_ledger.Ledger(dynamodb.Table(config.file_tracker_table(kpi_table)))
    files = plain([i for s in file_ledger.STATES for i in ledger.in_state(s)])
    data = page_data(items, files)
    if args.date and args.date not in data["days"]:
        print(
            f"report: no KPIs for {args.date} (days: {', '.join(data['days']) or 'none'})",
            file=sys.stderr,
        )
        return 1
    args.out.write_text(render(data, args.date, source, datetime.now(timezone.utc)))
    print(
        f"wrote {args.out} ({len(data['days'])} day(s), {len(items)} KPI items, "
        f"{len(files)} file(s))"
    )
    return 0
