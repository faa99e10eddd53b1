//! One run at a time. netifd runs hotplug events one after another, but a
//! manual run (or ecmp4 next to ecmp6: both take nexthop IDs from one
//! range) can overlap an event. An flock(2) on one file serialises them;
//! the wait is bounded so that netifd's queue never stalls behind a stuck
//! run. The lock goes with the process, however it ends.

use crate::Error;
use std::fs::{File, OpenOptions};
use std::path::Path;
use std::time::{Duration, Instant};

pub const DEFAULT_LOCK: &str = "/var/run/ecmp-hotplug.lock";
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// Held until dropped.
pub struct Lock(#[allow(dead_code)] File);

impl Lock {
    pub fn acquire(path: &Path, wait: Duration) -> Result<Lock, Error> {
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            // A missing or read-only directory is the setup's fault, not
            // another run's: exit 3, not 7. Refused: not root (exit 2,
            // the environment is unusable).
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::PermissionDenied => Error::Usage(format!(
                    "run as root: lock file {}: permission denied",
                    path.display()
                )),
                _ => Error::Config(format!(
                    "lock file {}: {e} (its directory must exist and be writable; --lock-file)",
                    path.display()
                )),
            })?;
        let deadline = Instant::now() + wait;
        loop {
            match f.try_lock() {
                Ok(()) => return Ok(Lock(f)),
                Err(std::fs::TryLockError::WouldBlock) => {}
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(Error::Config(format!("lock {}: {e}", path.display())))
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::Busy(format!(
                    "another ecmp4/ecmp6 run held {} for {} s; gave up",
                    path.display(),
                    wait.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_waits_then_gives_up() {
        let p = std::env::temp_dir().join(format!("ecmp-lock-{}", std::process::id()));
        let a = Lock::acquire(&p, Duration::from_millis(10)).unwrap();
        let t = Instant::now();
        let e = Lock::acquire(&p, Duration::from_millis(200)).err().unwrap();
        assert!(t.elapsed() >= Duration::from_millis(200));
        assert_eq!(e.exit_code(), 7);
        drop(a);
        assert!(Lock::acquire(&p, Duration::from_millis(10)).is_ok());
        let e = Lock::acquire(Path::new("/nonexistent/dir/lock"), DEFAULT_WAIT)
            .err()
            .unwrap();
        assert!(e.to_string().contains("/nonexistent/dir/lock"), "{e}");
        assert_eq!(e.exit_code(), 3, "a missing directory is not contention");
        let _ = std::fs::remove_file(&p);
    }
}
