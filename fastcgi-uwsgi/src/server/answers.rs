//! Where a server connection's request futures leave what they answer (a head, body
//! bytes, the end) for the connection to write.
//!
//! The futures are polled only by their connection's own task, inside its
//! [`crate::server::session::Requests`], so the connection looks at the queue each time
//! it has polled them: no channel, and no wake-up of the task from within itself for each
//! message.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use crate::respond::Outbound;

/// What the request futures queued, each message tagged with its request's key (the
/// FastCGI request id; 0 over uwsgi).
pub(crate) type Queue = VecDeque<(u16, Outbound)>;

/// The connection's end: it takes the messages in the order they were sent.
#[derive(Debug, Default)]
pub(crate) struct Answers {
    queue: Arc<Mutex<Queue>>,
}

/// A request future's end, cloned into each.
#[derive(Debug, Clone)]
pub(crate) struct AnswerSender {
    queue: Arc<Mutex<Queue>>,
}

impl Answers {
    /// A sender for one more request future.
    pub(crate) fn sender(&self) -> AnswerSender {
        AnswerSender {
            queue: self.queue.clone(),
        }
    }

    /// Whether a message waits.
    pub(crate) fn any(&self) -> bool {
        !self.lock().is_empty()
    }

    /// Every message waiting, oldest first, moved to the end of `into` under one lock.
    /// Into an empty queue the two trade their room, so neither allocates again.
    pub(crate) fn take_all(&self, into: &mut Queue) {
        let mut queue = self.lock();
        if into.is_empty() {
            std::mem::swap(&mut *queue, into);
        } else {
            into.append(&mut queue);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // Nothing panics while the lock is held.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl AnswerSender {
    /// Queues `message` for request `key`.
    pub(crate) fn send(&self, key: u16, message: Outbound) {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back((key, message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_come_out_in_the_order_sent_by_any_sender() {
        let answers = Answers::default();
        let (first, second) = (answers.sender(), answers.sender());
        assert!(!answers.any());
        first.send(1, Outbound::End { complete: true });
        second.send(2, Outbound::End { complete: false });
        first.send(1, Outbound::End { complete: false });
        assert!(answers.any());
        let mut queue = Queue::new();
        answers.take_all(&mut queue);
        let taken: Vec<_> = queue
            .into_iter()
            .map(|(key, message)| match message {
                Outbound::End { complete } => (key, complete),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(taken, [(1, true), (2, false), (1, false)]);
        assert!(!answers.any());
    }
}
