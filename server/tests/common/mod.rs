//! What the kill -9 tests share: a `cairn serve` child process on a free 127.0.0.1 port.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// How long `cairn serve` may take to answer on its port.
const START_TRIES: usize = 600;
const START_TRY_EVERY: Duration = Duration::from_millis(50);

/// Starts `cairn serve` on `dir` with `args` and these credentials; returns once it answers.
pub fn serve(dir: &Path, args: &[&str], access_key: &str, secret_key: &str) -> (std::process::Child, SocketAddr) {
    let address = free_address();
    (serve_at(dir, address, args, access_key, secret_key), address)
}

/// A 127.0.0.1 address with a port free now.
#[allow(dead_code)] // not every test binary restarts a server where another finds it
pub fn free_address() -> SocketAddr {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    format!("127.0.0.1:{port}").parse().unwrap()
}

/// `serve` on `address` (a server started again where another server finds it).
pub fn serve_at(
    dir: &Path,
    address: SocketAddr,
    args: &[&str],
    access_key: &str,
    secret_key: &str,
) -> std::process::Child {
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
            return child;
        }
        std::thread::sleep(START_TRY_EVERY);
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("cairn did not answer on {address}");
}

/// PUTs a load client makes at most per call (the load is bounded in count and time), and how
/// many clients a load runs.
#[allow(dead_code)]
pub const LOAD_REQUESTS_MAX: usize = 20_000;
#[allow(dead_code)]
pub const LOAD_CLIENTS: usize = 2;

/// PUTs of new keys `c<cycle>/w<client>/<n>` into `bucket` for `run` (each client at most
/// `LOAD_REQUESTS_MAX`), each with `body(key)`: the keys answered 200.
#[allow(dead_code)] // not every test binary loads a server
pub async fn put_load(
    address: SocketAddr,
    (access_key, secret_key): (&str, &str),
    bucket: &str,
    cycle: usize,
    run: Duration,
    body: fn(&str) -> bytes::Bytes,
) -> Vec<String> {
    use cairn_bench::client::{Call, Client, Payload, Target};
    use std::sync::{Arc, Mutex};
    let answered = Arc::new(Mutex::new(Vec::new()));
    let until = std::time::Instant::now() + run;
    let mut clients = Vec::new();
    for n in 0..LOAD_CLIENTS {
        let mut endpoint = Target::resolve(&format!("http://{address}"), None, false).unwrap();
        (endpoint.access_key, endpoint.secret_key, endpoint.bucket) =
            (access_key.into(), secret_key.into(), bucket.into());
        let mut client = Client::new(Arc::new(endpoint));
        let answered = answered.clone();
        clients.push(tokio::spawn(async move {
            for i in 0..LOAD_REQUESTS_MAX {
                if std::time::Instant::now() >= until {
                    break;
                }
                let key = format!("c{cycle}/w{n}/{i}");
                let call = Call::new(http::Method::PUT, &key).payload(Payload::Small(body(&key)));
                match client.request(call).await {
                    Ok(reply) if reply.status == 200 => answered.lock().unwrap().push(key),
                    _ => break,
                }
            }
        }));
    }
    for client in clients {
        let _ = client.await;
    }
    Arc::try_unwrap(answered).unwrap().into_inner().unwrap()
}
