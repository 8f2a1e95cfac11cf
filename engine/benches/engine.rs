//! Criterion benches of every engine path. Inputs are seeded; each bench sets `Throughput`.
//! Run: `cargo bench -p cairn-engine` (one group: `cargo bench -p cairn-engine -- put_4k`).
//! The recovery bench builds its store once under `target/bench-data` (size from
//! `CAIRN_BENCH_RECOVERY_OBJECTS`, default 1,000,000). `CAIRN_BENCH_DIR` puts the stores
//! elsewhere (another disk, or tmpfs to measure software overhead without the disk);
//! `CAIRN_BENCH_IO` picks the backend (auto, uring, threads).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cairn_engine::{CompletedPart, Engine, EngineConfig, IoMode, ListQuery, ObjectAttributes};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use cairn_engine::testing::body;

fn io_mode() -> IoMode {
    std::env::var("CAIRN_BENCH_IO").ok().and_then(|m| m.parse().ok()).unwrap_or(IoMode::Auto)
}

/// A fresh store in a temporary directory on the same disk as the target dir.
fn fresh(config: EngineConfig) -> (tempfile::TempDir, Engine) {
    let root = bench_root();
    std::fs::create_dir_all(&root).unwrap();
    let dir = tempfile::tempdir_in(root).unwrap();
    let engine = Engine::open(dir.path(), config).unwrap();
    engine.create_bucket("bench", "us-east-1").unwrap();
    (dir, engine)
}

/// Where bench stores live: `CAIRN_BENCH_DIR`, else `target/bench-data` (same disk as the build).
fn bench_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("CAIRN_BENCH_DIR") {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("target"));
    target.join("bench-data")
}

/// `CAIRN_BENCH_COMPRESSION` sets the store's zstd level (default: the engine's), so a run can
/// set the cost of compression against a store without it.
fn config() -> EngineConfig {
    let compression_level = std::env::var("CAIRN_BENCH_COMPRESSION")
        .ok()
        .and_then(|level| level.parse().ok())
        .unwrap_or(cairn_engine::COMPRESSION_LEVEL_DEFAULT);
    // No background upkeep: a bench measures its own path, and the recovery bench replays a
    // log with no checkpoint (the checkpointed open is `benches/scale.rs`).
    EngineConfig { io: io_mode(), compression_level, background: false, ..EngineConfig::default() }
}

/// `writers` threads each doing `per_writer` puts of `data`; returns the wall time.
fn concurrent_puts(engine: &Engine, writers: usize, per_writer: u64, data: &[u8], round: u64) -> Duration {
    let started = Instant::now();
    std::thread::scope(|scope| {
        for writer in 0..writers {
            scope.spawn(move || {
                for i in 0..per_writer {
                    let key = format!("r{round}/w{writer}/{i}");
                    engine.put_object_bytes("bench", &key, ObjectAttributes::default(), data).unwrap();
                }
            });
        }
    });
    started.elapsed()
}

fn put(c: &mut Criterion) {
    for (size, label) in [(4096usize, "4k"), (1024 * 1024, "1mib")] {
        let mut group = c.benchmark_group(format!("put_{label}"));
        group.sample_size(10).measurement_time(Duration::from_secs(8)).warm_up_time(Duration::from_secs(1));
        let data = body(1, size);
        let writer_counts: &[usize] = if size == 4096 { &[1, 16] } else { &[1, 2, 4] };
        for &writers in writer_counts {
            let (_dir, engine) = fresh(config());
            let mut round = 0;
            group.throughput(Throughput::Bytes((size * writers) as u64));
            group.bench_function(BenchmarkId::new("writers", writers), |b| {
                b.iter_custom(|iters| {
                    round += 1;
                    concurrent_puts(&engine, writers, iters, &data, round)
                })
            });
            let stats = engine.log_stats();
            eprintln!(
                "put_{label}/writers/{writers}: {} commits in {} groups, {:.1} commits per sync",
                stats.commits,
                stats.groups,
                stats.commits as f64 / stats.syncs.max(1) as f64
            );
        }
        group.finish();
    }
}

fn get(c: &mut Criterion) {
    let mut group = c.benchmark_group("get");
    group.sample_size(20).measurement_time(Duration::from_secs(5));
    for (size, label) in [(4096usize, "4k"), (1024 * 1024, "1mib")] {
        let (_dir, engine) = fresh(config());
        let keys = 64;
        for i in 0..keys {
            engine.put_object_bytes("bench", &format!("k{i}"), ObjectAttributes::default(), &body(i, size)).unwrap();
        }
        let mut i = 0u64;
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(label, |b| {
            b.iter(|| {
                i = (i + 1) % keys;
                let mut total = 0;
                for chunk in engine.get_object("bench", &format!("k{i}"), None, None).unwrap() {
                    total += chunk.unwrap().len();
                }
                assert_eq!(total, size);
            })
        });
    }
    group.finish();
}

