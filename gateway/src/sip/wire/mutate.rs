//! Reproducible mutations of valid inputs, for the tests that check a one-pass parser against
//! the general one on the RFC vectors and on damaged copies of them.

/// Random edits from a fixed seed (xorshift64): the same seed gives the same inputs every run.
pub(crate) struct Mutator(u64);

impl Mutator {
    pub(crate) fn new(seed: u64) -> Self {
        Mutator(seed)
    }

    fn below(&mut self, n: usize) -> usize {
        let x = &mut self.0;
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        (*x % n as u64) as usize
    }

    /// One to three edits of `b`: a byte replaced, inserted or removed, new bytes taken from
    /// `alphabet`.
    pub(crate) fn mutate(&mut self, b: &mut Vec<u8>, alphabet: &[u8]) {
        for _ in 0..1 + self.below(3) {
            let at = self.below(b.len().max(1));
            let c = alphabet[self.below(alphabet.len())];
            match self.below(3) {
                0 if at < b.len() => b[at] = c,
                1 => b.insert(at.min(b.len()), c),
                _ if at < b.len() => {
                    b.remove(at);
                }
                _ => {}
            }
        }
    }
}
