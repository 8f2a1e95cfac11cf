//! What a run does: the operation mix, object sizes, key space, load model and bounds. Every
//! bound is a named constant, checked when a spec is built.

use std::time::Duration;

use rand::Rng;
use serde::Serialize;

/// Longest run (and longest warm-up, prefill excluded).
pub const RUN_SECONDS_MAX: u64 = 3600;
/// Most concurrent clients (connections).
pub const CONCURRENCY_MAX: usize = 1024;
/// Largest key space.
pub const KEYS_MAX: u64 = 100_000_000;
/// Largest object: S3's 5 TiB.
pub const OBJECT_BYTES_MAX: u64 = 5 << 40;
/// Largest single PUT: S3's 5 GiB; larger objects need the multipart operation.
pub const PUT_BYTES_MAX: u64 = 5 << 30;
/// Part sizes S3 accepts (5 MiB to 5 GiB; the last part may be smaller).
pub const PART_BYTES: std::ops::RangeInclusive<u64> = (5 << 20)..=(5 << 30);
/// Most parts in an upload.
pub const PARTS_MAX: u64 = 10_000;
/// Highest open-loop request rate.
pub const RATE_MAX: f64 = 10_000_000.0;
/// Keys a LIST asks for.
pub const LIST_MAX_KEYS: u32 = 1000;

/// One kind of request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Put,
    Get,
    Head,
    Delete,
    List,
    Multipart,
}

impl Op {
    pub const ALL: [Op; 6] = [Op::Put, Op::Get, Op::Head, Op::Delete, Op::List, Op::Multipart];

    pub fn name(self) -> &'static str {
        match self {
            Op::Put => "put",
            Op::Get => "get",
            Op::Head => "head",
            Op::Delete => "delete",
            Op::List => "list",
            Op::Multipart => "multipart",
        }
    }

    fn parse(text: &str) -> Result<Op, String> {
        Op::ALL
            .into_iter()
            .find(|op| op.name() == text)
            .ok_or_else(|| format!("unknown operation {text:?} (one of put, get, head, delete, list, multipart)"))
    }

    /// Whether the operation reads keys that should exist (a prefill writes them first).
    pub fn reads(self) -> bool {
        matches!(self, Op::Get | Op::Head)
    }
}

/// Operations and their weights: `get` or `get:70,put:30`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Mix(pub Vec<(Op, u32)>);

impl Mix {
    pub fn parse(text: &str) -> Result<Mix, String> {
        let mut weights: Vec<(Op, u32)> = Vec::new();
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (op, weight) = match item.split_once(':') {
                Some((op, weight)) => {
                    (Op::parse(op.trim())?, weight.trim().parse().map_err(|_| format!("bad weight in {item:?}"))?)
                }
                None => (Op::parse(item)?, 1),
            };
            if weights.iter().any(|(seen, _)| *seen == op) {
                return Err(format!("{} is listed twice", op.name()));
            }
            weights.push((op, weight));
        }
        weights.retain(|(_, weight)| *weight > 0);
        if weights.is_empty() {
            return Err("the mix names no operation with a weight above 0".into());
        }
        Ok(Mix(weights))
    }

    pub fn choose(&self, rng: &mut impl Rng) -> Op {
        let total: u32 = self.0.iter().map(|(_, w)| w).sum();
        let mut pick = rng.random_range(0..total);
        for (op, weight) in &self.0 {
            if pick < *weight {
                return *op;
            }
            pick -= weight;
        }
        unreachable!("weights sum to total")
    }

    pub fn contains(&self, op: Op) -> bool {
        self.0.iter().any(|(o, _)| *o == op)
    }
}

/// Object sizes: fixed (`4KiB`), uniform in a range (`1KiB..1MiB`), or weighted (`4KiB:80,1MiB:20`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sizes {
    Fixed(u64),
    Uniform(u64, u64),
    Weighted(Vec<(u64, u32)>),
}

impl Sizes {
    pub fn parse(text: &str) -> Result<Sizes, String> {
        let text = text.trim();
        let sizes = if let Some((low, high)) = text.split_once("..") {
            let (low, high) = (parse_bytes(low)?, parse_bytes(high)?);
            if low > high {
                return Err(format!("{text:?}: the range is empty"));
            }
            Sizes::Uniform(low, high)
        } else if text.contains(',') || text.contains(':') {
            let mut weighted = Vec::new();
            for item in text.split(',') {
                let (size, weight) = item.split_once(':').ok_or_else(|| format!("{item:?}: expected SIZE:WEIGHT"))?;
                weighted.push((parse_bytes(size)?, weight.trim().parse().map_err(|_| format!("bad weight {item:?}"))?));
            }
            if weighted.iter().all(|(_, w)| *w == 0) {
                return Err("every size has weight 0".into());
            }
            Sizes::Weighted(weighted)
        } else {
            Sizes::Fixed(parse_bytes(text)?)
        };
        if sizes.max() > OBJECT_BYTES_MAX {
            return Err(format!("objects are at most {OBJECT_BYTES_MAX} bytes (5 TiB)"));
        }
        Ok(sizes)
    }

