//! What the server's queue workers share: a task on the runtime that stops when asked, and the
//! backoff of each queue whose deliveries fail.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// A running task; stopped by `stop` (which waits for it) or when the runtime ends.
#[derive(Debug)]
pub struct Task {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Task {
    /// Spawns `run` on the current runtime; it is given the receiver that says when to stop.
    pub fn spawn<F>(run: impl FnOnce(watch::Receiver<bool>) -> F) -> Task
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = watch::channel(false);
        Task { stop, task: tokio::spawn(run(stopped)) }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// The queues that failed, by name: each is tried again after a delay that doubles from `min`
/// to `max`, and starts over once it succeeds.
#[derive(Debug)]
pub struct Backoffs {
    waiting: HashMap<String, (Instant, Duration)>,
    min: Duration,
    max: Duration,
}

impl Backoffs {
    pub fn new(min: Duration, max: Duration) -> Backoffs {
        Backoffs { waiting: HashMap::new(), min, max }
    }

    /// Whether `queue` may be tried now.
    pub fn is_due(&self, queue: &str, now: Instant) -> bool {
        self.waiting.get(queue).is_none_or(|(until, _)| *until <= now)
    }

    /// The outboxes of `engine` under `prefix` that hold entries and may be tried now.
    pub fn due(&self, engine: &cairn_engine::Engine, prefix: &str) -> Vec<String> {
        let now = Instant::now();
        let outboxes = engine.outboxes(prefix).into_iter().map(|(name, _, _)| name);
        outboxes.filter(|name| self.is_due(name, now)).collect()
    }

    pub fn succeeded(&mut self, queue: &str) {
        self.waiting.remove(queue);
    }

    pub fn failed(&mut self, queue: String) {
        let delay = self.waiting.get(&queue).map_or(self.min, |(_, delay)| (*delay * 2).min(self.max));
        self.waiting.insert(queue, (Instant::now() + delay, delay));
    }

    /// How long to sleep before the next pass: until the first queue is due, at most `poll`.
    pub fn next_pass(&self, poll: Duration) -> Duration {
        let first = self.waiting.values().map(|(until, _)| *until).min();
        first.map_or(poll, |until| until.saturating_duration_since(Instant::now()).min(poll))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_queue_waits_longer_each_time_up_to_the_most() {
        let (min, max) = (Duration::from_secs(50), Duration::from_secs(200));
        let mut backoffs = Backoffs::new(min, max);
        assert!(backoffs.is_due("q", Instant::now()));
        for expected in [50, 100, 200, 200] {
            backoffs.failed("q".into());
            assert!(!backoffs.is_due("q", Instant::now()));
            let next = backoffs.next_pass(Duration::from_secs(600));
            assert!(next <= Duration::from_secs(expected) && next > Duration::from_secs(expected - 1), "{next:?}");
        }
        assert_eq!(backoffs.next_pass(Duration::from_secs(1)), Duration::from_secs(1), "at most the poll");
        assert!(backoffs.is_due("q", Instant::now() + max));
        assert!(backoffs.is_due("other", Instant::now()));
        backoffs.succeeded("q");
        assert!(backoffs.is_due("q", Instant::now()));
        assert_eq!(backoffs.next_pass(Duration::from_secs(600)), Duration::from_secs(600));
    }
}
