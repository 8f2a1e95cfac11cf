//! Outboxes: named, durable FIFO queues of opaque entries, for deliveries the server makes
//! later and must not lose to a crash (batches of access log records, event notifications).
//!
//! An entry is an `OutboxPush` record, its id the record's seq; an `OutboxAck` removes every
//! entry up to an id once it is delivered. Both are applied like any record, so replay rebuilds
//! the outboxes exactly, and every checkpoint holds them whole. A push past the limits
//! (`limits::OUTBOXES_BYTES_MAX`, `limits::OUTBOXES_MAX`) is refused as it applies, the same way
//! on replay: a target that stays down costs bounded memory. A delivery that crashes between
//! its effect and its ack is made again: delivery is at least once. A write may carry a
//! [`Notice`]: an entry pushed as the write applies, in the write's own record.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::format::records::Mutation;
use crate::index::Applied;
use crate::limits;
use crate::types::{Seq, VersionId};

/// Every outbox of a store, by name.
#[derive(Debug, Default)]
pub(crate) struct Outboxes {
    pub queues: BTreeMap<String, BTreeMap<Seq, Arc<[u8]>>>,
    /// Payload bytes over all outboxes.
    pub bytes: u64,
}

impl Outboxes {
    pub fn push(&mut self, seq: Seq, outbox: &str, payload: &[u8]) -> Result<Applied> {
        let full = || Error::OutboxFull { limit: limits::OUTBOXES_BYTES_MAX, outboxes: limits::OUTBOXES_MAX };
        if self.bytes + payload.len() as u64 > limits::OUTBOXES_BYTES_MAX {
            return Err(full());
        }
        if !self.queues.contains_key(outbox) && self.queues.len() >= limits::OUTBOXES_MAX {
            return Err(full());
        }
        self.queues.entry(outbox.to_owned()).or_default().insert(seq, Arc::from(payload));
        self.bytes += payload.len() as u64;
        Ok(Applied::Pushed(seq))
    }

    pub fn ack(&mut self, outbox: &str, through: Seq) {
        let Some(queue) = self.queues.get_mut(outbox) else { return };
        let kept = queue.split_off(&through.saturating_add(1));
        let removed = std::mem::replace(queue, kept);
        self.bytes -= removed.values().map(|payload| payload.len() as u64).sum::<u64>();
        if queue.is_empty() {
            self.queues.remove(outbox);
        }
    }

    /// Every entry, by outbox then id (for a checkpoint).
    pub fn entries(&self) -> Vec<(String, Seq, Arc<[u8]>)> {
        let mut all = Vec::new();
        for (name, queue) in &self.queues {
            all.extend(queue.iter().map(|(seq, payload)| (name.clone(), *seq, payload.clone())));
        }
        all
    }

    pub fn from_entries(entries: &[(String, Seq, Arc<[u8]>)]) -> Outboxes {
        let mut outboxes = Outboxes::default();
        for (name, seq, payload) in entries {
            outboxes.queues.entry(name.clone()).or_default().insert(*seq, payload.clone());
            outboxes.bytes += payload.len() as u64;
        }
        outboxes
    }
}

impl Engine {
    /// Appends `payload` to the outbox `outbox` (created by its first entry) once it is
    /// durable; the entry's id. `Error::OutboxFull` past the outboxes' limits.
    pub fn outbox_push(&self, outbox: &str, payload: &[u8]) -> Result<Seq> {
        pushed(self.inner().commit(push(outbox, payload)?, None, None)?.applied)
    }

    /// `outbox_push` for async callers: awaits the commit instead of blocking a thread on it.
    pub async fn outbox_push_async(&self, outbox: &str, payload: &[u8]) -> Result<Seq> {
        pushed(self.inner().commit_async(push(outbox, payload)?, None, None).await?.applied)
    }

    /// Up to `limit` (at most `limits::OUTBOX_READ_ENTRIES_MAX`) of an outbox's entries, oldest
    /// first, with their ids.
    pub fn outbox_entries(&self, outbox: &str, limit: usize) -> Vec<(Seq, Arc<[u8]>)> {
        let outboxes = self.inner().index.outboxes.lock();
        let Some(queue) = outboxes.queues.get(outbox) else { return Vec::new() };
        let limit = limit.min(limits::OUTBOX_READ_ENTRIES_MAX);
        queue.iter().take(limit).map(|(seq, payload)| (*seq, payload.clone())).collect()
    }

