//! Where a replay's batches come from: read and decoded when asked for, on
//! the replaying thread, or read ahead on a second thread. Either way the
//! batches come in input order, so the output does not depend on which.

use std::io::BufRead;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::Scope;

use super::batch::{Batch, BatchReader, Lines};

/// Batches decoded ahead of the engine, at most: enough to ride out a
/// slow batch on either side, few enough to keep memory small.
const BATCHES_AHEAD: usize = 4;

/// A source of decoded batches, in input order.
pub enum Feed<'m, R> {
    /// Read and decode each batch when it is asked for.
    Inline {
        reader: BatchReader<'m, R>,
        spare: Option<Lines>,
    },
    /// Batches read and decoded on another thread; spent buffers go back.
    Ahead {
        batches: Receiver<Batch>,
        spare: SyncSender<Lines>,
    },
}

impl<'m, R: BufRead> Feed<'m, R> {
    /// Batches read on the caller's thread.
    pub fn inline(reader: BatchReader<'m, R>) -> Feed<'m, R> {
        Feed::Inline {
            reader,
            spare: None,
        }
    }

    /// The next batch, `None` after the last.
    pub fn next_batch(&mut self) -> Option<Batch> {
        match self {
            Feed::Inline { reader, spare } => reader.next_batch(spare.take()),
            Feed::Ahead { batches, .. } => batches.recv().ok(),
        }
    }

    /// Gives back a spent batch's buffers, to read another batch into.
    pub fn recycle(&mut self, lines: Lines) {
        match self {
            Feed::Inline { spare, .. } => *spare = Some(lines),
            // A full return queue means buffers are plentiful: drop it.
            Feed::Ahead { spare, .. } => {
                let _ = spare.try_send(lines);
            }
        }
    }
}

impl<'m, R: BufRead + Send> Feed<'m, R> {
    /// Batches read and decoded ahead on a thread of `scope`. The thread
    /// ends at the end of the input, or when the feed is dropped (once it
    /// finishes the read it is in).
    pub fn ahead<'scope, 'env>(
        scope: &'scope Scope<'scope, 'env>,
        mut reader: BatchReader<'m, R>,
    ) -> Feed<'m, R>
    where
        R: 'scope,
        'm: 'scope,
    {
        let (batch_tx, batches) = sync_channel(BATCHES_AHEAD);
        let (spare, spare_rx) = sync_channel::<Lines>(BATCHES_AHEAD + 2);
        scope.spawn(move || {
            while let Some(batch) = reader.next_batch(spare_rx.try_recv().ok()) {
                if batch_tx.send(batch).is_err() {
                    break;
                }
            }
        });
        Feed::Ahead { batches, spare }
    }
}
