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

/// A non-blocking socket of `ty` for `target`'s family, out of `device`
/// only, as `ping -I`: never by the route; from `source` when given and
/// of the target's family (an address the kernel no longer has is left to
/// the kernel's own choice).
pub fn socket_to(
    ty: libc::c_int,
    device: &str,
    source: Option<IpAddr>,
    target: SocketAddr,
) -> io::Result<OwnedFd> {
    let domain = if target.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain socket(2); the descriptor is owned at once.
    let raw = unsafe { libc::socket(domain, ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(last());
    }
    // SAFETY: `raw` is a new descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: the name's bytes and length, for SO_BINDTODEVICE.
    if unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
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
        unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&ss as *const libc::sockaddr_storage).cast(),
                len,
            )
        };
    }
    Ok(fd)
}

/// A socket's pending error (SO_ERROR); None when it cannot be read.
fn so_error(fd: RawFd) -> Option<libc::c_int> {
    let mut err: libc::c_int = 0;
    let mut l = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: an int option of its own size on a descriptor of ours.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut err as *mut libc::c_int).cast(),
            &mut l,
        )
    };
    (r == 0).then_some(err)
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
        let p = TcpProbe {
            fd: socket_to(libc::SOCK_STREAM, device, source, target)?,
        };
        let fd = p.fd.as_raw_fd();
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
        match so_error(self.fd()) {
            Some(0) | Some(libc::ECONNREFUSED) => Outcome::Answered,
            Some(libc::EINPROGRESS) | Some(libc::EALREADY) => Outcome::Pending,
            _ => Outcome::Failed,
        }
    }
}

/// An HTTP probe: a TCP connect, then `HEAD /`; any status line answers.
pub struct HttpProbe {
    tcp: TcpProbe,
    request: Vec<u8>,
    /// The request is out: what is left is the answer.
    sent: bool,
}

impl HttpProbe {
    pub fn start(
        device: &str,
        source: Option<IpAddr>,
        target: SocketAddr,
    ) -> io::Result<HttpProbe> {
        let host = match target {
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        };
        let request = format!(
            "HEAD / HTTP/1.0\r\nHost: {host}\r\nUser-Agent: ecmp-track\r\nConnection: close\r\n\r\n"
        )
        .into_bytes();
        let (tcp, _) = TcpProbe::start(device, source, target)?;
        Ok(HttpProbe {
            tcp,
            request,
            sent: false,
        })
    }

    pub fn fd(&self) -> RawFd {
        self.tcp.fd()
    }

    /// Writable for the request, then readable for the answer.
    pub fn events(&self) -> libc::c_short {
        if self.sent {
            libc::POLLIN
        } else {
            libc::POLLOUT
        }
    }

    /// After poll said it is ready: what it came to. Connected: the
    /// request goes out, and the answer is waited for. A RST is no
    /// answer here: nothing speaks HTTP there.
    pub fn outcome(&mut self) -> Outcome {
        if !self.sent {
            return match so_error(self.fd()) {
                Some(0) => {
                    // SAFETY: the request is a live buffer of its length.
                    let n = unsafe {
                        libc::send(
                            self.fd(),
                            self.request.as_ptr().cast(),
                            self.request.len(),
                            libc::MSG_NOSIGNAL,
                        )
                    };
                    if n == self.request.len() as isize {
                        self.sent = true;
                        Outcome::Pending
                    } else {
                        Outcome::Failed
                    }
                }
                Some(libc::EINPROGRESS) | Some(libc::EALREADY) => Outcome::Pending,
                _ => Outcome::Failed,
            };
        }
        let mut b = [0u8; 64];
        // SAFETY: b is a live buffer of its length.
        let n = unsafe { libc::recv(self.fd(), b.as_mut_ptr().cast(), b.len(), 0) };
        match n {
            n if n >= 5 && b.starts_with(b"HTTP/") => Outcome::Answered,
            n if n < 0 && last().raw_os_error() == Some(libc::EAGAIN) => Outcome::Pending,
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
