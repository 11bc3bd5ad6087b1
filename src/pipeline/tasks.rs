//! Starts and stops partition tasks as the group assigns and revokes
//! partitions: restore from the newest snapshot, seek, split the partition
//! queues, run one thread per task; on revocation let each finish, snapshot
//! and go.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::topic_partition_list::TopicPartitionList;

use super::context::PipelineConsumer;
use super::counters::Counters;
use super::partition_task::{self, seek_offset, TaskStart, FROM_BEGINNING};
use super::publisher::Publisher;
use super::shutdown::Shutdown;
use crate::codec::{DecodeLimits, Format};
use crate::config::OnModelChange;
use crate::emit;
use crate::engine::TaskState;
use crate::event::EventType;
use crate::model::Model;
use crate::snapshot::SnapshotStore;
use crate::telemetry::events::{ConsumerLag, SnapshotFallback, SnapshotRestored, TasksAssigned};
use crate::telemetry::health::Health;

/// One inbound topic as a task sees it.
#[derive(Debug, Clone)]
pub struct Input {
    pub topic: String,
    pub event_type: EventType,
    pub format: Format,
}

/// What every task shares.
pub struct TaskEnv {
    pub model: Arc<Model>,
    pub inputs: Vec<Input>,
    pub publisher: Publisher,
    pub store: Option<SnapshotStore>,
    pub on_model_change: OnModelChange,
    pub snapshot_interval: Duration,
    pub snapshot_every_events: u64,
    pub limits: DecodeLimits,
    pub max_task_idle_ms: u64,
    pub counters: Counters,
    pub health: Health,
    pub shutdown: Shutdown,
    /// Set when the service must stop with an error (e.g. a refused snapshot).
    pub fatal: Mutex<Option<String>>,
}

struct Running {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

/// The tasks of this instance.
pub struct TaskManager {
    env: Arc<TaskEnv>,
    running: BTreeMap<i32, Running>,
    prepared: BTreeMap<i32, (TaskState, Vec<i64>)>,
}

impl TaskManager {
    pub fn new(env: Arc<TaskEnv>) -> TaskManager {
        TaskManager {
            env,
            running: BTreeMap::new(),
            prepared: BTreeMap::new(),
        }
    }

    pub fn env(&self) -> &Arc<TaskEnv> {
        &self.env
    }

    /// Restores each assigned task and sets the offsets to seek to in `tpl`.
    pub fn prepare_assignment(&mut self, tpl: &mut TopicPartitionList) {
        let mut partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
        partitions.sort_unstable();
        partitions.dedup();
        for p in partitions {
            let (state, offsets) = self.restore(p);
            for (input, off) in self.env.inputs.iter().zip(&offsets) {
                if let Err(e) = tpl.set_partition_offset(&input.topic, p, seek_offset(*off)) {
                    tracing::error!(partition = p, topic = %input.topic, error = %e, "cannot set start offset");
                }
            }
            self.prepared.insert(p, (state, offsets));
        }
    }

