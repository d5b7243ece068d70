#!/usr/bin/env python3
"""Turn load-generator JSON results into SVG line charts (standard library only).

Usage: python3 bench/chart.py [results_dir] [out_dir]

results_dir (default bench/results/) holds one JSON object per file, as the
load generator writes them; out_dir (default docs/) receives

  perf-latency-vs-clients.svg  x: clients, y: ms
      Campanile delta p50 and p99 per engine, at the most common ingest rate;
      broadcast last-subscriber p99 for Campanile (per engine, same ingest
      rate, or if no run there measured broadcasts, the most common rate of
      those that did) and for the ws and Socket.IO peers (all their runs).
  perf-latency-vs-ingest.svg   x: ingest posts/s, y: ms
      Campanile delta p50 and p99 per engine, at the most common client count.

Missing or null fields are skipped point by point. Several runs at the same x
in one series are reduced to their median. A hollow marker means the load
generator reported itself saturated for that run, so the number is a bound on
what it could measure, not the server's.
"""

import json
import math
import os
import statistics
import sys
from collections import Counter
from pathlib import Path
from xml.sax.saxutils import escape

REPO = Path(__file__).resolve().parent.parent

WIDTH, HEIGHT = 800, 450
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 70, 220, 62, 58
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
COLORS = {
    "memory": "#0072B2",
    "redis": "#D55E00",
    "campanile": "#0072B2",
    "ws": "#009E73",
    "socketio": "#CC79A7",
    "other": "#555555",
}
MARKERS = ("circle", "square", "triangle", "diamond")


# ---------------------------------------------------------------- loading

def load_results(directory):
    results = []
    for path in sorted(Path(directory).glob("*.json")):
        try:
            with open(path, encoding="utf-8") as f:
                obj = json.load(f)
        except (OSError, ValueError) as e:
            print(f"chart.py: skipping {path}: {e}", file=sys.stderr)
            continue
        if isinstance(obj, dict):
            obj.setdefault("label", path.stem)
            results.append(obj)
        else:
            print(f"chart.py: skipping {path}: not a JSON object", file=sys.stderr)
    return results


def get(obj, *path):
    """The number at obj[path...], or None if any step is missing or not a number."""
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    if isinstance(obj, bool) or not isinstance(obj, (int, float)):
        return None
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def flag(obj, *path):
    """Whether obj[path...] is true."""
    for key in path:
        if not isinstance(obj, dict):
            return False
        obj = obj.get(key)
    return obj is True


def kind(r):
    return r.get("server_kind") if isinstance(r.get("server_kind"), str) else None


def engine(r):
    e = r.get("engine")
    return e if isinstance(e, str) and e else None


def ingest_rate(r):
    v = get(r, "params", "ingest_rate")
    return v if v is not None else get(r, "report", "ingest", "offered_per_s")


def saturated(r):
    rep = r.get("report")
    return isinstance(rep, dict) and rep.get("generator_saturated") is True


def most_common(values):
    """The most frequent value; ties go to the larger one. None if empty."""
    counts = Counter(v for v in values if v is not None)
    if not counts:
        return None
    return max(counts.items(), key=lambda kv: (kv[1], kv[0]))[0]


def series(results, x_of, y_path):
    """[(x, y, saturated)] sorted by x; duplicates at one x become their median."""
    by_x = {}
    for r in results:
        x, y = x_of(r), get(r, *y_path)
        if x is None or y is None:
            continue
        by_x.setdefault(x, []).append((y, saturated(r)))
    points = []
    for x in sorted(by_x):
        ys = by_x[x]
        points.append((x, statistics.median(y for y, _ in ys), any(s for _, s in ys)))
    return points


# ---------------------------------------------------------------- axes

def nice_step(span, target_ticks):
    raw = span / max(target_ticks, 1)
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def axis(max_value, target_ticks, headroom):
    """Linear axis from 0: (top, step); with headroom the top stays above the highest point."""
    if max_value is None or max_value <= 0:
        return 1.0, 0.2
    step = nice_step(max_value, target_ticks)
    top = math.ceil(max_value / step - 1e-9) * step
    if headroom and top < max_value * 1.02:  # keep the highest point off the frame
        top += step
    return top, step


