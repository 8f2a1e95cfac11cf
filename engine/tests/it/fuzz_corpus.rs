//! The fuzz targets' seed corpus and every crash they found, replayed through the same bodies
//! (`cairn_engine::fuzzing`) in each test run.

use cairn_engine::fuzzing::{model, names, record, recovery, replay};

#[test]
fn every_corpus_input_passes() {
    replay("record", record);
    replay("recovery", recovery);
    replay("names", names);
    replay("model", model);
}
