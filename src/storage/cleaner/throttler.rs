//! `log.cleaner.io.max.bytes.per.second`: one throttle shared by every
//! cleaner thread (Kafka's `Throttler`): bytes read and written are counted
//! over periods of at least 300 ms, and a period that ran faster than the
//! rate sleeps the difference. Sleeps end early on shutdown.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::StopSignal;

const CHECK_INTERVAL: Duration = Duration::from_millis(300);

#[derive(Debug)]
struct Period {
    start: Instant,
    observed: f64,
}

#[derive(Debug)]
pub struct Throttler {
    /// Bytes per second; infinite (or non-positive) disables throttling.
    rate: Mutex<f64>,
    period: Mutex<Period>,
}

impl Throttler {
    pub fn new(rate: f64) -> Self {
        Throttler { rate: Mutex::new(rate), period: Mutex::new(Period { start: Instant::now(), observed: 0.0 }) }
    }

    /// A new rate (dynamic broker config).
    pub fn set_rate(&self, rate: f64) {
        *self.rate.lock().expect("throttler") = rate;
    }

    fn rate(&self) -> f64 {
        *self.rate.lock().expect("throttler")
    }

    /// Accounts `bytes` and sleeps if the current period ran too fast.
    /// Holding the period lock while sleeping also holds back the other
    /// cleaner threads, as Kafka's synchronized throttler does.
    pub fn maybe_throttle(&self, bytes: u64, stop: &StopSignal) {
        let rate = self.rate();
        if !rate.is_finite() || rate <= 0.0 {
            return;
        }
        let mut p = self.period.lock().expect("throttler");
        p.observed += bytes as f64;
        let elapsed = p.start.elapsed();
        if elapsed > CHECK_INTERVAL && p.observed > 0.0 {
            let secs = elapsed.as_secs_f64();
            if p.observed / secs > rate {
                let sleep = p.observed / rate - secs;
                if sleep > 0.0 {
                    stop.wait(Duration::from_secs_f64(sleep));
                }
            }
            p.start = Instant::now();
            p.observed = 0.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_the_average_rate() {
        let stop = StopSignal::default();
        let t = Throttler::new(1_000_000.0);
        let start = Instant::now();
        // 600 KB at 1 MB/s takes about 0.6 s.
        for _ in 0..60 {
            t.maybe_throttle(10_000, &stop);
        }
        std::thread::sleep(CHECK_INTERVAL + Duration::from_millis(10));
        t.maybe_throttle(1, &stop);
        assert!(start.elapsed() >= Duration::from_millis(550), "{:?}", start.elapsed());
        // Unlimited: never sleeps.
        let t = Throttler::new(f64::MAX);
        let start = Instant::now();
        for _ in 0..1000 {
            t.maybe_throttle(1 << 30, &stop);
        }
        assert!(start.elapsed() < Duration::from_millis(100));
    }
}
