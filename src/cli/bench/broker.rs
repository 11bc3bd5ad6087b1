//! Where a bench runs: librdkafka's mock cluster inside the process (the
//! default), or a broker the user names with `--brokers`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use leadscore::demo::InProcessCluster;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;

pub enum Broker {
    Mock(InProcessCluster),
    /// A running broker; `tag` keeps this run's topic names apart from
    /// earlier runs' on the same broker.
    External {
        bootstrap: String,
        tag: String,
    },
}

impl Broker {
    pub fn new(brokers: Option<&str>) -> Result<Broker> {
        match brokers {
            None => Ok(Broker::Mock(InProcessCluster::start(1)?)),
            Some(b) => {
                let secs = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
                Ok(Broker::External {
                    bootstrap: b.to_string(),
                    tag: format!("bench{secs}-{}.", std::process::id()),
                })
            }
        }
    }

    pub fn bootstrap(&self) -> String {
        match self {
            Broker::Mock(m) => m.cluster().bootstrap_servers(),
            Broker::External { bootstrap, .. } => bootstrap.clone(),
        }
    }

    /// The topic-name prefix of a phase.
    pub fn prefix(&self, phase: &str) -> String {
        match self {
            Broker::Mock(_) => phase.to_string(),
            Broker::External { tag, .. } => format!("{tag}{phase}"),
        }
    }

    /// Creates topics (name, partitions); on a real broker a changelog is
    /// created compacted.
    pub fn create_topics(&self, topics: &[(&str, i32, bool)]) -> Result<()> {
        match self {
            Broker::Mock(m) => {
                let m = m.cluster();
                for (name, partitions, _) in topics {
                    m.create_topic(name, *partitions, 1).with_context(|| {
                        format!("cannot create topic {name} on the mock cluster")
                    })?;
                }
                Ok(())
            }
            Broker::External { bootstrap, .. } => {
                let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
                    .set("bootstrap.servers", bootstrap)
                    .create()
                    .with_context(|| format!("cannot connect an admin client to {bootstrap}"))?;
                let new: Vec<NewTopic> = topics
                    .iter()
                    .map(|(name, partitions, compact)| {
                        let t = NewTopic::new(name, *partitions, TopicReplication::Fixed(1));
                        if *compact {
                            t.set("cleanup.policy", "compact")
                        } else {
                            t
                        }
                    })
                    .collect();
                let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
                let results = futures::executor::block_on(admin.create_topics(&new, &opts))
                    .with_context(|| format!("cannot create the bench topics on {bootstrap}"))?;
                for r in results {
                    if let Err((name, code)) = r {
                        if code != RDKafkaErrorCode::TopicAlreadyExists {
                            bail!("cannot create topic {name} on {bootstrap}: {code}");
                        }
                    }
                }
                Ok(())
            }
        }
    }
}
