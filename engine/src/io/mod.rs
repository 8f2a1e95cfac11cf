//! All data I/O goes through one backend trait. Two real backends: io_uring (`uring`) and
//! positional read/write (`threads`); and `fault`, which wraps one to inject failures and crashes
//! for tests. `auto` picks io_uring when the kernel allows it and says why when it does not.
//!
//! File creation, listing and renames use `std::fs` directly; the backend sees every open so a
//! fault-injecting backend can track what is durable.

pub mod fault;
mod threads;
mod uring;

use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use threads::ThreadsBackend;
pub use uring::UringBackend;

/// An open file and the path it was opened at.
#[derive(Debug)]
pub struct IoFile {
    pub file: File,
    pub path: PathBuf,
}

/// Which backend to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum IoMode {
    /// io_uring if the kernel allows it and supports every opcode used, else threads.
    #[default]
    Auto,
    /// io_uring or fail.
    Uring,
    /// Positional read/write (pread/pwritev) on the calling thread.
    Threads,
}

impl std::str::FromStr for IoMode {
    type Err = String;
    fn from_str(text: &str) -> Result<IoMode, String> {
        match text {
            "auto" => Ok(IoMode::Auto),
            "uring" | "io_uring" => Ok(IoMode::Uring),
            "threads" => Ok(IoMode::Threads),
            other => Err(format!("unknown io backend {other:?} (expected auto, uring or threads)")),
        }
    }
}

/// The engine's I/O. Writes append; `sync` makes everything written to a file durable.
pub trait IoBackend: Send + Sync + fmt::Debug {
    /// Short name for logs and reports ("uring", "threads", "fault(...)").
    fn name(&self) -> String;
    /// Opens a file for reading and writing, creating it if `create` (and failing if it exists).
    fn open(&self, path: &Path, create: bool) -> io::Result<IoFile>;
    /// Writes all of `bufs`, in order, starting at `offset`, then makes the file's data durable
    /// if `sync`. Returns only when both are done.
    fn write_at(&self, file: &IoFile, offset: u64, bufs: &[&[u8]], sync: bool) -> io::Result<()>;
    /// Makes everything written to `file` durable (fdatasync).
    fn sync(&self, file: &IoFile) -> io::Result<()>;
    /// Fills `buf` from `offset`; a short file is an `UnexpectedEof` error.
    fn read_at(&self, file: &IoFile, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// Truncates or extends the file to `len` bytes (not synced).
    fn set_len(&self, file: &IoFile, len: u64) -> io::Result<()>;
    /// Makes the directory's entries (created files) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Opens `path` (an existing file) a second time for direct writes (`O_DIRECT`: from the
    /// caller's memory to the device, no page cache), if the file system takes them at
    /// `DIRECT_ALIGN`; `None` where it does not (the caller writes through `open`'s file).
    /// Writes to the returned file must start and end on `DIRECT_ALIGN` and come from memory
    /// aligned to it; `sync` of either file makes both durable.
    fn open_direct(&self, path: &Path) -> io::Result<Option<IoFile>> {
        let _ = path;
        Ok(None)
    }
    /// Renames `file` to `to` (durable once the directory is synced) and updates its path.
    fn rename(&self, file: &mut IoFile, to: &Path) -> io::Result<()> {
        std::fs::rename(&file.path, to)?;
        file.path = to.to_owned();
        Ok(())
    }
}

/// Builds the backend `mode` asks for. With `Auto`, a refusal of io_uring is logged with its
/// likely cause and the threads backend is used.
pub fn backend_for(mode: IoMode) -> io::Result<Arc<dyn IoBackend>> {
    match mode {
        IoMode::Threads => Ok(Arc::new(ThreadsBackend)),
        IoMode::Uring => Ok(Arc::new(UringBackend::new()?)),
        IoMode::Auto => match UringBackend::new() {
            Ok(backend) => Ok(Arc::new(backend)),
            Err(error) => {
                log::warn!("io_uring unavailable, using the threads backend: {error}");
                Ok(Arc::new(ThreadsBackend))
            }
        },
    }
}

pub(crate) fn open_std(path: &Path, create: bool) -> io::Result<IoFile> {
    let file = std::fs::OpenOptions::new().read(true).write(true).create_new(create).open(path)?;
    Ok(IoFile { file, path: path.to_owned() })
}

/// Offsets, lengths and buffer addresses of direct writes are multiples of this. A device or
/// file system that needs more (statx's `STATX_DIOALIGN`) gets buffered writes.
pub const DIRECT_ALIGN: usize = 4096;

/// `open_direct` for the real backends: `O_DIRECT`, where statx says the file takes direct
/// writes at `DIRECT_ALIGN`.
pub(crate) fn open_direct_std(path: &Path) -> io::Result<Option<IoFile>> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::OpenOptionsExt;
    let name = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: statx writes only into `stat`, which outlives the call; `name` is NUL-terminated.
    let stat = unsafe {
        let mut stat: libc::statx = std::mem::zeroed();
        if libc::statx(libc::AT_FDCWD, name.as_ptr(), 0, libc::STATX_DIOALIGN, &mut stat) != 0 {
            return Ok(None);
        }
        stat
    };
    let (memory, offset) = (stat.stx_dio_mem_align as usize, stat.stx_dio_offset_align as usize);
    let fits = |align: usize| align != 0 && align <= DIRECT_ALIGN && DIRECT_ALIGN.is_multiple_of(align);
    if stat.stx_mask & libc::STATX_DIOALIGN == 0 || !fits(memory) || !fits(offset) {
        return Ok(None);
    }
    match std::fs::OpenOptions::new().write(true).custom_flags(libc::O_DIRECT).open(path) {
        Ok(file) => Ok(Some(IoFile { file, path: path.to_owned() })),
        Err(error) if error.raw_os_error() == Some(libc::EINVAL) => Ok(None),
        Err(error) => Err(error),
    }
}

