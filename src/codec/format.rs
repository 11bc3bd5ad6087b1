//! The wire format of a topic: JSON (the default) or protobuf.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Which encoding a topic's payloads use. Exists so topic configuration,
/// decoding and encoding agree on one closed set of formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// A flat JSON object (README "Event format").
    #[default]
    Json,
    /// `leadscore.v1.Event` / `leadscore.v1.StageChange` (`proto/`).
    Protobuf,
}

impl Format {
    /// The name used in configuration files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Protobuf => "protobuf",
        }
    }

    /// The MIME type for the `content-type` header of records in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Protobuf => "application/protobuf",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A format name that is neither `json` nor `protobuf`; exists so CLI flags
/// and env overrides report the bad value instead of a generic failure.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown format {0:?} (expected \"json\" or \"protobuf\")")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Format, UnknownFormat> {
        match s {
            "json" => Ok(Format::Json),
            "protobuf" => Ok(Format::Protobuf),
            other => Err(UnknownFormat(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_displays_and_deserializes_lowercase() {
        for f in [Format::Json, Format::Protobuf] {
            assert_eq!(f.to_string().parse::<Format>(), Ok(f));
            let quoted = format!("\"{f}\"");
            assert_eq!(serde_json::from_str::<Format>(&quoted).unwrap(), f);
        }
        assert_eq!(Format::Json.to_string(), "json");
        assert_eq!(Format::Protobuf.to_string(), "protobuf");
        let err = "avro".parse::<Format>().unwrap_err().to_string();
        assert!(err.contains("\"avro\""), "{err}");
        assert!("JSON".parse::<Format>().is_err());
        assert!(serde_json::from_str::<Format>("\"Json\"").is_err());
    }
}
