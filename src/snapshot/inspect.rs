//! A human report on one snapshot file, for `leadscore snapshot inspect
//! FILE`: what it covers, how big it is and whether its checksum holds. It
//! reports a checksum mismatch instead of refusing, because a damaged file
//! is exactly what an operator wants to look at.

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat};

use super::decode::summarize;
use super::encode::offset_sum;
use super::error::SnapshotError;
use super::format::{checksum, Header, HEADER_LEN};

/// Whether the body matches the checksum in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumStatus {
    /// The body hashes to the recorded CRC-32.
    Ok {
        /// The CRC-32 of the body.
        crc32: u32,
    },
    /// The body was changed after it was written: the store will not
    /// restore this file.
    Mismatch {
        /// CRC-32 in the header.
        recorded: u32,
        /// CRC-32 the body hashes to.
        actual: u32,
    },
}

impl ChecksumStatus {
    /// Whether the checksum holds.
    pub fn is_ok(&self) -> bool {
        matches!(self, ChecksumStatus::Ok { .. })
    }
}

impl fmt::Display for ChecksumStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChecksumStatus::Ok { crc32 } => write!(f, "ok (crc32 {crc32:08x})"),
            ChecksumStatus::Mismatch { recorded, actual } => write!(
                f,
                "MISMATCH: the header records crc32 {recorded:08x} but the body hashes to {actual:08x}; the file is damaged and will not be restored"
            ),
        }
    }
}

/// What one snapshot file holds.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The file.
    pub path: PathBuf,
    /// Its size on disk.
    pub file_size: u64,
    /// Format version from the header.
    pub format_version: u32,
    /// Body length from the header.
    pub body_len: u64,
    /// Whether the body matches its checksum.
    pub checksum: ChecksumStatus,
    /// Partition (task) of the state.
    pub partition: i32,
    /// Next offset of each inbound topic.
    pub offsets: Vec<(String, i64)>,
    /// Sum of the next offsets (what the file name carries).
    pub offset_sum: u64,
    /// Model the state was computed with.
    pub model_version: String,
    /// Number of leads.
    pub lead_count: u64,
    /// Leads in stage lead, mql and sql.
    pub leads_by_stage: [u64; 3],
    /// Tagged slots (candidates, fit values, ...) over all leads.
    pub slot_count: u64,
    /// Entries in the event-id dedupe window.
    pub seen_count: u64,
    /// Event-time watermark, epoch ms (`i64::MIN`: no event yet).
    pub watermark_ms: i64,
    /// Last sweep boundary, epoch ms (`i64::MIN`: none yet).
    pub last_sweep_ms: i64,
    /// Wall time it was taken, epoch ms.
    pub taken_at_ms: i64,
}

/// Reads one snapshot file and reports on it. A checksum mismatch is part
/// of the report; a file that is not a snapshot, is truncated or whose body
/// does not decode is an error naming the file.
pub fn inspect(path: &Path) -> Result<Inspection, SnapshotError> {
    let bytes = std::fs::read(path).map_err(|source| SnapshotError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let header = Header::parse(path, &bytes, bytes.len() as u64)?;
    let body = &bytes[HEADER_LEN..];
    let actual = checksum(body);
    let status = if actual == header.crc32 {
        ChecksumStatus::Ok { crc32: actual }
    } else {
        ChecksumStatus::Mismatch {
            recorded: header.crc32,
            actual,
        }
    };
    let s = summarize(body).map_err(|e| SnapshotError::Corrupt {
        path: path.to_path_buf(),
        detail: format!("checksum {status}; the body does not decode: {e}"),
    })?;
    Ok(Inspection {
        path: path.to_path_buf(),
        file_size: bytes.len() as u64,
        format_version: header.version,
        body_len: header.body_len,
        checksum: status,
        partition: s.partition,
        offset_sum: offset_sum(&s.offsets),
        offsets: s.offsets,
        model_version: s.model_version,
        lead_count: s.leads,
        leads_by_stage: s.by_stage,
        slot_count: s.slots,
        seen_count: s.seen,
        watermark_ms: s.watermark_ms,
        last_sweep_ms: s.last_sweep_ms,
        taken_at_ms: s.taken_at_ms,
    })
}

/// An epoch-ms time as RFC 3339 UTC plus the raw number.
fn time(ms: i64) -> String {
    if ms == i64::MIN {
        return "none yet".to_string();
    }
    match DateTime::from_timestamp_millis(ms) {
        Some(t) => format!("{} ({ms})", t.to_rfc3339_opts(SecondsFormat::Millis, true)),
        None => format!("{ms} ms"),
    }
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "snapshot        {}", self.path.display())?;
        writeln!(
            f,
            "file size       {} bytes (format v{}, {}-byte body)",
            self.file_size, self.format_version, self.body_len
        )?;
        writeln!(f, "checksum        {}", self.checksum)?;
        writeln!(f, "partition       {}", self.partition)?;
        writeln!(f, "model_version   {}", self.model_version)?;
        writeln!(f, "taken at        {}", time(self.taken_at_ms))?;
        let offsets: Vec<String> = self
            .offsets
            .iter()
            .map(|(t, o)| format!("{t}={o}"))
            .collect();
        writeln!(
            f,
            "next offsets    {} (sum {})",
            if offsets.is_empty() {
                "none".to_string()
            } else {
                offsets.join(", ")
            },
            self.offset_sum
        )?;
        let [lead, mql, sql] = self.leads_by_stage;
        writeln!(
            f,
            "leads           {} (lead {lead}, mql {mql}, sql {sql}; {} slots)",
            self.lead_count, self.slot_count
        )?;
        writeln!(f, "seen event ids  {}", self.seen_count)?;
        writeln!(f, "watermark       {}", time(self.watermark_ms))?;
        writeln!(f, "last sweep      {}", time(self.last_sweep_ms))
    }
}
