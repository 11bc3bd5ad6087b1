//! Limits a record must stay within to be decoded at all.

/// Bounds on inbound records, configured per service. Exists so an oversized
/// record or a clock-skewed producer ends in the dead-letter topic rather
/// than in a lead's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Records longer than this many bytes are refused before parsing.
    pub max_record_bytes: usize,
    /// How far `occurred_at` may lie after the wall clock (`now_ms`) before the
    /// record is refused. `None` turns the check off (replays of history).
    pub max_future_skew_ms: Option<i64>,
}

impl Default for DecodeLimits {
    /// 64 KiB records, 5 minutes of clock skew.
    fn default() -> Self {
        DecodeLimits {
            max_record_bytes: 65_536,
            max_future_skew_ms: Some(300_000),
        }
    }
}
