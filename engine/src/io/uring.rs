//! io_uring backend. Writes go out as one `Writev` linked to an `Fsync(DATASYNC)`, so a group
//! commit costs one submission; reads are `Read` on a small pool of rings. Every submission waits
//! for all of its completions before returning, so borrowed buffers outlive the kernel's use.

use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use io_uring::{IoUring, Probe, opcode, squeue, types};
use parking_lot::Mutex;

use super::{IoBackend, IoFile, advance, total_len};

/// Submission queue entries per ring: a write and its sync, or one read, at a time.
const RING_ENTRIES: u32 = 8;
/// Rings shared by reading threads; the log writer is one thread and usually finds its ring free.
const RINGS: usize = 4;
/// Largest iovec count one Writev takes (Linux IOV_MAX).
const IOVECS_PER_CALL_MAX: usize = 1024;

pub struct UringBackend {
    rings: Vec<Mutex<IoUring>>,
}

impl std::fmt::Debug for UringBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringBackend").field("rings", &self.rings.len()).finish()
    }
}

impl UringBackend {
    /// Sets up the rings and checks the kernel supports every opcode this backend uses. The
    /// error names the likely cause when io_uring is refused.
    pub fn new() -> io::Result<UringBackend> {
        let mut rings = Vec::with_capacity(RINGS);
        for _ in 0..RINGS {
            let ring = IoUring::new(RING_ENTRIES).map_err(explain_setup_error)?;
            rings.push(Mutex::new(ring));
        }
        let mut probe = Probe::new();
        rings[0].lock().submitter().register_probe(&mut probe)?;
        for (code, name) in
            [(opcode::Writev::CODE, "Writev"), (opcode::Fsync::CODE, "Fsync"), (opcode::Read::CODE, "Read")]
        {
            if !probe.is_supported(code) {
                return Err(io::Error::new(io::ErrorKind::Unsupported, format!("io_uring lacks opcode {name}")));
            }
        }
        Ok(UringBackend { rings })
    }

    fn ring(&self) -> parking_lot::MutexGuard<'_, IoUring> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static SLOT: usize = NEXT.fetch_add(1, Ordering::Relaxed);
        }
        let slot = SLOT.with(|slot| *slot) % self.rings.len();
        self.rings[slot].lock()
    }
}

fn explain_setup_error(error: io::Error) -> io::Error {
    let cause = match error.raw_os_error() {
        Some(libc::EPERM) => {
            "refused (EPERM): a seccomp profile such as Docker's default, or kernel.io_uring_disabled=2"
        }
        Some(libc::ENOSYS) => "not in this kernel (ENOSYS): Linux 5.1 or later is needed",
        Some(libc::ENOMEM) => "no locked memory for the ring (ENOMEM): raise RLIMIT_MEMLOCK",
        _ => "setup failed",
    };
    io::Error::new(error.kind(), format!("io_uring {cause}: {error}"))
}

/// Pushes `entries` (user_data = index) and waits for all completions; returns their results.
fn run(ring: &mut IoUring, entries: &[squeue::Entry]) -> io::Result<Vec<i32>> {
    // SAFETY: the entries point at buffers borrowed by our caller, who waits (below) for every
    // completion before those borrows end.
    unsafe {
        let mut queue = ring.submission();
        for entry in entries {
            queue.push(entry).map_err(|_| io::Error::other("io_uring submission queue full"))?;
        }
    }
    let mut results = vec![0i32; entries.len()];
    let mut done = 0;
    while done < entries.len() {
        match ring.submit_and_wait(entries.len() - done) {
            Ok(_) => {}
            Err(error) if matches!(error.raw_os_error(), Some(libc::EINTR | libc::EAGAIN | libc::EBUSY)) => {}
            // Entries may be in flight with borrowed buffers: returning would free them under
            // the kernel. This is a broken invariant of the kernel interface, not an I/O error.
            Err(error) => panic!("io_uring_enter failed with requests in flight: {error}"),
        }
        for completion in ring.completion() {
            results[completion.user_data() as usize] = completion.result();
            done += 1;
        }
    }
    Ok(results)
}

fn check(result: i32) -> io::Result<usize> {
    if result < 0 { Err(io::Error::from_raw_os_error(-result)) } else { Ok(result as usize) }
}

impl IoBackend for UringBackend {
    fn name(&self) -> String {
        "uring".to_owned()
    }

    fn open(&self, path: &Path, create: bool) -> io::Result<IoFile> {
        super::open_std(path, create)
    }

    fn write_at(&self, file: &IoFile, mut offset: u64, bufs: &[&[u8]], sync: bool) -> io::Result<()> {
        let fd = types::Fd(file.file.as_raw_fd());
        let mut rest: Vec<&[u8]> = bufs.iter().copied().filter(|buf| !buf.is_empty()).collect();
        let mut ring = self.ring();
        let mut synced = !sync;
        while !rest.is_empty() {
            let iovecs: Vec<libc::iovec> = rest
                .iter()
                .take(IOVECS_PER_CALL_MAX)
                .map(|buf| libc::iovec { iov_base: buf.as_ptr() as *mut _, iov_len: buf.len() })
                .collect();
            let last = iovecs.len() == rest.len();
            let write =
                opcode::Writev::new(fd, iovecs.as_ptr(), iovecs.len() as u32).offset(offset).build().user_data(0);
            let results = if last && sync {
                let fsync = opcode::Fsync::new(fd).flags(types::FsyncFlags::DATASYNC).build().user_data(1);
                run(&mut ring, &[write.flags(squeue::Flags::IO_LINK), fsync])?
            } else {
                run(&mut ring, &[write])?
            };
            let written = check(results[0])?;
            if written == 0 {
                return Err(io::Error::new(io::ErrorKind::WriteZero, "writev wrote nothing"));
            }
            if last && sync && written == total_len(&rest) {
                // A short write cancels the linked fsync (-ECANCELED); a full one runs it.
                check(results[1])?;
                synced = true;
            }
            offset += written as u64;
            rest = advance(&rest, written);
        }
        if !synced {
            drop(ring);
            self.sync(file)?;
        }
        Ok(())
    }

    fn sync(&self, file: &IoFile) -> io::Result<()> {
        let fd = types::Fd(file.file.as_raw_fd());
        let fsync = opcode::Fsync::new(fd).flags(types::FsyncFlags::DATASYNC).build().user_data(0);
        check(run(&mut self.ring(), &[fsync])?[0]).map(|_| ())
    }

    fn read_at(&self, file: &IoFile, mut offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let fd = types::Fd(file.file.as_raw_fd());
        let mut filled = 0;
        let mut ring = self.ring();
        while filled < buf.len() {
            let rest = &mut buf[filled..];
            let len = u32::try_from(rest.len()).unwrap_or(u32::MAX);
            let read = opcode::Read::new(fd, rest.as_mut_ptr(), len).offset(offset).build().user_data(0);
            let got = check(run(&mut ring, &[read])?[0])?;
            if got == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end of the file"));
            }
            filled += got;
            offset += got as u64;
        }
        Ok(())
    }

    fn set_len(&self, file: &IoFile, len: u64) -> io::Result<()> {
        file.file.set_len(len)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        super::sync_dir_std(dir)
    }

    fn open_direct(&self, path: &Path) -> io::Result<Option<IoFile>> {
        super::open_direct_std(path)
    }
}
