//! What operators see and rely on: `/metrics` scraped and parsed as Prometheus parses it, health
//! and readiness, TLS with a generated certificate and its reload, and the limits on slow
//! clients.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;

use crate::common::{ACCESS_KEY, SECRET_KEY, TestServer};

/// `GET path` of an admin listener: status, headers and body.
async fn admin_get(admin: SocketAddr, path: &str) -> (u16, Vec<(String, String)>, String) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n").into_bytes();
    let (status, headers, body) =
        tokio::task::spawn_blocking(move || crate::common::raw_exchange(admin, &request)).await.unwrap();
    (status, headers, String::from_utf8(body).unwrap())
}

/// The metrics, parsed by a Prometheus text parser.
async fn scrape(admin: SocketAddr) -> prometheus_parse::Scrape {
    let (status, headers, body) = admin_get(admin, "/metrics").await;
    assert_eq!(status, 200);
    assert!(crate::common::header(&headers, "content-type").unwrap().starts_with("application/openmetrics-text"));
    assert!(body.ends_with("# EOF\n"), "the exposition ends as OpenMetrics ends it");
    prometheus_parse::Scrape::parse(body.lines().map(|line| Ok(line.to_owned()))).unwrap()
}

/// The value of the sample `name` whose labels include `labels`.
fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let sample = scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(label, value)| s.labels.get(label) == Some(value)))?;
    match &sample.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => Some(*v),
        other => panic!("{name} is not a single value: {other:?}"),
    }
}

