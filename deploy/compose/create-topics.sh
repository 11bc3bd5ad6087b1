#!/bin/sh
# One-shot topic creation for docker-compose.yml (service kafka-init, run in
# the apache/kafka image). Creates every topic in $TOPICS with $PARTITIONS
# partitions, then checks that each existing topic has exactly that count:
# leadscore's inbound topics must be co-partitioned, and it refuses to start
# if their counts differ. Exits non-zero (and leadscore does not start) on
# any failure.
set -eu

BIN=${KAFKA_BIN:-/opt/kafka/bin}
: "${BOOTSTRAP_SERVERS:?}" "${TOPICS:?}" "${PARTITIONS:?}"
REPLICATION_FACTOR=${REPLICATION_FACTOR:-1}

for topic in $TOPICS; do
  "$BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP_SERVERS" --create --if-not-exists \
    --topic "$topic" --partitions "$PARTITIONS" --replication-factor "$REPLICATION_FACTOR"
done

status=0
for topic in $TOPICS; do
  # The summary line reads "Topic: <name> TopicId: ... PartitionCount: <n> ...".
  count=$("$BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP_SERVERS" --describe --topic "$topic" \
    | awk '/PartitionCount:/ { for (i = 1; i < NF; i++) if ($i == "PartitionCount:") print $(i + 1) }')
  if [ "$count" != "$PARTITIONS" ]; then
    echo "kafka-init: topic $topic has ${count:-no} partitions, expected $PARTITIONS;" \
      "delete it (or the kafka-data volume) and start again" >&2
    status=1
  else
    echo "kafka-init: $topic: $count partitions"
  fi
done
exit $status
