#!/usr/bin/env python3
"""Summarize a bench/run.sh results directory: the median of the runs per target, as Markdown
tables (stdout and DIR/summary.md), DIR/summary.json, and SVG plots (DIR/*.svg).

Usage: bench/summarize.py bench/results/DIR
Standard library only."""

import json
import statistics
import sys
from pathlib import Path

ORDER = ["chinwag", "chinwag-nosync", "chinwag-mem", "uws", "ws", "socketio", "socketioxide"]
COLORS = {"chinwag": "#d62728", "chinwag-nosync": "#ff9896", "chinwag-mem": "#e377c2", "uws": "#1f77b4", "ws": "#2ca02c", "socketio": "#9467bd",
          "socketioxide": "#8c564b"}


def load(path):
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line:
            rows.append(json.loads(line))
    return rows


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def maxn(values):
    values = [v for v in values if v is not None]
    return max(values) if values else None


def dash(v):
    return "–" if v is None else str(v)


def targets_of(rows):
    seen = {r["result"]["label"] for r in rows if "result" in r}
    return [t for t in ORDER if t in seen] + sorted(seen - set(ORDER))


def fmt(v, digits=2, unit=""):
    if v is None:
        return "–"
    if isinstance(v, float) and digits == 0:
        return f"{v:,.0f}{unit}"
    return f"{v:,.{digits}f}{unit}"


def ms(us):
    return None if us is None else us / 1000.0


def fanout_table(rows, key_of_step, title):
    """Median per (target, step key) over runs."""
    out = {}
    for r in rows:
        if "result" not in r:
            continue
        res = r["result"]
        for s in res["steps"]:
            k = (res["label"], key_of_step(res, s))
            out.setdefault(k, []).append(s)
    summary = {}
    for (target, key), steps in out.items():
        summary[(target, key)] = {
            "runs": len(steps),
            "offered_deliveries_per_s": steps[0]["offered_deliveries_per_s"],
            "delivered_pct": med([s["delivered_pct"] for s in steps]),
            "server_us_per_delivery": med([s["server_us_per_delivery"] for s in steps]),
            "server_cpu_pct": med([s["server_cpu_pct"] for s in steps]),
            "generator_cpu_pct": med([s["generator_cpu_pct"] for s in steps]),
            "p50_us": med([s["latency"]["p50_us"] for s in steps]),
            "p99_us": med([s["latency"]["p99_us"] for s in steps]),
            "p999_us": med([s["latency"]["p999_us"] for s in steps]),
            "max_us": med([s["latency"]["max_us"] for s in steps]),
            "server_rss_mib": med([s["server_rss_bytes"] / 1048576 if s.get("server_rss_bytes") else None for s in steps]),
        }
    return summary


