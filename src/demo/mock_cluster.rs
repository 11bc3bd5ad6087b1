//! librdkafka's in-process mock cluster as `leadscore demo` and
//! `leadscore bench` run on it: its consumer groups start without the
//! initial rebalance delay.
//!
//! The mock's `group.initial.rebalance.delay.ms` defaults to 3 000 ms, like
//! Apache Kafka's, which held a new group's first poll for three seconds.
//! rust-rdkafka's `MockCluster` does not wrap that setting, so the cluster is
//! made through a client (`test.mock.num.brokers`), whose handle gives the
//! cluster's pointer; the client owns the cluster, and the cluster is lent
//! out from it.

use rdkafka::error::KafkaError;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, DefaultProducerContext, Producer};
use rdkafka::ClientConfig;

/// Why the mock cluster did not start.
#[derive(Debug, thiserror::Error)]
pub enum MockClusterError {
    #[error("cannot start librdkafka's mock cluster: {0}")]
    Client(#[from] KafkaError),
    #[error("librdkafka started no mock cluster for test.mock.num.brokers")]
    Missing,
}

/// A mock cluster that lives as long as this value.
pub struct InProcessCluster {
    holder: BaseProducer,
}

impl InProcessCluster {
    /// Starts a cluster of `brokers` brokers whose groups rebalance at once.
    pub fn start(brokers: u32) -> Result<InProcessCluster, MockClusterError> {
        let holder: BaseProducer = ClientConfig::new()
            .set("test.mock.num.brokers", brokers.to_string())
            .create()?;
        // SAFETY: the handle is valid while `holder` lives, and so is the
        // mock cluster it returns (null when there is none, checked); the
        // setter only stores the delay in the cluster's defaults, under its
        // lock.
        unsafe {
            let cluster = rdkafka_sys::rd_kafka_handle_mock_cluster(holder.client().native_ptr());
            if cluster.is_null() {
                return Err(MockClusterError::Missing);
            }
            rdkafka_sys::rd_kafka_mock_group_initial_rebalance_delay_ms(cluster, 0);
        }
        Ok(InProcessCluster { holder })
    }

    /// The cluster, to read its bootstrap address or create topics.
    pub fn cluster(&self) -> MockCluster<'_, DefaultProducerContext> {
        self.holder
            .client()
            .mock_cluster()
            .expect("start checked that the client has a mock cluster")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use std::time::{Duration, Instant};

    #[test]
    fn a_new_group_gets_its_assignment_without_the_three_second_delay() {
        let kafka = InProcessCluster::start(1).expect("mock cluster");
        let mock = kafka.cluster();
        mock.create_topic("t", 2, 1).expect("create topic");
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", mock.bootstrap_servers())
            .set("group.id", "g")
            .create()
            .expect("consumer");
        consumer.subscribe(&["t"]).expect("subscribe");
        let start = Instant::now();
        while consumer.assignment().expect("assignment").count() == 0 {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no assignment in 10 s"
            );
            let _ = consumer.poll(Duration::from_millis(20));
        }
        // The mock's default delay would hold the join for 3 000 ms.
        assert!(
            start.elapsed() < Duration::from_millis(2_500),
            "the group took {:?} to be assigned",
            start.elapsed()
        );
    }
}
