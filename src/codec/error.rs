//! The one error a record decode can end in. Its `Display` is the dead-letter
//! reason a data engineer reads in the `leadscore.error` header, so it is a
//! single line that names the field and says what is wrong with it.

use std::fmt;

use thiserror::Error;

/// The pseudo-field named by problems that are not about one field (bad JSON
/// or protobuf, empty or oversized record).
pub const PAYLOAD: &str = "payload";

/// Longest excerpt of a bad value quoted in an error, in characters, so a
/// dead-letter header stays small whatever the producer sent.
const MAX_QUOTED_CHARS: usize = 64;

/// Why a record could not be decoded into an event. Exists so the pipeline can
/// dead-letter a record with a precise, one-line reason instead of stalling.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}{problem}", Prefix(field))]
pub struct DecodeError {
    field: &'static str,
    problem: String,
}

/// Renders `field `x`: ` or `payload: `, the start of every error line.
struct Prefix(&'static str);

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == PAYLOAD {
            f.write_str("payload: ")
        } else {
            write!(f, "field `{}`: ", self.0)
        }
    }
}

impl DecodeError {
    /// An error about one named field (or [`PAYLOAD`]). Line breaks in
    /// `problem` are replaced so the reason always fits one header line.
    pub fn new(field: &'static str, problem: impl Into<String>) -> DecodeError {
        let mut problem = problem.into();
        if problem.contains(['\n', '\r']) {
            problem = problem.replace(['\n', '\r'], " ");
        }
        DecodeError { field, problem }
    }

    /// An error about the record as a whole (not valid JSON, too large, ...).
    pub fn payload(problem: impl Into<String>) -> DecodeError {
        DecodeError::new(PAYLOAD, problem)
    }

    /// The field the problem is about, as named in the wire format; `"payload"`
    /// when it is about the whole record. Lets callers count errors by field.
    pub fn field(&self) -> &str {
        self.field
    }

    /// The problem without the field prefix.
    pub fn problem(&self) -> &str {
        &self.problem
    }
}

/// Quotes a producer-supplied value for an error message: escaped like a Rust
/// string (so control characters and newlines cannot break the line) and cut
/// to [`MAX_QUOTED_CHARS`] characters.
pub(crate) fn quote(value: &str) -> String {
    match value.char_indices().nth(MAX_QUOTED_CHARS) {
        None => format!("{value:?}"),
        Some((cut, _)) => format!("{:?}…", &value[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_field_or_the_payload() {
        let e = DecodeError::new(
            "occurred_at",
            "\"yesterday\" is neither RFC 3339 nor epoch milliseconds",
        );
        assert_eq!(
            e.to_string(),
            "field `occurred_at`: \"yesterday\" is neither RFC 3339 nor epoch milliseconds"
        );
        assert_eq!(e.field(), "occurred_at");
        let p = DecodeError::payload("not valid JSON");
        assert_eq!(p.to_string(), "payload: not valid JSON");
        assert_eq!(p.field(), "payload");
    }

    #[test]
    fn display_is_always_one_line() {
        let e = DecodeError::new("type", "bad\nvalue\r\nhere");
        assert!(!e.to_string().contains(['\n', '\r']), "{e}");
        assert_eq!(e.problem(), "bad value  here");
    }

    #[test]
    fn quote_escapes_and_truncates() {
        assert_eq!(quote("a\nb"), "\"a\\nb\"");
        let long = "é".repeat(100);
        let q = quote(&long);
        assert!(q.ends_with('…'));
        assert_eq!(q.chars().filter(|&c| c == 'é').count(), MAX_QUOTED_CHARS);
    }
}
