//! `cairn-server`: a thin S3 HTTP layer over `cairn-engine`.
//!
//! `s3s` parses and signs S3 requests and writes responses; `s3/` maps each S3 operation
//! onto the engine's public API, one module per S3 concern (buckets, objects, listings, multipart,
//! tagging, bucket configurations); `authorization.rs` is the one step every request passes before
//! its handler (principal, IAM action, resource); `writes.rs` what a write asks beyond its body (conditions,
//! digests, options not built yet); `checksum.rs` computes and verifies S3's additional checksums; `error.rs` maps every engine error to the S3 error AWS returns,
//! in one place; `http.rs` accepts connections; `config.rs` is the configuration; `account.rs` the accounts and who may reach which bucket; `mfa.rs`
//! the accounts' MFA devices and the codes MFA delete asks for; `lifecycle/` the rules that
//! expire and transition versions, and the worker that applies them; `logging/` server access
//! logs: each request's record, spooled into the engine and delivered as log objects; `notify/`
//! event notifications: the configurations, each event's message, and the worker that POSTs
//! them to webhooks.
//!
//! Tests start the server in-process with [`start`] on an ephemeral 127.0.0.1 port.

pub mod account;
pub mod acl;
pub mod admin;
mod authorization;
mod checksum;
pub mod cli;
pub mod config;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod guard;
mod http;
pub mod lifecycle;
pub mod logging;
pub mod metrics;
pub mod mfa;
pub mod notify;
mod observe;
pub mod pacing;
pub mod policy;
pub mod replication;
mod s3;
mod task;
pub mod tls;
pub mod users;
pub mod web;
mod writes;

pub use config::{Config, Credentials, User};
pub use guard::PRESIGNED_EXPIRES_SECONDS_MAX;
pub use http::{REQUEST_HEAD_BYTES_MAX, ServerHandle, start, start_with_engine};
pub use web::presign::{PostForm, PostFormRequest, presigned_post};
