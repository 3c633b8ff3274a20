//! Throttling of failed logins, per account name and per client address: after too
//! many failures within a window, further attempts are refused with 429 and a
//! `Retry-After` until the oldest failure leaves the window. Failures for names that do
//! not exist count too, so the limiter does not tell which names exist.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct LimiterSettings {
    pub window: Duration,
    pub per_account: usize,
    pub per_address: usize,
}

impl Default for LimiterSettings {
    fn default() -> Self {
        LimiterSettings { window: Duration::from_secs(15 * 60), per_account: 5, per_address: 20 }
    }
}

/// Most keys remembered; past it, the oldest-failing keys are dropped first (an
/// attacker spraying names cannot grow memory without bound).
const MAX_KEYS: usize = 100_000;

pub struct LoginLimiter {
    settings: LimiterSettings,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginLimiter {
    pub fn new(settings: LimiterSettings) -> LoginLimiter {
        LoginLimiter { settings, failures: Mutex::new(HashMap::new()) }
    }

    fn keys(account: &str, address: &str) -> [(String, bool); 2] {
        [(format!("account:{}", account.to_lowercase()), true), (format!("address:{address}"), false)]
    }

    /// `Some(seconds to wait)` when a login for `account` from `address` must be refused.
    pub fn check(&self, account: &str, address: &str, now: Instant) -> Option<u64> {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let mut wait = None::<Duration>;
        for (key, is_account) in Self::keys(account, address) {
            let limit = if is_account { self.settings.per_account } else { self.settings.per_address };
            if let Some(times) = map.get_mut(&key) {
                while times.front().is_some_and(|t| now.duration_since(*t) >= self.settings.window) {
                    times.pop_front();
                }
                if times.len() >= limit
                    && let Some(oldest) = times.front()
                {
                    let left = self.settings.window.saturating_sub(now.duration_since(*oldest));
                    wait = Some(wait.map_or(left, |w| w.max(left)));
                }
            }
        }
        wait.map(|w| w.as_secs().max(1))
    }

    pub fn record_failure(&self, account: &str, address: &str, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_KEYS {
            let window = self.settings.window;
            map.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) < window));
            if map.len() >= MAX_KEYS {
                map.clear();
            }
        }
        for (key, _) in Self::keys(account, address) {
            map.entry(key).or_default().push_back(now);
        }
    }

    /// A successful login clears the account's failures (not the address's).
    pub fn record_success(&self, account: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&format!("account:{}", account.to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> LoginLimiter {
        LoginLimiter::new(LimiterSettings { window: Duration::from_secs(60), per_account: 3, per_address: 5 })
    }

    #[test]
    fn an_account_is_throttled_after_its_limit_until_the_window_passes() {
        let l = limiter();
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(l.check("alice", "1.1.1.1", t0), None, "attempt {i}");
            l.record_failure("alice", "1.1.1.1", t0 + Duration::from_secs(i));
        }
        assert_eq!(l.check("ALICE", "2.2.2.2", t0 + Duration::from_secs(10)), Some(50), "any address, any case");
        assert_eq!(l.check("bob", "2.2.2.2", t0 + Duration::from_secs(10)), None);
        assert_eq!(l.check("alice", "1.1.1.1", t0 + Duration::from_secs(60)), None, "the oldest failure expired");
    }

    #[test]
    fn an_address_is_throttled_across_accounts() {
        let l = limiter();
        let t0 = Instant::now();
        for i in 0..5 {
            l.record_failure(&format!("user{i}"), "9.9.9.9", t0);
        }
        assert!(l.check("someone-else", "9.9.9.9", t0).is_some());
        assert_eq!(l.check("someone-else", "8.8.8.8", t0), None);
    }

    #[test]
    fn success_clears_the_account() {
        let l = limiter();
        let t0 = Instant::now();
        for _ in 0..3 {
            l.record_failure("alice", "1.1.1.1", t0);
        }
        l.record_success("alice");
        assert_eq!(l.check("alice", "3.3.3.3", t0), None);
    }
}
