//! leadscore: streaming lead scoring. Marketing events in from Kafka, a
//! decaying score and funnel stage per lead, explained stage changes out.
//!
//! Follow one event: [`codec`] decodes it into an [`event::Event`],
//! [`engine::TaskState::apply`] scores it with a [`model::Model`] and returns
//! [`engine::StageChange`]s, [`codec`] encodes them, and [`pipeline`] moves
//! bytes to and from Kafka.

pub mod allocator;
pub mod changelog;
pub mod codec;
pub mod config;
pub mod demo;
pub mod engine;
pub mod event;
pub mod model;
pub mod pipeline;
pub mod replay;
pub mod service;
pub mod snapshot;
pub mod telemetry;
