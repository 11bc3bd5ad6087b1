//! tracing setup: human-readable by default, JSON lines for log shippers.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. `level` is a level or a list of
/// directives (`warn,librdkafka=error`); librdkafka's own lines are shown
/// from `warn` on unless it names them. `RUST_LOG` overrides it. Colour only
/// when stderr is a terminal.
pub fn init(format: LogFormat, level: &str) {
    let directives = if level.contains("librdkafka") {
        level.to_string()
    } else {
        format!("{level},librdkafka=warn,rdkafka=warn")
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(directives));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Human => builder.try_init(),
    };
}