    /// Removes the entries of `outbox` up to and including id `through`, once durable.
    pub fn outbox_ack(&self, outbox: &str, through: Seq) -> Result<()> {
        check_name(outbox)?;
        self.inner().commit(Mutation::OutboxAck { outbox: outbox.to_owned(), through }, None, None)?;
        Ok(())
    }

    /// `outbox_ack` for async callers.
    pub async fn outbox_ack_async(&self, outbox: &str, through: Seq) -> Result<()> {
        check_name(outbox)?;
        let mutation = Mutation::OutboxAck { outbox: outbox.to_owned(), through };
        self.inner().commit_async(mutation, None, None).await?;
        Ok(())
    }

    /// The payload bytes more entries may hold before the outboxes are full
    /// (`limits::OUTBOXES_BYTES_MAX` over all of them).
    pub fn outbox_bytes_free(&self) -> u64 {
        limits::OUTBOXES_BYTES_MAX.saturating_sub(self.inner().index.outboxes.lock().bytes)
    }

    /// The outboxes that hold entries and whose names start with `prefix`, with how many
    /// entries and payload bytes each holds.
    pub fn outboxes(&self, prefix: &str) -> Vec<(String, usize, u64)> {
        let outboxes = self.inner().index.outboxes.lock();
        outboxes
            .queues
            .range(prefix.to_owned()..)
            .take_while(|(name, _)| name.starts_with(prefix))
            .map(|(name, queue)| (name.clone(), queue.len(), queue.values().map(|p| p.len() as u64).sum()))
            .collect()
    }
}

fn check_name(outbox: &str) -> Result<()> {
    if outbox.is_empty() || outbox.len() > limits::OUTBOX_NAME_BYTES_MAX {
        return Err(Error::InvalidArgument(format!("an outbox name is 1 to {} bytes", limits::OUTBOX_NAME_BYTES_MAX)));
    }
    Ok(())
}

fn push(outbox: &str, payload: &[u8]) -> Result<Mutation> {
    check_name(outbox)?;
    if payload.len() > limits::OUTBOX_ENTRY_BYTES_MAX {
        return Err(Error::InvalidArgument(format!(
            "an outbox entry is at most {} bytes",
            limits::OUTBOX_ENTRY_BYTES_MAX
        )));
    }
    Ok(Mutation::OutboxPush { outbox: outbox.to_owned(), payload: payload.to_vec() })
}

fn pushed(applied: Applied) -> Result<Seq> {
    match applied {
        Applied::Pushed(seq) => Ok(seq),
        other => unreachable!("an outbox push applied as {other:?}"),
    }
}

/// An outbox entry committed with a write (`ObjectWriter::set_notice`, and completions): it
/// is pushed as the write applies, in the same record, so the write and its entry are durable
/// together or not at all. Its entry id is the write's seq, and its entry is `payload` after a
/// line the engine writes: `<version> <size> <etag>\n` (the version made, `null` or 16 hex
/// digits; the object's size; its ETag unquoted), which the payload could not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub outbox: String,
    pub payload: Vec<u8>,
}

impl Notice {
    /// Checks the outbox's name and the payload's size (`limits::NOTICE_BYTES_MAX`).
    pub fn check(&self) -> Result<()> {
        check_name(&self.outbox)?;
        if self.payload.len() > limits::NOTICE_BYTES_MAX {
            return Err(Error::InvalidArgument(format!("a notice is at most {} bytes", limits::NOTICE_BYTES_MAX)));
        }
        Ok(())
    }

    /// The entry a notice makes for the version `version` of `size` bytes and ETag `etag`.
    pub(crate) fn entry(&self, version: VersionId, size: u64, etag: &str) -> Vec<u8> {
        let mut entry = format!("{version} {size} {etag}\n").into_bytes();
        entry.extend_from_slice(&self.payload);
        entry
    }
}
