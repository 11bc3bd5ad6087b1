//! Startup check: the brokers answer, every inbound topic exists, and all
//! have the same partition count (co-partitioning), or the service refuses
//! to start, saying which address it tried and what went wrong.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, ClientContext};

use super::PipelineError;

/// Remembers the client's last error (a DNS failure, a refused
/// connection), which a metadata timeout alone does not say.
#[derive(Default)]
struct LastError(Mutex<Option<String>>);

impl LastError {
    fn set(&self, what: String) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(what);
    }
}

impl ClientContext for LastError {
    fn error(&self, error: KafkaError, reason: &str) {
        self.set(format!("{error}: {reason}"));
    }

    // Connection failures (DNS, refused, TLS) arrive as log lines.
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        if (level as i32) <= (RDKafkaLogLevel::Warning as i32) && fac == "FAIL" {
            self.set(log_message.to_string());
        }
        tracing::debug!(fac, "{log_message}");
    }
}

impl ConsumerContext for LastError {}

/// How often the first attempts are retried and reported while the
/// brokers do not answer.
const REPORT_EVERY: Duration = Duration::from_secs(5);

/// Returns the common partition count of `topics`, trying for at most
/// `timeout` to reach the brokers (reporting every few seconds).
pub fn check_copartitioned(
    client: &ClientConfig,
    topics: &[String],
    timeout: Duration,
) -> Result<i32, PipelineError> {
    let bootstrap = client
        .get("bootstrap.servers")
        .unwrap_or("(bootstrap.servers not set)")
        .to_string();
    let consumer: BaseConsumer<LastError> = client
        .create_with_context(LastError::default())
        .map_err(|e| PipelineError::Kafka(format!("cannot create metadata client: {e}")))?;
    let deadline = Instant::now() + timeout;
    let mut counts = Vec::new();
    for t in topics {
        let md = loop {
            let wait = REPORT_EVERY.min(deadline.saturating_duration_since(Instant::now()));
            match consumer.fetch_metadata(Some(t), wait.max(Duration::from_millis(100))) {
                Ok(md) => break md,
                Err(e) => {
                    // Serves queued error events into the context.
                    let _ = consumer.poll(Duration::ZERO);
                    let last = consumer
                        .context()
                        .0
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .clone()
                        .unwrap_or_else(|| e.to_string());
                    if Instant::now() >= deadline {
                        return Err(PipelineError::Kafka(format!(
                            "no broker answered at {bootstrap} within {}s (last error: {last}); \
                             check [kafka] bootstrap.servers (or LEADSCORE_KAFKA_BOOTSTRAP_SERVERS) and that the brokers run; \
                             [limits] startup_timeout_secs sets how long to try",
                            timeout.as_secs()
                        )));
                    }
                    tracing::warn!(bootstrap = %bootstrap, error = %last, "no broker answers yet; retrying");
                }
            }
        };
        let Some(topic) = md.topics().iter().find(|x| x.name() == t) else {
            return Err(PipelineError::Topics(format!("topic {t} not found")));
        };
        if topic.error().is_some() || topic.partitions().is_empty() {
            return Err(PipelineError::Topics(format!(
                "inbound topic {t} does not exist (create it with the same partition count as the other inbound topics)"
            )));
        }
        counts.push((t.clone(), topic.partitions().len() as i32));
    }
    let first = counts.first().map(|c| c.1).unwrap_or(0);
    if counts.iter().any(|c| c.1 != first) {
        let list: Vec<String> = counts.iter().map(|(t, n)| format!("{t}={n}")).collect();
        return Err(PipelineError::Topics(format!(
            "inbound topics are not co-partitioned: partition counts differ ({}); every inbound topic needs the same count so that partition p of each is one task",
            list.join(", ")
        )));
    }
    Ok(first)
}
