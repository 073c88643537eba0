//! Maps the wall clock onto kernel time, sped up or slowed down by `--time-scale`.

use std::time::Instant;

use orrery_kernel::Time;

/// Kernel time = anchor + (wall time elapsed since start) × scale; a frozen clock stays at
/// its anchor until it is set.
#[derive(Clone, Debug)]
pub struct Clock {
    anchor_wall: Instant,
    anchor_kernel: Time,
    scale: f64,
    frozen: bool,
}

impl Clock {
    /// A clock that starts at `start` and runs `scale` times as fast as the wall clock.
    pub fn new(start: Time, scale: f64) -> Clock {
        assert!(scale.is_finite() && scale > 0.0, "time scale must be positive");
        Clock { anchor_wall: Instant::now(), anchor_kernel: start, scale, frozen: false }
    }

    /// A clock stopped at `at`: kernel time moves only by [`Clock::set`]. For tests and tools
    /// that step the cloud through given times, as a journal or the simulator does.
    pub fn frozen(at: Time) -> Clock {
        Clock { anchor_wall: Instant::now(), anchor_kernel: at, scale: 1.0, frozen: true }
    }

    /// Moves a frozen clock to `at` (a running clock restarts from `at`).
    pub fn set(&mut self, at: Time) {
        self.anchor_wall = Instant::now();
        self.anchor_kernel = at;
    }

    /// The current kernel time.
    pub fn now(&self) -> Time {
        if self.frozen {
            return self.anchor_kernel;
        }
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

    #[test]
    fn a_frozen_clock_moves_only_when_set() {
        let mut c = Clock::frozen(Time(5));
        std::thread::sleep(std::time::Duration::from_millis(1));
        assert_eq!(c.now(), Time(5));
        c.set(Time(9));
        assert_eq!(c.now(), Time(9));
    }
}
