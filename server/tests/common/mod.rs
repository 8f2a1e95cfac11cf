//! What the kill -9 tests share: a `cairn serve` child process on a free 127.0.0.1 port.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// How long `cairn serve` may take to answer on its port.
const START_TRIES: usize = 600;
const START_TRY_EVERY: Duration = Duration::from_millis(50);

/// Starts `cairn serve` on `dir` with `args` and these credentials; returns once it answers.
pub fn serve(dir: &Path, args: &[&str], access_key: &str, secret_key: &str) -> (std::process::Child, SocketAddr) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let address: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["serve", "--address", &address.to_string()])
        .args(args)
        .args(["--access-key", access_key, "--secret-key", secret_key])
        .arg("--data-dir")
        .arg(dir)
        .env("CAIRN_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..START_TRIES {
        if std::net::TcpStream::connect(address).is_ok() {
            return (child, address);
        }
        std::thread::sleep(START_TRY_EVERY);
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("cairn did not answer on {address}");
}
