//! The log delivery worker: a thread that spools the records in memory every `SPOOL_INTERVAL`
//! and, every delivery interval, writes each source bucket's spooled entries into log objects
//! and acks them.
//!
//! A log object's key is made from its first entry (its id is the key's unique string, its
//! spool time the key's date), and entries join an object only in order: so a delivery that is
//! repeated after a crash (written, not yet acked) writes the same key again, with the same
//! records and perhaps more after them, never a second copy under another key.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use cairn_engine::limits;

use super::{AccessLog, Destination, KeyFormat, OUTBOX_PREFIX, SPOOL_INTERVAL};
use crate::s3::{Cairn, Undelivered};

/// A log object holds at most about this many bytes of records.
pub const LOG_OBJECT_BYTES_MAX: usize = 16 * 1024 * 1024;

/// The running worker; stopped by `stop` (which spools what is left) or when dropped.
#[derive(Debug)]
pub struct Worker {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Worker {
    pub fn start(log: Arc<AccessLog>, cairn: Cairn, delivery: Duration) -> std::io::Result<Worker> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let waker = stop.clone();
        let thread = std::thread::Builder::new().name("cairn-access-log".into()).spawn(move || {
            let (stopped, wake) = &*waker;
            let mut next_delivery = Instant::now() + delivery;
            loop {
                let guard = stopped.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let (guard, _) = wake
                    .wait_timeout_while(guard, SPOOL_INTERVAL, |s| !*s)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let stopping = *guard;
                drop(guard);
                log.spool();
                if stopping {
                    return;
                }
                if Instant::now() >= next_delivery {
                    deliver(&log, &cairn, &|| *stopped.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
                    next_delivery = Instant::now() + delivery;
                }
            }
        })?;
        Ok(Worker { stop, thread: Some(thread) })
    }

    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        let (stopped, wake) = &*self.stop;
        *stopped.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Delivers every source bucket's spooled entries (until `stopping` says to stop).
pub fn deliver(log: &AccessLog, cairn: &Cairn, stopping: &dyn Fn() -> bool) {
    let engine = log.engine.clone();
    for (outbox, _, _) in engine.outboxes(OUTBOX_PREFIX) {
        loop {
            if stopping() {
                return;
            }
            let entries = engine.outbox_entries(&outbox, limits::OUTBOX_READ_ENTRIES_MAX);
            let object = match LogObject::gather(&entries) {
                None => break,
                Some(Gathered::Object(object)) => object,
                Some(Gathered::Unreadable(seq)) => {
                    tracing::warn!("an access log entry does not parse; skipped");
                    if engine.outbox_ack(&outbox, seq).is_err() {
                        break;
                    }
                    continue;
                }
            };
            let delivered = cairn.deliver_log(&object.destination, &object.key(), &object.records);
            match delivered {
                Ok(()) => {}
                Err(Undelivered::Refused(why)) => {
                    let lines = object.records.iter().filter(|b| **b == b'\n').count() as u64;
                    log.dropped.fetch_add(lines, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!("access log records of bucket {} dropped: {why}", object.destination.source_bucket);
                }
                Err(Undelivered::Failed(why)) => {
                    tracing::warn!("access log delivery failed, retried later: {why}");
                    break;
                }
            }
            if let Err(error) = engine.outbox_ack(&outbox, object.through) {
                tracing::warn!("access log delivery not acknowledged, repeated later: {error}");
                break;
            }
        }
    }
}

/// What an outbox's first entries make.
#[derive(Debug)]
enum Gathered {
    Object(LogObject),
    /// The first entry does not parse: nothing to write; it is acked (counts as delivered).
    Unreadable(u64),
}

/// One log object to write: the entries it gathers, up to `through`.
#[derive(Debug)]
struct LogObject {
    destination: Destination,
    first: u64,
    through: u64,
    records: Vec<u8>,
}

impl LogObject {
    /// The first entries of an outbox that go into one object: those with the first's
    /// destination (and, dated by event time, its day), up to `LOG_OBJECT_BYTES_MAX`, and up
    /// to the first entry that does not parse.
    fn gather(entries: &[(u64, Arc<[u8]>)]) -> Option<Gathered> {
        let mut object: Option<LogObject> = None;
        for (seq, payload) in entries {
            let (header, records) = split_entry(payload);
            let Some(destination) = header else {
                return Some(object.map_or(Gathered::Unreadable(*seq), Gathered::Object));
            };
            match &mut object {
                None => {
                    let records = records.to_vec();
                    object = Some(LogObject { destination, first: *seq, through: *seq, records });
                }
                Some(object) => {
                    if !object.joins(&destination) || object.records.len() + records.len() > LOG_OBJECT_BYTES_MAX {
                        break;
                    }
                    object.records.extend_from_slice(records);
                    object.through = *seq;
                }
            }
        }
        object.map(Gathered::Object)
    }

    fn joins(&self, next: &Destination) -> bool {
        let same_day = |a: u64, b: u64| a / 86_400_000 == b / 86_400_000;
        self.destination.target == next.target
            && (!matches!(self.destination.target.key_format, KeyFormat::Partitioned { event_time: true })
                || same_day(self.destination.first_event_ms, next.first_event_ms))
    }

    /// `[prefix][YYYY]-[MM]-[DD]-[hh]-[mm]-[ss]-[UniqueString]`, partitioned as configured.
    fn key(&self) -> String {
        let destination = &self.destination;
        let target = &destination.target;
        let name = format!("{}-{:016X}", key_time(destination.spooled_ms), self.first);
        match target.key_format {
            KeyFormat::Unset | KeyFormat::Simple => format!("{}{name}", target.prefix),
            KeyFormat::Partitioned { event_time } => {
                let dated = if event_time { destination.first_event_ms } else { destination.spooled_ms };
                format!(
                    "{}{}/{}/{}/{}/{name}",
                    target.prefix,
                    destination.source_account,
                    destination.source_region,
                    destination.source_bucket,
                    key_day(dated),
                )
            }
        }
    }
}

/// An entry's destination line and its records.
fn split_entry(payload: &[u8]) -> (Option<Destination>, &[u8]) {
    let at = payload.iter().position(|b| *b == b'\n').unwrap_or(payload.len());
    let header = serde_json::from_slice(&payload[..at]).ok();
    (header, payload.get(at + 1..).unwrap_or_default())
}

/// `YYYY-MM-DD-hh-mm-ss` in UTC.
fn key_time(ms: u64) -> String {
    let time =
        time::OffsetDateTime::from_unix_timestamp((ms / 1000) as i64).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format = time::macros::format_description!("[year]-[month]-[day]-[hour]-[minute]-[second]");
    time.format(&format).unwrap_or_default()
}

/// `YYYY/MM/DD` in UTC.
fn key_day(ms: u64) -> String {
    let time =
        time::OffsetDateTime::from_unix_timestamp((ms / 1000) as i64).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format = time::macros::format_description!("[year]/[month]/[day]");
    time.format(&format).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::Target;

    fn entry(target: &Target, spooled_ms: u64, first_event_ms: u64, lines: &str) -> Arc<[u8]> {
        let destination = Destination {
            source_bucket: "photos".into(),
            source_account: "123456789012".into(),
            source_region: "us-east-1".into(),
            target: target.clone(),
            spooled_ms,
            first_event_ms,
        };
        Arc::from(format!("{}\n{lines}", serde_json::to_string(&destination).unwrap()).into_bytes())
    }

    fn an_object(gathered: Option<Gathered>) -> LogObject {
        match gathered {
            Some(Gathered::Object(object)) => object,
            other => panic!("not an object: {other:?}"),
        }
    }

    #[test]
    fn objects_are_keyed_by_their_first_entry_and_gather_in_order() {
        let simple =
            Target { bucket: "logs".into(), prefix: "p/".into(), grants: Vec::new(), key_format: KeyFormat::Unset };
        let other = Target { prefix: "q/".into(), ..simple.clone() };
        let at = 1_549_411_238_000;
        let entries = vec![
            (10, entry(&simple, at, at, "a\n")),
            (11, entry(&simple, at + 9, at, "b\n")),
            (12, entry(&other, at, at, "c\n")),
        ];
        let object = an_object(LogObject::gather(&entries));
        assert_eq!((object.first, object.through, object.records.as_slice()), (10, 11, &b"a\nb\n"[..]));
        assert_eq!(object.key(), "p/2019-02-06-00-00-38-000000000000000A");
        // Repeated after a crash with one more entry: the same key, a superset of records.
        let again = an_object(LogObject::gather(&entries[..1]));
        assert_eq!(again.key(), object.key());

        let partitioned = Target { key_format: KeyFormat::Partitioned { event_time: true }, ..simple.clone() };
        let next_day = at + 86_400_000;
        let entries =
            vec![(20, entry(&partitioned, next_day, at, "a\n")), (21, entry(&partitioned, next_day, next_day, "b\n"))];
        let object = an_object(LogObject::gather(&entries));
        assert_eq!(object.through, 20, "an object holds one event day");
        assert_eq!(object.key(), "p/123456789012/us-east-1/photos/2019/02/06/2019-02-07-00-00-38-0000000000000014");
        let by_delivery = Target { key_format: KeyFormat::Partitioned { event_time: false }, ..simple };
        let object = an_object(LogObject::gather(&[(20, entry(&by_delivery, next_day, at, "a\n"))]));
        assert!(object.key().contains("/photos/2019/02/07/"));
        let broken = LogObject::gather(&[(5, Arc::from(&b"not json\nx\n"[..]))]);
        assert!(matches!(broken, Some(Gathered::Unreadable(5))));
    }
}