    pub fn choose(&self, rng: &mut impl Rng) -> u64 {
        match self {
            Sizes::Fixed(size) => *size,
            Sizes::Uniform(low, high) => rng.random_range(*low..=*high),
            Sizes::Weighted(weighted) => {
                let total: u64 = weighted.iter().map(|(_, w)| u64::from(*w)).sum();
                let mut pick = rng.random_range(0..total);
                for (size, weight) in weighted {
                    if pick < u64::from(*weight) {
                        return *size;
                    }
                    pick -= u64::from(*weight);
                }
                unreachable!("weights sum to total")
            }
        }
    }

    pub fn max(&self) -> u64 {
        match self {
            Sizes::Fixed(size) => *size,
            Sizes::Uniform(_, high) => *high,
            Sizes::Weighted(weighted) => weighted.iter().map(|(s, _)| *s).max().unwrap_or(0),
        }
    }

    /// The mean object size.
    pub fn mean(&self) -> f64 {
        match self {
            Sizes::Fixed(size) => *size as f64,
            Sizes::Uniform(low, high) => (*low as f64 + *high as f64) / 2.0,
            Sizes::Weighted(weighted) => {
                let total: f64 = weighted.iter().map(|(_, w)| f64::from(*w)).sum();
                weighted.iter().map(|(s, w)| *s as f64 * f64::from(*w)).sum::<f64>() / total
            }
        }
    }
}

/// `4096`, `4KiB`, `4KB`, `1.5MiB`, `64m`: binary and decimal units, case-insensitive.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| format!("{text:?} is not a size"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return Err(format!("{text:?}: unknown unit (B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)")),
    };
    let bytes = number * multiplier as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(format!("{text:?} is out of range"));
    }
    Ok(bytes.round() as u64)
}

/// `10s`, `500ms`, `2m`, `1h`, or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| format!("{text:?} is not a duration"))?;
    let seconds = match unit {
        "" | "s" => number,
        "ms" => number / 1000.0,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => return Err(format!("{text:?}: unknown unit (ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("{text:?} is out of range"))
}

/// How requests are issued.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "model", rename_all = "lowercase")]
pub enum Load {
    /// Each of `concurrency` clients sends its next request when the last one is answered.
    Closed,
    /// Requests are due at a fixed rate; latency counts from when each was due (coordinated
    /// omission corrected), and at most `concurrency` are in flight.
    Open { rate: f64 },
}

/// A complete workload.
#[derive(Clone, Debug, Serialize)]
pub struct Workload {
    pub mix: Mix,
    pub sizes: Sizes,
    pub keys: u64,
    pub key_prefix: String,
    pub concurrency: usize,
    pub load: Load,
    #[serde(serialize_with = "seconds")]
    pub duration: Duration,
    #[serde(serialize_with = "seconds")]
    pub warmup: Duration,
    pub part_size: u64,
    pub prefill: bool,
    pub verify: bool,
    pub seed: u64,
}

fn seconds<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64())
}

impl Workload {
    /// Checks every bound.
    pub fn check(&self) -> Result<(), String> {
        if self.concurrency == 0 || self.concurrency > CONCURRENCY_MAX {
            return Err(format!("concurrency must be 1 to {CONCURRENCY_MAX}"));
        }
        if self.keys == 0 || self.keys > KEYS_MAX {
            return Err(format!("keys must be 1 to {KEYS_MAX}"));
        }
        if self.duration.is_zero() || self.duration.as_secs() >= RUN_SECONDS_MAX {
            return Err(format!("the duration must be above 0 and below {RUN_SECONDS_MAX} s"));
        }
        if self.warmup.as_secs() >= RUN_SECONDS_MAX {
            return Err(format!("the warm-up must be below {RUN_SECONDS_MAX} s"));
        }
        if let Load::Open { rate } = self.load
            && !(rate > 0.0 && rate <= RATE_MAX)
        {
            return Err(format!("the rate must be above 0 and at most {RATE_MAX}"));
        }
        if !PART_BYTES.contains(&self.part_size) {
            return Err("the part size must be 5 MiB to 5 GiB".into());
        }
        if self.mix.contains(Op::Put) && self.sizes.max() > PUT_BYTES_MAX {
            return Err("a single PUT is at most 5 GiB: use the multipart operation for larger objects".into());
        }
        if self.mix.contains(Op::Multipart) && self.sizes.max().div_ceil(self.part_size) > PARTS_MAX {
            return Err(format!("an upload has at most {PARTS_MAX} parts: raise the part size"));
        }
        if self.key_prefix.len() > 512 {
            return Err("the key prefix is at most 512 bytes".into());
        }
        Ok(())
    }

