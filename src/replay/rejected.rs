//! A line `replay` could not use, and its `--rejects` JSON line.

use std::fmt::Write as _;

use serde::Serialize;

use crate::codec::DecodeError;

/// One rejected input line, handed to the caller as soon as it is found so
/// that nothing about it has to be kept.
#[derive(Debug, Clone, Copy)]
pub struct Rejected<'a> {
    /// 1-based line number in the input.
    pub line: u64,
    /// Why, in the dead-letter reason's words.
    pub reason: &'a DecodeError,
    /// Length of the whole line in bytes, newline excluded.
    pub len: u64,
    /// The line, or its first `max_record_bytes` when it is longer.
    pub raw: &'a [u8],
}

/// The `--rejects` form of a rejected line.
#[derive(Serialize)]
struct RejectLine<'a> {
    line: u64,
    field: &'a str,
    reason: String,
    bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw_hex: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    truncated: bool,
}

impl Rejected<'_> {
    /// Whether `raw` is only the start of the line.
    pub fn is_cut(&self) -> bool {
        self.len > self.raw.len() as u64
    }

    /// One JSON line (newline included): `line`, `field`, `reason`,
    /// `bytes` (the line's length) and the line itself, as `raw` (a string)
    /// when it is UTF-8 or else as `raw_hex`, with `truncated: true` when
    /// only its first `max_record_bytes` were kept (an oversized line is
    /// never read whole).
    pub fn to_json_line(&self) -> Vec<u8> {
        let cut = self.is_cut();
        // A cut line may end inside a character: drop that partial end.
        let text = match std::str::from_utf8(self.raw) {
            Ok(t) => Some(t),
            Err(e) if cut && e.error_len().is_none() => {
                std::str::from_utf8(&self.raw[..e.valid_up_to()]).ok()
            }
            Err(_) => None,
        };
        let out = RejectLine {
            line: self.line,
            field: self.reason.field(),
            reason: self.reason.to_string(),
            bytes: self.len,
            raw: text,
            raw_hex: text.is_none().then(|| hex(self.raw)),
            truncated: cut,
        };
        // Serializing strings and numbers into a Vec cannot fail.
        let mut v = serde_json::to_vec(&out).unwrap_or_default();
        v.push(b'\n');
        v
    }
}

/// Lower-case hex of `bytes`, for lines that are not UTF-8.
fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(r: &Rejected<'_>) -> serde_json::Value {
        serde_json::from_slice(&r.to_json_line()).unwrap()
    }

    #[test]
    fn utf8_lines_are_kept_as_text_and_others_as_hex() {
        let reason = DecodeError::payload("not valid JSON");
        let r = Rejected {
            line: 3,
            reason: &reason,
            len: 9,
            raw: b"{\"a\":\"\n\"",
        };
        let v = json(&Rejected { len: 8, ..r });
        assert_eq!(
            v,
            serde_json::json!({"line": 3, "field": "payload", "reason": "payload: not valid JSON", "bytes": 8, "raw": "{\"a\":\"\n\""})
        );
        let bad = Rejected {
            raw: b"{\xff}",
            len: 3,
            ..r
        };
        assert_eq!(json(&bad)["raw_hex"], "7bff7d");
        assert!(json(&bad).get("raw").is_none());
        assert!(r.to_json_line().ends_with(b"}\n"));
    }

    #[test]
    fn a_cut_line_says_so_and_drops_a_split_character() {
        let reason = DecodeError::payload("record is 10 bytes, over the limit of 5 bytes");
        // "abcé" cut in the middle of the é.
        let r = Rejected {
            line: 1,
            reason: &reason,
            len: 10,
            raw: &"abcé".as_bytes()[..4],
        };
        let v = json(&r);
        assert_eq!(v["raw"], "abc");
        assert_eq!(v["truncated"], true);
        assert_eq!(v["bytes"], 10);
    }
}
