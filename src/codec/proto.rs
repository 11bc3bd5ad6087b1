//! The prost types generated from `proto/leadscore/v1/*.proto` by `build.rs`:
//! the wire schema data engineers read, compiled into Rust.
#![allow(missing_docs, clippy::all, clippy::pedantic)]

include!(concat!(env!("OUT_DIR"), "/leadscore.v1.rs"));