    /// The key of index `index`.
    pub fn key(&self, index: u64) -> String {
        format!("{}{index:010}", self.key_prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_bytes("4KiB").unwrap(), 4096);
        assert_eq!(parse_bytes("4kb").unwrap(), 4000);
        assert_eq!(parse_bytes("1.5MiB").unwrap(), 1_572_864);
        assert_eq!(parse_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("17").unwrap(), 17);
        assert!(parse_bytes("4 parsecs").is_err());
        assert_eq!(Sizes::parse("4KiB").unwrap(), Sizes::Fixed(4096));
        assert_eq!(Sizes::parse("1KiB..2KiB").unwrap(), Sizes::Uniform(1024, 2048));
        assert_eq!(Sizes::parse("4KiB:80,1MiB:20").unwrap(), Sizes::Weighted(vec![(4096, 80), (1 << 20, 20)]));
        assert!(Sizes::parse("2KiB..1KiB").is_err());
        assert!(Sizes::parse("6TiB").is_err(), "over S3's object limit");
    }

    #[test]
    fn choices_follow_weights() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let mix = Mix::parse("get:3,put:1,head:0").unwrap();
        assert!(!mix.contains(Op::Head));
        let gets = (0..10_000).filter(|_| mix.choose(&mut rng) == Op::Get).count();
        assert!((7_000..8_000).contains(&gets), "{gets}");
        let sizes = Sizes::parse("1:1,1000:3").unwrap();
        let big = (0..10_000).filter(|_| sizes.choose(&mut rng) == 1000).count();
        assert!((7_000..8_000).contains(&big), "{big}");
        assert_eq!(sizes.mean(), 750.25);
        assert!(Mix::parse("get:0").is_err());
        assert!(Mix::parse("get,get").is_err());
        assert!(Mix::parse("fetch").is_err());
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("soon").is_err());
    }

    fn workload() -> Workload {
        Workload {
            mix: Mix::parse("put").unwrap(),
            sizes: Sizes::Fixed(4096),
            keys: 100,
            key_prefix: "b/".into(),
            concurrency: 8,
            load: Load::Closed,
            duration: Duration::from_secs(5),
            warmup: Duration::from_secs(1),
            part_size: 8 << 20,
            prefill: true,
            verify: true,
            seed: 1,
        }
    }

    #[test]
    fn every_bound_is_checked() {
        assert!(workload().check().is_ok());
        assert!(Workload { concurrency: CONCURRENCY_MAX + 1, ..workload() }.check().is_err());
        assert!(Workload { concurrency: 0, ..workload() }.check().is_err());
        assert!(Workload { keys: KEYS_MAX + 1, ..workload() }.check().is_err());
        assert!(Workload { duration: Duration::from_secs(RUN_SECONDS_MAX), ..workload() }.check().is_err());
        assert!(Workload { warmup: Duration::from_secs(RUN_SECONDS_MAX), ..workload() }.check().is_err());
        assert!(Workload { load: Load::Open { rate: RATE_MAX * 2.0 }, ..workload() }.check().is_err());
        assert!(Workload { part_size: 1 << 20, ..workload() }.check().is_err());
        assert!(Workload { sizes: Sizes::Fixed(PUT_BYTES_MAX + 1), ..workload() }.check().is_err());
        let multipart = Workload { mix: Mix::parse("multipart").unwrap(), ..workload() };
        assert!(Workload { sizes: Sizes::Fixed(PUT_BYTES_MAX + 1), ..multipart.clone() }.check().is_ok());
        assert!(
            Workload { sizes: Sizes::Fixed(PARTS_MAX * (5 << 20) + 1), part_size: 5 << 20, ..multipart }
                .check()
                .is_err()
        );
        assert_eq!(workload().key(7), "b/0000000007");
    }
}
