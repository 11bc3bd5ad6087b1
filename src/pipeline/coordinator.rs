//! The coordinator owns the tasks. The consumer's rebalance callback only
//! forwards "assigned" and "revoked" here (Vector's pattern); this thread
//! then runs a small state machine:
//!
//! - **assigned**: split each partition's queues off the consumer (before
//!   assigning, so no record can reach the consumer's main queue), start
//!   one task thread per partition, each restoring its own state; once
//!   every task reported where it resumes, assign all partitions at those
//!   offsets in one call (librdkafka keeps the group waiting for the assign
//!   call, heartbeating, while the main thread keeps polling). Then ready.
//! - **revoked**: tell every task to drain, join them, commit the offsets
//!   they stored, and only then answer the callback, which unassigns. A
//!   task that stopped cleanly hands its state back; if the same partition
//!   is assigned again right away it starts from that state, not from disk.
//! - **shutdown**: the same as revoked, then the thread ends.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use super::context::PipelineConsumer;
use super::doorbell::Doorbell;
use super::ownership::{OwnershipCheck, Pending};
use super::restore::TaskImage;
use super::task::{self, InputQueue, Positions, TaskEnv, TaskStart};
use super::watermark::CachedWatermark;
use crate::emit;
use crate::telemetry::events::{ConsumerLag, TasksAssigned};

/// What the coordinator is told.
pub enum Command {
    /// The group assigned these partitions (of every inbound topic).
    Assign(Vec<i32>),
    /// The group takes every partition back; answer once tasks have stopped
    /// and offsets are committed.
    Revoke { reply: SyncSender<()> },
    /// A task of assignment `generation` restored its state.
    Restored {
        generation: u64,
        partition: i32,
        next_offsets: Vec<i64>,
    },
    /// Stop every task and end; answer when done.
    Shutdown { reply: SyncSender<()> },
}

struct Running {
    stop: Arc<AtomicBool>,
    doorbell: Doorbell,
    thread: JoinHandle<Option<TaskImage>>,
}

/// The coordinator's state.
pub struct Coordinator {
    env: Arc<TaskEnv>,
    consumer: Arc<PipelineConsumer>,
    /// For tasks to report back on.
    tx: Sender<Command>,
    /// Counts assignments, so reports of an earlier one are ignored.
    generation: u64,
    running: BTreeMap<i32, Running>,
    /// Resume offsets of the restored tasks of this generation.
    restored: BTreeMap<i32, Vec<i64>>,
    /// Whether this generation's partitions were handed to the consumer.
    assigned: bool,
    /// States of the partitions revoked last, in case they come straight back.
    parked: BTreeMap<i32, TaskImage>,
    /// Asks the group whether a task is still owned (changelog fencing).
    owner: Arc<OwnershipCheck>,
}

impl Coordinator {
    pub fn new(
        env: Arc<TaskEnv>,
        consumer: Arc<PipelineConsumer>,
        tx: Sender<Command>,
    ) -> Coordinator {
        let owner = Arc::new(OwnershipCheck::start(Arc::downgrade(&consumer)));
        Coordinator {
            env,
            consumer,
            owner,
            tx,
            generation: 0,
            running: BTreeMap::new(),
            restored: BTreeMap::new(),
            assigned: false,
            parked: BTreeMap::new(),
        }
    }

    /// Serves commands until shutdown (or until every sender is gone).
    pub fn run(mut self, rx: Receiver<Command>) {
        for cmd in rx {
            match cmd {
                Command::Assign(partitions) => self.start(partitions),
                Command::Restored {
                    generation,
                    partition,
                    next_offsets,
                } => {
                    if generation == self.generation && self.running.contains_key(&partition) {
                        self.restored.insert(partition, next_offsets);
                        self.assign_when_restored();
                    }
                }
                Command::Revoke { reply } => {
                    self.stop_all("revoked");
                    let _ = reply.send(());
                }
                Command::Shutdown { reply } => {
                    self.stop_all("shutdown");
                    let _ = reply.send(());
                    break;
                }
            }
        }
        self.stop_all("coordinator ended");
    }

    /// Starts one task per assigned partition.
    fn start(&mut self, partitions: Vec<i32>) {
        self.stop_all("new assignment");
        self.generation += 1;
        self.restored.clear();
        self.assigned = false;
        let mut parked = std::mem::take(&mut self.parked);
        for p in partitions {
            let doorbell = Doorbell::new();
            let mut queues = Vec::new();
            for input in &self.env.inputs {
                match InputQueue::split(&self.consumer, &input.topic, p, &doorbell) {
                    Some(q) => queues.push(q),
                    None => {
                        tracing::error!(partition = p, topic = %input.topic, "cannot split the partition queue; the task will not run")
                    }
                }
            }
            if queues.len() != self.env.inputs.len() {
                continue;
            }
            let stop = Arc::new(AtomicBool::new(false));
            let tx = self.tx.clone();
            let generation = self.generation;
            let start = TaskStart {
                partition: p,
                queues,
                parked: parked.remove(&p),
                stop: stop.clone(),
                doorbell: doorbell.clone(),
                on_restored: Box::new(move |offsets: &[i64]| {
                    let _ = tx.send(Command::Restored {
                        generation,
                        partition: p,
                        next_offsets: offsets.to_vec(),
                    });
                }),
            };
            let env = self.env.clone();
            let positions = PartitionPositions {
                consumer: self.consumer.clone(),
                partition: p,
                topics: self.env.inputs.iter().map(|i| i.topic.clone()).collect(),
                watermarks: self
                    .env
                    .inputs
                    .iter()
                    .map(|i| CachedWatermark::new(&i.topic, p))
                    .collect(),
                owner: self.owner.clone(),
                doorbell: doorbell.clone(),
            };
            let thread = std::thread::Builder::new()
                .name(format!("task-{p}"))
                .spawn(move || task::run(env, positions, start))
                .expect("spawn a task thread");
            self.running.insert(
                p,
                Running {
                    stop,
                    doorbell,
                    thread,
                },
            );
        }
        // States of partitions that went elsewhere are stale from now on;
        // the standby keeps copies of their changelog instead.
        drop(parked);
        if let Some(s) = &self.env.standby {
            for p in (0..self.env.partitions).filter(|p| !self.running.contains_key(p)) {
                s.watch(p);
            }
        }
        emit!(TasksAssigned(self.running.len()));
        self.assign_when_restored();
    }

