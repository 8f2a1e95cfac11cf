//! The fuzz targets' seed corpus and every crash they found, replayed through the same bodies
//! (`cairn_engine::fuzzing`) in each test run.

use cairn_engine::fuzzing::{checkpoint, keyring, model, names, record, recovery, replay, sealed_chunk};

#[test]
fn every_corpus_input_passes() {
    replay("record", record);
    replay("recovery", recovery);
    replay("names", names);
    replay("model", model);
    replay("sealed_chunk", sealed_chunk);
    replay("keyring", keyring);
    replay("checkpoint", checkpoint);
}
