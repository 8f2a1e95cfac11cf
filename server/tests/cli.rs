//! The `cairn` binary's admin commands: `verify` over clean and damaged stores, `compact`,
//! `user`, `bucket` and `stats`, and their exit codes.

mod common;

use std::os::unix::fs::FileExt;
use std::process::Command;

use cairn_engine::{Engine, EngineConfig, IoMode, ObjectAttributes};

fn verify(dir: &std::path::Path) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_cairn")).args(["verify", "--data-dir"]).arg(dir).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

#[test]
fn verify_names_damaged_objects_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let data = cairn_engine::testing::body(9, 10_000);
    {
        let config = EngineConfig {
            io: IoMode::Threads,
            segment_bytes: cairn_engine::limits::SEGMENT_BYTES_MIN,
            ..EngineConfig::default()
        };
        let engine = Engine::open(dir.path(), config).unwrap();
        engine.create_bucket("photos", "us-east-1").unwrap();
        engine.put_object_bytes("photos", "cat.jpg", ObjectAttributes::default(), &data).unwrap();
        engine.put_object_bytes("photos", "dog.jpg", ObjectAttributes::default(), b"woof").unwrap();
        // Seal the segment holding the objects, so the damage below is not in the newest one's tail.
        let filler = cairn_engine::testing::body(1, 1 << 20);
        let holding = engine.segment_count();
        for i in 0.. {
            if engine.segment_count() > holding {
                break;
            }
            engine.put_object_bytes("photos", &format!("fill{i}"), ObjectAttributes::default(), &filler).unwrap();
        }
    }
    let (ok, text) = verify(dir.path());
    assert!(ok, "{text}");
    assert!(text.contains("0 damaged records"), "{text}");

    let mut segments: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cairn"))
        .collect();
    segments.sort();
    let (segment, bytes) = segments
        .iter()
        .map(|path| (path, std::fs::read(path).unwrap()))
        .find(|(_, bytes)| bytes.windows(32).any(|w| w == &data[..32]))
        .unwrap();
    let at = bytes.windows(32).position(|w| w == &data[..32]).unwrap() + 5000;
    let file = std::fs::OpenOptions::new().write(true).open(segment).unwrap();
    file.write_at(&[bytes[at] ^ 0x80], at as u64).unwrap();
    drop(file);
    let (ok, text) = verify(dir.path());
    assert!(!ok, "{text}");
    assert!(text.contains("1 damaged records") && text.contains("damaged object: photos/cat.jpg"), "{text}");
    assert!(!text.contains("dog.jpg"), "{text}");

    let (ok, text) = verify(&dir.path().join("missing"));
    assert!(!ok && text.contains("is not a directory"), "{text}");
}

fn cairn(args: &[&str], dir: &std::path::Path) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_cairn")).args(args).arg("--data-dir").arg(dir).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

#[test]
fn compact_frees_overwritten_bytes_and_verify_shows_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let config = EngineConfig {
        io: IoMode::Threads,
        segment_bytes: cairn_engine::limits::SEGMENT_BYTES_MIN,
        background: false,
        ..EngineConfig::default()
    };
    let last = |key: u64| cairn_engine::testing::body(100 + key, 1 << 20);
    {
        let engine = Engine::open(dir.path(), config.clone()).unwrap();
        engine.create_bucket("photos", "us-east-1").unwrap();
        for round in 0..6 {
            for key in 0..3u64 {
                let data = if round == 5 { last(key) } else { cairn_engine::testing::body(round * 10 + key, 1 << 20) };
                engine.put_object_bytes("photos", &format!("k{key}"), ObjectAttributes::default(), &data).unwrap();
            }
        }
    }
    let (ok, text) = cairn(&["verify"], dir.path());
    assert!(ok && text.contains("no checkpoint") && text.contains("amplification"), "{text}");
    let (ok, text) = cairn(&["compact"], dir.path());
    assert!(ok && text.contains("compacted") && text.contains("space amplification"), "{text}");
    let (ok, text) = cairn(&["verify"], dir.path());
    assert!(ok && text.contains("checkpoint ") && text.contains("the log replays from segment"), "{text}");
    let engine = Engine::open(dir.path(), config).unwrap();
    assert!(engine.space().amplification < 2.5, "{:?}", engine.space());
    for key in 0..3 {
        assert_eq!(engine.get_object_bytes("photos", &format!("k{key}"), None).unwrap(), last(key));
    }
    drop(engine);
    let (ok, text) = cairn(&["compact"], &dir.path().join("missing"));
    assert!(!ok && text.contains("is not a directory"), "{text}");
}

