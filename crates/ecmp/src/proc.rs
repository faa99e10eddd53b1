//! Running ubus and uci: argv only (no shell), a timeout, and a cap on
//! what we read, because netifd runs hotplug scripts one at a time and a
//! hung ubusd must not stall every later event on the router.

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

/// One pipe to the child in the poll loop.
struct Pipe {
    fd: Option<std::os::fd::OwnedFd>,
    buf: Vec<u8>,
    cap: usize,
    over: bool,
}

fn nonblocking(fd: &impl AsRawFd) {
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let fl = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
}

/// Milliseconds left until `deadline`, for poll(2). u64 arithmetic:
/// as_millis() is u128, whose division costs a router binary 2 KB.
fn ms_left(deadline: Instant) -> Option<i32> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return None;
    }
    Some(
        (left.as_secs().saturating_mul(1000) + u64::from(left.subsec_millis()))
            .clamp(1, i32::MAX as u64) as i32,
    )
}

/// Run `program args...`, feeding it `stdin` (or nothing), and return its
/// stdout. Fails if it cannot start, exits non-zero, prints more than
/// `cap` bytes, or has not finished within `timeout` (it is killed then):
/// writing its input, reading its output and waiting for its exit all
/// count against the one deadline, with poll(2) (no reader thread: a
/// thread costs a router binary 10 KB).
pub fn run(
    program: &Path,
    args: &[&str],
    stdin: Option<&[u8]>,
    timeout: Duration,
    cap: usize,
) -> Result<Vec<u8>, ProcError> {
    exec(program, args, stdin, timeout, cap).map(|(out, _)| out)
}

fn exec(
    program: &Path,
    args: &[&str],
    stdin: Option<&[u8]>,
    timeout: Duration,
    cap: usize,
) -> Result<(Vec<u8>, Vec<u8>), ProcError> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| ProcError::Spawn(e.to_string()))?;
    let deadline = Instant::now() + timeout;
    let kill = |child: &mut std::process::Child, e: ProcError| {
        let _ = child.kill();
        let _ = child.wait();
        Err(e)
    };
    let mut input = child.stdin.take().map(std::os::fd::OwnedFd::from);
    let mut left = stdin.unwrap_or_default();
    if let Some(i) = &input {
        nonblocking(i);
    }
    let mut pipes = [
        Pipe {
            fd: child.stdout.take().map(std::os::fd::OwnedFd::from),
            buf: Vec::new(),
            cap,
            over: false,
        },
        Pipe {
            fd: child.stderr.take().map(std::os::fd::OwnedFd::from),
            buf: Vec::new(),
            cap: 4096,
            over: false,
        },
    ];
    let mut chunk = [0u8; 16 << 10];
    loop {
        if left.is_empty() {
            input = None; // EOF for the child
        }
        let mut fds = Vec::with_capacity(3);
        for p in &pipes {
            if let Some(fd) = &p.fd {
                fds.push(libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
        }
        if let Some(i) = &input {
            fds.push(libc::pollfd {
                fd: i.as_raw_fd(),
                events: libc::POLLOUT,
                revents: 0,
            });
        }
        if fds.is_empty() {
            break;
        }
        let Some(ms) = ms_left(deadline) else {
            return kill(&mut child, ProcError::Timeout(timeout));
        };
        // SAFETY: valid pollfds for the duration of the call.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if r < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return kill(
                &mut child,
                ProcError::Spawn(std::io::Error::last_os_error().to_string()),
            );
        }
        if r <= 0 {
            continue; // the deadline check above ends it
        }
        for f in &fds {
            if f.revents == 0 {
                continue;
            }
            if input.as_ref().is_some_and(|i| i.as_raw_fd() == f.fd) {
                // SAFETY: writing from our own slice.
                let n =
                    unsafe { libc::write(f.fd, left.as_ptr() as *const libc::c_void, left.len()) };
                if n > 0 {
                    left = &left[n as usize..];
                } else if n < 0
                    && std::io::Error::last_os_error().kind() != std::io::ErrorKind::WouldBlock
                {
                    left = &[]; // the child closed its input
                }
                continue;
            }
            let Some(p) = pipes
                .iter_mut()
                .find(|p| p.fd.as_ref().is_some_and(|d| d.as_raw_fd() == f.fd))
            else {
                continue;
            };
            // SAFETY: reading into our own buffer of its length.
            let n =
                unsafe { libc::read(f.fd, chunk.as_mut_ptr() as *mut libc::c_void, chunk.len()) };
            if n > 0 {
                p.buf.extend_from_slice(&chunk[..n as usize]);
                if p.buf.len() > p.cap {
                    p.buf.truncate(p.cap);
                    p.over = true;
                }
            } else if n == 0
                || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted
            {
                p.fd = None;
            }
        }
        if pipes[0].over {
            return kill(&mut child, ProcError::TooLarge(cap));
        }
    }
    // Both pipes are closed, so the program is exiting; wait for it within
    // the same deadline (a child that closed its pipes and hangs is killed).
    // Its exit follows its pipes' closing within microseconds: poll it
    // from 20 us up, doubling, to 5 ms.
    let mut nap = Duration::from_micros(20);
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(nap);
                nap = (nap * 2).min(Duration::from_millis(5));
            }
            Ok(None) => return kill(&mut child, ProcError::Timeout(timeout)),
            Err(e) => return Err(ProcError::Spawn(e.to_string())),
        }
    };
    if !status.success() {
        let stderr = String::from_utf8_lossy(&pipes[1].buf)
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
    let [out, err] = pipes;
    Ok((out.buf, err.buf))
}

