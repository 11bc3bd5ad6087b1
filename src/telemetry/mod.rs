//! Everything observable: metric and log events (one definition each),
//! the Prometheus exporter, tracing setup, health state and HTTP endpoints.

pub mod events;
pub mod health;
pub mod http;
pub mod logging;
pub mod prometheus;
pub mod readiness;
mod snapshot_clock;
pub mod throttle;

/// Records an internal event: logs it and counts it (see [`events`]).
#[macro_export]
macro_rules! emit {
    ($event:expr) => {
        $crate::telemetry::events::InternalEvent::emit($event)
    };
}