def ticks(top, step):
    """0, step, 2·step, … up to top."""
    i = 0
    while i * step <= top + 1e-9:
        yield i * step
        i += 1


def fmt(v):
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1_000_000 and v % 100_000 == 0:
        return f"{v / 1_000_000:g}M"
    if a >= 1000 and v % 100 == 0:
        return f"{v / 1000:g}k"
    if float(v).is_integer():
        return f"{int(v):,}"
    if a >= 10:
        return f"{v:,.1f}".rstrip("0").rstrip(".")
    return f"{v:.3g}"


# ---------------------------------------------------------------- drawing

def marker(shape, x, y, color, hollow, size=4.5):
    fill = "#ffffff" if hollow else color
    style = f'fill="{fill}" stroke="{color}" stroke-width="1.6"'
    if shape == "square":
        s = size * 0.9
        return f'<rect x="{x - s:.1f}" y="{y - s:.1f}" width="{2 * s:.1f}" height="{2 * s:.1f}" {style}/>'
    if shape == "triangle":
        s = size * 1.2
        pts = f"{x:.1f},{y - s:.1f} {x + s:.1f},{y + s * 0.8:.1f} {x - s:.1f},{y + s * 0.8:.1f}"
        return f'<polygon points="{pts}" {style}/>'
    if shape == "diamond":
        s = size * 1.2
        pts = f"{x:.1f},{y - s:.1f} {x + s:.1f},{y:.1f} {x:.1f},{y + s:.1f} {x - s:.1f},{y:.1f}"
        return f'<polygon points="{pts}" {style}/>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{size:.1f}" {style}/>'


def render(title, subtitle, x_label, y_label, lines):
    """lines: [{"name", "color", "dash", "marker", "points": [(x, y, saturated)]}]."""
    lines = [s for s in lines if s["points"]]
    px0, px1 = MARGIN_LEFT, WIDTH - MARGIN_RIGHT
    py0, py1 = MARGIN_TOP, HEIGHT - MARGIN_BOTTOM

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="{FONT}" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text x="{WIDTH / 2}" y="24" text-anchor="middle" font-size="17" font-weight="bold" '
        f'fill="#222">{escape(title)}</text>',
    ]
    if subtitle:
        out.append(f'<text x="{WIDTH / 2}" y="43" text-anchor="middle" font-size="12" '
                   f'fill="#555">{escape(subtitle)}</text>')

    xs = [x for s in lines for x, _, _ in s["points"]]
    ys = [y for s in lines for _, y, _ in s["points"]]
    x_top, x_step = axis(max(xs) if xs else None, 6, False)
    y_top, y_step = axis(max(ys) if ys else None, 6, True)

    def sx(v):
        return px0 + (px1 - px0) * v / x_top

    def sy(v):
        return py1 - (py1 - py0) * v / y_top

    # grid and ticks
    for v in ticks(y_top, y_step):
        y = sy(v)
        out.append(f'<line x1="{px0}" y1="{y:.1f}" x2="{px1}" y2="{y:.1f}" stroke="#e4e4e4"/>')
        out.append(f'<line x1="{px0 - 5}" y1="{y:.1f}" x2="{px0}" y2="{y:.1f}" stroke="#333"/>')
        out.append(f'<text x="{px0 - 8}" y="{y + 4:.1f}" text-anchor="end" fill="#333">{fmt(v)}</text>')
    for v in ticks(x_top, x_step):
        x = sx(v)
        out.append(f'<line x1="{x:.1f}" y1="{py0}" x2="{x:.1f}" y2="{py1}" stroke="#f0f0f0"/>')
        out.append(f'<line x1="{x:.1f}" y1="{py1}" x2="{x:.1f}" y2="{py1 + 5}" stroke="#333"/>')
        out.append(f'<text x="{x:.1f}" y="{py1 + 19}" text-anchor="middle" fill="#333">{fmt(v)}</text>')

    # frame and axis labels
    out.append(f'<line x1="{px0}" y1="{py1}" x2="{px1}" y2="{py1}" stroke="#333" stroke-width="1.2"/>')
    out.append(f'<line x1="{px0}" y1="{py0}" x2="{px0}" y2="{py1}" stroke="#333" stroke-width="1.2"/>')
    out.append(f'<text x="{(px0 + px1) / 2}" y="{HEIGHT - 14}" text-anchor="middle" font-size="13" '
               f'fill="#222">{escape(x_label)}</text>')
    cy = (py0 + py1) / 2
    out.append(f'<text x="18" y="{cy}" text-anchor="middle" font-size="13" fill="#222" '
               f'transform="rotate(-90 18 {cy})">{escape(y_label)}</text>')

    if not lines:
        out.append(f'<text x="{(px0 + px1) / 2}" y="{cy}" text-anchor="middle" font-size="15" '
                   f'fill="#888">no data</text>')

    # series
    for s in lines:
        pts = [(sx(x), sy(y), sat) for x, y, sat in s["points"]]
        if len(pts) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in pts)
            dash = f' stroke-dasharray="{s["dash"]}"' if s["dash"] else ""
            out.append(f'<polyline points="{path}" fill="none" stroke="{s["color"]}" '
                       f'stroke-width="2"{dash} stroke-linejoin="round"/>')
        for x, y, sat in pts:
            out.append(marker(s["marker"], x, y, s["color"], sat))

    # legend, to the right of the plot
    lx, ly = px1 + 16, py0 + 6
    any_saturated = any(sat for s in lines for _, _, sat in s["points"])
    for s in lines:
        dash = f' stroke-dasharray="{s["dash"]}"' if s["dash"] else ""
        out.append(f'<line x1="{lx}" y1="{ly}" x2="{lx + 30}" y2="{ly}" stroke="{s["color"]}" '
                   f'stroke-width="2"{dash}/>')
        out.append(marker(s["marker"], lx + 15, ly, s["color"], False))
        out.append(f'<text x="{lx + 38}" y="{ly + 4}" fill="#222">{escape(s["name"])}</text>')
        ly += 22
    if any_saturated:
        ly += 6
        out.append(marker("circle", lx + 15, ly, "#555", True))
        out.append(f'<text x="{lx + 38}" y="{ly + 4}" fill="#555">generator saturated</text>')

    out.append("</svg>")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- charts

