//! Errors as types, each rendering as the one line that goes to syslog.

use std::fmt;

/// Everything that can stop an event. Each variant maps to a documented
/// exit status (see [`Error::exit_code`]); none of them is raised after a
/// partial write: a failed step undoes the steps before it.
#[derive(Clone, Debug)]
pub enum Error {
    /// Command line or environment unusable (exit 2).
    Usage(String),
    /// /etc/config/ecmp or the uci program unusable (exit 3).
    Config(String),
    /// ubus missing, failing, hanging, or the dump unreadable (exit 4).
    Input(String),
    /// The kernel refused or could not be asked (exit 5).
    Kernel(String),
    /// Our (table, metric) slot is held by a route that is not ours (exit 6).
    Conflict(String),
    /// Another run held the lock past the wait (exit 7).
    Busy(String),
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => 2,
            Error::Config(_) => 3,
            Error::Input(_) => 4,
            Error::Kernel(_) => 5,
            Error::Conflict(_) => 6,
            Error::Busy(_) => 7,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) => write!(f, "usage: {m}"),
            Error::Config(m) => write!(f, "config: {m}"),
            Error::Input(m) => write!(f, "input: {m}"),
            Error::Kernel(m) => write!(f, "kernel: {m}"),
            Error::Conflict(m) => write!(f, "conflict: {m}"),
            Error::Busy(m) => write!(f, "busy: {m}"),
        }
    }
}

impl std::error::Error for Error {}

// The target's own errno values: they differ between architectures (MIPS).
pub const ENOENT: i32 = libc::ENOENT;
pub const EPERM: i32 = libc::EPERM;
pub const ENODEV: i32 = libc::ENODEV;
pub const EINVAL: i32 = libc::EINVAL;
pub const EEXIST: i32 = libc::EEXIST;
pub const ENETDOWN: i32 = libc::ENETDOWN;
pub const EOPNOTSUPP: i32 = libc::EOPNOTSUPP;

/// Why a write did not happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelError {
    /// The kernel refused: errno and its extended-ACK text.
    Refused { errno: i32, text: String },
    /// The socket failed (send, receive): errno and what was done.
    Socket { errno: i32, text: String },
    /// The message could not be built (larger than netlink's lengths):
    /// nothing was sent; no errno.
    Encode(String),
}

impl KernelError {
    /// The errno of a refusal or a socket error; 0 for an encode error.
    pub fn errno(&self) -> i32 {
        match self {
            KernelError::Refused { errno, .. } | KernelError::Socket { errno, .. } => *errno,
            KernelError::Encode(_) => 0,
        }
    }

    /// A refusal, as a test kernel scripts one.
    pub fn refused(errno: i32, text: &str) -> KernelError {
        KernelError::Refused {
            errno,
            text: text.into(),
        }
    }
}

impl std::fmt::Display for KernelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let os = |errno: i32| {
            let s = std::io::Error::from_raw_os_error(errno).to_string();
            s.split(" (os error").next().unwrap_or(&s).to_string()
        };
        match self {
            KernelError::Refused { errno, text } if text.is_empty() => {
                write!(f, "{} (errno {errno})", os(*errno))
            }
            KernelError::Refused { errno, text } => {
                write!(f, "{} (errno {errno}): {text}", os(*errno))
            }
            KernelError::Socket { errno, text } => {
                write!(f, "{text}: {} (errno {errno})", os(*errno))
            }
            KernelError::Encode(text) => write!(f, "cannot encode the request: {text}"),
        }
    }
}
