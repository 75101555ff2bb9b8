//! Cardinality control: a bounded number of series per metric family per service, with
//! everything beyond the cap folded into one overflow series (`otel.metric.overflow=true`).

use crate::fast_map::FastMap;
use std::hash::Hash;

/// Up to `cap` keyed series, then one overflow series.
#[derive(Debug, Clone)]
pub struct Capped<K, V> {
    series: FastMap<K, V>,
    overflow: Option<V>,
    cap: usize,
}

/// Where a recorded value went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Series,
    Overflow,
}

impl<K: Hash + Eq, V> Capped<K, V> {
    pub fn new(cap: usize) -> Self {
        Capped { series: FastMap::default(), overflow: None, cap }
    }

    /// The series for `key`, created with `new` if the cap allows, else the overflow series.
    pub fn slot(&mut self, key: K, new: impl FnOnce() -> V) -> (&mut V, Slot) {
        if self.series.len() < self.cap || self.series.contains_key(&key) {
            return (self.series.entry(key).or_insert_with(new), Slot::Series);
        }
        (self.overflow.get_or_insert_with(new), Slot::Overflow)
    }

    pub fn series(&self) -> impl Iterator<Item = (&K, &V)> {
        self.series.iter()
    }

    pub fn overflow(&self) -> Option<&V> {
        self.overflow.as_ref()
    }

    pub fn len(&self) -> usize {
        self.series.len() + usize::from(self.overflow.is_some())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every series (delta temporality: each export starts empty).
    pub fn clear(&mut self) {
        self.series.clear();
        self.overflow = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beyond_the_cap_goes_to_one_overflow_series() {
        let mut c: Capped<u32, u64> = Capped::new(3);
        for k in 0..10 {
            let (v, slot) = c.slot(k, || 0);
            *v += 1;
            assert_eq!(slot, if k < 3 { Slot::Series } else { Slot::Overflow });
        }
        // Known keys keep their series after the cap is reached.
        let (v, slot) = c.slot(1, || 0);
        *v += 1;
        assert_eq!(slot, Slot::Series);
        assert_eq!(c.len(), 4);
        assert_eq!(c.overflow(), Some(&7));
        assert_eq!(c.series().map(|(_, v)| *v).sum::<u64>(), 4);
        c.clear();
        assert!(c.is_empty());
    }
}