/// The buckets of histogram `name` whose labels include `labels`: (upper bound, cumulative count).
fn histogram(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Vec<(f64, f64)> {
    let sample = scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(label, value)| s.labels.get(label) == Some(value)))
        .unwrap_or_else(|| panic!("no histogram {name} {labels:?}"));
    match &sample.value {
        prometheus_parse::Value::Histogram(buckets) => buckets.iter().map(|b| (b.less_than, b.count)).collect(),
        other => panic!("{name} is not a histogram: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_bytes_and_the_engine() {
    let server = TestServer::start_reconfigured(|config| {
        config.admin_address = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let admin = server.handle.as_ref().unwrap().admin_addr().unwrap();
    let s3 = &server.client;
    s3.create_bucket().bucket("metered").send().await.unwrap();
    const PUTS: usize = 7;
    const BODY: usize = 10_000;
    for i in 0..PUTS {
        let body = ByteStream::from(vec![b'm'; BODY]);
        s3.put_object().bucket("metered").key(format!("k{i}")).body(body).send().await.unwrap();
    }
    let got = s3.get_object().bucket("metered").key("k0").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().len(), BODY);
    s3.head_object().bucket("metered").key("k1").send().await.unwrap();
    let missing = s3.get_object().bucket("metered").key("nothing").send().await.unwrap_err();
    assert_eq!(crate::common::status(&missing), 404);

    let scrape = scrape(admin).await;
    let put = [("operation", "REST.PUT.OBJECT")];
    let requests = |operation: &str, status: &str| {
        value(&scrape, "cairn_requests_total", &[("operation", operation), ("status", status)])
    };
    assert_eq!(requests("REST.PUT.OBJECT", "200"), Some(PUTS as f64));
    assert_eq!(requests("REST.PUT.BUCKET", "200"), Some(1.0));
    assert_eq!(requests("REST.GET.OBJECT", "200"), Some(1.0));
    assert_eq!(requests("REST.GET.OBJECT", "404"), Some(1.0));
    assert_eq!(requests("REST.HEAD.OBJECT", "200"), Some(1.0));
    assert_eq!(value(&scrape, "cairn_request_received_bytes_total", &put), Some((PUTS * BODY) as f64));
    let sent = [("operation", "REST.GET.OBJECT")];
    assert!(value(&scrape, "cairn_response_sent_bytes_total", &sent).unwrap() >= BODY as f64);
    // A HEAD declares the object's length but sends no body.
    assert_eq!(value(&scrape, "cairn_response_sent_bytes_total", &[("operation", "REST.HEAD.OBJECT")]), None);
    let latency = histogram(&scrape, "cairn_request_duration_seconds", &put);
    assert_eq!(latency.last().map(|b| b.1), Some(PUTS as f64), "every PUT is in the +Inf bucket");
    assert!(latency.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1), "buckets rise: {latency:?}");
    assert_eq!(value(&scrape, "cairn_requests_in_flight", &[]), Some(0.0));

    // The engine: every acknowledged PUT was synced in some group.
    let commits = value(&scrape, "cairn_log_commits_total", &[]).unwrap();
    assert!(commits >= (PUTS + 1) as f64, "{commits} commits");
    let syncs = value(&scrape, "cairn_log_syncs_total", &[]).unwrap();
    assert!(syncs >= 1.0);
    let group_records = histogram(&scrape, "cairn_log_group_records", &[]);
    assert_eq!(group_records.last().map(|b| b.1), value(&scrape, "cairn_log_groups_total", &[]));
    let sync_latency = histogram(&scrape, "cairn_log_sync_seconds", &[]);
    assert!(sync_latency.last().unwrap().1 >= 1.0);
    assert!(value(&scrape, "cairn_segments", &[]).unwrap() >= 1.0);
    assert!(value(&scrape, "cairn_live_bytes", &[]).unwrap() > 0.0);
    assert!(value(&scrape, "cairn_segment_bytes", &[]).unwrap() > 0.0);
    for name in [
        "cairn_dead_bytes",
        "cairn_checkpoints_total",
        "cairn_compaction_passes_total",
        "cairn_replication_backlog_entries",
        "cairn_replication_lag_seconds",
        "cairn_event_queue_entries",
        "cairn_access_log_queue_entries",
        "cairn_lifecycle_scans_total",
    ] {
        assert!(value(&scrape, name, &[]).is_some(), "{name} is exported");
    }
    assert_eq!(value(&scrape, "cairn_replication_backlog_entries", &[]), Some(0.0));

    // Health and readiness.
    assert_eq!(admin_get(admin, "/health").await.0, 200);
    let (status, _, body) = admin_get(admin, "/ready").await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ready"}"#));
    assert_eq!(admin_get(admin, "/nothing").await.0, 404);
    server.stop().await;
}

/// A certificate for 127.0.0.1 and localhost, and its key, as PEM.
fn certificate() -> (String, String) {
    let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
    let rcgen::CertifiedKey { cert, signing_key } = rcgen::generate_simple_self_signed(names).unwrap();
    (cert.pem(), signing_key.serialize_pem())
}

/// A client that trusts only `ca_pem`, over HTTPS.
fn tls_client(addr: SocketAddr, ca_pem: &str) -> Client {
    use aws_smithy_http_client::tls;
    let trust = tls::TrustStore::empty().with_native_roots(false).with_pem_certificate(ca_pem.as_bytes().to_vec());
    let context = tls::TlsContext::builder().with_trust_store(trust).build().unwrap();
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
        .tls_context(context)
        .build_https();
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(format!("https://{addr}"))
        .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "cairn-e2e"))
        .force_path_style(true)
        .http_client(http)
        .build();
    Client::from_conf(config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_a_generated_certificate_and_reloads_it() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let (first_cert, first_key) = certificate();
    std::fs::write(&cert_path, &first_cert).unwrap();
    std::fs::write(&key_path, &first_key).unwrap();
    let files = cairn_server::tls::TlsFiles { cert: cert_path.clone(), key: key_path.clone() };
    let mut server = TestServer::start_reconfigured(|config| {
        config.tls = Some(files);
        config.allow_insecure_sse_c = false;
    })
    .await;
    let addr = server.addr;
    let s3 = tls_client(addr, &first_cert);
    s3.create_bucket().bucket("secure").send().await.unwrap();
    s3.put_object().bucket("secure").key("k").body(ByteStream::from_static(b"over tls")).send().await.unwrap();
    let got = s3.get_object().bucket("secure").key("k").send().await.unwrap();
    assert_eq!(&got.body.collect().await.unwrap().into_bytes()[..], b"over tls");

    // SSE-C needs secure transport, which TLS is.
    let key = [7u8; 32];
    let key_b64 = base64_simd::STANDARD.encode_to_string(key);
    let key_md5 = base64_simd::STANDARD.encode_to_string(<md5::Md5 as md5::Digest>::digest(key));
    let key_b64 = key_b64.as_str();
    let put = s3.put_object().bucket("secure").key("customer").body(ByteStream::from_static(b"sse-c"));
    let put = put.sse_customer_algorithm("AES256").sse_customer_key(key_b64).sse_customer_key_md5(&key_md5);
    put.send().await.unwrap();

    // A client that never finishes its handshake is cut.
    let limit = cairn_server::tls::TLS_HANDSHAKE_TIMEOUT;
    let (took, _) = tokio::task::spawn_blocking(move || closed_after(addr, b"\x16\x03\x01", limit * 3)).await.unwrap();
    assert!(took >= limit && took < limit + Duration::from_secs(5), "handshake cut after {took:?}");

    // Plain HTTP on the TLS port is not served.
    let plain = crate::common::client(addr, ACCESS_KEY, SECRET_KEY);
    assert!(plain.list_buckets().send().await.is_err());

    // A client that trusts another certificate refuses this one.
    let (second_cert, second_key) = certificate();
    assert!(tls_client(addr, &second_cert).list_buckets().send().await.is_err());

    // A bad reload keeps the certificate served before.
    std::fs::write(&cert_path, "not a certificate").unwrap();
    assert!(server.handle.as_ref().unwrap().reload_tls().is_err());
    tls_client(addr, &first_cert).list_buckets().send().await.unwrap();

    // A reload serves the new certificate to new connections.
    std::fs::write(&cert_path, &second_cert).unwrap();
    std::fs::write(&key_path, &second_key).unwrap();
    assert!(server.handle.as_ref().unwrap().reload_tls().unwrap());
    let renewed = tls_client(addr, &second_cert);
    let listed = renewed.list_objects_v2().bucket("secure").send().await.unwrap();
    assert_eq!(listed.key_count(), Some(2));
    assert!(tls_client(addr, &first_cert).list_buckets().send().await.is_err());
    server.restart().await;
    server.stop().await;
}

