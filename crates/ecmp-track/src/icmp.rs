//! ICMP and ICMPv6 echo on raw sockets: a probe leaves by the link's
//! device from the link's own address, whatever the routing table says.
//! [`Prober`], one socket per family, is what the tracker uses; [`Pinger`],
//! a socket bound to one device (SO_BINDTODEVICE), is `ping -I DEV`'s way
//! (the benchmark's model runs it). No process is spawned.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Echo request and reply types.
const ECHO4: u8 = 8;
const REPLY4: u8 = 0;
const ECHO6: u8 = 128;
const REPLY6: u8 = 129;
/// SOL_RAW option: types the socket does not want (bit per type).
const ICMP_FILTER: libc::c_int = 1;
/// IPPROTO_ICMPV6 option: struct icmp6_filter, bit set = blocked.
const ICMP6_FILTER: libc::c_int = 1;

pub struct Pinger {
    fd: OwnedFd,
    v6: bool,
    /// Echo identifier: ours among every socket's replies.
    pub ident: u16,
}

fn last() -> io::Error {
    io::Error::last_os_error()
}

fn setopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, v: &T) -> io::Result<()> {
    // SAFETY: v points to a live T of the given size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (v as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(last())
    }
}

/// `a` as a sockaddr for the kernel (with its port: 0 for the echo
/// requests, whose raw IPv6 socket refuses any other; the TCP probes' own).
pub(crate) fn sockaddr(a: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match a {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in.
            unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: all-zero is a valid sockaddr_in6.
            let mut sin6: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_scope_id = a.scope_id();
            // SAFETY: sockaddr_storage is larger than sockaddr_in6.
            unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

fn to_addr(ss: &libc::sockaddr_storage) -> Option<IpAddr> {
    match i32::from(ss.ss_family) {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in for AF_INET.
            let sin: libc::sockaddr_in =
                unsafe { std::ptr::read((ss as *const libc::sockaddr_storage).cast()) };
            Some(IpAddr::V4(Ipv4Addr::from(
                sin.sin_addr.s_addr.to_ne_bytes(),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the kernel wrote a sockaddr_in6 for AF_INET6.
            let sin6: libc::sockaddr_in6 =
                unsafe { std::ptr::read((ss as *const libc::sockaddr_storage).cast()) };
            Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

/// `target` as a socket address (ICMP has no port).
fn dest(target: IpAddr) -> SocketAddr {
    match target {
        IpAddr::V4(a) => SocketAddr::V4(SocketAddrV4::new(a, 0)),
        IpAddr::V6(a) => SocketAddr::V6(SocketAddrV6::new(a, 0, 0, 0)),
    }
}

/// The Internet checksum (RFC 1071). ICMPv6's is the kernel's job.
fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request: type, code, checksum, identifier, sequence, 8 bytes
/// of payload.
pub fn echo(v6: bool, ident: u16, seq: u16) -> [u8; 16] {
    let mut p = [0u8; 16];
    p[0] = if v6 { ECHO6 } else { ECHO4 };
    p[4..6].copy_from_slice(&ident.to_be_bytes());
    p[6..8].copy_from_slice(&seq.to_be_bytes());
    p[8..16].copy_from_slice(b"ecmp-trk");
    if !v6 {
        let c = checksum(&p);
        p[2..4].copy_from_slice(&c.to_be_bytes());
    }
    p
}

/// (identifier, sequence) of an echo reply: `b` is what a raw socket
/// reads (IPv4: with the IP header; IPv6: the ICMPv6 message alone).
pub fn parse_reply(v6: bool, b: &[u8]) -> Option<(u16, u16)> {
    let icmp = if v6 {
        b
    } else {
        let ihl = usize::from(*b.first()? & 0x0f) * 4;
        if ihl < 20 {
            return None;
        }
        b.get(ihl..)?
    };
    let want = if v6 { REPLY6 } else { REPLY4 };
    if icmp.len() < 8 || icmp[0] != want || icmp[1] != 0 {
        return None;
    }
    Some((
        u16::from_be_bytes([icmp[4], icmp[5]]),
        u16::from_be_bytes([icmp[6], icmp[7]]),
    ))
}

impl Pinger {
    /// A non-blocking raw socket on `device`, sending from `source` when
    /// given (an address the kernel no longer has is left out, and the
    /// kernel picks the device's own).
    pub fn open(v6: bool, device: &str, source: Option<IpAddr>, ident: u16) -> io::Result<Pinger> {
        let fd = raw_socket(v6)?;
        let raw = fd.as_raw_fd();
        // SAFETY: device bytes for the length given.
        let r = unsafe {
            libc::setsockopt(
                raw,
                libc::SOL_SOCKET,
                libc::SO_BINDTODEVICE,
                device.as_ptr().cast(),
                device.len() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(last());
        }

        if let Some(src) = source {
            let (ss, len) = sockaddr(SocketAddr::new(src, 0));
            // SAFETY: ss holds len bytes of a sockaddr.
            let r = unsafe { libc::bind(raw, (&ss as *const libc::sockaddr_storage).cast(), len) };
            if r != 0 {
                let e = last();
                if e.raw_os_error() != Some(libc::EADDRNOTAVAIL) {
                    return Err(e);
                }
            }
        }
        Ok(Pinger { fd, v6, ident })
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub fn send(&self, target: IpAddr, seq: u16) -> io::Result<()> {
        let p = echo(self.v6, self.ident, seq);
        let (ss, len) = sockaddr(dest(target));
        // SAFETY: p and ss are live for the call.
        let r = unsafe {
            libc::sendto(
                self.fd(),
                p.as_ptr().cast(),
                p.len(),
                0,
                (&ss as *const libc::sockaddr_storage).cast(),
                len,
            )
        };
        if r < 0 {
            Err(last())
        } else {
            Ok(())
        }
    }

    /// The next echo reply of ours waiting: (from, sequence). None when
    /// nothing more is queued.
    pub fn recv(&self) -> Option<(IpAddr, u16)> {
        let mut buf = [0u8; 256];
        loop {
            let (n, ss) = recv_from(self.fd(), &mut buf)?;
            match parse_reply(self.v6, &buf[..n]) {
                Some((id, seq)) if id == self.ident => return Some((to_addr(&ss)?, seq)),
                _ => continue,
            }
        }
    }
}

/// One raw socket for every link of a family: each probe names its
/// device and source in an IP_PKTINFO/IPV6_PKTINFO control message, so it
/// leaves by that link as from a socket bound to it, and replies are told
/// apart by their identifier (one per link). One descriptor to poll, not
/// one per link: at 64 links polling 64 sockets on every wake-up was a
/// quarter of the tracker's time.
pub struct Prober {
    fd: OwnedFd,
    v6: bool,
}

impl Prober {
    pub fn open(v6: bool) -> io::Result<Prober> {
        Ok(Prober {
            fd: raw_socket(v6)?,
            v6,
        })
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// An echo request to `target` out of device `ifindex`, from `source`
    /// when given (an address the kernel does not have is left out).
    pub fn send(
        &self,
        ifindex: u32,
        source: Option<IpAddr>,
        target: IpAddr,
        ident: u16,
        seq: u16,
    ) -> io::Result<()> {
        match self.send_from(ifindex, source, target, ident, seq) {
            Err(e)
                if source.is_some()
                    && matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EADDRNOTAVAIL)) =>
            {
                self.send_from(ifindex, None, target, ident, seq)
            }
            r => r,
        }
    }

    fn send_from(
        &self,
        ifindex: u32,
        source: Option<IpAddr>,
        target: IpAddr,
        ident: u16,
        seq: u16,
    ) -> io::Result<()> {
        let p = echo(self.v6, ident, seq);
        let (mut ss, len) = sockaddr(dest(target));
        // Room for one in6_pktinfo (the larger) control message.
        let mut cbuf = [0u64; 8];
        let mut iov = libc::iovec {
            iov_base: p.as_ptr() as *mut libc::c_void,
            iov_len: p.len(),
        };
        // SAFETY: all-zero is a valid msghdr; every pointer set below is
        // live for the sendmsg call, and the control buffer is aligned and
        // large enough for the one message CMSG_FIRSTHDR gives.
        unsafe {
            let mut m: libc::msghdr = std::mem::zeroed();
            m.msg_name = (&mut ss as *mut libc::sockaddr_storage).cast();
            m.msg_namelen = len;
            m.msg_iov = &mut iov;
            m.msg_iovlen = 1;
            m.msg_control = cbuf.as_mut_ptr().cast();
            let (level, ty, size) = if self.v6 {
                (
                    libc::IPPROTO_IPV6,
                    libc::IPV6_PKTINFO,
                    std::mem::size_of::<libc::in6_pktinfo>(),
                )
            } else {
                (
                    libc::IPPROTO_IP,
                    libc::IP_PKTINFO,
                    std::mem::size_of::<libc::in_pktinfo>(),
                )
            };
            m.msg_controllen = libc::CMSG_SPACE(size as u32) as _;
            let c = libc::CMSG_FIRSTHDR(&m);
            (*c).cmsg_level = level;
            (*c).cmsg_type = ty;
            (*c).cmsg_len = libc::CMSG_LEN(size as u32) as _;
            let data = libc::CMSG_DATA(c);
            match source {
                src if self.v6 => std::ptr::write_unaligned(
                    data.cast::<libc::in6_pktinfo>(),
                    libc::in6_pktinfo {
                        ipi6_addr: libc::in6_addr {
                            s6_addr: match src {
                                Some(IpAddr::V6(a)) => a.octets(),
                                _ => [0; 16],
                            },
                        },
                        ipi6_ifindex: ifindex,
                    },
                ),
                src => std::ptr::write_unaligned(
                    data.cast::<libc::in_pktinfo>(),
                    libc::in_pktinfo {
                        ipi_ifindex: ifindex as libc::c_int,
                        ipi_spec_dst: libc::in_addr {
                            s_addr: match src {
                                Some(IpAddr::V4(a)) => u32::from_ne_bytes(a.octets()),
                                _ => 0,
                            },
                        },
                        ipi_addr: libc::in_addr { s_addr: 0 },
                    },
                ),
            }
            if libc::sendmsg(self.fd(), &m, 0) < 0 {
                return Err(last());
            }
        }
        Ok(())
    }

    /// The next echo reply waiting: (from, identifier, sequence). None
    /// when nothing more is queued.
    pub fn recv(&self) -> Option<(IpAddr, u16, u16)> {
        let mut buf = [0u8; 256];
        loop {
            let (n, ss) = recv_from(self.fd(), &mut buf)?;
            if let Some((id, seq)) = parse_reply(self.v6, &buf[..n]) {
                return Some((to_addr(&ss)?, id, seq));
            }
        }
    }
}

/// A non-blocking raw ICMP (ICMPv6) socket that hears echo replies only.
fn raw_socket(v6: bool) -> io::Result<OwnedFd> {
    let (domain, proto) = if v6 {
        (libc::AF_INET6, libc::IPPROTO_ICMPV6)
    } else {
        (libc::AF_INET, libc::IPPROTO_ICMP)
    };
    // SAFETY: plain socket(2).
    let fd = unsafe {
        libc::socket(
            domain,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            proto,
        )
    };
    if fd < 0 {
        return Err(last());
    }
    // SAFETY: fd is a new descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    filter_replies(fd.as_raw_fd(), v6)?;
    Ok(fd)
}

/// Only echo replies wake us, not every ICMP message the router gets.
fn filter_replies(fd: RawFd, v6: bool) -> io::Result<()> {
    if v6 {
        let mut filter = [u32::MAX; 8];
        filter[usize::from(REPLY6) >> 5] &= !(1u32 << (REPLY6 & 31));
        setopt(fd, libc::IPPROTO_ICMPV6, ICMP6_FILTER, &filter)
    } else {
        let mask: u32 = !(1u32 << REPLY4);
        setopt(fd, libc::SOL_RAW, ICMP_FILTER, &mask)
    }
}

/// One datagram and its sender; None when nothing is queued.
fn recv_from(fd: RawFd, buf: &mut [u8]) -> Option<(usize, libc::sockaddr_storage)> {
    loop {
        // SAFETY: all-zero is a valid sockaddr_storage.
        let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: buf and ss are live, their sizes given.
        let n = unsafe {
            libc::recvfrom(
                fd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                (&mut ss as *mut libc::sockaddr_storage).cast(),
                &mut len,
            )
        };
        if n >= 0 {
            return Some((n as usize, ss));
        }
        if last().kind() != io::ErrorKind::Interrupted {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_checksum_and_reply_parsing() {
        let p = echo(false, 0x1234, 7);
        // A valid checksum sums to zero.
        assert_eq!(checksum(&p), 0);
        assert_eq!(p[0], 8);
        // The reply as a raw IPv4 socket reads it: a 20-byte header first.
        let mut r = vec![0x45u8];
        r.extend([0u8; 19]);
        let mut icmp = p;
        icmp[0] = 0;
        r.extend(icmp);
        assert_eq!(parse_reply(false, &r), Some((0x1234, 7)));
        // A request, a short packet, a bad header length: not replies.
        let mut req = vec![0x45u8];
        req.extend([0u8; 19]);
        req.extend(p);
        assert_eq!(parse_reply(false, &req), None);
        assert_eq!(parse_reply(false, &r[..24]), None);
        assert_eq!(parse_reply(false, &[0x41, 0, 0, 0]), None);
        assert_eq!(parse_reply(false, &[]), None);
        let mut r6 = echo(true, 9, 65535);
        assert_eq!(parse_reply(true, &r6), None);
        r6[0] = 129;
        assert_eq!(parse_reply(true, &r6), Some((9, 65535)));
    }
}
