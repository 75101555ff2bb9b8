//! Explicit-bucket histograms: the aggregation behind every duration and size metric.

/// Semantic-convention buckets for HTTP and RPC durations, in seconds.
pub const DURATION_BOUNDS_S: &[f64] =
    &[0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0];

/// The same buckets in milliseconds, for the older `rpc.*.duration` metrics (unit `ms`).
pub const DURATION_BOUNDS_MS: &[f64] =
    &[5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0, 10000.0];

/// Body sizes in bytes: powers of four from 0 to 16 MiB (semantic conventions give no buckets
/// for sizes; the SDK default tops out at 10 000, too small for bodies).
pub const SIZE_BOUNDS_BY: &[f64] =
    &[0.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0];

/// Counts per bucket plus count, sum, min and max. Bucket `i` holds values in
/// `(bounds[i-1], bounds[i]]`; the last one everything above the last bound (OTLP layout).
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    bounds: &'static [f64],
    /// `bounds.len() + 1` counts.
    counts: Box<[u64]>,
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: vec![0; bounds.len() + 1].into_boxed_slice(),
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    /// Records one value; NaN is ignored (the caller never produces it, but one bad value
    /// must not poison the sum).
    pub fn record(&mut self, v: f64) {
        if v.is_nan() {
            return;
        }
        let i = self.bounds.partition_point(|b| *b < v);
        self.counts[i] += 1;
        self.count += 1;
        self.sum += v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    /// Adds another histogram with the same bounds (used for the overflow series).
    pub fn merge(&mut self, other: &Histogram) {
        if other.bounds != self.bounds {
            return;
        }
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// The same counts with every value multiplied by `factor`, over `bounds` (which must be the
    /// old bounds times `factor`): seconds to milliseconds for the older RPC metrics.
    pub fn scaled(&self, factor: f64, bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: self.counts.clone(),
            count: self.count,
            sum: self.sum * factor,
            min: self.min * factor,
            max: self.max * factor,
        }
    }

    pub fn bounds(&self) -> &'static [f64] {
        self.bounds
    }

    pub fn bucket_counts(&self) -> &[u64] {
        &self.counts
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// `None` when nothing was recorded.
    pub fn min(&self) -> Option<f64> {
        (self.count > 0).then_some(self.min)
    }

    pub fn max(&self) -> Option<f64> {
        (self.count > 0).then_some(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_land_in_otlp_buckets() {
        let mut h = Histogram::new(DURATION_BOUNDS_S);
        for v in [0.001, 0.005, 0.0051, 10.0, 11.0, f64::NAN] {
            h.record(v);
        }
        let c = h.bucket_counts();
        assert_eq!(c.len(), DURATION_BOUNDS_S.len() + 1);
        assert_eq!(c[0], 2, "upper bounds are inclusive");
        assert_eq!(c[1], 1);
        assert_eq!(c[DURATION_BOUNDS_S.len() - 1], 1);
        assert_eq!(c[DURATION_BOUNDS_S.len()], 1);
        assert_eq!(h.count(), 5);
        assert_eq!(h.min(), Some(0.001));
        assert_eq!(h.max(), Some(11.0));
        assert!((h.sum() - 21.0111).abs() < 1e-9);
    }

    #[test]
    fn merge_adds_and_empty_has_no_min() {
        let mut a = Histogram::new(SIZE_BOUNDS_BY);
        assert_eq!(a.min(), None);
        let mut b = Histogram::new(SIZE_BOUNDS_BY);
        b.record(100.0);
        b.record(0.0);
        a.record(5000.0);
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert_eq!(a.bucket_counts()[0], 1);
        assert_eq!(a.bucket_counts()[2], 1);
        assert_eq!(a.bucket_counts()[5], 1);
        assert_eq!((a.min(), a.max()), (Some(0.0), Some(5000.0)));
    }
}
