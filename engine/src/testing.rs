//! Helpers shared by the engine's tests and benches and the end-to-end tests (which see only
//! the public API). Not part of the engine's interface.

/// Deterministic pseudo-random bytes for a seed (xorshift): bodies that differ per object and
/// per position, reproducible across runs.
pub fn body(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}
