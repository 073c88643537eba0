//! Maps the wall clock onto kernel time, sped up or slowed down by `--time-scale`.

use std::time::Instant;

use orrery_kernel::Time;

/// Kernel time = anchor + (wall time elapsed since start) × scale.
#[derive(Clone, Debug)]
pub struct Clock {
    anchor_wall: Instant,
    anchor_kernel: Time,
    scale: f64,
}

impl Clock {
    /// A clock that starts at `start` and runs `scale` times as fast as the wall clock.
    pub fn new(start: Time, scale: f64) -> Clock {
        assert!(scale.is_finite() && scale > 0.0, "time scale must be positive");
        Clock { anchor_wall: Instant::now(), anchor_kernel: start, scale }
    }

    /// The current kernel time.
    pub fn now(&self) -> Time {
        let elapsed = self.anchor_wall.elapsed().as_micros() as f64 * self.scale;
        Time(self.anchor_kernel.0 + elapsed as u64)
    }
}

/// The wall clock as kernel time (microseconds since the Unix epoch).
pub fn wall_now() -> Time {
    orrery_api::cloud::wall_now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_forward_scaled() {
        let c = Clock::new(Time(1_000), 1000.0);
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(c.now().0 >= 1_000 + 2_000_000);
    }
}
