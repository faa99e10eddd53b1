//! Running ubus and uci: argv only (no shell), a timeout, and a cap on
//! what we read, because netifd runs hotplug scripts one at a time and a
//! hung ubusd must not stall every later event on the router.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What went wrong running a helper program; the caller adds context.
#[derive(Debug, PartialEq, Eq)]
pub enum ProcError {
    Spawn(String),
    Timeout(Duration),
    TooLarge(usize),
    Failed { status: String, stderr: String },
}

impl std::fmt::Display for ProcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProcError::Spawn(e) => write!(f, "cannot run: {e}"),
            ProcError::Timeout(t) => {
                let ms = t.as_secs() * 1000 + u64::from(t.subsec_millis());
                write!(
                    f,
                    "no answer within {}.{} s (killed)",
                    ms / 1000,
                    ms % 1000 / 100
                )
            }
            ProcError::TooLarge(n) => write!(f, "printed more than {n} bytes (killed)"),
            ProcError::Failed { status, stderr } if stderr.is_empty() => write!(f, "{status}"),
            ProcError::Failed { status, stderr } => write!(f, "{status}: {stderr}"),
        }
    }
}

/// Read `out` to its end, at most `cap` bytes (true if there was more),
/// waiting with poll(2) so that `deadline` holds however the program
/// behaves. Err: the deadline passed. (No reader thread: threads cost a
/// router binary 10 KB.)
fn read_until<R: Read + AsRawFd>(
    mut out: R,
    cap: usize,
    deadline: Instant,
) -> Result<(Vec<u8>, bool), ()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 << 10];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(());
        }
        let mut pfd = libc::pollfd {
            fd: out.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // u64 arithmetic: as_millis() is u128, whose division costs a
        // router binary 2 KB.
        let ms = (left.as_secs().saturating_mul(1000) + u64::from(left.subsec_millis()))
            .clamp(1, i32::MAX as u64) as i32;
        // SAFETY: one valid pollfd for the duration of the call.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(());
        }
        if r == 0 {
            continue; // the deadline check above ends it
        }
        match out.read(&mut chunk) {
            Ok(0) => return Ok((buf, false)),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > cap {
                    buf.truncate(cap);
                    return Ok((buf, true));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Ok((buf, false)),
        }
    }
}

/// Run `program args...` with empty stdin, return its stdout. Fails if it
/// cannot start, exits non-zero, prints more than `cap` bytes, or has not
/// finished within `timeout` (it is killed then).
pub fn run(
    program: &Path,
    args: &[&str],
    timeout: Duration,
    cap: usize,
) -> Result<Vec<u8>, ProcError> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| ProcError::Spawn(e.to_string()))?;
    let stderr = child.stderr.take();
    let deadline = Instant::now() + timeout;
    let read = match child.stdout.take() {
        Some(out) => read_until(out, cap, deadline),
        None => Ok((Vec::new(), false)),
    };
    let (stdout, over) = match read {
        Ok(r) => r,
        Err(()) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(ProcError::Timeout(timeout));
        }
    };
    if over {
        let _ = child.kill();
        let _ = child.wait();
        return Err(ProcError::TooLarge(cap));
    }
    // stdout is closed, so the program is exiting; stderr is read only
    // now, bounded in size and by the same deadline.
    let err = match stderr.map(|e| read_until(e, 4096, deadline)) {
        Some(Ok((e, _))) => e,
        Some(Err(())) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(ProcError::Timeout(timeout));
        }
        None => Vec::new(),
    };
    let status = child.wait().map_err(|e| ProcError::Spawn(e.to_string()))?;
    if !status.success() {
        let stderr = String::from_utf8_lossy(&err)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        return Err(ProcError::Failed {
            status: status.to_string(),
            stderr,
        });
    }
    Ok(stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, timeout_ms: u64, cap: usize) -> Result<Vec<u8>, ProcError> {
        run(
            Path::new("/bin/sh"),
            &["-c", script],
            Duration::from_millis(timeout_ms),
            cap,
        )
    }

    #[test]
    fn output_and_failures() {
        assert_eq!(sh("echo hi", 5000, 100).unwrap(), b"hi\n");
        let e = sh("echo oops >&2; exit 3", 5000, 100).unwrap_err();
        assert_eq!(e.to_string(), "exit status: 3: oops");
        assert!(matches!(
            run(
                Path::new("/nonexistent/ubus"),
                &[],
                Duration::from_secs(1),
                10
            ),
            Err(ProcError::Spawn(_))
        ));
    }

    #[test]
    fn hang_is_killed_at_the_timeout() {
        let t = std::time::Instant::now();
        assert_eq!(
            sh("exec sleep 30", 200, 100),
            Err(ProcError::Timeout(Duration::from_millis(200)))
        );
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn closing_stdout_but_hanging_on_stderr_is_killed_too() {
        let t = std::time::Instant::now();
        assert_eq!(
            sh("exec >&-; sleep 30", 300, 100),
            Err(ProcError::Timeout(Duration::from_millis(300)))
        );
        assert!(t.elapsed() < Duration::from_secs(5));
        assert_eq!(
            ProcError::Timeout(Duration::from_millis(2500)).to_string(),
            "no answer within 2.5 s (killed)"
        );
    }

    #[test]
    fn flood_is_capped() {
        assert_eq!(
            sh("exec yes", 5000, 1 << 20),
            Err(ProcError::TooLarge(1 << 20))
        );
    }
}
