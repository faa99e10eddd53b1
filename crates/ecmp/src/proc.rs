//! Running ubus and uci: argv only (no shell), a timeout, and a cap on
//! what we read, because netifd runs hotplug scripts one at a time and a
//! hung ubusd must not stall every later event on the router.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

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
                write!(f, "no answer within {:.1} s (killed)", t.as_secs_f64())
            }
            ProcError::TooLarge(n) => write!(f, "printed more than {n} bytes (killed)"),
            ProcError::Failed { status, stderr } if stderr.is_empty() => write!(f, "{status}"),
            ProcError::Failed { status, stderr } => write!(f, "{status}: {stderr}"),
        }
    }
}

/// Read at most `cap` bytes; true if the stream had more.
fn read_capped(mut r: impl Read, cap: usize) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let over = match r.by_ref().take(cap as u64 + 1).read_to_end(&mut out) {
        Ok(_) => out.len() > cap,
        Err(_) => false,
    };
    out.truncate(cap);
    (out, over)
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
    let (tx, rx) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        std::thread::spawn(move || {
            let _ = tx.send(read_capped(out, cap));
        });
    }
    let stderr = child.stderr.take();
    let (stdout, over) = match rx.recv_timeout(timeout) {
        Ok(r) => r,
        Err(_) => {
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
    // stdout is closed, so the program is exiting; stderr is bounded and
    // read only now, after stdout, so a chatty stderr cannot block it long.
    let err = stderr.map(|e| read_capped(e, 4096).0).unwrap_or_default();
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
    fn flood_is_capped() {
        assert_eq!(
            sh("exec yes", 5000, 1 << 20),
            Err(ProcError::TooLarge(1 << 20))
        );
    }
}
