//! A fault-injecting backend for tests: wraps a real backend, counts write-side operations, fails
//! the Nth one or every one while a fault is set, and simulates a crash by undoing every write
//! since each file's last sync (optionally keeping the first of them and a random prefix of the
//! next: a torn write).
//!
//! Its model of the disk: a file's bytes as of its last `sync` survive a crash; a file created
//! (or renamed) since the last `sync_dir` of its directory does not; unsynced writes may survive
//! in part. Writes over synced bytes (a prepared segment's zeros) are undone too: the bytes they
//! replaced are kept until the next sync.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use super::{IoBackend, IoFile, total_len};

/// What an injected failure looks like to the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The operation fails with EIO; later ones succeed.
    Eio,
    /// The operation fails with ENOSPC; later ones succeed.
    Enospc,
    /// The machine dies at this operation: it and every later operation fail with EIO until
    /// `crash_image` is taken.
    Crash,
}

/// What survives of unsynced bytes when a crash image is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tear {
    /// Every unsynced byte is lost.
    DropUnsynced,
    /// A random prefix (seeded) of each file's unsynced tail survives.
    KeepPrefix { seed: u64 },
}

#[derive(Debug, Default)]
struct FileState {
    len: u64,
    synced_len: u64,
    entry_durable: bool,
    /// Writes since the last sync, oldest first.
    unsynced: Vec<Undo>,
}

/// What one unsynced write changed: where, how much, the bytes it replaced (those below the
/// file's length then) and that length.
#[derive(Debug)]
struct Undo {
    offset: u64,
    len: u64,
    replaced: Vec<u8>,
    len_before: u64,
}

#[derive(Debug, Default)]
struct State {
    write_ops: u64,
    fail_at: Option<(u64, Fault)>,
    persistent_write_error: Option<i32>,
    read_error: bool,
    crashed: bool,
    files: HashMap<PathBuf, FileState>,
}

/// See the module documentation.
#[derive(Debug)]
pub struct FaultBackend {
    inner: Arc<dyn IoBackend>,
    state: Mutex<State>,
    /// Whether `open_direct` offers a file (the default), so the log writer's direct path is
    /// what crash tests exercise; off, they exercise its buffered path.
    direct: AtomicBool,
}

impl FaultBackend {
    pub fn new(inner: Arc<dyn IoBackend>) -> FaultBackend {
        FaultBackend { inner, state: Mutex::new(State::default()), direct: AtomicBool::new(true) }
    }

    /// Offers direct files (`open_direct`) or not, from the next segment the writer opens.
    pub fn set_direct(&self, on: bool) {
        self.direct.store(on, Ordering::Relaxed);
    }

    /// Write-side operations (write, sync, set_len, sync_dir) seen so far.
    pub fn write_ops(&self) -> u64 {
        self.state.lock().write_ops
    }

    /// Fails the write-side operation numbered `n` (counting from the current count + 1).
    pub fn fail_after(&self, n: u64, fault: Fault) {
        let mut state = self.state.lock();
        state.fail_at = Some((state.write_ops + n, fault));
    }

    /// Fails every write-side operation with `errno` until cleared with `None` (e.g. ENOSPC).
    pub fn set_write_error(&self, errno: Option<i32>) {
        self.state.lock().persistent_write_error = errno;
    }

    /// Fails every read with EIO while set.
    pub fn set_read_error(&self, on: bool) {
        self.state.lock().read_error = on;
    }

    /// The machine dies now.
    pub fn crash(&self) {
        self.state.lock().crashed = true;
    }

    pub fn has_crashed(&self) -> bool {
        self.state.lock().crashed
    }

