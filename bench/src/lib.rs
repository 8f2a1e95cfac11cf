//! `cairn-bench`: a load generator for any S3 endpoint (Cairn or a peer), with a built-in HTTP
//! ceiling server to measure against.
//!
//! `spec.rs` is what a run does and its bounds; `data.rs` the object bodies (windows of a random
//! pool) and the ledger that verifies reads; `client.rs` a lean SigV4 client over one hyper
//! connection per worker; `run.rs` the prefill and the closed- and open-loop drivers; `stats.rs`
//! the HDR histograms, timeline and JSON result; `report.rs` the SVG plots and HTML page;
//! `compare.rs` A/B rounds; `churn.rs` the overwrite churn that measures compaction; `ceiling.rs` the do-nothing server; `disk.rs` the disk's own ceilings
//! (fio); `crash.rs` the crash-consistency
//! harness (kill -9 and restart `cairn serve`, check every acknowledged write); `webhook.rs` a
//! receiver of event notifications for tests.

pub mod ceiling;
pub mod churn;
pub mod client;
pub mod compare;
pub mod crash;
pub mod data;
pub mod disk;
pub mod report;
pub mod run;
pub mod spec;
pub mod stats;
pub mod webhook;
