//! A two-level bitset over price levels: finds the next non-empty level in a few word scans.

#[derive(Debug, Clone)]
pub(crate) struct LevelBits {
    words: Vec<u64>,
    summary: Vec<u64>,
}

impl LevelBits {
    pub(crate) fn new(len: u32) -> LevelBits {
        let words = (len as usize).div_ceil(64).max(1);
        LevelBits { words: vec![0; words], summary: vec![0; words.div_ceil(64)] }
    }

    #[inline]
    pub(crate) fn set(&mut self, i: u32) {
        let w = (i / 64) as usize;
        self.words[w] |= 1 << (i % 64);
        self.summary[w / 64] |= 1 << (w % 64);
    }

    #[inline]
    pub(crate) fn clear(&mut self, i: u32) {
        let w = (i / 64) as usize;
        self.words[w] &= !(1 << (i % 64));
        if self.words[w] == 0 {
            self.summary[w / 64] &= !(1 << (w % 64));
        }
    }

    /// Lowest set index `>= start`.
    #[inline]
    pub(crate) fn first_at_or_above(&self, start: u32) -> Option<u32> {
        let w = (start / 64) as usize;
        if w >= self.words.len() {
            return None;
        }
        let m = self.words[w] & (!0u64 << (start % 64));
        if m != 0 {
            return Some((w * 64) as u32 + m.trailing_zeros());
        }
        let next = w + 1;
        let mut s = next / 64;
        if s >= self.summary.len() {
            return None;
        }
        let mut m = self.summary[s] & (!0u64 << (next % 64));
        loop {
            if m != 0 {
                let word = s * 64 + m.trailing_zeros() as usize;
                return Some((word * 64) as u32 + self.words[word].trailing_zeros());
            }
            s += 1;
            if s >= self.summary.len() {
                return None;
            }
            m = self.summary[s];
        }
    }

    /// Highest set index `<= start`.
    #[inline]
    pub(crate) fn last_at_or_below(&self, start: u32) -> Option<u32> {
        let mut w = (start / 64) as usize;
        let mut bit = start % 64;
        if w >= self.words.len() {
            w = self.words.len() - 1;
            bit = 63;
        }
        let m = self.words[w] & (!0u64 >> (63 - bit));
        if m != 0 {
            return Some((w * 64) as u32 + 63 - m.leading_zeros());
        }
        if w == 0 {
            return None;
        }
        let prev = w - 1;
        let mut s = prev / 64;
        let mut m = self.summary[s] & (!0u64 >> (63 - prev % 64));
        loop {
            if m != 0 {
                let word = s * 64 + 63 - m.leading_zeros() as usize;
                return Some((word * 64) as u32 + 63 - self.words[word].leading_zeros());
            }
            if s == 0 {
                return None;
            }
            s -= 1;
            m = self.summary[s];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::LevelBits;

    #[test]
    fn finds_neighbours_across_words_and_summary_blocks() {
        let len = 64 * 64 * 3 + 17;
        let mut bits = LevelBits::new(len);
        let set = [0u32, 5, 63, 64, 4095, 4096, 9000, len - 1];
        for &i in &set {
            bits.set(i);
        }
        for start in 0..len {
            let above = set.iter().copied().filter(|&i| i >= start).min();
            let below = set.iter().copied().filter(|&i| i <= start).max();
            assert_eq!(bits.first_at_or_above(start), above, "above {start}");
            assert_eq!(bits.last_at_or_below(start), below, "below {start}");
        }
        bits.clear(4096);
        bits.clear(4095);
        assert_eq!(bits.first_at_or_above(100), Some(9000));
        assert_eq!(bits.last_at_or_below(8999), Some(64));
    }
}
