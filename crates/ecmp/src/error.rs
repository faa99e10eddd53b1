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
