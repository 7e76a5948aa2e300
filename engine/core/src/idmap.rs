//! An open-addressing map from `u64` keys to `u32` slots with a fixed capacity: no allocation
//! after construction and no iteration (so no hash order can leak into the engine's output).

#[derive(Debug, Clone)]
pub(crate) struct IdMap {
    keys: Vec<u64>,
    values: Vec<u32>,
    shift: u32,
    mask: usize,
}

const VACANT: u64 = u64::MAX;

impl IdMap {
    /// Room for `entries` keys at a load factor of at most one half.
    pub(crate) fn with_capacity(entries: usize) -> IdMap {
        let cap = (entries.max(8) * 2).next_power_of_two();
        IdMap { keys: vec![VACANT; cap], values: vec![0; cap], shift: 64 - cap.trailing_zeros(), mask: cap - 1 }
    }

    #[inline]
    fn home(&self, key: u64) -> usize {
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    #[inline]
    pub(crate) fn get(&self, key: u64) -> Option<u32> {
        let mut i = self.home(key);
        loop {
            let k = self.keys[i];
            if k == key {
                return Some(self.values[i]);
            }
            if k == VACANT {
                return None;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Inserts or overwrites. The caller keeps the number of keys within the capacity.
    #[inline]
    pub(crate) fn insert(&mut self, key: u64, value: u32) {
        debug_assert_ne!(key, VACANT);
        let mut i = self.home(key);
        loop {
            let k = self.keys[i];
            if k == key || k == VACANT {
                self.keys[i] = key;
                self.values[i] = value;
                return;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Removes with backward-shift deletion (no tombstones).
    #[inline]
    pub(crate) fn remove(&mut self, key: u64) -> Option<u32> {
        let mut i = self.home(key);
        loop {
            let k = self.keys[i];
            if k == VACANT {
                return None;
            }
            if k == key {
                break;
            }
            i = (i + 1) & self.mask;
        }
        let value = self.values[i];
        let mut hole = i;
        let mut j = (i + 1) & self.mask;
        loop {
            let k = self.keys[j];
            if k == VACANT {
                break;
            }
            let home = self.home(k);
            // Move `j` into the hole unless its home lies cyclically in (hole, j].
            let stays = if hole <= j { hole < home && home <= j } else { hole < home || home <= j };
            if !stays {
                self.keys[hole] = k;
                self.values[hole] = self.values[j];
                hole = j;
            }
            j = (j + 1) & self.mask;
        }
        self.keys[hole] = VACANT;
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::IdMap;

    #[test]
    fn insert_get_remove_agree_with_a_model() {
        let mut map = IdMap::with_capacity(512);
        let mut model = std::collections::BTreeMap::new();
        let mut x: u64 = 7;
        for step in 0..200_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = x % 700;
            if x.is_multiple_of(3) || model.len() >= 512 {
                assert_eq!(map.remove(key), model.remove(&key), "step {step}");
            } else {
                map.insert(key, step);
                model.insert(key, step);
            }
            assert_eq!(map.get(key), model.get(&key).copied());
        }
        for key in 0..700 {
            assert_eq!(map.get(key), model.get(&key).copied());
        }
    }
}
