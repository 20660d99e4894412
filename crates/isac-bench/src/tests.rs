use std::time::Duration;

use crate::corpus::{shared_cve, unique_value};
use crate::stats::{median, percentile};

fn ms(v: &[u64]) -> Vec<Duration> {
    v.iter().map(|&m| Duration::from_millis(m)).collect()
}

#[test]
fn percentiles_are_nearest_rank() {
    let s = ms(&[5, 1, 4, 2, 3]);
    assert_eq!(percentile(&s, 50.0), Duration::from_millis(3));
    assert_eq!(percentile(&s, 99.0), Duration::from_millis(5));
    assert_eq!(percentile(&s, 0.0), Duration::from_millis(1));
    let hundred: Vec<u64> = (1..=100).collect();
    assert_eq!(percentile(&ms(&hundred), 99.0), Duration::from_millis(99));
    assert_eq!(percentile(&[], 50.0), Duration::ZERO);
}

#[test]
fn median_of_even_and_odd_counts() {
    assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    assert_eq!(median(&[]), 0.0);
}

#[test]
fn corpus_values_are_unique_and_cves_shared_by_one_in_ten_thousand() {
    let values: std::collections::BTreeSet<String> = (0..30_000).map(unique_value).collect();
    assert_eq!(values.len(), 30_000);
    let citing = (0..1_000_000u64)
        .filter(|&i| shared_cve(i).as_deref() == Some("CVE-2024-10500"))
        .count();
    assert_eq!(citing, 100);
}