    fn restore(&self, partition: i32) -> (TaskState, Vec<i64>) {
        let fresh = || {
            (
                TaskState::default(),
                vec![FROM_BEGINNING; self.env.inputs.len()],
            )
        };
        let Some(store) = &self.env.store else {
            return fresh();
        };
        let started = Instant::now();
        let loaded = store.load_newest(partition);
        for f in &loaded.fallbacks {
            emit!(SnapshotFallback {
                partition,
                kind: f.kind,
                detail: &format!("{}: {}", f.path.display(), f.detail)
            });
        }
        let Some(r) = loaded.snapshot else {
            return fresh();
        };
        if r.model_version != *self.env.model.version {
            let msg = format!(
                "snapshot {} was written by model {} but this instance runs model {}",
                r.path.display(),
                r.model_version,
                self.env.model.version
            );
            match self.env.on_model_change {
                OnModelChange::Replay => {
                    emit!(SnapshotFallback {
                        partition,
                        kind: "model_version",
                        detail: &format!("{msg}; rebuilding state from the earliest offset")
                    });
                    return fresh();
                }
                OnModelChange::Refuse => {
                    let full = format!("{msg}; set [snapshots] on_model_change = \"replay\" to rebuild state, or run the old model");
                    tracing::error!("{full}");
                    *self.env.fatal.lock().unwrap_or_else(|e| e.into_inner()) = Some(full);
                    self.env.shutdown.trigger();
                    return fresh();
                }
            }
        }
        let offsets = self
            .env
            .inputs
            .iter()
            .map(|i| {
                r.offsets
                    .iter()
                    .find(|(t, _)| *t == i.topic)
                    .map_or(FROM_BEGINNING, |(_, o)| *o)
            })
            .collect();
        emit!(SnapshotRestored {
            partition,
            leads: r.state.lead_count(),
            duration: started.elapsed()
        });
        (r.state, offsets)
    }

    /// Splits the queues of the just-assigned partitions and starts their tasks.
    pub fn start_assigned(&mut self, consumer: &Arc<PipelineConsumer>, tpl: &TopicPartitionList) {
        let mut partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
        partitions.sort_unstable();
        partitions.dedup();
        for p in partitions {
            let complete = self
                .env
                .inputs
                .iter()
                .all(|i| tpl.find_partition(&i.topic, p).is_some());
            if !complete {
                tracing::error!(partition = p, "partition {p} is not assigned for every inbound topic; are the topics co-partitioned and the assignor 'range'?");
            }
            let (state, next_offsets) = self.prepared.remove(&p).unwrap_or_else(|| {
                (
                    TaskState::default(),
                    vec![FROM_BEGINNING; self.env.inputs.len()],
                )
            });
            let (wake_tx, wake_rx) = std::sync::mpsc::sync_channel::<()>(1);
            let mut queues = Vec::new();
            for input in &self.env.inputs {
                match consumer.split_partition_queue(&input.topic, p) {
                    Some(mut q) => {
                        let tx = wake_tx.clone();
                        q.set_nonempty_callback(move || {
                            let _ = tx.try_send(());
                        });
                        queues.push(q);
                    }
                    None => {
                        tracing::error!(partition = p, topic = %input.topic, "cannot split partition queue")
                    }
                }
            }
            if queues.len() != self.env.inputs.len() {
                continue;
            }
            self.env.health.add_task(p, state.lookup());
            let stop = Arc::new(AtomicBool::new(false));
            let env = self.env.clone();
            let c = consumer.clone();
            let start = TaskStart {
                partition: p,
                state,
                next_offsets,
                stop: stop.clone(),
            };
            let thread = std::thread::Builder::new()
                .name(format!("task-{p}"))
                .spawn(move || partition_task::run(env, c, queues, wake_rx, start))
                .expect("spawn task thread");
            self.running.insert(p, Running { stop, thread });
        }
        emit!(TasksAssigned(self.running.len()));
        self.env.health.set_tasks_started(true);
    }

    /// Stops every task: each acknowledges its in-flight changes, stores
    /// offsets and snapshots before its thread ends.
    pub fn stop_all(&mut self, why: &str) {
        if self.running.is_empty() {
            return;
        }
        tracing::info!(tasks = self.running.len(), why, "stopping tasks");
        for r in self.running.values() {
            r.stop.store(true, Ordering::SeqCst);
        }
        for (p, r) in std::mem::take(&mut self.running) {
            if r.thread.join().is_err() {
                tracing::error!(partition = p, "task thread panicked");
            }
            self.env.health.remove_task(p);
            // Another instance reports this partition's lag from now on.
            for input in &self.env.inputs {
                emit!(ConsumerLag {
                    topic: &input.topic,
                    partition: p,
                    lag: 0
                });
            }
        }
        emit!(TasksAssigned(0));
    }
}
