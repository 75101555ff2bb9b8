//! Helpers shared by the protocol tests.

/// Small deterministic PRNG for reproducible random splits.
pub(crate) struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Splits `data` into pieces of random length in `1..=max_piece`.
pub(crate) fn random_split<'a>(data: &'a [u8], rng: &mut XorShift, max_piece: usize) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let n = 1 + rng.below(max_piece.min(rest.len()));
        let (a, b) = rest.split_at(n);
        out.push(a);
        rest = b;
    }
    out
}
