//! A bounded queue whose memory follows what it holds: crossbeam's bounded channels allocate and
//! touch every slot up front (a 65,536-event queue is resident from the start), so the deep
//! queues that absorb bursts are unbounded channels with the bound checked at send.

use crossbeam_channel::{Receiver, Sender};

/// The sending end: [`BoundedSender::try_send`] refuses (and hands back) what would exceed the
/// capacity, like a full bounded channel. The check and the send are not one step: each of
/// several producers (clones) may overshoot the capacity by one.
#[derive(Debug)]
pub struct BoundedSender<T> {
    tx: Sender<T>,
    capacity: usize,
}

impl<T> Clone for BoundedSender<T> {
    fn clone(&self) -> Self {
        BoundedSender {
            tx: self.tx.clone(),
            capacity: self.capacity,
        }
    }
}

/// A queue of at most `capacity` items, allocated as items arrive.
pub fn bounded_lazy<T>(capacity: usize) -> (BoundedSender<T>, Receiver<T>) {
    let (tx, rx) = crossbeam_channel::unbounded();
    (
        BoundedSender {
            tx,
            capacity: capacity.max(1),
        },
        rx,
    )
}

impl<T> BoundedSender<T> {
    /// How many more items the queue takes now.
    pub fn room(&self) -> usize {
        self.capacity.saturating_sub(self.tx.len())
    }

    /// Queues `value`, or gives it back when the queue is full or its receiver gone.
    pub fn try_send(&self, value: T) -> Result<(), T> {
        if self.tx.len() >= self.capacity {
            return Err(value);
        }
        self.tx.send(value).map_err(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_beyond_capacity_and_accepts_again_once_drained() {
        let (tx, rx) = bounded_lazy(2);
        assert!(tx.try_send(1).is_ok());
        assert_eq!(tx.room(), 1);
        assert!(tx.try_send(2).is_ok());
        assert_eq!(tx.room(), 0);
        assert_eq!(tx.try_send(3), Err(3));
        assert_eq!(rx.recv().unwrap(), 1);
        assert!(tx.try_send(4).is_ok());
        drop(rx);
        assert_eq!(tx.try_send(5), Err(5));
    }
}
