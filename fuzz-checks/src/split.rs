//! Where to cut an input for the split-invariance checks.

/// Up to three cut points derived from the input itself, so that the fuzzer explores them
/// along with the bytes; each lies inside `0..=len`.
pub fn cut_points(data: &[u8]) -> Vec<usize> {
    let len = data.len();
    if len == 0 {
        return vec![0];
    }
    let seed = data.iter().take(8).fold(0usize, |acc, &b| {
        acc.wrapping_mul(31).wrapping_add(usize::from(b))
    });
    let mut cuts = vec![seed % (len + 1), (seed / 7) % (len + 1), len / 2];
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

/// `data` cut at `cuts` (sorted, each ≤ len).
pub fn pieces<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for &cut in cuts {
        out.push(&data[start..cut]);
        start = cut;
    }
    out.push(&data[start..]);
    out
}