/// Runs `cairn ARGS --data-dir DIR`: exit code and stdout.
fn cairn_code(args: &[&str], dir: &std::path::Path) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("CAIRN_LOG", "warn")
        .output()
        .unwrap();
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The value after `label:` in a command's output.
fn field(text: &str, label: &str) -> String {
    let line = text.lines().find(|line| line.starts_with(label)).unwrap_or_else(|| panic!("{label} in {text}"));
    line[label.len()..].trim_start_matches(':').trim().to_owned()
}

/// A bench client for `bucket` signing with these keys.
fn client(address: std::net::SocketAddr, keys: (&str, &str), bucket: &str) -> cairn_bench::client::Client {
    use cairn_bench::client::Target;
    let mut target = Target::resolve(&format!("http://{address}"), None, false).unwrap();
    (target.access_key, target.secret_key, target.bucket) = (keys.0.into(), keys.1.into(), bucket.into());
    cairn_bench::client::Client::new(std::sync::Arc::new(target))
}

async fn status(client: &mut cairn_bench::client::Client, method: http::Method, key: &str, body: &[u8]) -> u16 {
    use cairn_bench::client::{Call, Payload};
    let call = Call::new(method, key).payload(Payload::Small(bytes::Bytes::copy_from_slice(body)));
    client.request(call).await.map(|reply| reply.status).unwrap_or(0)
}

fn stop(mut child: std::process::Child) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    assert!(child.wait().unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_made_offline_sign_requests_and_buckets_are_counted() {
    const ROOT: (&str, &str) = ("CLIROOTKEY", "cli-root-secret");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (code, text) = cairn_code(&["user", "add", "alice", "--email", "alice@example.com"], data);
    assert_eq!(code, 0, "{text}");
    let (key, secret) = (field(&text, "access key"), field(&text, "secret key"));
    assert_eq!(cairn_code(&["user", "add", "alice"], data).0, 1, "a second alice");
    assert_eq!(cairn_code(&["user", "add", "root"], data).0, 1, "root is taken");
    assert_eq!(cairn_code(&["user", "add", "bad name"], data).0, 2);
    let (code, text) = cairn_code(&["user", "list"], data);
    assert_eq!((code, text), (0, format!("alice\t{key}\talice@example.com\n")));

    let (child, address) = common::serve(data, &[], ROOT.0, ROOT.1);
    assert_eq!(cairn_code(&["stats"], data).0, 3, "the server has the store open");
    let mut alice = client(address, (&key, &secret), "alices");
    assert_eq!(status(&mut alice, http::Method::PUT, "", b"").await, 200);
    for n in 0..3 {
        assert_eq!(status(&mut alice, http::Method::PUT, &format!("k{n}"), &[b'a'; 1024]).await, 200);
    }
    assert_eq!(status(&mut alice, http::Method::PUT, "k0", &[b'b'; 10]).await, 200);
    stop(child);

    let (code, text) = cairn_code(&["bucket", "ls"], data);
    assert_eq!(code, 0);
    assert!(text.starts_with("alices\tus-east-1\t"), "{text}");
    let (code, text) = cairn_code(&["bucket", "stat", "alices"], data);
    assert_eq!(code, 0);
    assert_eq!((field(&text, "objects"), field(&text, "bytes")), ("3".to_owned(), (2048 + 10).to_string()));
    assert_eq!(field(&text, "versioning"), "Unversioned");
    assert_eq!(cairn_code(&["bucket", "stat", "nothing"], data).0, 1);
    let (code, text) = cairn_code(&["stats", "--json"], data);
    assert_eq!(code, 0);
    let stats: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(stats["buckets"], 1);
    assert!(stats["live_bytes"].as_u64().unwrap() > 0);

    // Rotated keys take over at the next start; the old ones are refused.
    let (code, text) = cairn_code(&["user", "rotate", "alice"], data);
    assert_eq!(code, 0);
    let (new_key, new_secret) = (field(&text, "access key"), field(&text, "secret key"));
    assert_ne!(new_key, key);
    let (child, address) = common::serve(data, &[], ROOT.0, ROOT.1);
    assert_eq!(status(&mut client(address, (&key, &secret), "alices"), http::Method::GET, "k1", b"").await, 403);
    assert_eq!(
        status(&mut client(address, (&new_key, &new_secret), "alices"), http::Method::GET, "k1", b"").await,
        200
    );
    stop(child);

    assert_eq!(cairn_code(&["user", "remove", "alice"], data).0, 0);
    assert_eq!(cairn_code(&["user", "remove", "alice"], data).0, 1);
    assert_eq!(cairn_code(&["user", "list"], data), (0, String::new()));
    assert_eq!(cairn_code(&["stats"], &data.join("missing")).0, 3);
}
