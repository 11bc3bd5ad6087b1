#!/usr/bin/env python3
"""Writes event JSON lines for the `leadscore replay` throughput figure in
BENCHMARKS.md ("Replay"): N events (default 1 000 000) for L leads (default
100 000) over 60 days of event time, in time order with some events a few
minutes late, all event types, 2% bots and 1% producer retries. Written
independently of the Rust traffic generator, so the engine meets input no
test was tuned on. Deterministic for a given seed.

    python3 benches/make_replay_input.py > /tmp/replay.jsonl
    time target/release/leadscore replay /tmp/replay.jsonl > /dev/null
"""
import json
import random
import sys

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
LEADS = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
rng = random.Random(20261123)
T0 = 1_780_000_000_000
SPAN = 60 * 86_400_000
UAS = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0 Safari/537.36",
       "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) Safari/605.1.15",
       "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0"]
BOTS = ["Googlebot/2.1 (+http://www.google.com/bot.html)", "python-requests/2.31.0"]
PATHS = ["/", "/product", "/blog/a", "/blog/b", "/customers", "/docs", "/careers/eng", "/about"]


def lead_id(n):
    h = "%032x" % ((n * 0x9E3779B97F4A7C15 + 12345) & ((1 << 128) - 1))
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


out = sys.stdout
last = None
for i in range(N):
    t = T0 + SPAN * i // N - (rng.randrange(300_000) if rng.random() < 0.05 else 0)
    if last is not None and rng.random() < 0.01:
        out.write(last)
        continue
    n = rng.randrange(LEADS)
    e = {"event_id": "ev-%d" % i, "lead_id": lead_id(n), "occurred_at": t}
    r = rng.random()
    if r < 0.55:
        e.update(type="page_view", path=rng.choice(PATHS),
                 user_agent=rng.choice(BOTS) if rng.random() < 0.02 else rng.choice(UAS),
                 session_id="s-%d" % (n % 977))
    elif r < 0.70:
        e.update(type="pricing_page", url="https://example.com/pricing?plan=team",
                 plan=rng.choice(["team", "enterprise"]), seconds_on_page=rng.randrange(5, 300),
                 user_agent=rng.choice(UAS))
    elif r < 0.82:
        e.update(type="download", asset_id="asset-%d" % rng.randrange(40),
                 asset_kind=rng.choice(["whitepaper", "case_study", "ebook", "datasheet", "other"]))
    elif r < 0.90:
        e.update(type="webinar", webinar_id="web-%d" % rng.randrange(12),
                 action=rng.choice(["registered", "attended", "on_demand"]), minutes=rng.randrange(60))
    elif r < 0.95:
        e.update(type="form", form=rng.choice(["contact_us", "demo_request", "newsletter", "other"]))
    else:
        e.update(type="profile", industry=rng.choice(["software", "retail", "fintech", "education"]),
                 employees=rng.choice([10, 80, 400, 2500]), country=rng.choice(["US", "DE", "BR", "IN"]))
    last = json.dumps(e, separators=(",", ":")) + "\n"
    out.write(last)
