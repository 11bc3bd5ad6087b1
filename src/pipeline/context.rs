//! The consumer's librdkafka callbacks. They do no work of their own:
//! rebalances are forwarded to the coordinator (a revocation waits for its
//! answer, so offsets are committed before the partitions go); statistics
//! report lag and broker reachability; errors mark the broker unreachable.

use std::sync::mpsc::{sync_channel, Sender};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::TopicPartitionList;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::ClientContext;

use super::coordinator::Command;
use crate::emit;
use crate::telemetry::events::ConsumerLag;
use crate::telemetry::health::Health;

/// The consumer type of the pipeline.
pub type PipelineConsumer = BaseConsumer<PipelineContext>;

/// Callbacks, run on the thread that polls the consumer.
pub struct PipelineContext {
    /// The coordinator's mailbox.
    pub coordinator: Sender<Command>,
    /// Number of inbound topics: each assigned partition must come once per topic.
    pub inputs: usize,
    pub health: Health,
}

impl PipelineContext {
    fn tell(&self, cmd: Command) -> bool {
        self.coordinator.send(cmd).is_ok()
    }

    /// Asks the coordinator to stop every task and waits for it.
    fn revoke(&self) {
        let (reply, done) = sync_channel(1);
        if self.tell(Command::Revoke { reply }) {
            let _ = done.recv();
        }
    }
}

impl ClientContext for PipelineContext {
    fn stats(&self, stats: Statistics) {
        let up = stats
            .brokers
            .values()
            .any(|b| b.nodeid >= 0 && b.state == "UP");
        self.health.set_broker_up(up);
        for (name, topic) in &stats.topics {
            for (p, part) in &topic.partitions {
                if *p >= 0 && part.consumer_lag >= 0 && part.fetch_state == "active" {
                    self.health.set_lag(name, *p, part.consumer_lag);
                    emit!(ConsumerLag {
                        topic: name,
                        partition: *p,
                        lag: part.consumer_lag
                    });
                }
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if matches!(error, KafkaError::Global(RDKafkaErrorCode::AllBrokersDown)) {
            self.health.set_broker_up(false);
        }
        if matches!(
            error,
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
        ) {
            return;
        }
        tracing::warn!(error = %error, reason, "kafka consumer error");
    }
}

impl ConsumerContext for PipelineContext {
    fn rebalance(
        &self,
        base: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let mut partitions: Vec<i32> =
                    tpl.elements().iter().map(|e| e.partition()).collect();
                partitions.sort_unstable();
                let listed = partitions.len();
                partitions.dedup();
                if listed != partitions.len() * self.inputs {
                    tracing::error!(assigned = ?partitions, "some partitions are not assigned for every inbound topic; are the topics co-partitioned and the assignor 'range'?");
                }
                // The coordinator assigns once the tasks are restored.
                if !self.tell(Command::Assign(partitions)) {
                    let _ = base.unassign();
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                if base.assignment_lost() {
                    self.health.set_session_lost();
                }
                self.revoke();
                if let Err(e) = base.unassign() {
                    tracing::error!(error = %e, "unassign failed");
                }
            }
            other => {
                tracing::error!(error = ?other, "rebalance error; stopping tasks");
                self.revoke();
                let _ = base.unassign();
            }
        }
    }
}