    /// Rewrites the files on disk to what a crash would leave, and resets the backend so the
    /// store can be reopened. Call after the engine using this backend is dropped.
    pub fn crash_image(&self, tear: Tear) -> io::Result<()> {
        let mut state = self.state.lock();
        let mut rng = match tear {
            Tear::DropUnsynced => 0,
            Tear::KeepPrefix { seed } => seed | 1,
        };
        let mut paths: Vec<_> = state.files.keys().cloned().collect();
        paths.sort();
        for path in paths {
            let file = state.files.get_mut(&path).expect("listed");
            if !file.entry_durable {
                let _ = std::fs::remove_file(&path);
                state.files.remove(&path);
                continue;
            }
            // Keep the first `whole` unsynced writes, a prefix of the next, and undo the rest,
            // newest first.
            let count = file.unsynced.len() as u64;
            let whole = if rng == 0 || count == 0 { 0 } else { xorshift(&mut rng) % (count + 1) } as usize;
            // Removed since (a prepared segment a close discarded): gone, as on a disk.
            let handle = match std::fs::OpenOptions::new().write(true).open(&path) {
                Ok(handle) => handle,
                Err(error) if error.kind() == io::ErrorKind::NotFound => {
                    state.files.remove(&path);
                    continue;
                }
                Err(error) => return Err(error),
            };
            let mut len = file.len;
            for (i, undo) in file.unsynced.iter().enumerate().skip(whole).rev() {
                let kept = if i == whole && rng != 0 { xorshift(&mut rng) % (undo.len + 1) } else { 0 };
                let restore_from = undo.offset + kept;
                let replaced_end = undo.offset + undo.replaced.len() as u64;
                if restore_from < replaced_end {
                    let skip = (restore_from - undo.offset) as usize;
                    std::os::unix::fs::FileExt::write_all_at(&handle, &undo.replaced[skip..], restore_from)?;
                }
                // A write past the end takes its extension with it, but for the prefix kept.
                len = if kept > 0 { undo.len_before.max(undo.offset + kept) } else { undo.len_before };
                handle.set_len(len)?;
            }
            file.unsynced.clear();
            file.len = len;
            file.synced_len = len;
        }
        state.crashed = false;
        state.fail_at = None;
        state.persistent_write_error = None;
        state.read_error = false;
        Ok(())
    }

    /// Counts a write-side operation and decides whether it fails. A full disk does not stop a
    /// file from shrinking, so `shrinking` operations pass a persistent ENOSPC.
    fn before_write(&self) -> io::Result<()> {
        self.before_write_op(false)
    }