ENGINE_ORDER = {"memory": 0, "redis": 1}


def engines_of(results):
    return sorted({engine(r) or "?" for r in results}, key=lambda e: (ENGINE_ORDER.get(e, 9), e))


def engine_names(results):
    names = engines_of(results)
    return ", ".join(names) + (": Campanile engines" if len(names) > 1 else ": Campanile engine")


def heatmap_runs(results):
    """Campanile runs whose subscribers watched the heatmap (so measured deltas)."""
    return [r for r in results if kind(r) == "campanile"
            and not flag(r, "report", "params", "broadcasts_only")
            and (get(r, "report", "delta_latency_ms", "samples") or 0) > 0]


def latency_vs_clients(results):
    camp = heatmap_runs(results)
    delta_p99 = ("report", "delta_latency_ms", "p99")
    last_p99 = ("report", "broadcast_latency_ms", "last_subscriber", "p99")
    clients = lambda r: get(r, "params", "clients")

    # Delta series: the ingest rate most runs with a delta latency were made at.
    rate = most_common(ingest_rate(r) for r in camp if get(r, *delta_p99) is not None)
    at_rate = [r for r in camp if ingest_rate(r) == rate]
    # Campanile broadcast series: the same rate, unless no run there measured
    # broadcasts; then the rate most runs that did were made at.
    b_rate = rate
    if not any(get(r, *last_p99) is not None for r in at_rate):
        b_rate = most_common(ingest_rate(r) for r in camp if get(r, *last_p99) is not None)
    at_b_rate = [r for r in camp if ingest_rate(r) == b_rate]

    lines = []
    for e in engines_of(at_rate):
        runs = [r for r in at_rate if (engine(r) or "?") == e]
        color = COLORS.get(e, COLORS["other"])
        lines.append({"name": f"{e} delta p50", "color": color, "dash": "6 4",
                      "marker": "circle", "points": series(runs, clients, ("report", "delta_latency_ms", "p50"))})
        lines.append({"name": f"{e} delta p99", "color": color, "dash": None,
                      "marker": "circle", "points": series(runs, clients, delta_p99)})
    for e in engines_of(at_b_rate):
        runs = [r for r in at_b_rate if (engine(r) or "?") == e]
        lines.append({"name": f"{e} broadcast p99", "color": COLORS.get(e, COLORS["other"]),
                      "dash": "2 3", "marker": "square", "points": series(runs, clients, last_p99)})

    parts = []
    if camp:
        where = engine_names(at_rate or at_b_rate)
        if rate is not None:
            where += f" at {fmt(rate)} posts/s ingest"
        if b_rate != rate and b_rate is not None:
            where += f" (broadcasts at {fmt(b_rate)} posts/s)"
        parts.append(where)
    parts.append("broadcast: last subscriber, p99")
    return render("Latency vs connected clients", " · ".join(parts),
                  "connected WebSocket clients", "latency (ms)", lines)


