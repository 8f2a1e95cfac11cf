//! The admin commands of `cairn` (the binary parses arguments; these do the work), and what
//! their exit codes mean to scripts:
//!
//! - 0: done (for `verify`, nothing is damaged);
//! - 1: the answer is no: `verify` found damage, or the user or bucket named does not exist
//!   (or, for `user add`, already does);
//! - 2: the command line is wrong (clap's usage errors, or a name that is not well formed);
//! - 3: the command could not run: the store is open in a running server, unreadable, or an
//!   I/O error.
//!
//! Long work (`verify`, `compact`, `bucket stat`) shows a progress bar on a terminal's stderr,
//! and nothing when stderr is not a terminal.

pub mod buckets;
pub mod progress;
pub mod store;
pub mod users;

use std::path::Path;

/// Why a command did not succeed, and so its exit code.
#[derive(Debug)]
pub enum Failure {
    /// The answer is no (exit 1); the message says what.
    No(String),
    /// What was asked for is not well formed (exit 2, as clap's usage errors).
    Usage(String),
    /// The command could not run (exit 3).
    Error(Box<dyn std::error::Error>),
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::No(_) => 1,
            Failure::Usage(_) => 2,
            Failure::Error(_) => 3,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::No(why) | Failure::Usage(why) => f.write_str(why),
            Failure::Error(error) => write!(f, "{error}"),
        }
    }
}

impl<E: std::error::Error + 'static> From<E> for Failure {
    fn from(error: E) -> Failure {
        Failure::Error(Box::new(error))
    }
}

/// A command's result.
pub type Outcome = Result<(), Failure>;

/// Opens the store in `data_dir` for an offline command (no background work); fails if a
/// server has it open.
pub fn open(data_dir: &Path) -> Result<cairn_engine::Engine, Failure> {
    if !data_dir.is_dir() {
        return Err(Failure::Error(format!("{} is not a directory", data_dir.display()).into()));
    }
    let config = cairn_engine::EngineConfig { background: false, ..Default::default() };
    cairn_engine::Engine::open(data_dir, config).map_err(|error| {
        Failure::Error(
            format!("opening the store in {} (is a server running on it?): {error}", data_dir.display()).into(),
        )
    })
}