    /// Hands the partitions to the consumer once every task is restored.
    fn assign_when_restored(&mut self) {
        if self.assigned || self.restored.len() < self.running.len() {
            return;
        }
        let mut tpl = TopicPartitionList::new();
        for (p, offsets) in &self.restored {
            for (input, off) in self.env.inputs.iter().zip(offsets) {
                let at = if *off >= 0 {
                    Offset::Offset(*off)
                } else {
                    Offset::Beginning
                };
                if let Err(e) = tpl.add_partition_offset(&input.topic, *p, at) {
                    tracing::error!(partition = p, topic = %input.topic, error = %e, "cannot set the start offset");
                }
            }
        }
        match self.consumer.assign(&tpl) {
            Ok(()) => {
                // Everything before a restored position is acknowledged:
                // commit it too, so the group's offsets (what lag tools
                // read) never stay behind where the tasks resume.
                let mut covered = TopicPartitionList::new();
                for e in tpl.elements() {
                    if let Offset::Offset(o) = e.offset() {
                        let _ = covered.add_partition_offset(
                            e.topic(),
                            e.partition(),
                            Offset::Offset(o),
                        );
                    }
                }
                if covered.count() > 0 {
                    if let Err(e) = self.consumer.store_offsets(&covered) {
                        tracing::debug!(error = %e, "cannot store the restored offsets");
                    }
                }
                self.assigned = true;
                self.env.health.set_tasks_started(true);
                tracing::info!(
                    tasks = self.running.len(),
                    "tasks restored; partitions assigned"
                );
            }
            Err(e) => self
                .env
                .fail(format!("cannot assign the restored partitions: {e}")),
        }
    }

    /// Stops every task (each drains, stores offsets, snapshots), keeps the
    /// states of those that stopped cleanly, and commits the offsets.
    fn stop_all(&mut self, why: &str) {
        self.env.health.set_tasks_started(false);
        if self.running.is_empty() {
            return;
        }
        tracing::info!(tasks = self.running.len(), why, "stopping tasks");
        for r in self.running.values() {
            r.stop.store(true, Ordering::SeqCst);
            r.doorbell.ring();
        }
        for (p, r) in std::mem::take(&mut self.running) {
            match r.thread.join() {
                Ok(Some(image)) => {
                    self.parked.insert(p, image);
                }
                Ok(None) => {}
                Err(_) => tracing::error!(partition = p, "task thread panicked"),
            }
            // Another instance reports this partition's lag from now on.
            for input in &self.env.inputs {
                emit!(ConsumerLag {
                    topic: &input.topic,
                    partition: p,
                    lag: 0
                });
            }
        }
        if self.assigned {
            if let Err(e) = self.consumer.commit_consumer_state(CommitMode::Sync) {
                tracing::debug!(error = %e, "offset commit after stopping tasks failed");
            }
        }
        self.assigned = false;
        emit!(TasksAssigned(0));
    }
}

/// A task's window on the consumer: storing its offsets and reading the
/// cached watermarks of its partitions.
pub struct PartitionPositions {
    consumer: Arc<PipelineConsumer>,
    partition: i32,
    topics: Vec<String>,
    watermarks: Vec<CachedWatermark>,
    owner: Arc<OwnershipCheck>,
    /// The task's, rung when the ownership verdict is in.
    doorbell: Doorbell,
}

impl Positions for PartitionPositions {
    fn store_offset(&self, input: usize, offset: i64) {
        if let Err(e) = self
            .consumer
            .store_offset(&self.topics[input], self.partition, offset)
        {
            tracing::debug!(partition = self.partition, error = %e, "store_offset failed (partition not assigned yet or revoked)");
        }
    }

    fn watermark(&self, input: usize) -> Option<(i64, i64)> {
        self.watermarks[input].read(&self.consumer)
    }

    fn ask_owner(&self, next_offsets: &[i64]) -> Option<Pending> {
        let offsets: Vec<(&str, i64)> = self
            .topics
            .iter()
            .map(String::as_str)
            .zip(next_offsets.iter().copied())
            .collect();
        self.owner.ask(self.partition, &offsets, &self.doorbell)
    }
}
