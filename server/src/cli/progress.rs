//! Progress bars for long commands (indicatif), on stderr; hidden where stderr is not a
//! terminal, so scripts see only the commands' results on stdout.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// How often a spinner redraws.
const TICK: Duration = Duration::from_millis(120);

/// A spinner for work of unknown length, saying `what`.
pub fn spinner(what: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("a valid template"));
    bar.set_message(what.to_owned());
    bar.enable_steady_tick(TICK);
    bar
}

/// A bar of `total` bytes, saying `what`.
pub fn bytes(what: &str, total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {elapsed}")
        .expect("a valid template")
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(what.to_owned());
    bar
}

/// A counter of items, saying `what`.
pub fn counter(what: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} {msg}: {pos} {elapsed}").expect("a valid template"));
    bar.set_message(what.to_owned());
    bar.enable_steady_tick(TICK);
    bar
}
