#!/bin/sh
# Event generator for docker-compose.yml (service `generator`, run in the
# apache/kafka image): produces realistic marketing events to the inbound
# topics, forever, with kafka-console-producer.sh. Record key = lead_id
# (`key|json` lines, parse.key=true, key.separator=|), so every topic is
# partitioned by lead the same way, as leadscore requires.
#
# Each round writes one batch per topic with awk (POSIX sh + awk only, no
# other tools needed), then sends each topic's batch with one
# kafka-console-producer run per topic. JVM start-up dominates a round, so
# the default settings give a few tens of events per second: enough to
# watch leads move on the dashboard, not a load test. The traffic:
#   - LEADS leads; a few are hot (most of the traffic), most are cold, so
#     some leads reach MQL and SQL within minutes and most never do;
#   - every lead has a fixed profile (industry, size, revenue, country), some
#     in the ideal customer profile, some not; a few are job seekers who
#     mostly read /careers pages;
#   - page views, pricing-page views, downloads (whitepapers, ebooks, case
#     studies, ...), webinar registrations/attendance/on-demand views, forms
#     (newsletter, demo_request, contact_us, other) and profile updates;
#   - a little noise, as real traffic has: bot user agents (filtered, not
#     scored), resent events with the same event_id (deduplicated), and
#     BAD_PER_MILLE malformed records (they go to the dead-letter topic).
#
# Environment (all optional except BOOTSTRAP_SERVERS):
#   BOOTSTRAP_SERVERS   Kafka bootstrap servers, e.g. kafka:9092
#   TOPIC_PREFIX        topic of type T is ${TOPIC_PREFIX}T   (events.)
#   LEADS               number of distinct leads               (2000)
#   EVENTS_PER_ROUND    events per round, all topics together  (400)
#   INTERVAL_SECS       pause between rounds                   (2)
#   BAD_PER_MILLE       malformed records per 1000 events      (3)
#   ROUNDS              stop after this many rounds; 0 = never (0)
#   KAFKA_BIN           where the Kafka scripts are            (/opt/kafka/bin)
#   OUT_DIR             write the batches there and do not produce (testing)
set -eu

BIN=${KAFKA_BIN:-/opt/kafka/bin}
TOPIC_PREFIX=${TOPIC_PREFIX-events.}
LEADS=${LEADS:-2000}
EVENTS_PER_ROUND=${EVENTS_PER_ROUND:-400}
INTERVAL_SECS=${INTERVAL_SECS:-2}
BAD_PER_MILLE=${BAD_PER_MILLE:-3}
ROUNDS=${ROUNDS:-0}
OUT_DIR=${OUT_DIR:-}
TYPES="page_view pricing_page download webinar form profile"

if [ -z "$OUT_DIR" ]; then
  : "${BOOTSTRAP_SERVERS:?set BOOTSTRAP_SERVERS, e.g. kafka:9092}"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  trap 'exit 0' INT TERM
else
  work=$OUT_DIR
  mkdir -p "$work"
fi

# Event ids are unique across restarts of the generator.
run_id=$(date -u +%s)

