//! One file per subcommand; each turns arguments into library calls and
//! library errors into `anyhow` messages for people.

pub mod bench;
pub mod demo;
pub mod model;
pub mod replay;
pub mod run;
pub mod snapshot;