fn list(c: &mut Criterion) {
    let mut group = c.benchmark_group("list");
    let (_dir, engine) = fresh(config());
    std::thread::scope(|scope| {
        for writer in 0..16 {
            let engine = &engine;
            scope.spawn(move || {
                for i in 0..125 {
                    let key = format!("dir{}/obj{:05}", i % 10, writer * 1000 + i);
                    engine.put_object_bytes("bench", &key, ObjectAttributes::default(), b"x").unwrap();
                }
            });
        }
    });
    group.throughput(Throughput::Elements(1000));
    group.bench_function("1000_keys", |b| {
        b.iter(|| {
            let page = engine.list_objects("bench", &ListQuery { max_keys: 1000, ..ListQuery::default() }).unwrap();
            assert_eq!(page.items.len(), 1000);
        })
    });
    group.bench_function("1000_keys_delimiter", |b| {
        let query = ListQuery { delimiter: Some("/".into()), max_keys: 1000, ..ListQuery::default() };
        b.iter(|| assert_eq!(engine.list_objects("bench", &query).unwrap().items.len(), 10))
    });
    group.finish();
}

fn multipart(c: &mut Criterion) {
    let mut group = c.benchmark_group("multipart");
    group.sample_size(20);
    // Completion cost does not depend on part size (no data is copied), so parts are 64 KiB
    // with the minimum lowered to match; a 5 MiB-part run measures the same code.
    let (_dir, engine) = fresh(EngineConfig { part_bytes_min: 64 * 1024, ..config() });
    let data = body(3, 64 * 1024);
    let mut round = 0u64;
    group.throughput(Throughput::Elements(100));
    group.bench_function("complete_100_parts", |b| {
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                round += 1;
                let key = format!("mp{round}");
                let upload = engine.create_upload("bench", &key, ObjectAttributes::default()).unwrap();
                let parts: Vec<CompletedPart> = (1..=100)
                    .map(|number| {
                        let mut writer = engine.upload_part("bench", &key, upload, number).unwrap();
                        writer.write(&data).unwrap();
                        CompletedPart { number, etag_md5: writer.finish().unwrap() }
                    })
                    .collect();
                let started = Instant::now();
                engine.complete_upload("bench", &key, upload, &parts).unwrap();
                elapsed += started.elapsed();
            }
            elapsed
        })
    });
    group.finish();
}

/// Lifecycle changes: a batch of `EXPIRY_BATCH_MAX` expirations through `Engine::expire` (one
/// group commit) against as many deletes one after another (a sync each).
fn expire(c: &mut Criterion) {
    use cairn_engine::{Expiry, limits::EXPIRY_BATCH_MAX};
    let mut group = c.benchmark_group("expire");
    group.sample_size(10);
    let (_dir, engine) = fresh(config());
    let mut round = 0u64;
    let mut fill = |engine: &Engine| {
        round += 1;
        (0..EXPIRY_BATCH_MAX)
            .map(|i| {
                let key = format!("r{round}/{i}");
                engine.put_object_bytes("bench", &key, ObjectAttributes::default(), b"x").unwrap();
                let seq = engine.head_object("bench", &key, None).unwrap().0.seq;
                Expiry::Current { key, seq }
            })
            .collect::<Vec<_>>()
    };
    group.throughput(Throughput::Elements(EXPIRY_BATCH_MAX as u64));
    group.bench_function("batch_256", |b| {
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                let changes = fill(&engine);
                let started = Instant::now();
                let results = engine.expire("bench", &changes, 1).unwrap();
                elapsed += started.elapsed();
                assert!(results.iter().all(|r| r.is_ok()));
            }
            elapsed
        })
    });
    group.bench_function("one_by_one_256", |b| {
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                let changes = fill(&engine);
                let started = Instant::now();
                for change in &changes {
                    let Expiry::Current { key, .. } = change else { unreachable!() };
                    engine.delete_object("bench", key, None).unwrap();
                }
                elapsed += started.elapsed();
            }
            elapsed
        })
    });
    group.finish();
}

fn recovery(c: &mut Criterion) {
    let objects: u64 =
        std::env::var("CAIRN_BENCH_RECOVERY_OBJECTS").ok().and_then(|n| n.parse().ok()).unwrap_or(1_000_000);
    let dir = bench_root().join(format!("recovery-{objects}"));
    let marker = dir.join("COMPLETE");
    if !marker.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        let engine = Engine::open(&dir, config()).unwrap();
        engine.create_bucket("bench", "us-east-1").unwrap();
        let started = Instant::now();
        let writers = 32u64;
        std::thread::scope(|scope| {
            for writer in 0..writers {
                let engine = &engine;
                scope.spawn(move || {
                    for i in (writer..objects).step_by(writers as usize) {
                        let key = format!("obj/{i:08}");
                        engine.put_object_bytes("bench", &key, ObjectAttributes::default(), &i.to_le_bytes()).unwrap();
                    }
                });
            }
        });
        eprintln!("built a store of {objects} objects in {:?}", started.elapsed());
        drop(engine);
        std::fs::write(&marker, b"").unwrap();
    }
    let mut group = c.benchmark_group("recovery");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(objects));
    group.bench_function(BenchmarkId::new("open", objects), |b| {
        b.iter(|| {
            let engine = Engine::open(&dir, config()).unwrap();
            assert_eq!(engine.recovery_report().metadata_records, objects + 1);
        })
    });
    group.finish();
}

