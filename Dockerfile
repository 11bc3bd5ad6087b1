# syntax=docker/dockerfile:1
#
# leadscore container image.
#
#   docker build -t leadscore .
#   docker run --rm -e LEADSCORE_KAFKA_BOOTSTRAP_SERVERS=broker:9092 -p 9464:9464 leadscore
#
# The image ships deploy/leadscore.toml as /etc/leadscore/leadscore.toml
# (mount your own over it) and keeps task snapshots in the volume
# /var/lib/leadscore/snapshots. Other commands work too:
#   docker run --rm -i leadscore replay - < samples/events.jsonl
#   docker run --rm leadscore demo
#
# BuildKit (the default builder of current Docker and of `docker compose`)
# is needed for the cache mounts below: the cargo registry and the target
# directory survive between builds, so a source change rebuilds leadscore
# and not librdkafka and every dependency again.

ARG RUST_VERSION=1

############################ builder ############################
FROM rust:${RUST_VERSION}-bookworm AS builder

# The rdkafka crate builds librdkafka from source (its ./configure + make),
# with OpenSSL and zlib from the system.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      gcc g++ make perl pkg-config libssl-dev zlib1g-dev python3 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .

RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin leadscore \
 && install -D -m 0755 target/release/leadscore /out/leadscore

############################ runtime ############################
FROM debian:bookworm-slim AS runtime

# libssl3 and zlib1g: linked by librdkafka; ca-certificates: TLS to brokers
# (security.protocol=SSL/SASL_SSL); curl: the HEALTHCHECK below (leadscore
# has no health subcommand).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libssl3 zlib1g ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*

# A fixed numeric uid/gid so that Kubernetes `runAsNonRoot` can verify it
# and volume ownership is predictable.
RUN groupadd --system --gid 10001 leadscore \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/leadscore \
      --no-create-home --shell /usr/sbin/nologin leadscore \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/leadscore /var/lib/leadscore/snapshots \
 && install -d -m 0755 /etc/leadscore

COPY --from=builder /out/leadscore /usr/local/bin/leadscore
COPY deploy/leadscore.toml /etc/leadscore/leadscore.toml

# Declared after the directory is created and chowned: a fresh named volume
# is initialised from it, so it is writable by uid 10001.
VOLUME ["/var/lib/leadscore/snapshots"]

USER 10001:10001
WORKDIR /var/lib/leadscore

# /metrics, /healthz, /readyz, /leads/{lead_id}; the config must listen on
# 0.0.0.0:9464 (deploy/leadscore.toml does) for this to be reachable.
EXPOSE 9464

# Liveness only: /healthz answers 200 while the process runs. Readiness
# (/readyz) is false during restore and while no broker is reachable, which
# is not a reason to restart the container.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD curl -fsS -o /dev/null http://127.0.0.1:9464/healthz || exit 1

# SIGTERM (docker stop) makes leadscore finish in-flight work, flush, snapshot
# and leave the group: give it time (docker stop -t 60, compose
# stop_grace_period, Kubernetes terminationGracePeriodSeconds).
STOPSIGNAL SIGTERM
ENTRYPOINT ["leadscore"]
CMD ["run", "--config", "/etc/leadscore/leadscore.toml"]
