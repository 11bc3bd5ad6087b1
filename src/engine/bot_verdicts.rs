//! Remembered bot verdicts per user agent. Exists because matching a user
//! agent against the model's bot substrings is about a thousand
//! instructions, and real traffic repeats a few hundred user agents over
//! and over; a lookup by hash is a few dozen. The verdict is still the
//! model's (`Model::is_bot`): this only remembers it, so outputs do not
//! depend on what is remembered.

use std::collections::HashMap;

use xxhash_rust::xxh3::xxh3_64;

use super::hashed_key::PreHashed;
use crate::model::Model;

/// User agents remembered at most; the memory is forgotten when full.
const CAPACITY: usize = 4096;

/// User agent (by hash, with its text to rule out collisions) -> is a bot.
#[derive(Debug, Default)]
pub(crate) struct BotVerdicts {
    seen: HashMap<u64, (Box<str>, bool), PreHashed>,
}

impl BotVerdicts {
    /// Whether `user_agent` is a known bot under `model`.
    #[inline]
    pub(crate) fn is_bot(&mut self, model: &Model, user_agent: &str) -> bool {
        let h = xxh3_64(user_agent.as_bytes());
        if let Some((ua, verdict)) = self.seen.get(&h) {
            if **ua == *user_agent {
                return *verdict;
            }
        }
        let verdict = model.is_bot(user_agent);
        if self.seen.len() >= CAPACITY {
            self.seen.clear();
        }
        self.seen.insert(h, (Box::from(user_agent), verdict));
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_verdicts_are_the_models() {
        let m = Model::builtin();
        let mut v = BotVerdicts::default();
        for _ in 0..2 {
            for i in 0..(CAPACITY + 10) {
                let ua = if i % 3 == 0 {
                    format!("Googlebot/{i}")
                } else {
                    format!("Mozilla/5.0 ({i})")
                };
                assert_eq!(v.is_bot(&m, &ua), m.is_bot(&ua), "{ua}");
            }
        }
    }
}
