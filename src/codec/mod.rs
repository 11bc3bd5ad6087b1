//! Bytes to events and stage changes to bytes: JSON and protobuf decoding of
//! inbound events with validation (DESIGN.md "Inbound events"), and encoding
//! of outbound stage changes ("Outbound stage changes").
//!
//! Decoding never panics, whatever the bytes: every problem is a
//! [`DecodeError`] whose one-line message names the field, which the pipeline
//! puts on the dead-letter record.

mod change_json;
mod change_proto;
mod error;
mod format;
mod json_event;
mod lead_json;
mod limits;
pub mod proto;
mod proto_event;
mod proto_view;
mod timestamp;
mod url;
mod validate;

pub use error::DecodeError;
pub use format::{Format, UnknownFormat};
pub use lead_json::encode_lead_view;
pub use limits::DecodeLimits;
pub use timestamp::format_rfc3339_ms;

use crate::engine::StageChange;
use crate::event::{Event, EventType};

/// Decodes and validates one inbound record. `expected` is the event type of
/// the topic it came from (`None` when the record must say it, as in
/// `replay`); `now_ms` is the wall clock for the future-skew check (`None`
/// disables it). Strings borrow from `payload`, unless escaped (JSON) or in
/// a record only prost's decoder reads (protobuf: a repeated message field).
pub fn decode_event<'a>(
    payload: &'a [u8],
    format: Format,
    expected: Option<EventType>,
    now_ms: Option<i64>,
    limits: &DecodeLimits,
) -> Result<Event<'a>, DecodeError> {
    match format {
        Format::Json => json_event::decode(payload, expected, now_ms, limits),
        Format::Protobuf => proto_event::decode(payload, expected, now_ms, limits),
    }
}

/// Encodes an event in a topic's format, as a producer would; used by the
/// demo traffic generator, benchmarks and tests. A decoded event encodes to
/// bytes that decode back to an equal event, in both formats.
pub fn encode_event(event: &Event<'_>, format: Format) -> Vec<u8> {
    match format {
        Format::Json => json_event::encode(event),
        Format::Protobuf => proto_event::encode(event),
    }
}

/// Encodes a stage change for the outbound topic, stamped with the wall time
/// `emitted_at_ms`. Deterministic: equal inputs give equal bytes.
pub fn encode_change(change: &StageChange, emitted_at_ms: i64, format: Format) -> Vec<u8> {
    match format {
        Format::Json => change_json::encode(change, emitted_at_ms),
        Format::Protobuf => change_proto::encode(change, emitted_at_ms),
    }
}
