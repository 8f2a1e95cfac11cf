//! A webhook receiver for event notifications: an HTTP/1.1 server on 127.0.0.1 that keeps every
//! POSTed body, and answers 200, or any status it is told to (a destination that is down). The
//! e2e and crash tests of event notifications receive with it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A request body larger than this is refused (S3's event messages are at most 64 KB).
pub const BODY_BYTES_MAX: usize = 1024 * 1024;
/// A connection that sends nothing for this long is closed.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The running receiver; stops accepting when dropped.
#[derive(Debug)]
pub struct Receiver {
    addr: SocketAddr,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
    status: Arc<AtomicU16>,
    stopped: Arc<AtomicBool>,
}

impl Receiver {
    /// Starts a receiver on an ephemeral port of 127.0.0.1.
    pub fn start() -> std::io::Result<Receiver> {
        Receiver::start_on("127.0.0.1:0".parse().expect("an address"))
    }

    /// Starts a receiver on `addr` (to come back on the port a server was told of).
    pub fn start_on(addr: SocketAddr) -> std::io::Result<Receiver> {
        let listener = TcpListener::bind(addr)?;
        let receiver = Receiver {
            addr: listener.local_addr()?,
            bodies: Arc::default(),
            status: Arc::new(AtomicU16::new(200)),
            stopped: Arc::default(),
        };
        let (bodies, status, stopped) = (receiver.bodies.clone(), receiver.status.clone(), receiver.stopped.clone());
        std::thread::Builder::new().name("webhook".into()).spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::Acquire) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let (bodies, status) = (bodies.clone(), status.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &bodies, &status);
                });
            }
        })?;
        Ok(receiver)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL a notification target names.
    pub fn url(&self) -> String {
        format!("http://{}/events", self.addr)
    }

    /// Answers `status` from now on (200: accepting again). A body answered otherwise is not kept.
    pub fn answer(&self, status: u16) {
        self.status.store(status, Ordering::Release);
    }

    /// The bodies received so far.
    pub fn bodies(&self) -> Vec<Vec<u8>> {
        self.bodies.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Waits up to `timeout` for at least `count` bodies; returns what came.
    pub fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            let bodies = self.bodies();
            if bodies.len() >= count || Instant::now() >= deadline {
                return bodies;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::Release);
        // Wakes the accept loop so it sees the stop.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Answers the requests of one connection.
fn serve(stream: TcpStream, bodies: &Mutex<Vec<Vec<u8>>>, status: &AtomicU16) -> std::io::Result<()> {
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        if length > BODY_BYTES_MAX {
            writer.write_all(b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")?;
            return Ok(());
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let answered = status.load(Ordering::Acquire);
        if answered == 200 {
            bodies.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(body);
        }
        write!(writer, "HTTP/1.1 {answered} Answered\r\ncontent-length: 0\r\n\r\n")?;
    }
}