# The awk program: writes "$dir/<type>" files of `lead_id|json` lines.
# Variables: now (epoch seconds), spread (seconds the round's events are
# spread over, ending at now), n, leads, bad (per mille), seed, run, round.
prog='
function picks(list, sep,    a, k) { k = split(list, a, sep); return a[1 + int(rand() * k)] }
function pick(list) { return picks(list, ",") }
function pad(x, w) { return sprintf("%0" w "d", x) }
# RFC 3339 UTC with milliseconds from epoch milliseconds (civil-from-days).
function iso(ms,    s, d, sod, z, era, doe, yoe, y, doy, mp, dd, m) {
  s = int(ms / 1000); d = int(s / 86400); sod = s - d * 86400
  z = d + 719468; era = int(z / 146097); doe = z - era * 146097
  yoe = int((doe - int(doe / 1460) + int(doe / 36524) - int(doe / 146096)) / 365)
  y = yoe + era * 400; doy = doe - (365 * yoe + int(yoe / 4) - int(yoe / 100))
  mp = int((5 * doy + 2) / 153); dd = doy - int((153 * mp + 2) / 5) + 1
  m = mp < 10 ? mp + 3 : mp - 9; if (m <= 2) y++
  return y "-" pad(m, 2) "-" pad(dd, 2) "T" pad(int(sod / 3600), 2) ":" pad(int(sod % 3600 / 60), 2) ":" pad(sod % 60, 2) "." pad(ms % 1000, 3) "Z"
}
function q(s) { return "\"" s "\"" }
function emit(type, lead, body,    line) {
  line = lead "|" body
  print line > (dir "/" type)
  # A producer retry: the same record again (same event_id), now and then.
  if (rand() < 0.005) print line > (dir "/" type)
}
function browser() {
  if (rand() < 0.02) return picks("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)~Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)~python-requests/2.32.3~Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0 Safari/537.36", "~")
  return picks("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36~Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15~Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0~Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "~")
}
function web(idx) {
  return ", " q("user_agent") ": " q(browser()) ", " q("ip") ": " q("198.51.100." (idx % 250 + 1)) ", " q("session_id") ": " q("s-" run "-" idx "-" int(round / 30))
}
BEGIN {
  srand(seed)
  split("software,saas,fintech,healthcare technology,manufacturing,logistics,retail,education,media,government,construction", industries, ",")
  split("US,CA,GB,IE,DE,FR,NL,SE,AU,BR,IN,JP,ES,IT,PL", countries, ",")
  split("5000,1200,600,240,150,80,35,10", sizes, ",")
  split("900000000,150000000,40000000,8000000,2500000,400000", revenues, ",")
  for (i = 0; i < n; i++) {
    # Skewed popularity: low indexes are hot leads (and, by the profile
    # below, mostly big companies in the ideal customer profile).
    r = rand(); idx = int(leads * r * r)
    lead = "lead-" pad(idx, 5)
    ms = int((now - spread + spread * (i + rand()) / n) * 1000)
    # Most producers write RFC 3339; some write epoch milliseconds.
    at = (idx % 5 == 0) ? sprintf("%.0f", ms) : q(iso(ms))
    head = "{" q("event_id") ": " q("gen-" run "-" round "-" i) ", " q("lead_id") ": " q(lead) ", " q("occurred_at") ": " at

    if (rand() * 1000 < bad) {
      kind = int(rand() * 4)
      t = pick("page_view,pricing_page,download,webinar")
      if (kind == 0) body = "{" q("event_id") ": " q("gen-" run "-" round "-" i) ", " q("occurred_at") ": " q(iso(ms)) ", " q("path") ": " q("/product") "}"
      else if (kind == 1) body = "{" q("event_id") ": " q("gen-" run "-" round "-" i) ", " q("lead_id") ": " q(lead) ", " q("occurred_at") ": " q("last tuesday") ", " q("path") ": " q("/blog") "}"
      else if (kind == 2) body = "<html><body>502 Bad Gateway</body></html>"
      else body = head ", " q("type") ": " q("webinar") ", " q("webinar_id") ": 42, " q("action") ": " q("attended") "}"
      print lead "|" body > (dir "/" t)
      continue
    }

    seeker = (idx % 17 == 3)
    x = rand()
    if (x < 0.50 || seeker) {
      if (seeker && rand() < 0.8) path = pick("/careers,/careers/engineering,/careers/sales,/jobs/backend-engineer,/jobs/account-executive")
      else path = pick("/,/product,/product/integrations,/product/security,/blog/what-is-lead-scoring,/blog/mql-vs-sql,/blog/intent-data,/customers,/about,/docs/getting-started")
      ref = (rand() < 0.3) ? ", " q("referrer") ": " q(pick("https://www.google.com/,https://www.linkedin.com/,https://news.ycombinator.com/,https://duckduckgo.com/")) : ""
      if (rand() < 0.5) loc = q("url") ": " q("https://www.example.com" path "?utm_source=" pick("google,linkedin,newsletter,direct"))
      else loc = q("path") ": " q(path)
      emit("page_view", lead, head ", " q("type") ": " q("page_view") ", " loc ref web(idx) "}")
    } else if (x < 0.60) {
      path = pick("/pricing,/pricing,/pricing/enterprise,/pricing/compare")
      emit("pricing_page", lead, head ", " q("path") ": " q(path) ", " q("plan") ": " q(pick("starter,business,enterprise")) ", " q("seconds_on_page") ": " int(5 + rand() * 300) web(idx) "}")
    } else if (x < 0.73) {
      asset = pick("wp-lead-scoring:whitepaper,wp-intent-data:whitepaper,wp-revops:whitepaper,ebook-funnel:ebook,ebook-abm:ebook,ds-platform:datasheet,ds-security:datasheet,cs-acme:case_study,cs-globex:case_study,cs-initech:case_study,cs-umbrella:case_study,roi-calculator:other")
      split(asset, av, ":")
      emit("download", lead, head ", " q("type") ": " q("download") ", " q("asset_id") ": " q(av[1]) ", " q("asset_kind") ": " q(av[2]) "}")
    } else if (x < 0.83) {
      action = pick("registered,registered,attended,on_demand")
      minutes = (action == "registered") ? "" : ", " q("minutes") ": " int(5 + rand() * 55)
      emit("webinar", lead, head ", " q("webinar_id") ": " q(pick("web-scoring-101,web-revops-live,web-product-tour")) ", " q("action") ": " q(action) minutes "}")
    } else if (x < 0.89) {
      f = rand()
      form = f < 0.55 ? "newsletter" : f < 0.75 ? "other" : f < 0.92 ? "demo_request" : "contact_us"
      emit("form", lead, head ", " q("type") ": " q("form") ", " q("form") ": " q(form) "}")
    } else {
      # The profile is a property of the lead: the same values every time.
      emit("profile", lead, head ", " q("type") ": " q("profile") ", " q("industry") ": " q(industries[1 + idx % 11]) ", " q("employees") ": " sizes[1 + int(idx / 3) % 8] ", " q("annual_revenue_usd") ": " revenues[1 + int(idx / 7) % 6] ", " q("country") ": " q(countries[1 + int(idx / 2) % 15]) "}")
    }
  }
}'

round=0
while [ "$ROUNDS" -eq 0 ] || [ "$round" -lt "$ROUNDS" ]; do
  round=$((round + 1))
  for t in $TYPES; do : > "$work/$t"; done
  awk -v dir="$work" -v now="$(date -u +%s)" -v spread="$((INTERVAL_SECS + 1))" -v n="$EVENTS_PER_ROUND" \
    -v leads="$LEADS" -v bad="$BAD_PER_MILLE" -v seed="$run_id$round" -v run="$run_id" -v round="$round" \
    "$prog"
  if [ -z "$OUT_DIR" ]; then
    for t in $TYPES; do
      [ -s "$work/$t" ] || continue
      "$BIN/kafka-console-producer.sh" --bootstrap-server "$BOOTSTRAP_SERVERS" --topic "$TOPIC_PREFIX$t" \
        --producer-property acks=all --producer-property linger.ms=20 \
        --property parse.key=true --property 'key.separator=|' < "$work/$t"
    done
    echo "generator: round $round: $(cat "$work"/* | wc -l) records"
  else
    for t in $TYPES; do mv "$work/$t" "$work/$t.$round"; done
  fi
  [ "$ROUNDS" -ne 0 ] && [ "$round" -ge "$ROUNDS" ] && break
  sleep "$INTERVAL_SECS"
done
