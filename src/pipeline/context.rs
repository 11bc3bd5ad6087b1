//! The consumer's librdkafka callbacks: rebalances start and stop partition
//! tasks; statistics report lag and broker reachability; errors mark the
//! broker unreachable.

use std::sync::{Arc, Mutex, OnceLock, Weak};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::TopicPartitionList;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::ClientContext;

use super::tasks::TaskManager;
use crate::emit;
use crate::telemetry::events::ConsumerLag;
use crate::telemetry::health::Health;

/// The consumer type of the pipeline.
pub type PipelineConsumer = BaseConsumer<PipelineContext>;

/// Callbacks run on the thread that polls the consumer.
pub struct PipelineContext {
    /// Set right after the consumer is created; rebalances need the `Arc` to
    /// split partition queues.
    pub consumer: OnceLock<Weak<PipelineConsumer>>,
    pub tasks: Mutex<TaskManager>,
    pub health: Health,
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
        tracing::warn!(error = %error, reason, "kafka client error");
    }
}

impl ConsumerContext for PipelineContext {
    fn rebalance(
        &self,
        base: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let Some(consumer) = self.consumer.get().and_then(Weak::upgrade) else {
            // The consumer is closing (its last handle is being dropped):
            // tasks are already stopped; librdkafka waits for us to let go.
            let _ = base.unassign();
            return;
        };
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                // Queues are split before the assignment starts fetching:
                // a split queue is flagged so librdkafka never forwards it to
                // the consumer queue, so no record can slip past its task.
                tasks.prepare_assignment(tpl);
                tasks.start_assigned(&consumer, tpl);
                if let Err(e) = base.assign(tpl) {
                    tracing::error!(error = %e, "assign failed");
                    tasks.stop_all("assign failed");
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                tasks.stop_all("revoked");
                if let Err(e) = base.unassign() {
                    tracing::error!(error = %e, "unassign failed");
                }
            }
            other => {
                tracing::error!(error = ?other, "rebalance error");
                tasks.stop_all("rebalance error");
                let _ = base.unassign();
            }
        }
    }
}

/// Upgrades helper for code holding only the context.
pub fn consumer_of(ctx: &PipelineContext) -> Option<Arc<PipelineConsumer>> {
    ctx.consumer.get().and_then(Weak::upgrade)
}
