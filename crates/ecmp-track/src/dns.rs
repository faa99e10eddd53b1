//! DNS probes (`option track_method 'dns'`, mwan3's `nslookup`): an A
//! query for `track_name` to the target's port 53, from the dial's device
//! and address, for links whose ISP drops or fakes ICMP but forwards DNS.
//! An answer is any DNS response carrying the query's ID, whatever its
//! code: the resolver answered over this dial. An ICMP error (no resolver
//! there) is no answer. One UDP socket per query, closed with the round.

use crate::icmp::sockaddr;
use crate::tcp::Outcome;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// One query in flight.
pub struct DnsProbe {
    fd: OwnedFd,
    id: u16,
}

/// The query for `name`'s A record with ID `id`: header, one question,
/// recursion desired. None for a name that is no DNS name.
pub fn query(id: u16, name: &str) -> Option<Vec<u8>> {
    let mut q = Vec::with_capacity(18 + name.len());
    q.extend(id.to_be_bytes());
    q.extend([0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return None;
        }
        q.push(label.len() as u8);
        q.extend(label.as_bytes());
    }
    q.extend([0, 0, 1, 0, 1]);
    (q.len() <= 512).then_some(q)
}

/// Whether `b` is a response to query `id`.
pub fn answers(b: &[u8], id: u16) -> bool {
    b.len() >= 12 && b[..2] == id.to_be_bytes() && b[2] & 0x80 != 0
}

impl DnsProbe {
    /// Send the query for `name` (ID `id`) to `target` out of `device`,
    /// from `source` when given. Err: the kernel refused at once.
    pub fn start(
        device: &str,
        source: Option<IpAddr>,
        target: SocketAddr,
        id: u16,
        name: &str,
    ) -> io::Result<DnsProbe> {
        let q = query(id, name).ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        let p = DnsProbe {
            fd: crate::tcp::socket_to(libc::SOCK_DGRAM, device, source, target)?,
            id,
        };
        let (ss, len) = sockaddr(target);
        // SAFETY: ss holds len bytes of a sockaddr; q is a live buffer.
        unsafe {
            if libc::connect(p.fd(), (&ss as *const libc::sockaddr_storage).cast(), len) != 0
                || libc::send(p.fd(), q.as_ptr().cast(), q.len(), 0) < 0
            {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(p)
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// After poll said it is readable: what it came to.
    pub fn outcome(&self) -> Outcome {
        let mut b = [0u8; 512];
        loop {
            // SAFETY: b is a live buffer of its length.
            let n = unsafe { libc::recv(self.fd(), b.as_mut_ptr().cast(), b.len(), 0) };
            if n < 0 {
                return match io::Error::last_os_error().raw_os_error() {
                    Some(libc::EAGAIN) => Outcome::Pending,
                    // ICMP unreachable: nothing answers DNS there.
                    _ => Outcome::Failed,
                };
            }
            if answers(&b[..n as usize], self.id) {
                return Outcome::Answered;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_and_its_answer() {
        let q = query(0x1234, "a.root-servers.net").unwrap();
        assert_eq!(&q[..4], [0x12, 0x34, 0x01, 0x00]);
        assert_eq!(&q[12..14], [1, b'a']);
        assert!(q.ends_with(&[3, b'n', b'e', b't', 0, 0, 1, 0, 1]));
        assert_eq!(query(1, "a..b"), None);
        assert_eq!(query(1, &"x".repeat(64)), None);
        // A response (QR set) with our ID, whatever its code, answers.
        let mut r = q.clone();
        r[2] |= 0x80;
        r[3] = 0x83; // NXDOMAIN
        assert!(answers(&r, 0x1234));
        assert!(!answers(&q, 0x1234), "our own query is no answer");
        assert!(!answers(&r, 0x4321));
        assert!(!answers(&r[..11], 0x1234));
    }
}
