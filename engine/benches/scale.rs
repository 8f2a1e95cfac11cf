//! The engine at scale: a store of millions of objects built through the engine's API (not
//! HTTP), then opened from its checkpoint and by replaying its whole log, each in a process of
//! its own so that resident memory is the open's alone. Not criterion: each step takes seconds.
//!
//! ```text
//! cargo bench -p cairn-engine --bench scale -- build DIR N   # N objects, then a checkpoint
//! cargo bench -p cairn-engine --bench scale -- open DIR      # from the checkpoint (warm, then cold)
//! cargo bench -p cairn-engine --bench scale -- replay DIR    # a copy without checkpoints
//! ```
//!
//! Each prints `name value` lines: open time, resident memory (anonymous and mapped-file pages,
//! from /proc/self/status) per object before and after reads, LIST of 1,000 keys from random
//! places in the bucket, HEAD (the index alone) and GET of random small objects (GETs read the
//! disk unless the segments are cached: the log is written direct).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cairn_engine::{Engine, EngineConfig, ListQuery, ObjectAttributes, Sse};

/// Writer threads while building (group commit gathers their puts).
const WRITERS: u64 = 64;
/// Body bytes of each object.
const OBJECT_BYTES: usize = 100;
/// LISTs and GETs measured after an open.
const LISTS: usize = 200;
const GETS: usize = 20_000;

fn config() -> EngineConfig {
    EngineConfig { background: false, ..EngineConfig::default() }
}

fn key(i: u64) -> String {
    format!("obj/{i:09}")
}

/// (VmRSS, RssAnon, RssFile) in bytes.
fn resident() -> (u64, u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("RssAnon:"), field("RssFile:"))
}

fn dir_bytes(dir: &Path, prefix: &str) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

fn build(dir: &Path, objects: u64) {
    let _ = std::fs::remove_dir_all(dir);
    let engine = Engine::open(dir, config()).unwrap();
    engine.create_bucket("bench", "us-east-1").unwrap();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for writer in 0..WRITERS {
            let engine = &engine;
            scope.spawn(move || {
                for i in (writer..objects).step_by(WRITERS as usize) {
                    let mut put = engine.put_object("bench", &key(i), ObjectAttributes::default()).unwrap();
                    put.set_encryption(&Sse::S3).unwrap();
                    put.write(&cairn_engine::testing::body(i, OBJECT_BYTES)).unwrap();
                    put.finish().unwrap();
                }
            });
        }
    });
    println!("build_seconds {:.1}", started.elapsed().as_secs_f64());
    let started = Instant::now();
    let checkpoint = engine.checkpoint().unwrap();
    println!("checkpoint_seconds {:.2}", started.elapsed().as_secs_f64());
    println!("checkpoint_bytes {}", checkpoint.bytes);
    println!("checkpoint_bytes_per_object {:.1}", checkpoint.bytes as f64 / objects as f64);
    println!("segment_bytes {}", dir_bytes(dir, "seg-"));
    std::fs::write(dir.join("OBJECTS"), objects.to_string()).unwrap();
}

fn objects(dir: &Path) -> u64 {
    std::fs::read_to_string(dir.join("OBJECTS")).expect("a store built by `build`").trim().parse().unwrap()
}

/// Drops the store's files from the page cache (clean pages only: they were synced).
fn drop_cache(dir: &Path) {
    use std::os::fd::AsRawFd;
    for entry in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        let file = std::fs::File::open(entry.path()).unwrap();
        // SAFETY: a plain syscall on a file descriptor this function owns; no memory is passed.
        unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    }
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() - 1) as f64 * p) as usize]
}

