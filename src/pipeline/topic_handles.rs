//! Handing a record to librdkafka through a topic handle kept for the
//! life of the producer.
//!
//! rust-rdkafka's `BaseProducer::send` names the topic, and librdkafka
//! then looks the topic up under the client's global write lock on every
//! message (`rd_kafka_topic_new0`). With a task thread per partition all
//! producing, that lock was where tasks waited: at 192 partitions a fifth
//! of all samples were in `pthread_rwlock_wrlock` (BENCHMARKS.md, changelog
//! cost). `rd_kafka_produceva` with a topic handle (`RD_KAFKA_VTYPE_RKT`)
//! takes no client lock; rust-rdkafka does not expose it, so this module
//! calls it through `rdkafka-sys`, the bindings rust-rdkafka itself uses.
//! Delivery reports still reach `DeliveryContext` through rust-rdkafka's
//! callback, as the opaque is the same boxed value `BaseProducer::send`
//! would pass.

use std::collections::HashMap;
use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::RwLock;

use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::Headers;
use rdkafka::producer::Producer;
use rdkafka::util::IntoOpaque;
use rdkafka_sys as rdsys;
use rdkafka_sys::rd_kafka_vtype_t as VType;

use super::delivery::{Delivery, OwnedRecord};
use super::publisher::OutputProducer;

/// librdkafka's `RD_KAFKA_PARTITION_UA`: the partitioner chooses.
const PARTITION_UNASSIGNED: i32 = -1;

/// One librdkafka topic handle (thread-safe in librdkafka).
struct Handle(NonNull<rdsys::rd_kafka_topic_t>);

// SAFETY: librdkafka topic handles may be used from any thread.
unsafe impl Send for Handle {}
// SAFETY: as above; librdkafka locks what it shares internally.
unsafe impl Sync for Handle {}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: created by `rd_kafka_topic_new`, released once here,
        // before the client (see `Publisher`'s field order).
        unsafe { rdsys::rd_kafka_topic_destroy(self.0.as_ptr()) }
    }
}

/// The topic handles of one producer, created on first use.
#[derive(Default)]
pub struct TopicHandles {
    handles: RwLock<HashMap<String, Handle>>,
}

impl TopicHandles {
    /// The handle of `topic`, created if this is its first record.
    fn get(
        &self,
        producer: &OutputProducer,
        topic: &str,
    ) -> Result<*mut rdsys::rd_kafka_topic_t, RDKafkaErrorCode> {
        if let Some(h) = self.handles.read().expect("topic handles").get(topic) {
            return Ok(h.0.as_ptr());
        }
        let mut handles = self.handles.write().expect("topic handles");
        if let Some(h) = handles.get(topic) {
            return Ok(h.0.as_ptr());
        }
        let name = CString::new(topic).map_err(|_| RDKafkaErrorCode::InvalidTopic)?;
        // SAFETY: the client outlives the handle (dropped first); a null
        // configuration means the client's defaults.
        let raw = unsafe {
            rdsys::rd_kafka_topic_new(
                producer.client().native_ptr(),
                name.as_ptr(),
                std::ptr::null_mut(),
            )
        };
        let handle = NonNull::new(raw).ok_or(RDKafkaErrorCode::InvalidTopic)?;
        let ptr = handle.as_ptr();
        handles.insert(topic.to_string(), Handle(handle));
        Ok(ptr)
    }

    /// Hands `record` to the producer with `delivery` as its delivery
    /// report's opaque. An error means it was not enqueued (for example a
    /// full local queue) and nothing was kept.
    pub fn send(
        &self,
        producer: &OutputProducer,
        record: &OwnedRecord,
        delivery: Box<Delivery>,
    ) -> Result<(), RDKafkaErrorCode> {
        let rkt = self.get(producer, &record.topic)?;
        let headers = native_headers(record);
        let opaque = delivery.into_ptr();
        let end = rdsys::rd_kafka_vu_t {
            vtype: VType::RD_KAFKA_VTYPE_END,
            u: rdsys::rd_kafka_vu_s__bindgen_ty_1 { i: 0 },
        };
        let mut vus = [end; 7];
        let mut n = 0;
        let mut vu = |vtype: VType, u: rdsys::rd_kafka_vu_s__bindgen_ty_1| {
            vus[n] = rdsys::rd_kafka_vu_t { vtype, u };
            n += 1;
        };
        vu(
            VType::RD_KAFKA_VTYPE_RKT,
            rdsys::rd_kafka_vu_s__bindgen_ty_1 { rkt },
        );
        vu(
            VType::RD_KAFKA_VTYPE_PARTITION,
            rdsys::rd_kafka_vu_s__bindgen_ty_1 {
                i32_: record.partition.unwrap_or(PARTITION_UNASSIGNED),
            },
        );
        vu(
            VType::RD_KAFKA_VTYPE_MSGFLAGS,
            rdsys::rd_kafka_vu_s__bindgen_ty_1 {
                i: rdsys::RD_KAFKA_MSG_F_COPY,
            },
        );
        for (vtype, bytes) in [
            (VType::RD_KAFKA_VTYPE_VALUE, &record.payload),
            (VType::RD_KAFKA_VTYPE_KEY, &record.key),
        ] {
            if let Some(b) = bytes {
                vu(
                    vtype,
                    rdsys::rd_kafka_vu_s__bindgen_ty_1 {
                        mem: rdsys::rd_kafka_vu_s__bindgen_ty_1__bindgen_ty_1 {
                            ptr: b.as_ptr() as *mut _,
                            size: b.len(),
                        },
                    },
                );
            }
        }
        vu(
            VType::RD_KAFKA_VTYPE_OPAQUE,
            rdsys::rd_kafka_vu_s__bindgen_ty_1 { ptr: opaque },
        );
        if let Some(h) = headers {
            vu(
                VType::RD_KAFKA_VTYPE_HEADERS,
                rdsys::rd_kafka_vu_s__bindgen_ty_1 { headers: h },
            );
        }
        // SAFETY: every pointer in `vus` lives until the call returns; the
        // payload and key are copied (`RD_KAFKA_MSG_F_COPY`); on success
        // librdkafka owns the headers and hands the opaque back in the
        // delivery report.
        let error =
            unsafe { rdsys::rd_kafka_produceva(producer.client().native_ptr(), vus.as_ptr(), n) };
        if error.is_null() {
            return Ok(());
        }
        // SAFETY: on failure the error is ours to free, the headers stay
        // ours, and the opaque was not kept.
        let code = unsafe {
            let code = rdsys::rd_kafka_error_code(error);
            rdsys::rd_kafka_error_destroy(error);
            if let Some(h) = headers {
                rdsys::rd_kafka_headers_destroy(h);
            }
            drop(Box::<Delivery>::from_ptr(opaque));
            code
        };
        Err(code.into())
    }
}

/// A native copy of the record's headers, `None` without any.
fn native_headers(record: &OwnedRecord) -> Option<*mut rdsys::rd_kafka_headers_t> {
    let n = record.headers.count();
    if n == 0 {
        return None;
    }
    // SAFETY: a fresh list, filled with copies of names and values given
    // with their lengths.
    unsafe {
        let h = rdsys::rd_kafka_headers_new(n);
        for header in record.headers.iter() {
            let (value, len) = header.value.map_or((std::ptr::null(), 0), |v| {
                (v.as_ptr() as *const std::ffi::c_void, v.len() as isize)
            });
            rdsys::rd_kafka_header_add(
                h,
                header.key.as_ptr() as *const std::ffi::c_char,
                header.key.len() as isize,
                value,
                len,
            );
        }
        Some(h)
    }
}
