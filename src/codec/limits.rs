//! Limits a record must stay within to be decoded at all.

use super::error::DecodeError;

/// Bounds on inbound records, configured per service. Exists so an oversized
/// record or a clock-skewed producer ends in the dead-letter topic rather
/// than in a lead's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Records longer than this many bytes are refused before parsing.
    pub max_record_bytes: usize,
    /// A `lead_id` or `event_id` longer than this many bytes is refused, so
    /// every output derived from it (stage change, key, lead view) stays
    /// small. Never more than the engine keeps ([`crate::engine::MAX_ID_BYTES`],
    /// 1024): a larger value is read as that.
    pub max_id_bytes: usize,
    /// How far `occurred_at` may lie after the wall clock (`now_ms`) before the
    /// record is refused. `None` turns the check off (replays of history).
    pub max_future_skew_ms: Option<i64>,
}

impl Default for DecodeLimits {
    /// 64 KiB records, 256-byte ids, 5 minutes of clock skew (the config's
    /// defaults).
    fn default() -> Self {
        DecodeLimits {
            max_record_bytes: 65_536,
            max_id_bytes: 256,
            max_future_skew_ms: Some(300_000),
        }
    }
}

impl DecodeLimits {
    /// The error for a record of `len` bytes, over `max_record_bytes`; also
    /// what `replay` reports for a line it stopped reading at the limit, so
    /// both say it in the same words.
    pub fn oversized(&self, len: u64) -> DecodeError {
        DecodeError::payload(format!(
            "record is {len} bytes, over the limit of {} bytes",
            self.max_record_bytes
        ))
    }
}
