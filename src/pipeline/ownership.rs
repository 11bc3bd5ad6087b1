//! Fencing a task that is no longer its partition's owner.
//!
//! An instance that stalls past the session timeout (CPU throttling, a
//! stopped process, a network split from the group coordinator) loses its
//! partitions to another instance, but its task threads go on until it
//! notices. Before a task writes lead records or a checkpoint to its
//! changelog partition it asks the group coordinator whether it is still a
//! member of the current generation, the way Kafka's consumer groups fence
//! offset commits: it commits the inbound positions the flush covers
//! (all acknowledged). A commit from a stale generation is refused
//! (`UNKNOWN_MEMBER_ID`, `ILLEGAL_GENERATION`, ...), and then the task
//! writes nothing more to the changelog.
//!
//! The commits run on one thread of their own, in batches (every task
//! waiting at that moment in one request), so no task thread waits for the
//! round trip.

use std::sync::mpsc;
use std::sync::{Mutex, Weak};

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use super::context::PipelineConsumer;
use super::doorbell::Doorbell;

/// What the group coordinator said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// This instance is a member of the current generation.
    Owned,
    /// It is not (the reason, for the log): the task is fenced.
    Lost(String),
    /// No answer that says either (no coordinator, a timeout): ask again.
    Unsure(String),
}

impl Verdict {
    /// Reads the result of an offset commit.
    pub fn of_commit(result: Result<(), KafkaError>) -> Verdict {
        use RDKafkaErrorCode as C;
        let Err(e) = result else {
            return Verdict::Owned;
        };
        match e.rdkafka_error_code() {
            // Still a member, with a rebalance pending: no other member can
            // be given the partition before this one rejoins or leaves, and
            // it rejoins only once its tasks have stopped (the last flush
            // of a revoked task comes here).
            Some(C::RebalanceInProgress) => Verdict::Owned,
            Some(
                C::UnknownMemberId
                | C::IllegalGeneration
                | C::FencedInstanceId
                | C::AssignmentLost
                | C::StaleMemberEpoch
                | C::FencedMemberEpoch,
            ) => Verdict::Lost(e.to_string()),
            _ => Verdict::Unsure(e.to_string()),
        }
    }
}

/// One task's question: the positions to commit, where to answer.
struct Question {
    offsets: Vec<(String, i32, i64)>,
    reply: mpsc::Sender<Verdict>,
    doorbell: Doorbell,
}

/// The thread that asks; cheap to share.
pub struct OwnershipCheck {
    tx: Mutex<mpsc::Sender<Question>>,
}

/// An answer on its way.
pub struct Pending(mpsc::Receiver<Verdict>);

impl Pending {
    /// The verdict, once it is in.
    pub fn poll(&self) -> Option<Verdict> {
        match self.0.try_recv() {
            Ok(v) => Some(v),
            Err(mpsc::TryRecvError::Empty) => None,
            Err(mpsc::TryRecvError::Disconnected) => {
                Some(Verdict::Unsure("the ownership check stopped".into()))
            }
        }
    }
}

impl OwnershipCheck {
    /// Starts the thread; it ends when the check is dropped.
    pub fn start(consumer: Weak<PipelineConsumer>) -> OwnershipCheck {
        let (tx, rx) = mpsc::channel::<Question>();
        std::thread::Builder::new()
            .name("ownership".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    batch.extend(rx.try_iter());
                    let verdict = match consumer.upgrade() {
                        Some(c) => ask(&c, &batch),
                        None => Verdict::Unsure("the consumer is closed".into()),
                    };
                    for q in batch {
                        let _ = q.reply.send(verdict.clone());
                        q.doorbell.ring();
                    }
                }
            })
            .expect("spawn the ownership check thread");
        OwnershipCheck { tx: Mutex::new(tx) }
    }

    /// Asks whether the caller still owns `partition` by committing
    /// `offsets` (topic, next offset; negative ones are left out); rings
    /// `doorbell` when the verdict is in. `None`: nothing to commit, so
    /// nothing to ask with.
    pub fn ask(
        &self,
        partition: i32,
        offsets: &[(&str, i64)],
        doorbell: &Doorbell,
    ) -> Option<Pending> {
        let offsets: Vec<(String, i32, i64)> = offsets
            .iter()
            .filter(|(_, o)| *o >= 0)
            .map(|(t, o)| (t.to_string(), partition, *o))
            .collect();
        if offsets.is_empty() {
            return None;
        }
        let (reply, rx) = mpsc::channel();
        let sent = self
            .tx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(Question {
                offsets,
                reply,
                doorbell: doorbell.clone(),
            });
        // A stopped thread drops the receiver; `Pending::poll` then says so.
        drop(sent);
        Some(Pending(rx))
    }
}

/// One commit for every question of the batch: the generation is the
/// member's, so the verdict is the same for all of them.
fn ask(consumer: &PipelineConsumer, batch: &[Question]) -> Verdict {
    if consumer.assignment_lost() {
        return Verdict::Lost("the consumer's assignment is lost".into());
    }
    let mut tpl = TopicPartitionList::new();
    for q in batch {
        for (topic, partition, offset) in &q.offsets {
            if let Err(e) = tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset)) {
                return Verdict::Unsure(e.to_string());
            }
        }
    }
    Verdict::of_commit(consumer.commit(&tpl, CommitMode::Sync))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_generation_fences_and_a_missing_coordinator_asks_again() {
        assert_eq!(Verdict::of_commit(Ok(())), Verdict::Owned);
        assert_eq!(
            Verdict::of_commit(Err(KafkaError::ConsumerCommit(
                RDKafkaErrorCode::RebalanceInProgress
            ))),
            Verdict::Owned,
            "a member with a rebalance pending still owns its partitions"
        );
        use RDKafkaErrorCode as C;
        for (code, lost) in [
            (C::UnknownMemberId, true),
            (C::IllegalGeneration, true),
            (C::FencedInstanceId, true),
            (C::AssignmentLost, true),
            (C::CoordinatorNotAvailable, false),
            (C::RequestTimedOut, false),
            (C::WaitingForCoordinator, false),
        ] {
            let v = Verdict::of_commit(Err(KafkaError::ConsumerCommit(code)));
            if lost {
                assert!(matches!(v, Verdict::Lost(_)), "{code:?} fences: {v:?}");
            } else {
                assert!(
                    matches!(v, Verdict::Unsure(_)),
                    "{code:?} is asked again: {v:?}"
                );
            }
        }
    }
}
