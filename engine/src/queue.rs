//! The two hand-offs of the write path, built on a mutex and condition variables so a waiting
//! thread sleeps at once instead of spinning: on a 2-core machine with many writers, spinning
//! receivers (and their `sched_yield`s) took a large share of the CPU a durable put costs.
//!
//! `Queue` is the bounded queue into the log writer, drained a group at a time; `oneshot` is a
//! reply slot for one answer, which a thread waits on or an async task awaits (the sender wakes
//! either directly, so an async caller needs no thread of its own to wait).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use parking_lot::{Condvar, Mutex};

/// A bounded multi-producer queue with one consumer that takes items in batches.
#[derive(Debug)]
pub(crate) struct Queue<T> {
    state: Mutex<QueueState<T>>,
    not_empty: Condvar,
    not_full: Condvar,
    capacity: usize,
}

#[derive(Debug)]
struct QueueState<T> {
    items: VecDeque<T>,
    closed: bool,
}

impl<T> Queue<T> {
    pub fn new(capacity: usize) -> Queue<T> {
        assert!(capacity > 0);
        Queue {
            state: Mutex::new(QueueState { items: VecDeque::with_capacity(capacity), closed: false }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            capacity,
        }
    }

    /// Adds an item, waiting while the queue is full. Gives the item back if the queue is closed.
    pub fn push(&self, item: T) -> Result<(), T> {
        let mut state = self.state.lock();
        while state.items.len() >= self.capacity && !state.closed {
            self.not_full.wait(&mut state);
        }
        if state.closed {
            return Err(item);
        }
        state.items.push_back(item);
        drop(state);
        self.not_empty.notify_one();
        Ok(())
    }

    /// Items waiting.
    pub fn len(&self) -> usize {
        self.state.lock().items.len()
    }

    /// Waits for at least one item, then takes items from the front while `fits` accepts them
    /// (the first is always taken). `None` once the queue is closed and empty.
    pub fn pop_batch(&self, mut fits: impl FnMut(&T) -> bool) -> Option<Vec<T>> {
        let mut state = self.state.lock();
        while state.items.is_empty() {
            if state.closed {
                return None;
            }
            self.not_empty.wait(&mut state);
        }
        let mut batch = Vec::with_capacity(state.items.len());
        batch.push(state.items.pop_front().expect("not empty"));
        while let Some(next) = state.items.front() {
            if !fits(next) {
                break;
            }
            batch.push(state.items.pop_front().expect("front exists"));
        }
        drop(state);
        self.not_full.notify_all();
        Some(batch)
    }

    /// Refuses new items; the consumer still drains what is queued.
    pub fn close(&self) {
        self.state.lock().closed = true;
        self.not_empty.notify_all();
        self.not_full.notify_all();
    }
}

#[derive(Debug)]
struct Slot<T> {
    value: Option<T>,
    sender_gone: bool,
    /// The task awaiting the reply, if it is awaited rather than waited for.
    waker: Option<Waker>,
}

type Shared<T> = Arc<(Mutex<Slot<T>>, Condvar)>;

/// The sending half of a one-shot reply.
#[derive(Debug)]
pub(crate) struct Reply<T>(Option<Shared<T>>);

/// The waiting half of a one-shot reply.
#[derive(Debug)]
pub(crate) struct Pending<T>(Shared<T>);

pub(crate) fn oneshot<T>() -> (Reply<T>, Pending<T>) {
    let shared = Arc::new((Mutex::new(Slot { value: None, sender_gone: false, waker: None }), Condvar::new()));
    (Reply(Some(shared.clone())), Pending(shared))
}

impl<T> Reply<T> {
    pub fn send(mut self, value: T) {
        let shared = self.0.take().expect("send consumes the reply");
        let waker = {
            let mut slot = shared.0.lock();
            slot.value = Some(value);
            slot.waker.take()
        };
        shared.1.notify_one();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Drop for Reply<T> {
    fn drop(&mut self) {
        if let Some(shared) = self.0.take() {
            let waker = {
                let mut slot = shared.0.lock();
                slot.sender_gone = true;
                slot.waker.take()
            };
            shared.1.notify_one();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

impl<T> Pending<T> {
    /// Whether `wait` would return at once.
    pub fn is_ready(&self) -> bool {
        let slot = self.0.0.lock();
        slot.value.is_some() || slot.sender_gone
    }

    /// The reply, or `None` if the sender went away without one.
    pub fn wait(self) -> Option<T> {
        let mut slot = self.0.0.lock();
        loop {
            if let Some(value) = slot.value.take() {
                return Some(value);
            }
            if slot.sender_gone {
                return None;
            }
            self.0.1.wait(&mut slot);
        }
    }
}

/// Awaiting a reply: `None` if the sender went away without one.
impl<T> Future for Pending<T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut slot = self.0.0.lock();
        if let Some(value) = slot.value.take() {
            return Poll::Ready(Some(value));
        }
        if slot.sender_gone {
            return Poll::Ready(None);
        }
        if !slot.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            slot.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_the_filter_and_close_drains() {
        let queue = Queue::new(8);
        for i in 0..5 {
            queue.push(i).unwrap();
        }
        let mut taken = 0;
        assert_eq!(
            queue.pop_batch(|_| {
                taken += 1;
                taken < 3
            }),
            Some(vec![0, 1, 2])
        );
        queue.close();
        assert_eq!(queue.push(9), Err(9));
        assert_eq!(queue.pop_batch(|_| true), Some(vec![3, 4]));
        assert_eq!(queue.pop_batch(|_| true), None);
    }

    #[test]
    fn a_full_queue_blocks_until_drained() {
        let queue = Arc::new(Queue::new(1));
        queue.push(1).unwrap();
        let pusher = {
            let queue = queue.clone();
            std::thread::spawn(move || queue.push(2))
        };
        assert_eq!(queue.pop_batch(|_| true), Some(vec![1]));
        pusher.join().unwrap().unwrap();
        assert_eq!(queue.pop_batch(|_| true), Some(vec![2]));
    }

    /// Polls a future to completion on this thread, parking between polls.
    fn block_on<F: Future>(future: F) -> F::Output {
        struct Unpark(std::thread::Thread);
        impl std::task::Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut future = std::pin::pin!(future);
        loop {
            if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
                return value;
            }
            std::thread::park();
        }
    }

    #[test]
    fn an_awaited_reply_wakes_its_task() {
        let (reply, pending) = oneshot::<u32>();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            reply.send(5);
        });
        assert_eq!(block_on(pending), Some(5));
        sender.join().unwrap();
        let (reply, pending) = oneshot::<u32>();
        let dropper = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            drop(reply);
        });
        assert_eq!(block_on(pending), None);
        dropper.join().unwrap();
    }

    #[test]
    fn a_dropped_reply_wakes_the_waiter() {
        let (reply, pending) = oneshot::<u32>();
        let waiter = std::thread::spawn(move || pending.wait());
        drop(reply);
        assert_eq!(waiter.join().unwrap(), None);
        let (reply, pending) = oneshot();
        reply.send(7);
        assert_eq!(pending.wait(), Some(7));
    }
}
