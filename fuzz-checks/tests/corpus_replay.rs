//! Replays every committed fuzz corpus file through its target's checks on stable Rust.

use std::path::PathBuf;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

#[test]
fn every_target_has_a_seed_corpus() {
    for (target, _) in fuzz_checks::TARGETS {
        let dir = corpus_dir(target);
        let count = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .count();
        assert!(count > 0, "{} is empty", dir.display());
    }
}

#[test]
fn every_target_has_a_fuzz_target_file() {
    for (target, _) in fuzz_checks::TARGETS {
        let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/fuzz_targets")
            .join(format!("{target}.rs"));
        let source =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(
            source.contains(&format!("fuzz_checks::{target}(")),
            "{} does not call its check",
            file.display()
        );
    }
}

#[test]
fn replay_corpora() {
    let mut replayed = 0;
    for (target, check) in fuzz_checks::TARGETS {
        let mut entries: Vec<_> = std::fs::read_dir(corpus_dir(target))
            .map(|dir| dir.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        entries.sort();
        for path in entries {
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(
                outcome.is_ok(),
                "{target}: check failed on {}",
                path.display()
            );
            replayed += 1;
        }
    }
    println!("replayed {replayed} corpus files");
    assert!(replayed > 0);
}