def latency_vs_ingest(results):
    camp = heatmap_runs(results)
    n = most_common(get(r, "params", "clients") for r in camp
                    if get(r, "report", "delta_latency_ms", "p99") is not None)
    runs_n = [r for r in camp if get(r, "params", "clients") == n]
    lines = []
    for e in engines_of(runs_n):
        runs = [r for r in runs_n if (engine(r) or "?") == e]
        color = COLORS.get(e, COLORS["other"])
        lines.append({"name": f"{e} delta p50", "color": color, "dash": "6 4", "marker": "circle",
                      "points": series(runs, ingest_rate, ("report", "delta_latency_ms", "p50"))})
        lines.append({"name": f"{e} delta p99", "color": color, "dash": None, "marker": "circle",
                      "points": series(runs, ingest_rate, ("report", "delta_latency_ms", "p99"))})
    subtitle = engine_names(runs_n) + (f", {fmt(n)} connected clients" if n is not None else "") if runs_n else ""
    return render("Heatmap delta latency vs ingest rate", subtitle, "ingest (posts/s)", "latency (ms)", lines)


def fanout_throughput(results):
    """Deliveries per second achieved against offered, broadcasts-only runs, per server."""
    runs = [r for r in results if flag(r, "report", "params", "broadcasts_only")
            and (get(r, "params", "broadcasts") or 0) > 0]

    def offered(r):
        p = r.get("params") or {}
        if not p.get("duration_s") or p.get("clients") is None:
            return None
        return p["broadcasts"] / p["duration_s"] * p["clients"]

    lines = []
    for k, name, shape in (("campanile", "Campanile", "circle"), ("ws", "Node.js ws", "triangle"),
                           ("socketio", "Socket.IO", "diamond")):
        mine = [r for r in runs if kind(r) == k]
        lines.append({"name": name, "color": COLORS.get(k, COLORS.get(engine(mine[0]) if mine else "other", COLORS["other"])),
                      "dash": None, "marker": shape,
                      "points": series(mine, offered, ("report", "broadcast_latency_ms", "deliveries_per_s"))})
    n = most_common(get(r, "params", "clients") for r in runs)
    subtitle = f"{fmt(n)} subscribers of the broadcasts channel" if n else ""
    return render("Broadcast fan-out: deliveries per second", subtitle,
                  "deliveries/s offered", "deliveries/s achieved", lines)


def main(argv):
    if len(argv) > 3 or any(a in ("-h", "--help") for a in argv[1:]):
        print(__doc__.strip())
        return 0 if len(argv) <= 3 else 2
    results_dir = Path(argv[1]) if len(argv) > 1 else REPO / "bench" / "results"
    out_dir = Path(argv[2]) if len(argv) > 2 else REPO / "docs"
    if not results_dir.is_dir():
        print(f"chart.py: no such directory: {results_dir}", file=sys.stderr)
        return 1
    results = load_results(results_dir)
    print(f"chart.py: {len(results)} result files from {results_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, svg in (("perf-latency-vs-clients.svg", latency_vs_clients(results)),
                      ("perf-latency-vs-ingest.svg", latency_vs_ingest(results)),
                      ("perf-fanout-throughput.svg", fanout_throughput(results))):
        path = out_dir / name
        tmp = path.with_suffix(".svg.tmp")
        tmp.write_text(svg, encoding="utf-8")
        os.replace(tmp, path)
        print(f"chart.py: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