/// The per-byte CPU costs of a put: MD5 (S3's ETag) and xxh3 (the record checksum).
fn hashing(c: &mut Criterion) {
    use md5::Digest;
    let mut group = c.benchmark_group("hash");
    for (size, label) in [(4096usize, "4k"), (1024 * 1024, "1mib")] {
        let data = body(11, size);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(format!("md5_{label}"), |b| b.iter(|| md5::Md5::digest(&data)));
        group.bench_function(format!("xxh3_{label}"), |b| b.iter(|| xxhash_rust::xxh3::xxh3_64(&data)));
    }
    group.finish();
}

/// Sealing and opening one 1 MiB chunk: compression of text and of noise (the cost of trying),
/// encryption, both, and DSSE's two layers; and a sealed PUT of 1 MiB per SSE mode.
fn seal(c: &mut Criterion) {
    use cairn_engine::seal::{self, ChunkKeys, ChunkPosition, DataKey, Opened, Sealer};
    use std::sync::Arc;
    let at = ChunkPosition { part: 0, index: 0, last: true };
    let noise = body(21, 1024 * 1024);
    let text: Vec<u8> = body(22, 1024 * 1024).iter().map(|b| b"etaoin shrdlu\n "[usize::from(b % 15)]).collect();
    let one = || Some(Arc::new(ChunkKeys::single(DataKey::new(&[1; 32]))));
    let two = || Some(Arc::new(ChunkKeys { inner: DataKey::new(&[1; 32]), outer: Some(DataKey::new(&[2; 32])) }));
    let modes: [(&str, Sealer); 6] = [
        ("zstd1", Sealer { level: 1, keys: None }),
        ("zstd3", Sealer { level: 3, keys: None }),
        ("zstd9", Sealer { level: 9, keys: None }),
        ("aes", Sealer { level: 0, keys: one() }),
        ("zstd1_aes", Sealer { level: 1, keys: one() }),
        ("zstd1_dsse", Sealer { level: 1, keys: two() }),
    ];
    let mut group = c.benchmark_group("seal_1mib");
    group.throughput(Throughput::Bytes(1024 * 1024));
    for (mode, sealer) in &modes {
        for (data_name, data) in [("noise", &noise), ("text", &text)] {
            group.bench_function(format!("{mode}/{data_name}"), |b| b.iter(|| sealer.seal(data.clone(), at)));
            let (flags, sealed) = sealer.seal(data.clone(), at);
            group.bench_function(format!("open_{mode}/{data_name}"), |b| {
                b.iter(|| {
                    let mut copy = sealed.clone();
                    match seal::open(flags, &mut copy, data.len() as u32, sealer.keys.as_deref(), at).unwrap() {
                        Opened::Prefix(n) => n,
                        Opened::Buffer(body) => body.len(),
                    }
                })
            });
        }
    }
    group.bench_function("copy_only/noise", |b| b.iter(|| noise.clone()));
    group.finish();
}

/// The floor under every durable put: one 4 KiB append and fdatasync through each backend.
fn io_backends(c: &mut Criterion) {
    use cairn_engine::io::{IoBackend, ThreadsBackend, UringBackend};
    let mut group = c.benchmark_group("io_append_sync_4k");
    group.sample_size(20).measurement_time(Duration::from_secs(5));
    let backends: Vec<(&str, Box<dyn IoBackend>)> =
        vec![("threads", Box::new(ThreadsBackend)), ("uring", Box::new(UringBackend::new().unwrap()))];
    let data = body(7, 4096);
    for (name, backend) in backends {
        std::fs::create_dir_all(bench_root()).unwrap();
        let dir = tempfile::tempdir_in(bench_root()).unwrap();
        let file = backend.open(&dir.path().join("f"), true).unwrap();
        let mut offset = 0;
        group.throughput(Throughput::Elements(1));
        group.bench_function(name, |b| {
            b.iter(|| {
                backend.write_at(&file, offset, &[&data], true).unwrap();
                offset += data.len() as u64;
            })
        });
    }
    group.finish();
}

criterion_group!(benches, hashing, seal, io_backends, put, get, list, multipart, expire, recovery);
criterion_main!(benches);
