//! The fuzz targets' seed corpus and every crash they found, replayed through the same bodies
//! (`cairn_server::fuzzing`) in each test run.

use cairn_engine::fuzzing::replay;

#[test]
fn every_corpus_input_passes() {
    replay("xml", cairn_server::fuzzing::xml);
    replay("headers", cairn_server::fuzzing::headers);
    replay("policy", cairn_server::fuzzing::policy);
    replay("acl", cairn_server::fuzzing::acl);
    replay("lifecycle", cairn_server::fuzzing::lifecycle);
    replay("notifications", cairn_server::fuzzing::notifications);
    replay("replication", cairn_server::fuzzing::replication);
}