def svg_lines(path, title, xlabel, ylabel, series, logy=False, logx=True):
    """series: {name: [(x, y), ...]} → a small line chart."""
    import math

    w, h, ml, mr, mt, mb = 640, 400, 70, 150, 40, 50
    pts = [(x, y) for s in series.values() for x, y in s if y is not None and y > 0]
    if not pts:
        return
    fx = (lambda v: math.log10(v)) if logx else (lambda v: v)
    fy = (lambda v: math.log10(v)) if logy else (lambda v: v)
    xs = [fx(x) for x, _ in pts]
    ys = [fy(y) for _, y in pts]
    x0, x1 = min(xs), max(xs)
    y0, y1 = (min(ys), max(ys)) if logy else (0, max(ys) * 1.1)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y1 = y0 + 1

    def px(x):
        return ml + (fx(x) - x0) / (x1 - x0) * (w - ml - mr)

    def py(y):
        return h - mb - (fy(y) - y0) / (y1 - y0) * (h - mt - mb)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
             '<rect width="100%" height="100%" fill="white"/>',
             f'<text x="{w / 2}" y="20" text-anchor="middle" font-size="14">{title}</text>',
             f'<line x1="{ml}" y1="{h - mb}" x2="{w - mr}" y2="{h - mb}" stroke="black"/>',
             f'<line x1="{ml}" y1="{mt}" x2="{ml}" y2="{h - mb}" stroke="black"/>',
             f'<text x="{(ml + w - mr) / 2}" y="{h - 10}" text-anchor="middle">{xlabel}</text>',
             f'<text x="15" y="{(mt + h - mb) / 2}" text-anchor="middle" transform="rotate(-90 15 {(mt + h - mb) / 2})">{ylabel}</text>']
    xticks = sorted({x for x, _ in pts})
    for x in xticks:
        parts.append(f'<line x1="{px(x):.1f}" y1="{h - mb}" x2="{px(x):.1f}" y2="{h - mb + 4}" stroke="black"/>')
        parts.append(f'<text x="{px(x):.1f}" y="{h - mb + 16}" text-anchor="middle">{x:,.0f}</text>')
    for i in range(6):
        yv = y0 + (y1 - y0) * i / 5
        real = 10 ** yv if logy else yv
        yy = h - mb - (yv - y0) / (y1 - y0) * (h - mt - mb)
        parts.append(f'<line x1="{ml - 4}" y1="{yy:.1f}" x2="{w - mr}" y2="{yy:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{ml - 6}" y="{yy + 4:.1f}" text-anchor="end">{real:,.3g}</text>')
    for i, (name, s) in enumerate(series.items()):
        s = [(x, y) for x, y in s if y is not None and y > 0]
        if not s:
            continue
        color = COLORS.get(name, "#333")
        d = " ".join(f"{'M' if j == 0 else 'L'}{px(x):.1f},{py(y):.1f}" for j, (x, y) in enumerate(s))
        parts.append(f'<path d="{d}" fill="none" stroke="{color}" stroke-width="2"/>')
        for x, y in s:
            parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{color}"/>')
        ly = mt + 10 + i * 18
        parts.append(f'<line x1="{w - mr + 10}" y1="{ly}" x2="{w - mr + 30}" y2="{ly}" stroke="{color}" stroke-width="2"/>')
        parts.append(f'<text x="{w - mr + 35}" y="{ly + 4}">{name}</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n")


def svg_bars(path, title, ylabel, bars):
    w, h, ml, mb, mt = 520, 340, 70, 50, 40
    vals = [v for _, v in bars if v is not None]
    if not vals:
        return
    top = max(vals) * 1.15 or 1
    bw = (w - ml - 20) / max(len(bars), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
             '<rect width="100%" height="100%" fill="white"/>',
             f'<text x="{w / 2}" y="20" text-anchor="middle" font-size="14">{title}</text>',
             f'<line x1="{ml}" y1="{h - mb}" x2="{w - 20}" y2="{h - mb}" stroke="black"/>',
             f'<text x="15" y="{(mt + h - mb) / 2}" text-anchor="middle" transform="rotate(-90 15 {(mt + h - mb) / 2})">{ylabel}</text>']
    for i, (name, v) in enumerate(bars):
        if v is None:
            continue
        bh = v / top * (h - mt - mb)
        x = ml + i * bw + bw * 0.15
        parts.append(f'<rect x="{x:.1f}" y="{h - mb - bh:.1f}" width="{bw * 0.7:.1f}" height="{bh:.1f}" fill="{COLORS.get(name, "#555")}"/>')
        parts.append(f'<text x="{x + bw * 0.35:.1f}" y="{h - mb - bh - 5:.1f}" text-anchor="middle">{v:,.2f}</text>')
        parts.append(f'<text x="{x + bw * 0.35:.1f}" y="{h - mb + 16}" text-anchor="middle">{name}</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n")


def main():
    d = Path(sys.argv[1])
    md = []
    js = {}
    machine = json.loads((d / "machine.json").read_text()) if (d / "machine.json").exists() else {}
    js["machine"] = machine
    md.append(f"Results: `{d}` ({machine.get('date', '?')}, {machine.get('nproc', '?')} × {machine.get('cpu', '?')}, "
              f"kernel {machine.get('kernel', '?')}, Node {machine.get('node', '?')}, chinwag {machine.get('git', '?')}); "
              f"median of {machine.get('runs', '?')} interleaved runs.\n")

    noise = load(d / "noise.jsonl")
    if noise:
        n = noise[-1]
        b, g = n["back_to_back"], n["gapped"]
        js["noise"] = n
        md.append("### Loopback noise floor (100-byte TCP ping-pong, CPU 1 → CPU 0)\n")
        md.append("| pattern | p50 | p99 | p99.9 | max |\n|---|---|---|---|---|")
        md.append(f"| back to back | {b['p50_us']} µs | {b['p99_us']} µs | {b['p999_us']} µs | {b['max_us']} µs |")
        md.append(f"| {n['args']['gap_ms']} ms gaps | {g['p50_us']} µs | {g['p99_us']} µs | {g['p999_us']} µs | {g['max_us']} µs |\n")

    fan = load(d / "fanout.jsonl")
    if fan:
        ts = targets_of(fan)
        s = fanout_table(fan, lambda res, st: st["rate"], "fanout")
        js["fanout"] = {f"{t}@{k}": v for (t, k), v in s.items()}
        rates = sorted({k for (_, k) in s})
        members = next(r["result"]["members"] for r in fan if "result" in r)
        md.append(f"### Fan-out: one room of {members} members\n")
        md.append("| msg/s | deliveries/s offered | server | delivered | server µs/delivery | server CPU | p50 | p99 | p99.9 | max | generator CPU |")
        md.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for rate in rates:
            for t in ts:
                v = s.get((t, rate))
                if not v:
                    md.append(f"| {rate:,.0f} | {rate * members:,.0f} | {t} | not run (sweep stopped) | | | | | | | |")
                    continue
                md.append(f"| {rate:,.0f} | {v['offered_deliveries_per_s']:,.0f} | {t} | {fmt(v['delivered_pct'], 2, ' %')} | "
                          f"{fmt(v['server_us_per_delivery'], 3)} | {fmt(v['server_cpu_pct'], 0, ' %')} | {fmt(ms(v['p50_us']), 2, ' ms')} | "
                          f"{fmt(ms(v['p99_us']), 2, ' ms')} | {fmt(ms(v['p999_us']), 2, ' ms')} | {fmt(ms(v['max_us']), 2, ' ms')} | "
                          f"{fmt(v['generator_cpu_pct'], 0, ' %')} |")
        md.append("")
        if "chinwag" in ts:
            md.append("Server CPU per delivery relative to Chinwag (peer ÷ chinwag; above 1 means Chinwag uses less):\n")
            others = [t for t in ts if t != "chinwag"]
            md.append("| msg/s | " + " | ".join(others) + " |")
            md.append("|---|" + "---|" * len(others))
            for rate in rates:
                c = s.get(("chinwag", rate), {}).get("server_us_per_delivery")
                cells = []
                for t in others:
                    o = s.get((t, rate), {}).get("server_us_per_delivery")
                    cells.append(fmt(o / c, 2, "×") if (o and c) else "–")
                md.append(f"| {rate:,.0f} | " + " | ".join(cells) + " |")
            md.append("")
        svg_lines(d / "fanout-p99.svg", f"Fan-out to {members}: p99 latency", "deliveries/s offered", "p99 latency (ms)",
                  {t: [(rate * members, ms(s.get((t, rate), {}).get("p99_us"))) for rate in rates] for t in ts}, logy=True)
        svg_lines(d / "fanout-cpu.svg", f"Fan-out to {members}: server CPU per delivery", "deliveries/s offered",
                  "server CPU µs per delivery",
                  {t: [(rate * members, s.get((t, rate), {}).get("server_us_per_delivery")) for rate in rates] for t in ts})
        svg_lines(d / "fanout-delivered.svg", f"Fan-out to {members}: delivered", "deliveries/s offered", "delivered %",
                  {t: [(rate * members, s.get((t, rate), {}).get("delivered_pct")) for rate in rates] for t in ts})

    pay = load(d / "payload.jsonl")
    if pay:
        ts = targets_of(pay)
        s = fanout_table(pay, lambda res, st: res["payload_bytes"], "payload")
        js["payload"] = {f"{t}@{k}": v for (t, k), v in s.items()}
        sizes = sorted({k for (_, k) in s})
        r0 = next(r["result"] for r in pay if "result" in r)
        md.append(f"### Payload sizes: {r0['members']} members, {r0['steps'][0]['rate']:,.0f} msg/s\n")
        md.append("| body bytes | server | delivered | server µs/delivery | server CPU | p50 | p99 | p99.9 | generator CPU |")
        md.append("|---|---|---|---|---|---|---|---|---|")
        for size in sizes:
            for t in ts:
                v = s.get((t, size))
                if not v:
                    continue
                md.append(f"| {size:,} | {t} | {fmt(v['delivered_pct'], 2, ' %')} | {fmt(v['server_us_per_delivery'], 3)} | "
                          f"{fmt(v['server_cpu_pct'], 0, ' %')} | {fmt(ms(v['p50_us']), 2, ' ms')} | {fmt(ms(v['p99_us']), 2, ' ms')} | "
                          f"{fmt(ms(v['p999_us']), 2, ' ms')} | {fmt(v['generator_cpu_pct'], 0, ' %')} |")
        md.append("")

    idle = load(d / "idle.jsonl")
    if idle:
        ts = targets_of(idle)
        md.append("### Idle connections\n")
        md.append("| server | connections | server RSS per connection | handshakes/s | server CPU per handshake | failed |")
        md.append("|---|---|---|---|---|---|")
        js["idle"] = {}
        bars = []
        for t in ts:
            rs = [r["result"] for r in idle if "result" in r and r["result"]["label"] == t]
            kib = med([r["server_rss_per_conn_bytes"] / 1024 if r["server_rss_per_conn_bytes"] is not None else None for r in rs])
            hs = med([r["handshakes_per_s"] for r in rs])
            us = med([r["server_us_per_handshake"] for r in rs])
            failed = max(r["failed"] for r in rs)
            js["idle"][t] = {"runs": len(rs), "kib_per_conn": kib, "handshakes_per_s": hs, "server_us_per_handshake": us}
            procs = rs[0].get("generator_procs", 1)
            conns = f"{rs[0]['connections']:,}" + (f" ({procs} generator processes)" if procs > 1 else "")
            md.append(f"| {t} | {conns} | {fmt(kib, 2, ' KiB')} | {fmt(hs, 0)} | {fmt(us, 0, ' µs')} | {failed} |")
            bars.append((t, kib))
        md.append("")
        svg_bars(d / "idle-memory.svg", "Server memory per idle connection", "KiB (VmRSS delta / connections)", bars)

    dur = load(d / "durable.jsonl")
    if dur:
        ts = targets_of(dur)
        md.append("### Durable sends (ack after commit, SQLite)\n")
        md.append("| server | senders × window | acks/s | ack p50 | ack p99 | ack p99.9 | server CPU | server µs/ack | errors |")
        md.append("|---|---|---|---|---|---|---|---|---|")
        js["durable"] = {}
        for t in ts:
            rs = [r["result"] for r in dur if "result" in r and r["result"]["label"] == t]
            v = {
                "acks_per_s": med([r["acks_per_s"] for r in rs]),
                "p50_us": med([r["latency"]["p50_us"] for r in rs]),
                "p99_us": med([r["latency"]["p99_us"] for r in rs]),
                "p999_us": med([r["latency"]["p999_us"] for r in rs]),
                "server_cpu_pct": med([r["server_cpu_pct"] for r in rs]),
                "server_us_per_ack": med([r["server_us_per_ack"] for r in rs]),
                "errors": max(r["errors"] for r in rs),
            }
            js["durable"][t] = v
            md.append(f"| {t} | {rs[0]['senders']} × {rs[0]['window']} | {fmt(v['acks_per_s'], 0)} | {fmt(ms(v['p50_us']), 2, ' ms')} | "
                      f"{fmt(ms(v['p99_us']), 2, ' ms')} | {fmt(ms(v['p999_us']), 2, ' ms')} | {fmt(v['server_cpu_pct'], 0, ' %')} | "
                      f"{fmt(v['server_us_per_ack'], 1)} | {v['errors']} |")
        md.append("")

    slow = load(d / "slow.jsonl")
    if slow:
        ts = targets_of(slow)
        md.append("### Slow consumers: 1 % of the members stop reading\n")
        md.append("| server | msg/s × members | slow | healthy p99 baseline | healthy p99 with slow | ratio | delivered (with slow) | "
                  "server RSS max: baseline → slow phase | cut off after | slow members' connections | slow members hold | recovered through resume |")
        md.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
        js["slow"] = {}
        rss_series = {}
        for t in ts:
            rs = [r["result"] for r in slow if "result" in r and r["result"]["label"] == t]
            b99 = med([r["baseline"]["latency"]["p99_us"] for r in rs])
            s99 = med([r["with_slow"]["latency"]["p99_us"] for r in rs])
            ratio = med([r["healthy_p99_ratio"] for r in rs])
            dpct = med([r["with_slow"]["delivered_pct"] for r in rs])
            rb = med([r["server_rss"]["baseline_max_bytes"] / 1048576 if r["server_rss"]["baseline_max_bytes"] else None for r in rs])
            rsl = med([r["server_rss"]["slow_max_bytes"] / 1048576 if r["server_rss"]["slow_max_bytes"] else None for r in rs])
            cut = med([r["cut_off"]["last_secs"] for r in rs if r["cut_off"]["measured"]])
            if rs[0]["cut_off"]["measured"]:
                counts = [f"{r['cut_off']['count']}/{r['slow_members']}" for r in rs]
                cut_txt = f"{fmt(cut, 1, ' s')} ({', '.join(counts)} cut off)"
            else:
                cut_txt = "no cut-off rule"
            closes = {}
            for r in rs:
                for k, v in r["recovery"]["first_close"].items():
                    closes[k] = closes.get(k, 0) + v
            close_txt = ", ".join(f"{k}: {v}" for k, v in sorted(closes.items()))
            held = med([r["recovery"]["received"] / (r["recovery"]["expected_per_member"] * r["slow_members"])
                        if r["recovery"]["expected_per_member"] else None for r in rs])
            missing = max(r["recovery"]["missing"] for r in rs)
            dups = max(r["recovery"]["dups"] for r in rs)
            rec = med([r["recovery"]["recovered_by_resume"] for r in rs])
            js["slow"][t] = {"runs": len(rs), "p99_baseline_us": b99, "p99_slow_us": s99, "ratio": ratio, "delivered_pct": dpct,
                             "rss_baseline_mib": rb, "rss_slow_mib": rsl, "cut_off_secs": cut, "held_share": held,
                             "missing_max": missing, "dups_max": dups, "first_close": closes}
            r0 = rs[0]
            md.append(f"| {t} | {r0['rate']:,.0f} × {r0['members']:,} | {r0['slow_members']} | {fmt(ms(b99), 2, ' ms')} | {fmt(ms(s99), 2, ' ms')} | "
                      f"{fmt(ratio, 2, '×')} | {fmt(dpct, 2, ' %')} | {fmt(rb, 0)} → {fmt(rsl, 0)} MiB | {cut_txt} | {close_txt} | "
                      f"{fmt(None if held is None else 100 * held, 2, ' %')} (missing {missing}, duplicates {dups}) | {fmt(rec, 0)} |")
            rss_series[t] = [(x, y / 1048576) for x, y in r0["server_rss"]["samples"]]
        md.append("")
        md.append("Slow phase lengths, the moment the slow members read again and the RSS samples are in `slow.jsonl`; "
                  "`slow-rss.svg` plots the first run of each server.\n")
        svg_lines(d / "slow-rss.svg", "Slow consumers: server memory over the run", "seconds", "server RSS (MiB)",
                  rss_series, logx=False)

    storm = load(d / "storm.jsonl")
    if storm:
        ts = targets_of(storm)
        md.append("### Reconnect storm\n")
        md.append("| server | clients | reconnects spread over | all live after | handshakes/s | per client p50 | p99 | max | failed attempts | gave up | replayed (expected) | gaps | duplicates | server CPU per reconnect |")
        md.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        js["storm"] = {}
        for t in ts:
            rs = [r["result"] for r in storm if "result" in r and r["result"]["label"] == t]
            v = {
                "all_live_secs": med([r["all_live_secs"] for r in rs]),
                "handshakes_per_s": med([r["handshakes_per_s"] for r in rs]),
                "p50_us": med([r["to_live"]["p50_us"] for r in rs]),
                "p99_us": med([r["to_live"]["p99_us"] for r in rs]),
                "max_us": med([r["to_live"]["max_us"] for r in rs]),
                "attempts_failed": max(r["attempts_failed"] for r in rs),
                "gave_up": max(r["gave_up"] for r in rs),
                "server_us_per_handshake": med([r["server_us_per_handshake"] for r in rs]),
                "not_all_live_runs": sum(1 for r in rs if not r["all_live"]),
            }
            js["storm"][t] = v
            r0 = rs[0]
            replay = "–" if r0["replayed"] is None else f"{min(r['replayed'] for r in rs):,} ({r0['replay_expected']:,})"
            gaps = "–" if r0["replayed"] is None else str(max(r["replay_gaps"] for r in rs))
            dups = "–" if r0["replayed"] is None else str(max(r["replay_dups"] for r in rs))
            live = fmt(v["all_live_secs"], 2, " s") if not v["not_all_live_runs"] else f"not all live in {v['not_all_live_runs']} run(s)"
            md.append(f"| {t} | {r0['connections']:,} | {r0['window_secs']} s | {live} | {fmt(v['handshakes_per_s'], 0)} | "
                      f"{fmt(ms(v['p50_us']), 1, ' ms')} | {fmt(ms(v['p99_us']), 1, ' ms')} | {fmt(ms(v['max_us']), 1, ' ms')} | "
                      f"{v['attempts_failed']} | {v['gave_up']} | {replay} | {gaps} | {dups} | {fmt(v['server_us_per_handshake'], 0, ' µs')} |")
        md.append("")

    chat = load(d / "chat.jsonl")
    if chat:
        md.append("### Chat: direct and group conversations, reconnect churn\n")
        md.append("Peers run it as rooms and reconnect without resume; gaps, duplicates and \"behind\" are Chinwag's `seq` checks (– for peers).\n")
        md.append("| server | sends/s | deliveries/s | delivered | p50 | p99 | p99.9 | max | server µs/delivery | server CPU | reconnects | reconnect p99 | gaps | duplicates | behind after drain | generator CPU |")
        md.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        groups = {}
        for r in chat:
            if "result" in r:
                res = r["result"]
                groups.setdefault((res["label"], res["rate"]), []).append(res)
        js["chat"] = {}
        for (t, rate) in sorted(groups, key=lambda k: (k[1], ORDER.index(k[0]) if k[0] in ORDER else 99)):
            rs = groups[(t, rate)]
            v = {
                "deliveries_per_s": med([r["deliveries_per_s"] for r in rs]),
                "delivered_pct": med([r["delivered_pct"] for r in rs]),
                "p50_us": med([r["latency"]["p50_us"] for r in rs]),
                "p99_us": med([r["latency"]["p99_us"] for r in rs]),
                "p999_us": med([r["latency"]["p999_us"] for r in rs]),
                "max_us": med([r["latency"]["max_us"] for r in rs]),
                "server_us_per_delivery": med([r["server_us_per_delivery"] for r in rs]),
                "server_cpu_pct": med([r["server_cpu_pct"] for r in rs]),
                "reconnects": med([r["reconnects"] for r in rs]),
                "reconnect_p99_us": med([r["reconnect_latency"]["p99_us"] for r in rs]),
                "gaps": maxn([r["gaps"] for r in rs]),
                "dups": maxn([r["dups"] for r in rs]),
                "behind": maxn([r["behind_after_drain"] for r in rs]),
                "generator_cpu_pct": med([r["generator_cpu_pct"] for r in rs]),
            }
            js["chat"][f"{t}@{rate}"] = v
            md.append(f"| {t} | {rate:,.0f} | {fmt(v['deliveries_per_s'], 0)} | {fmt(v['delivered_pct'], 2, ' %')} | {fmt(ms(v['p50_us']), 2, ' ms')} | "
                      f"{fmt(ms(v['p99_us']), 2, ' ms')} | {fmt(ms(v['p999_us']), 2, ' ms')} | {fmt(ms(v['max_us']), 2, ' ms')} | "
                      f"{fmt(v['server_us_per_delivery'], 2)} | {fmt(v['server_cpu_pct'], 0, ' %')} | {fmt(v['reconnects'], 0)} | "
                      f"{fmt(ms(v['reconnect_p99_us']), 1, ' ms')} | {dash(v['gaps'])} | {dash(v['dups'])} | {dash(v['behind'])} | {fmt(v['generator_cpu_pct'], 0, ' %')} |")
        md.append("")
        cts = sorted({t for t, _ in groups})
        svg_lines(d / "chat-p99.svg", "Chat: p99 latency of live deliveries", "deliveries/s", "p99 latency (ms)",
                  {t: sorted((js["chat"][f"{t}@{rate}"]["deliveries_per_s"], ms(js["chat"][f"{t}@{rate}"]["p99_us"]))
                             for (tt, rate) in groups if tt == t) for t in cts}, logy=True)

    text = "\n".join(md)
    (d / "summary.md").write_text(text + "\n")
    (d / "summary.json").write_text(json.dumps(js, indent=1, default=str) + "\n")
    print(text)


if __name__ == "__main__":
    main()