/// Syncs a directory (its created, renamed and removed entries).
pub(crate) fn sync_dir_path(dir: &Path) -> io::Result<()> {
    sync_dir_std(dir)
}

pub(crate) fn sync_dir_std(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Maps a whole file read-only, for recovery's sequential scan. An empty file maps to nothing.
pub(crate) fn map_readonly(file: &IoFile) -> io::Result<Option<memmap2::Mmap>> {
    if file.file.metadata()?.len() == 0 {
        return Ok(None);
    }
    // SAFETY: the store directory is locked (`lock_dir`) for this process, and during recovery
    // nothing writes or truncates the file while the map lives; the map is dropped before the
    // tail is truncated.
    let map = unsafe { memmap2::Mmap::map(&file.file)? };
    Ok(Some(map))
}

/// Takes an exclusive advisory lock on `dir/LOCK`, held while the returned file is open, so two
/// processes never open one store.
pub(crate) fn lock_dir(dir: &Path) -> io::Result<Option<File>> {
    use std::os::fd::AsRawFd;
    let file =
        std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(dir.join("LOCK"))?;
    // SAFETY: flock on a file descriptor we own; no memory is passed.
    let result = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if result == 0 {
        return Ok(Some(file));
    }
    let error = io::Error::last_os_error();
    if error.raw_os_error() == Some(libc::EWOULDBLOCK) { Ok(None) } else { Err(error) }
}

/// Raises the soft limit on open files to the hard limit: every segment stays open for reads.
/// Returns the limit now in force.
pub(crate) fn raise_fd_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit read and write only the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(io::Error::last_os_error());
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
                return Err(io::Error::last_os_error());
            }
            limit = raised;
        }
    }
    Ok(limit.rlim_cur)
}

/// Byte count of `bufs`.
pub(crate) fn total_len(bufs: &[&[u8]]) -> usize {
    bufs.iter().map(|buf| buf.len()).sum()
}

/// Drops the first `written` bytes from a list of buffers.
pub(crate) fn advance<'a>(bufs: &[&'a [u8]], mut written: usize) -> Vec<&'a [u8]> {
    let mut rest = Vec::with_capacity(bufs.len());
    for buf in bufs {
        if written >= buf.len() {
            written -= buf.len();
        } else {
            rest.push(&buf[written..]);
            written = 0;
        }
    }
    rest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(backend: &dyn IoBackend) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = backend.open(&path, true).unwrap();
        assert!(backend.open(&path, true).is_err(), "create must not reopen an existing file");
        let big = vec![7u8; 3 * 1024 * 1024];
        backend.write_at(&file, 0, &[b"abc", &big, b"xyz"], true).unwrap();
        let mut buf = [0u8; 6];
        backend.read_at(&file, 0, &mut buf[..3]).unwrap();
        assert_eq!(&buf[..3], b"abc");
        backend.read_at(&file, 3 + big.len() as u64 - 3, &mut buf).unwrap();
        assert_eq!(&buf, b"\x07\x07\x07xyz");
        let error = backend.read_at(&file, 3 + big.len() as u64, &mut buf).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
        backend.set_len(&file, 2).unwrap();
        backend.sync(&file).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 2);
        backend.sync_dir(dir.path()).unwrap();
        // Many small buffers: more than one writev's worth of iovecs.
        let many: Vec<[u8; 1]> = (0..3000u32).map(|i| [i as u8]).collect();
        let refs: Vec<&[u8]> = many.iter().map(|b| &b[..]).collect();
        backend.write_at(&file, 2, &refs, false).unwrap();
        let mut back = vec![0u8; 3000];
        backend.read_at(&file, 2, &mut back).unwrap();
        assert!(back.iter().enumerate().all(|(i, b)| *b == i as u8));
    }

    #[test]
    fn threads_backend_reads_what_it_wrote() {
        exercise(&ThreadsBackend);
    }

    #[test]
    fn uring_backend_reads_what_it_wrote() {
        exercise(&UringBackend::new().expect("io_uring is available on this machine and in CI"));
    }
}
