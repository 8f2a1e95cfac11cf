//! Integration tests of cairn-engine, one binary with a module per area.

mod basics;
mod compaction;
mod conditions;
mod crash;
mod expiry;
mod fuzz_corpus;
mod golden;
mod limits;
mod listing;
mod lock;
mod model;
mod multipart;
mod outbox;
mod recovery;
mod replication;
mod sealed;
mod versioning;

use cairn_engine::{Engine, EngineConfig, IoMode, ObjectAttributes};

pub const BACKENDS: [IoMode; 2] = [IoMode::Uring, IoMode::Threads];

pub fn config(io: IoMode) -> EngineConfig {
    EngineConfig { io, part_bytes_min: 16, background: false, ..EngineConfig::default() }
}

pub fn open(dir: &std::path::Path, io: IoMode) -> Engine {
    Engine::open(dir, config(io)).unwrap()
}

pub use cairn_engine::testing::body;

pub fn put(engine: &Engine, bucket: &str, key: &str, data: &[u8]) -> cairn_engine::PutOutcome {
    engine.put_object_bytes(bucket, key, ObjectAttributes::default(), data).unwrap()
}

pub fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    cairn_engine::hex(&md5::Md5::digest(data))
}

/// Property-test cases: the default given, or `PROPTEST_CASES` for longer runs.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(default)
}