/// Like [`run`]: stdout, and the stderr the program printed even when it
/// exits 0 (uci batch reports refused lines there and still exits 0).
pub fn run_full(
    program: &Path,
    args: &[&str],
    stdin: Option<&[u8]>,
    timeout: Duration,
    cap: usize,
) -> Result<(Vec<u8>, String), ProcError> {
    let (out, err) = exec(program, args, stdin, timeout, cap)?;
    Ok((out, String::from_utf8_lossy(&err).trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, timeout_ms: u64, cap: usize) -> Result<Vec<u8>, ProcError> {
        run(
            Path::new("/bin/sh"),
            &["-c", script],
            None,
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
                None,
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
    fn a_child_that_closes_its_pipes_and_hangs_is_killed() {
        let t = std::time::Instant::now();
        assert_eq!(
            sh("exec >&- 2>&-; sleep 30", 300, 100),
            Err(ProcError::Timeout(Duration::from_millis(300)))
        );
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn stdin_is_fed_while_output_is_read() {
        // 1 MB through cat: more than any pipe holds, so writing and
        // reading must interleave.
        let input = vec![b'x'; 1 << 20];
        let out = run(
            Path::new("/bin/cat"),
            &[],
            Some(&input),
            Duration::from_secs(10),
            2 << 20,
        )
        .unwrap();
        assert_eq!(out.len(), 1 << 20);
        // A child that floods stderr while we still write its input.
        let e = run(
            Path::new("/bin/sh"),
            &["-c", "yes err | head -c 300000 >&2; cat >/dev/null; exit 1"],
            Some(&input),
            Duration::from_secs(10),
            100,
        )
        .unwrap_err();
        assert!(matches!(e, ProcError::Failed { .. }), "{e:?}");
        let (out, err) = run_full(
            Path::new("/bin/sh"),
            &["-c", "cat; echo oops >&2"],
            Some(b"in\n"),
            Duration::from_secs(5),
            100,
        )
        .unwrap();
        assert_eq!((out.as_slice(), err.as_str()), (&b"in\n"[..], "oops"));
    }

    #[test]
    fn flood_is_capped() {
        assert_eq!(
            sh("exec yes", 5000, 1 << 20),
            Err(ProcError::TooLarge(1 << 20))
        );
    }
}
