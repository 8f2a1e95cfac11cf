//! Positional I/O on the calling thread: pwritev, pread, fdatasync. The fallback where the
//! kernel refuses io_uring (e.g. Docker's default seccomp profile).

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::{IoBackend, IoFile, advance, total_len};

/// Largest iovec count one pwritev takes (Linux IOV_MAX).
const IOVECS_PER_CALL_MAX: usize = 1024;

#[derive(Debug, Default, Clone, Copy)]
pub struct ThreadsBackend;

impl IoBackend for ThreadsBackend {
    fn name(&self) -> String {
        "threads".to_owned()
    }

    fn open(&self, path: &Path, create: bool) -> io::Result<IoFile> {
        super::open_std(path, create)
    }

    fn write_at(&self, file: &IoFile, mut offset: u64, bufs: &[&[u8]], sync: bool) -> io::Result<()> {
        let mut rest: Vec<&[u8]> = bufs.to_vec();
        while total_len(&rest) > 0 {
            let iovecs: Vec<libc::iovec> = rest
                .iter()
                .take(IOVECS_PER_CALL_MAX)
                .map(|buf| libc::iovec { iov_base: buf.as_ptr() as *mut _, iov_len: buf.len() })
                .collect();
            let offset_arg = libc::off_t::try_from(offset).map_err(|_| io::Error::other("offset too large"))?;
            // SAFETY: every iovec points into a live borrowed slice for the duration of the call.
            let written = unsafe {
                libc::pwritev(file.file.as_raw_fd(), iovecs.as_ptr(), iovecs.len() as libc::c_int, offset_arg)
            };
            if written < 0 {
                let error = io::Error::last_os_error();
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(error);
            }
            if written == 0 {
                return Err(io::Error::new(io::ErrorKind::WriteZero, "pwritev wrote nothing"));
            }
            offset += written as u64;
            rest = advance(&rest, written as usize);
        }
        if sync {
            file.file.sync_data()?;
        }
        Ok(())
    }

    fn sync(&self, file: &IoFile) -> io::Result<()> {
        file.file.sync_data()
    }

    fn read_at(&self, file: &IoFile, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        file.file.read_exact_at(buf, offset)
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
