//! The Markdown summary printed after criterion finishes.

use std::fmt::Write as _;

/// One line of the timing table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// What was measured (criterion id and a short description).
    pub measurement: String,
    /// Median time per iteration in nanoseconds; `None` when the bench did not run.
    pub median_ns: Option<f64>,
    /// Bytes processed per iteration, for the throughput column.
    pub bytes: Option<u64>,
    /// The comparison: e.g. `uwsgi/FastCGI 0.52×`.
    pub comparison: String,
}

/// `numerator / denominator` when both are known and the denominator is not zero.
///
/// ```
/// assert_eq!(benches::summary::ratio(Some(3.0), Some(2.0)), Some(1.5));
/// assert_eq!(benches::summary::ratio(Some(3.0), None), None);
/// ```
pub fn ratio(numerator: Option<f64>, denominator: Option<f64>) -> Option<f64> {
    match (numerator, denominator) {
        (Some(n), Some(d)) if d > 0.0 => Some(n / d),
        _ => None,
    }
}

/// A ratio as `0.52×`, `n/a` when unknown.
pub fn format_ratio(ratio: Option<f64>) -> String {
    match ratio {
        Some(r) if r >= 100.0 => format!("{r:.0}×"),
        Some(r) if r >= 10.0 => format!("{r:.1}×"),
        Some(r) => format!("{r:.2}×"),
        None => "n/a".to_owned(),
    }
}

/// A duration in the unit that reads best: `87.3 ns`, `4.21 µs`, `1.85 ms`.
///
/// ```
/// assert_eq!(benches::summary::format_ns(Some(87.31)), "87.3 ns");
/// assert_eq!(benches::summary::format_ns(Some(4210.0)), "4.21 µs");
/// assert_eq!(benches::summary::format_ns(None), "n/a");
/// ```
pub fn format_ns(ns: Option<f64>) -> String {
    match ns {
        Some(ns) if ns < 1_000.0 => format!("{ns:.1} ns"),
        Some(ns) if ns < 1_000_000.0 => format!("{:.2} µs", ns / 1e3),
        Some(ns) if ns < 1_000_000_000.0 => format!("{:.2} ms", ns / 1e6),
        Some(ns) => format!("{:.2} s", ns / 1e9),
        None => "n/a".to_owned(),
    }
}

/// Throughput of `bytes` per `ns` in GiB/s (`-` when not a byte-throughput row).
///
/// ```
/// assert_eq!(benches::summary::format_throughput(Some(1 << 30), Some(1e9)), "1.00 GiB/s");
/// assert_eq!(benches::summary::format_throughput(None, Some(5.0)), "-");
/// ```
pub fn format_throughput(bytes: Option<u64>, ns: Option<f64>) -> String {
    match (bytes, ns) {
        (Some(bytes), Some(ns)) if ns > 0.0 => {
            #[allow(clippy::cast_precision_loss)] // bench sizes are far below 2^52
            let gib_per_s = bytes as f64 / ns * 1e9 / f64::from(1u32 << 30);
            if gib_per_s >= 100.0 {
                format!("{gib_per_s:.0} GiB/s")
            } else {
                format!("{gib_per_s:.2} GiB/s")
            }
        }
        (Some(_), _) => "n/a".to_owned(),
        (None, _) => "-".to_owned(),
    }
}

/// The timing table in Markdown.
pub fn render_timings(rows: &[Row]) -> String {
    let mut out = String::from(
        "| Measurement | Median | Throughput | Comparison (time ratio) |\n|---|---:|---:|---|\n",
    );
    for row in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            row.measurement,
            format_ns(row.median_ns),
            format_throughput(row.bytes, row.median_ns),
            row.comparison
        );
    }
    out
}

/// Allocations counted during one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allocations {
    /// Calls to `alloc`, `alloc_zeroed` and `realloc`.
    pub count: u64,
    /// Bytes asked for by those calls.
    pub bytes: u64,
}

/// The allocation table in Markdown: one row per (operation, counts).
pub fn render_allocations(rows: &[(String, Allocations)]) -> String {
    let mut out = String::from(
        "| Operation (typical request) | Allocations | Bytes allocated |\n|---|---:|---:|\n",
    );
    for (operation, allocations) in rows {
        let _ = writeln!(
            out,
            "| {operation} | {} | {} |",
            allocations.count, allocations.bytes
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_one_line_per_row() {
        let rows = [
            Row {
                measurement: "a".into(),
                median_ns: Some(100.0),
                bytes: None,
                comparison: format_ratio(Some(0.5)),
            },
            Row {
                measurement: "b".into(),
                median_ns: Some(2_000_000.0),
                bytes: Some(1 << 20),
                comparison: String::new(),
            },
        ];
        let table = render_timings(&rows);
        assert_eq!(table.lines().count(), 4);
        assert!(table.contains("| a | 100.0 ns | - | 0.50× |"), "{table}");
        assert!(table.contains("| b | 2.00 ms | 0.49 GiB/s |"), "{table}");
    }

    #[test]
    fn ratios_format_by_magnitude() {
        assert_eq!(format_ratio(Some(123.4)), "123×");
        assert_eq!(format_ratio(Some(12.34)), "12.3×");
        assert_eq!(format_ratio(Some(0.123)), "0.12×");
        assert_eq!(format_ratio(ratio(Some(1.0), Some(0.0))), "n/a");
    }

    #[test]
    fn durations_pick_their_unit() {
        assert_eq!(format_ns(Some(1.5e6)), "1.50 ms");
        assert_eq!(format_ns(Some(2.5e9)), "2.50 s");
    }

    #[test]
    fn allocation_rows() {
        let table = render_allocations(&[(
            "x".into(),
            Allocations {
                count: 3,
                bytes: 96,
            },
        )]);
        assert!(table.ends_with("| x | 3 | 96 |\n"), "{table}");
    }
}
