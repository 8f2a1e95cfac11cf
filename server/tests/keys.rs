//! `cairn key`: rotation and the local KMS's keys from the command line, refused while the store
//! is open elsewhere.

use std::process::Command;

fn cairn(dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("key")
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("the cairn binary runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

#[test]
fn keys_are_rotated_created_and_disabled_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = cairn(dir.path(), &["rotate"]);
    assert!(ok && out.contains("master key 2 now wraps new objects"), "{out}");
    let (ok, out) = cairn(dir.path(), &["kms-create", "--alias", "photos"]);
    assert!(ok && out.contains("enabled alias/photos"), "{out}");
    let (ok, out) = cairn(dir.path(), &["kms-disable", "alias/photos"]);
    assert!(ok && out.contains("disabled"), "{out}");
    let (ok, out) = cairn(dir.path(), &["list"]);
    assert!(ok && out.contains("master key 1\n") && out.contains("master key 2 (active)"), "{out}");
    assert!(out.contains("disabled alias/photos"), "{out}");
    let (ok, out) = cairn(dir.path(), &["kms-enable", "alias/nothing"]);
    assert!(!ok && out.contains("does not exist"), "{out}");
    // While an engine has the store, the keyring is not touched.
    let engine = cairn_engine::Engine::open(dir.path(), cairn_engine::EngineConfig::default()).unwrap();
    let (ok, out) = cairn(dir.path(), &["rotate"]);
    assert!(!ok && out.contains("in use"), "{out}");
    assert_eq!(engine.keyring().master_key_ids(), [1, 2]);
}