/// Opens `dir`, then measures memory, LIST and GET; `label` prefixes every line.
fn measure(dir: &Path, label: &str) {
    let n = objects(dir);
    let before = resident();
    let started = Instant::now();
    let engine = Engine::open(dir, config()).unwrap();
    let open = started.elapsed();
    let after = resident();
    let report = engine.recovery_report();
    println!("{label}_open_seconds {:.3}", open.as_secs_f64());
    println!("{label}_replayed_records {}", report.metadata_records);
    println!("{label}_keys_in_memory_and_mapped {:?}", engine.index_layers());
    let per = |now: u64, then: u64| now.saturating_sub(then) as f64 / n as f64;
    println!("{label}_resident_bytes_per_object {:.1}", per(after.0, before.0));
    println!("{label}_anonymous_bytes_per_object {:.1}", per(after.1, before.1));
    println!("{label}_mapped_file_bytes_per_object {:.1}", per(after.2, before.2));
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut lists = Vec::with_capacity(LISTS);
    for _ in 0..LISTS {
        let start = next() % n.saturating_sub(1000).max(1);
        let query = ListQuery { max_keys: 1000, start_after: Some(key(start)), ..ListQuery::default() };
        let started = Instant::now();
        let page = engine.list_objects("bench", &query).unwrap();
        lists.push(started.elapsed());
        assert_eq!(page.entries().count(), 1000);
    }
    println!("{label}_list_1000_median_ms {:.3}", percentile(&mut lists, 0.5).as_secs_f64() * 1e3);
    println!("{label}_list_1000_p99_ms {:.3}", percentile(&mut lists, 0.99).as_secs_f64() * 1e3);
    let mut heads = Vec::with_capacity(GETS);
    for _ in 0..GETS {
        let i = next() % n;
        let started = Instant::now();
        let (_, info) = engine.head_object("bench", &key(i), None).unwrap();
        heads.push(started.elapsed());
        assert_eq!(info.size, OBJECT_BYTES as u64);
    }
    println!("{label}_head_median_us {:.2}", percentile(&mut heads, 0.5).as_secs_f64() * 1e6);
    println!("{label}_head_p99_us {:.2}", percentile(&mut heads, 0.99).as_secs_f64() * 1e6);
    let mut gets = Vec::with_capacity(GETS);
    for _ in 0..GETS {
        let i = next() % n;
        let started = Instant::now();
        let body = engine.get_object_bytes("bench", &key(i), None).unwrap();
        gets.push(started.elapsed());
        assert_eq!(body.len(), OBJECT_BYTES);
    }
    println!("{label}_get_median_us {:.1}", percentile(&mut gets, 0.5).as_secs_f64() * 1e6);
    println!("{label}_get_p99_us {:.1}", percentile(&mut gets, 0.99).as_secs_f64() * 1e6);
    let read = resident();
    println!("{label}_resident_bytes_per_object_after_reads {:.1}", per(read.0, before.0));
    println!("{label}_anonymous_bytes_per_object_after_reads {:.1}", per(read.1, before.1));
}

fn main() {
    // `cargo bench` passes `--bench`; the rest are ours.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let dir = |at: usize| PathBuf::from(args.get(at).expect("a store directory"));
    match args.first().map(String::as_str) {
        Some("build") => build(&dir(1), args.get(2).and_then(|n| n.parse().ok()).unwrap_or(1_000_000)),
        Some("open") => {
            measure(&dir(1), "warm");
            drop_cache(&dir(1));
            let started = Instant::now();
            drop(Engine::open(dir(1), config()).unwrap());
            println!("cold_open_seconds {:.3}", started.elapsed().as_secs_f64());
        }
        Some("replay") => {
            let source = dir(1);
            let copy = source.with_extension("replay");
            if !copy.join("OBJECTS").exists() {
                let _ = std::fs::remove_dir_all(&copy);
                std::fs::create_dir_all(&copy).unwrap();
                for entry in std::fs::read_dir(&source).unwrap().filter_map(Result::ok) {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if name.starts_with("seg-") || name == "keyring" || name == "OBJECTS" {
                        std::fs::copy(entry.path(), copy.join(&name)).unwrap();
                    }
                }
            }
            measure(&copy, "replay");
        }
        // `cargo bench` with no arguments (a whole-workspace bench run): nothing to do here.
        _ => eprintln!("usage: scale build DIR [N] | open DIR | replay DIR"),
    }
}