/// Connects, sends `first`, then waits for the server to close the connection; returns how long
/// it took and what was answered. Gives up after `give_up`.
fn closed_after(addr: SocketAddr, first: &[u8], give_up: Duration) -> (Duration, Vec<u8>) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(give_up)).unwrap();
    let started = Instant::now();
    stream.write_all(first).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    (started.elapsed(), answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut() {
    use cairn_server::pacing::{BODY_RATE_GRACE, BODY_STALL_TIMEOUT, CONNECTION_IDLE_TIMEOUT, REQUEST_HEAD_TIMEOUT};
    let server = TestServer::start().await;
    server.client.create_bucket().bucket("slow").send().await.unwrap();
    let addr = server.addr;
    let presigning = aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(600)).unwrap();
    let mut puts = Vec::new();
    for key in ["stalled", "trickled"] {
        let put = server.client.put_object().bucket("slow").key(key).presigned(presigning.clone()).await.unwrap();
        puts.push(crate::common::path_and_query(put.uri()));
    }
    let give_up = CONNECTION_IDLE_TIMEOUT + Duration::from_secs(20);
    // A head that never ends.
    let head = std::thread::spawn(move || closed_after(addr, b"GET /slow HTTP/1.1\r\nHost: a\r\n", give_up));
    // A connection that says nothing.
    let silent = std::thread::spawn(move || closed_after(addr, b"", give_up));
    // A body that stops halfway.
    let stalled_put = format!("PUT {} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 100\r\n\r\nhalf", puts[0]);
    let stalled = std::thread::spawn(move || closed_after(addr, stalled_put.as_bytes(), give_up));
    let trickled_put = format!("PUT {} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 100000\r\n\r\n", puts[1]);
    // A body that trickles: a byte a second, under the least rate.
    let trickled = std::thread::spawn(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let started = Instant::now();
        stream.write_all(trickled_put.as_bytes()).unwrap();
        let mut answer = Vec::new();
        while started.elapsed() < give_up {
            if stream.write_all(b"t").is_err() {
                break;
            }
            let mut buf = [0u8; 4096];
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => break,
            }
            std::thread::sleep(Duration::from_millis(900));
        }
        (started.elapsed(), answer)
    });
    let (head, silent, stalled, trickled) = tokio::task::spawn_blocking(move || {
        (head.join().unwrap(), silent.join().unwrap(), stalled.join().unwrap(), trickled.join().unwrap())
    })
    .await
    .unwrap();
    let within =
        |(took, _): &(Duration, Vec<u8>), limit: Duration| took >= &limit && took < &(limit + Duration::from_secs(15));
    assert!(within(&head, REQUEST_HEAD_TIMEOUT), "head cut after {:?}", head.0);
    // Before its first byte a connection is idle: hyper's head timer, or ours, whichever is first.
    let (earliest, latest) = (REQUEST_HEAD_TIMEOUT.min(CONNECTION_IDLE_TIMEOUT), CONNECTION_IDLE_TIMEOUT);
    assert!(silent.0 >= earliest && silent.0 < latest + Duration::from_secs(15), "silence cut after {:?}", silent.0);
    assert!(within(&stalled, BODY_STALL_TIMEOUT), "stalled body cut after {:?}", stalled.0);
    assert!(within(&trickled, BODY_RATE_GRACE), "trickling body cut after {:?}", trickled.0);
    // Neither cut body made an object.
    for key in ["stalled", "trickled"] {
        let missing = server.client.head_object().bucket("slow").key(key).send().await.unwrap_err();
        assert_eq!(crate::common::status(&missing), 404, "{key}");
    }
    server.stop().await;
}