    fn before_write_op(&self, shrinking: bool) -> io::Result<()> {
        let mut state = self.state.lock();
        state.write_ops += 1;
        if state.crashed {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        if let Some(errno) = state.persistent_write_error
            && !(shrinking && errno == libc::ENOSPC)
        {
            return Err(io::Error::from_raw_os_error(errno));
        }
        if let Some((at, fault)) = state.fail_at
            && at == state.write_ops
        {
            state.fail_at = None;
            return Err(io::Error::from_raw_os_error(match fault {
                Fault::Eio => libc::EIO,
                Fault::Enospc => libc::ENOSPC,
                Fault::Crash => {
                    state.crashed = true;
                    libc::EIO
                }
            }));
        }
        Ok(())
    }

    fn mark_synced(&self, path: &Path) {
        if let Some(file) = self.state.lock().files.get_mut(path) {
            file.synced_len = file.len;
            file.unsynced.clear();
        }
    }
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

impl IoBackend for FaultBackend {
    fn name(&self) -> String {
        format!("fault({})", self.inner.name())
    }

    fn open(&self, path: &Path, create: bool) -> io::Result<IoFile> {
        if self.state.lock().crashed {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        let file = self.inner.open(path, create)?;
        let len = file.file.metadata()?.len();
        let mut state = self.state.lock();
        if create {
            state.files.insert(path.to_owned(), FileState::default());
        } else {
            state.files.entry(path.to_owned()).or_insert(FileState {
                len,
                synced_len: len,
                entry_durable: true,
                unsynced: Vec::new(),
            });
        }
        Ok(file)
    }

    fn write_at(&self, file: &IoFile, offset: u64, bufs: &[&[u8]], sync: bool) -> io::Result<()> {
        self.before_write()?;
        let len = total_len(bufs) as u64;
        let len_before = self.state.lock().files.get(&file.path).map_or(0, |f| f.len);
        let mut replaced = vec![0u8; len_before.saturating_sub(offset).min(len) as usize];
        std::os::unix::fs::FileExt::read_exact_at(&file.file, &mut replaced, offset)?;
        self.inner.write_at(file, offset, bufs, false)?;
        {
            let mut state = self.state.lock();
            let entry = state.files.entry(file.path.clone()).or_default();
            entry.len = entry.len.max(offset + len);
            entry.unsynced.push(Undo { offset, len, replaced, len_before });
        }
        if sync {
            self.sync(file)?;
        }
        Ok(())
    }

    fn sync(&self, file: &IoFile) -> io::Result<()> {
        self.before_write()?;
        self.inner.sync(file)?;
        self.mark_synced(&file.path);
        Ok(())
    }

    fn read_at(&self, file: &IoFile, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        {
            let state = self.state.lock();
            if state.crashed || state.read_error {
                return Err(io::Error::from_raw_os_error(libc::EIO));
            }
        }
        self.inner.read_at(file, offset, buf)
    }

    fn set_len(&self, file: &IoFile, len: u64) -> io::Result<()> {
        let shrinking = self.state.lock().files.get(&file.path).is_some_and(|f| len <= f.len);
        self.before_write_op(shrinking)?;
        self.inner.set_len(file, len)?;
        let mut state = self.state.lock();
        let entry = state.files.entry(file.path.clone()).or_default();
        entry.len = len;
        entry.synced_len = entry.synced_len.min(len);
        // Cutting is applied at once (as before this model kept overwrites): what unsynced writes
        // replaced past the cut is gone with it.
        for undo in &mut entry.unsynced {
            undo.replaced.truncate(len.saturating_sub(undo.offset) as usize);
            undo.len = undo.len.min(len.saturating_sub(undo.offset));
            undo.len_before = undo.len_before.min(len);
        }
        Ok(())
    }

    /// A second, buffered file: the model keeps its bytes by path, so the direct writer's
    /// aligned rewrites of its tail block are modeled (and crashed) like any other write.
    fn open_direct(&self, path: &Path) -> io::Result<Option<IoFile>> {
        if self.state.lock().crashed {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        if !self.direct.load(Ordering::Relaxed) {
            return Ok(None);
        }
        self.inner.open(path, false).map(Some)
    }

    fn rename(&self, file: &mut IoFile, to: &Path) -> io::Result<()> {
        self.before_write()?;
        let from = file.path.clone();
        self.inner.rename(file, to)?;
        let mut state = self.state.lock();
        let mut entry = state.files.remove(&from).unwrap_or_default();
        entry.entry_durable = false;
        state.files.insert(to.to_owned(), entry);
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.before_write()?;
        self.inner.sync_dir(dir)?;
        for (path, file) in self.state.lock().files.iter_mut() {
            if path.parent() == Some(dir) {
                file.entry_durable = true;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::ThreadsBackend;

    /// Unsynced writes over synced bytes are undone by a crash, and a torn crash keeps a prefix
    /// of them in the order they were written.
    #[test]
    fn a_crash_undoes_overwrites_of_synced_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let backend = FaultBackend::new(Arc::new(ThreadsBackend));
        let path = dir.path().join("f");
        let file = backend.open(&path, true).unwrap();
        backend.write_at(&file, 0, &[&[0u8; 100]], true).unwrap();
        backend.sync_dir(dir.path()).unwrap();
        backend.write_at(&file, 10, &[b"abc"], false).unwrap();
        backend.write_at(&file, 98, &[b"xyzw"], false).unwrap();
        backend.crash_image(Tear::DropUnsynced).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), vec![0u8; 100]);

        let file = backend.open(&path, false).unwrap();
        backend.write_at(&file, 10, &[b"abc"], false).unwrap();
        backend.write_at(&file, 98, &[b"xyzw"], false).unwrap();
        backend.crash_image(Tear::KeepPrefix { seed: 3 }).unwrap();
        let after = std::fs::read(&path).unwrap();
        let first_kept = &after[10..13];
        assert!(after.len() >= 100 && after.len() <= 102, "{}", after.len());
        // Whatever of the second write survived, the first survived whole.
        if after.len() > 100 || after[98..100] != [0, 0] {
            assert_eq!(first_kept, b"abc");
        }
    }
}
