//! Reproducible mutations of valid inputs, for the tests that check a one-pass parser against
//! the general one on the RFC vectors and on damaged copies of them.

/// Random edits from a fixed seed (xorshift64): the same seed gives the same inputs every run.
pub(crate) struct Mutator(u64);

impl Mutator {
    pub(crate) fn new(seed: u64) -> Self {
        Mutator(seed)
    }

    /// The next state of the generator.
    pub(crate) fn next(&mut self) -> u64 {
        let x = &mut self.0;
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
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

/// `len` characters of `alphabet` drawn from `seed` (a linear congruential sequence), for
/// random short inputs over the bytes that matter to a grammar.
pub(crate) fn chars(seed: u64, alphabet: &[u8], len: usize) -> impl Iterator<Item = char> + '_ {
    let mut y = seed;
    (0..len).map(move |_| {
        y = y
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        alphabet[(y >> 33) as usize % alphabet.len()] as char
    })
}
