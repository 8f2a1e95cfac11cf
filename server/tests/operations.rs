//! `cairn serve` as operators run it: HTTPS with a certificate read again on SIGHUP, and JSON
//! logs whose request lines carry the request span.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::rustls;

/// How long the server has to read the certificate again after SIGHUP.
const RELOAD_TRIES: usize = 100;
const RELOAD_TRY_EVERY: Duration = Duration::from_millis(50);

fn certificate() -> (String, String) {
    let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
    let rcgen::CertifiedKey { cert, signing_key } = rcgen::generate_simple_self_signed(names).unwrap();
    (cert.pem(), signing_key.serialize_pem())
}

/// Sends `GET /` over TLS to `addr`, trusting only `ca_pem`: the response, or the TLS error.
fn https_get(addr: SocketAddr, ca_pem: &str) -> Result<String, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let socket = std::net::TcpStream::connect(addr).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = rustls::StreamOwned::new(connection, socket);
    tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    match tls.read_to_end(&mut response) {
        Ok(_) => Ok(String::from_utf8_lossy(&response).into_owned()),
        // The server closes without close_notify after Connection: close; what was read stands.
        Err(_) if !response.is_empty() => Ok(String::from_utf8_lossy(&response).into_owned()),
        Err(error) => Err(error.to_string()),
    }
}

#[test]
fn sighup_reloads_the_certificate_and_logs_are_json_with_the_request_span() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path, log_path) =
        (dir.path().join("cert.pem"), dir.path().join("key.pem"), dir.path().join("log.jsonl"));
    let (first_cert, first_key) = certificate();
    std::fs::write(&cert_path, &first_cert).unwrap();
    std::fs::write(&key_path, &first_key).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["--log-format", "json", "serve", "--address", &addr.to_string()])
        .arg("--tls-cert")
        .arg(&cert_path)
        .arg("--tls-key")
        .arg(&key_path)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let mut answered = None;
    for _ in 0..600 {
        if std::net::TcpStream::connect(addr).is_ok() {
            answered = Some(https_get(addr, &first_cert));
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let response = answered.expect("cairn answers").unwrap();
    assert!(response.starts_with("HTTP/1.1 403"), "anonymous ListBuckets is refused: {response}");

    let (second_cert, second_key) = certificate();
    assert!(https_get(addr, &second_cert).is_err(), "the second certificate is not served yet");
    std::fs::write(&cert_path, &second_cert).unwrap();
    std::fs::write(&key_path, &second_key).unwrap();
    let status = std::process::Command::new("kill").args(["-HUP", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let mut reloaded = false;
    for _ in 0..RELOAD_TRIES {
        if https_get(addr, &second_cert).is_ok() {
            reloaded = true;
            break;
        }
        std::thread::sleep(RELOAD_TRY_EVERY);
    }
    assert!(reloaded, "SIGHUP made the server serve the new certificate");
    assert!(https_get(addr, &first_cert).is_err(), "the old certificate is no longer served");
    let _ = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    assert!(child.wait().unwrap().success(), "SIGTERM stops the server cleanly");

    let log = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<serde_json::Value> =
        log.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"))).collect();
    let request = lines
        .iter()
        .find(|line| line["target"] == "cairn::request" && line["fields"]["status"] == 403)
        .unwrap_or_else(|| panic!("a request line in {log}"));
    assert_eq!(request["level"], "INFO");
    assert_eq!(request["span"]["operation"], "REST.GET.SERVICE");
    assert_eq!(request["span"]["bucket"], "");
    assert_eq!(request["span"]["id"].as_str().map(str::len), Some(16));
    assert!(request["fields"]["duration_ms"].as_f64().is_some());
    assert!(lines.iter().any(|line| line["fields"]["message"].as_str().is_some_and(|m| m.contains("read again"))));
}
