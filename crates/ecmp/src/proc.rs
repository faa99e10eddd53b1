//! Running ubus and uci: argv only (no shell), a timeout, and a cap on
//! what we read, because netifd runs hotplug scripts one at a time and a
//! hung ubusd must not stall every later event on the router.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
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

/// `name` in a folder of PATH, if there is one (`nft`: fw4's; a fw3
/// router has none).
pub fn on_path(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
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

/// A pipe: (read end, write end), both close-on-exec.
fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: pipe2 just made them; we own them.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A running child: posix_spawnp(3) and waitpid(2), not std::process,
/// which costs a router binary 10 KB for what is only a debugging input
/// of ecmp4/ecmp6 (`--ubus`).
struct Child(libc::pid_t);

impl Child {
    /// Start `program args...` with stdin from `input` (else /dev/null) and
    /// stdout, stderr into the given write ends.
    fn spawn(
        program: &Path,
        args: &[&str],
        input: Option<&OwnedFd>,
        out: &OwnedFd,
        err: &OwnedFd,
    ) -> std::io::Result<Child> {
        let bad = |_| std::io::Error::from(std::io::ErrorKind::InvalidInput);
        let prog = CString::new(program.as_os_str().as_bytes()).map_err(bad)?;
        let mut owned = vec![prog.clone()];
        for a in args {
            owned.push(CString::new(*a).map_err(bad)?);
        }
        let mut argv: Vec<*mut libc::c_char> = owned.iter().map(|c| c.as_ptr() as *mut _).collect();
        argv.push(std::ptr::null_mut());
        let null = CString::new("/dev/null").map_err(bad)?;
        extern "C" {
            static environ: *const *mut libc::c_char;
        }
        // SAFETY: the file actions live until posix_spawnp returns; every
        // pointer handed over is a live, NUL-terminated string.
        unsafe {
            let mut fa: libc::posix_spawn_file_actions_t = std::mem::zeroed();
            libc::posix_spawn_file_actions_init(&mut fa);
            match input {
                Some(i) => libc::posix_spawn_file_actions_adddup2(&mut fa, i.as_raw_fd(), 0),
                None => libc::posix_spawn_file_actions_addopen(
                    &mut fa,
                    0,
                    null.as_ptr(),
                    libc::O_RDONLY,
                    0,
                ),
            };
            libc::posix_spawn_file_actions_adddup2(&mut fa, out.as_raw_fd(), 1);
            libc::posix_spawn_file_actions_adddup2(&mut fa, err.as_raw_fd(), 2);
            let mut pid = 0;
            let r = libc::posix_spawnp(
                &mut pid,
                prog.as_ptr(),
                &fa,
                std::ptr::null(),
                argv.as_ptr(),
                environ,
            );
            libc::posix_spawn_file_actions_destroy(&mut fa);
            if r != 0 {
                return Err(std::io::Error::from_raw_os_error(r));
            }
            Ok(Child(pid))
        }
    }

    /// Its wait status once it has exited.
    fn try_wait(&self) -> std::io::Result<Option<libc::c_int>> {
        let mut st = 0;
        // SAFETY: waitpid on our own child.
        match unsafe { libc::waitpid(self.0, &mut st, libc::WNOHANG) } {
            0 => Ok(None),
            r if r < 0 => Err(std::io::Error::last_os_error()),
            _ => Ok(Some(st)),
        }
    }

    fn kill(&self) {
        let mut st = 0;
        // SAFETY: signalling and reaping our own child.
        unsafe {
            libc::kill(self.0, libc::SIGKILL);
            libc::waitpid(self.0, &mut st, 0);
        }
    }
}

/// A wait status as words: `exit status: 3`, `signal: 9`.
fn status_text(st: libc::c_int) -> Option<String> {
    if libc::WIFEXITED(st) {
        let code = libc::WEXITSTATUS(st);
        (code != 0).then(|| format!("exit status: {code}"))
    } else {
        Some(format!("signal: {}", libc::WTERMSIG(st)))
    }
}

fn exec(
    program: &Path,
    args: &[&str],
    stdin: Option<&[u8]>,
    timeout: Duration,
    cap: usize,
) -> Result<(Vec<u8>, Vec<u8>), ProcError> {
    let spawn_err = |e: std::io::Error| ProcError::Spawn(e.to_string());
    let (out_r, out_w) = pipe().map_err(spawn_err)?;
    let (err_r, err_w) = pipe().map_err(spawn_err)?;
    let (in_r, in_w) = match stdin {
        Some(_) => {
            let (r, w) = pipe().map_err(spawn_err)?;
            (Some(r), Some(w))
        }
        None => (None, None),
    };
    let child = Child::spawn(program, args, in_r.as_ref(), &out_w, &err_w).map_err(spawn_err)?;
    // Only the child holds these ends now: EOF comes when it closes them.
    drop((out_w, err_w, in_r));
    let deadline = Instant::now() + timeout;
    let kill = |child: &mut Child, e: ProcError| {
        child.kill();
        Err(e)
    };
    let mut child = child;
    let mut input = in_w;
    let mut left = stdin.unwrap_or_default();
    if let Some(i) = &input {
        nonblocking(i);
    }
    let mut pipes = [
        Pipe {
            fd: Some(out_r),
            buf: Vec::new(),
            cap,
            over: false,
        },
        Pipe {
            fd: Some(err_r),
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
    if let Some(status) = status_text(status) {
        let stderr = String::from_utf8_lossy(&pipes[1].buf)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        return Err(ProcError::Failed { status, stderr });
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
