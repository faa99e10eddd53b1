//! TCP probes (`option track_method 'tcp'`): a non-blocking connect to
//! the target's port, from the dial's device and address, for links whose
//! ISP drops or fakes ICMP. An answer is a SYN-ACK or a RST: either came
//! back over the dial, so the path works, whether or not anything listens.
//! The socket is closed with a zero linger the moment it answers (a RST
//! to the target, never a half-open connection or a TIME_WAIT), and at the
//! round's end if it did not (a SYN_SENT socket just goes).

use crate::icmp::sockaddr;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

fn last() -> io::Error {
    io::Error::last_os_error()
}

/// Out of `device` only, as `ping -I`: never by the route; from `source`
/// when given and of the target's family (an address the kernel no
/// longer has is left to the kernel's own choice).
pub fn bind_to(
    fd: RawFd,
    device: &str,
    source: Option<IpAddr>,
    target: SocketAddr,
) -> io::Result<()> {
    // SAFETY: the name's bytes and length, for SO_BINDTODEVICE.
    if unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            device.as_ptr().cast(),
            device.len() as libc::socklen_t,
        )
    } < 0
    {
        return Err(last());
    }
    if let Some(src) = source.filter(|s| s.is_ipv4() == target.is_ipv4()) {
        let (ss, len) = sockaddr(SocketAddr::new(src, 0));
        // SAFETY: ss holds len bytes of a sockaddr.
        unsafe { libc::bind(fd, (&ss as *const libc::sockaddr_storage).cast(), len) };
    }
    Ok(())
}

/// One connect in flight.
pub struct TcpProbe {
    fd: OwnedFd,
}

/// What a connect came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Still waiting for the SYN's answer.
    Pending,
    /// SYN-ACK or RST: the target answered over this dial.
    Answered,
    /// No way there (unreachable, refused by the router itself).
    Failed,
}

impl TcpProbe {
    /// Start a connect to `target` out of `device`, from `source` when
    /// given. Err: the kernel refused at once (no route, device gone).
    pub fn start(
        device: &str,
        source: Option<IpAddr>,
        target: SocketAddr,
    ) -> io::Result<(TcpProbe, Outcome)> {
        let domain = if target.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        };
        // SAFETY: plain socket(2); the descriptor is owned at once.
        let raw = unsafe {
            libc::socket(
                domain,
                libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        };
        if raw < 0 {
            return Err(last());
        }
        // SAFETY: `raw` is a new descriptor nobody else owns.
        let p = TcpProbe {
            fd: unsafe { OwnedFd::from_raw_fd(raw) },
        };
        let fd = p.fd.as_raw_fd();
        bind_to(fd, device, source, target)?;
        let (ss, len) = sockaddr(target);
        // SAFETY: ss holds len bytes of a sockaddr.
        let r = unsafe { libc::connect(fd, (&ss as *const libc::sockaddr_storage).cast(), len) };
        if r == 0 {
            return Ok((p, Outcome::Answered));
        }
        match last().raw_os_error() {
            Some(libc::EINPROGRESS) => Ok((p, Outcome::Pending)),
            Some(libc::ECONNREFUSED) => Ok((p, Outcome::Answered)),
            _ => Err(last()),
        }
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// After poll said it is writable (or in error): what it came to.
    pub fn outcome(&self) -> Outcome {
        let mut err: libc::c_int = 0;
        let mut l = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: an int option of its own size on our descriptor.
        let r = unsafe {
            libc::getsockopt(
                self.fd(),
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&mut err as *mut libc::c_int).cast(),
                &mut l,
            )
        };
        match (r, err) {
            (0, 0) | (0, libc::ECONNREFUSED) => Outcome::Answered,
            (0, libc::EINPROGRESS) | (0, libc::EALREADY) => Outcome::Pending,
            _ => Outcome::Failed,
        }
    }
}

impl Drop for TcpProbe {
    /// A zero linger: closing a connected socket sends a RST (no FIN
    /// handshake left behind, no TIME_WAIT); a SYN_SENT one just goes.
    fn drop(&mut self) {
        let l = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: a linger struct of its own size on our descriptor.
        unsafe {
            libc::setsockopt(
                self.fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&l as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
    }
}
