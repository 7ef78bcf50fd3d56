//! A small deterministic generator for the property tests: xorshift64*, fixed
//! seeds, so a failure reproduces.

pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A lower-case word of 1 to 8 letters.
    pub(crate) fn word(&mut self) -> String {
        (0..1 + self.below(8))
            .map(|_| (b'a' + self.below(26) as u8) as char)
            .collect()
    }
}
