//! Reads criterion's results back: the median of a benchmark from its `estimates.json`.
//!
//! A tiny hand parser keeps the bench free of a JSON dependency; it only needs
//! `"median": { ... "point_estimate": <number> ... }`.

use std::path::{Path, PathBuf};

/// The median's point estimate (nanoseconds per iteration) in an `estimates.json` text.
///
/// ```
/// let json = r#"{"mean":{"point_estimate":12.5},"median":{"confidence_interval":{"lower_bound":1.0},"point_estimate":11.25,"standard_error":0.1}}"#;
/// assert_eq!(benches::estimates::median_point_estimate(json), Some(11.25));
/// ```
pub fn median_point_estimate(json: &str) -> Option<f64> {
    let median = json.find("\"median\"")?;
    let rest = json.get(median..)?;
    let key = "\"point_estimate\"";
    let start = rest.find(key)? + key.len();
    let rest = rest.get(start..)?.trim_start();
    let rest = rest.strip_prefix(':')?.trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(rest.len());
    rest.get(..end)?.parse().ok()
}

/// Where criterion writes its results: `$CARGO_TARGET_DIR/criterion` when the variable is
/// set (relative to `workspace_root` if relative), else `<workspace_root>/target/criterion`.
pub fn criterion_dir(workspace_root: &Path, cargo_target_dir: Option<&str>) -> PathBuf {
    match cargo_target_dir.filter(|dir| !dir.is_empty()) {
        Some(dir) => workspace_root.join(dir).join("criterion"),
        None => workspace_root.join("target").join("criterion"),
    }
}

/// The median (ns per iteration) of benchmark `id` (`group/function[/parameter]`), read
/// from `<criterion_dir>/<id>/new/estimates.json`; `None` when it was not run.
pub fn read_median(criterion_dir: &Path, id: &str) -> Option<f64> {
    let path = criterion_dir.join(id).join("new").join("estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    median_point_estimate(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_median_not_the_mean() {
        let json = r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.5,"upper_bound":2.5},"point_estimate":2.0,"standard_error":0.1},"median":{"confidence_interval":{"confidence_level":0.95,"lower_bound":3.0,"upper_bound":4.0},"point_estimate":3.5e2,"standard_error":0.2},"median_abs_dev":{"point_estimate":9.0}}"#;
        assert_eq!(median_point_estimate(json), Some(350.0));
    }

    #[test]
    fn whitespace_is_allowed() {
        let json = "{ \"median\" : { \"point_estimate\" : 42.75 , \"x\": 1 } }";
        assert_eq!(median_point_estimate(json), Some(42.75));
    }

    #[test]
    fn missing_or_malformed_is_none() {
        assert_eq!(median_point_estimate("{}"), None);
        assert_eq!(
            median_point_estimate(r#"{"median":{"point_estimate":"x"}}"#),
            None
        );
        assert_eq!(
            median_point_estimate(r#"{"mean":{"point_estimate":1.0}}"#),
            None
        );
    }

    #[test]
    fn target_dir_resolution() {
        let root = Path::new("/w");
        assert_eq!(
            criterion_dir(root, None),
            PathBuf::from("/w/target/criterion")
        );
        assert_eq!(
            criterion_dir(root, Some("")),
            PathBuf::from("/w/target/criterion")
        );
        assert_eq!(
            criterion_dir(root, Some("/t")),
            PathBuf::from("/t/criterion")
        );
        assert_eq!(
            criterion_dir(root, Some("tb")),
            PathBuf::from("/w/tb/criterion")
        );
    }

    #[test]
    fn reads_a_written_file() {
        let dir = std::env::temp_dir().join(format!("benches-estimates-{}", std::process::id()));
        let bench = dir.join("g").join("f").join("new");
        std::fs::create_dir_all(&bench).unwrap();
        std::fs::write(
            bench.join("estimates.json"),
            r#"{"median":{"point_estimate":7.0}}"#,
        )
        .unwrap();
        assert_eq!(read_median(&dir, "g/f"), Some(7.0));
        assert_eq!(read_median(&dir, "g/missing"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
