//! `cairn-bench disk`: the disk's own ceilings, measured with fio in the directory a store would
//! use, so a report can put every durable row beside what the disk allows in the same run.
//!
//! Three recipes, each one fio job: 1 MiB sequential writes with an fdatasync after each (what a
//! durable 1 MiB PUT can at best do alone), the same with O_DIRECT at depth 8 (the device's
//! bandwidth), and 4 KiB writes with an fdatasync after each (the sync rate a small durable PUT
//! is bounded by without group commit).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::Serialize;

/// Longest any one recipe runs.
pub const RECIPE_RUNTIME_MAX: Duration = Duration::from_secs(60);
/// Largest file a recipe writes.
pub const RECIPE_BYTES_MAX: u64 = 16 << 30;

/// One recipe's result.
#[derive(Clone, Debug, Serialize)]
pub struct DiskResult {
    pub name: &'static str,
    pub what: &'static str,
    pub mib_per_s: f64,
    pub iops: f64,
    /// fio's command line, to run by hand.
    pub command: String,
}

struct Recipe {
    name: &'static str,
    what: &'static str,
    args: &'static [&'static str],
}

const RECIPES: [Recipe; 3] = [
    Recipe {
        name: "sync-1m",
        what: "1 MiB sequential writes, fdatasync after each, one job",
        args: &["--rw=write", "--bs=1m", "--fdatasync=1", "--ioengine=psync"],
    },
    Recipe {
        name: "direct-1m",
        what: "1 MiB sequential writes, O_DIRECT, depth 8",
        args: &["--rw=write", "--bs=1m", "--direct=1", "--iodepth=8", "--ioengine=libaio"],
    },
    Recipe {
        name: "sync-4k",
        what: "4 KiB sequential writes, fdatasync after each, one job",
        args: &["--rw=write", "--bs=4k", "--fdatasync=1", "--ioengine=psync"],
    },
];

/// Runs every recipe in `dir` (its file is removed afterwards), each writing at most `size`
/// bytes for at most `runtime`.
pub fn measure(dir: &Path, size: u64, runtime: Duration) -> Result<Vec<DiskResult>, String> {
    if size == 0 || size > RECIPE_BYTES_MAX {
        return Err(format!("--size must be 1 byte to {RECIPE_BYTES_MAX} bytes"));
    }
    if runtime.is_zero() || runtime > RECIPE_RUNTIME_MAX {
        return Err(format!("--runtime must be above 0 and at most {RECIPE_RUNTIME_MAX:?}"));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let file = dir.join("cairn-bench-disk.fio");
    let results = RECIPES.iter().map(|recipe| run_recipe(recipe, &file, size, runtime)).collect();
    let _ = std::fs::remove_file(&file);
    results
}

fn run_recipe(recipe: &Recipe, file: &PathBuf, size: u64, runtime: Duration) -> Result<DiskResult, String> {
    // A fresh file each time: a durable store appends to new space too.
    let _ = std::fs::remove_file(file);
    let mut args: Vec<String> = vec![
        format!("--name={}", recipe.name),
        format!("--filename={}", file.display()),
        format!("--size={size}"),
        format!("--runtime={}", runtime.as_secs().max(1)),
        "--output-format=json".into(),
    ];
    args.extend(recipe.args.iter().map(|a| (*a).to_owned()));
    let output =
        Command::new("fio").args(&args).output().map_err(|e| format!("running fio (Debian's package fio): {e}"))?;
    if !output.status.success() {
        return Err(format!("fio {}: {}", recipe.name, String::from_utf8_lossy(&output.stderr).trim()));
    }
    let (mib_per_s, iops) = parse_fio_json(&output.stdout)?;
    Ok(DiskResult { name: recipe.name, what: recipe.what, mib_per_s, iops, command: format!("fio {}", args.join(" ")) })
}

/// The write bandwidth (MiB/s) and IOPS of fio's first job.
pub fn parse_fio_json(json: &[u8]) -> Result<(f64, f64), String> {
    let value: serde_json::Value = serde_json::from_slice(json).map_err(|e| format!("fio's output: {e}"))?;
    let write = &value["jobs"][0]["write"];
    match (write["bw"].as_f64(), write["iops"].as_f64()) {
        (Some(kib_per_s), Some(iops)) => Ok((kib_per_s / 1024.0, iops)),
        _ => Err("fio's output has no write bandwidth".into()),
    }
}

/// The results as a table.
pub fn summary(results: &[DiskResult]) -> String {
    let mut text = String::from("disk (fio):\n");
    for result in results {
        text.push_str(&format!(
            "  {:<10} {:>9.1} MiB/s {:>9.0} IOPS  {}\n",
            result.name, result.mib_per_s, result.iops, result.what
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fio_json_gives_bandwidth_and_iops() {
        let json = br#"{"jobs":[{"jobname":"sync-1m","write":{"bw":437000,"iops":426.7}}]}"#;
        let (mib, iops) = parse_fio_json(json).unwrap();
        assert!((mib - 426.757).abs() < 0.01 && (iops - 426.7).abs() < 1e-9);
        assert!(parse_fio_json(b"{\"jobs\":[]}").is_err());
        assert!(parse_fio_json(b"not json").is_err());
    }

    #[test]
    fn sizes_and_runtimes_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        assert!(measure(dir.path(), 0, Duration::from_secs(1)).is_err());
        assert!(measure(dir.path(), RECIPE_BYTES_MAX + 1, Duration::from_secs(1)).is_err());
        assert!(measure(dir.path(), 1 << 20, RECIPE_RUNTIME_MAX + Duration::from_secs(1)).is_err());
    }
}
