//! The high watermark the consumer learned from its last fetch response for
//! a partition, read without asking the broker: the merge needs it to tell
//! a caught-up partition from one whose records are still on the way.
//!
//! librdkafka keeps it per partition (`rd_kafka_get_watermark_offsets`);
//! rust-rdkafka wraps only the broker-querying variant, so this calls the
//! binding on the client's native pointer.

use std::ffi::CString;

use rdkafka::bindings as rdsys;
use rdkafka::consumer::Consumer;
use rdkafka::types::RDKafkaRespErr;

use super::context::PipelineConsumer;

/// One partition whose cached watermarks can be read cheaply and often.
#[derive(Debug)]
pub struct CachedWatermark {
    topic: CString,
    partition: i32,
}

impl CachedWatermark {
    /// For `topic` partition `partition` (a topic name with a NUL byte,
    /// which Kafka does not allow, reads as unknown).
    pub fn new(topic: &str, partition: i32) -> CachedWatermark {
        CachedWatermark {
            topic: CString::new(topic).unwrap_or_default(),
            partition,
        }
    }

    /// `(low, high)` as of the last fetch response, or `None` while the
    /// consumer has not learned them yet.
    pub fn read(&self, consumer: &PipelineConsumer) -> Option<(i64, i64)> {
        let (mut low, mut high) = (-1i64, -1i64);
        // SAFETY: the client pointer is valid for as long as `consumer`
        // lives (borrowed for this call), the topic is a NUL-terminated
        // string that outlives the call, and librdkafka only writes the two
        // out-parameters, under its own partition lock.
        let err = unsafe {
            rdsys::rd_kafka_get_watermark_offsets(
                consumer.client().native_ptr(),
                self.topic.as_ptr(),
                self.partition,
                &mut low,
                &mut high,
            )
        };
        (err == RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0).then_some((low, high))
    }
}
