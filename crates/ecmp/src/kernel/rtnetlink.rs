//! The real [`Kernel`]: a NETLINK_ROUTE socket, and the two sysctls we
//! read. The only file that speaks to the kernel; the messages themselves
//! are built and read by the pure codec in `netlink.rs`.

use crate::kernel::netlink::{self as nl, RouteOp, Write};
use crate::kernel::{Kernel, KernelError, Link, EOPNOTSUPP, EPERM};
use crate::plan::inbound::Rule;
use crate::plan::nexthop::NhObject;
use crate::plan::route::Route;
use crate::{Error, Family};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const SOL_NETLINK: libc::c_int = 270;
const NETLINK_CAP_ACK: libc::c_int = 10;
const NETLINK_EXT_ACK: libc::c_int = 11;
const NETLINK_GET_STRICT_CHK: libc::c_int = 12;

pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
}

fn undecodable(e: String) -> KernelError {
    KernelError::Socket {
        errno: 0,
        text: format!("undecodable answer: {e}"),
    }
}

fn os(what: &str) -> KernelError {
    let e = std::io::Error::last_os_error();
    KernelError::Socket {
        errno: e.raw_os_error().unwrap_or(0),
        text: what.into(),
    }
}

impl Netlink {
    pub fn open() -> Result<Netlink, Error> {
        let no = |e: KernelError| Error::Kernel(format!("cannot open rtnetlink socket: {e}"));
        // SAFETY: plain socket(2); the descriptor is owned at once.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if raw < 0 {
            return Err(no(os("socket")));
        }
        // SAFETY: `raw` is a new descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: zeroed sockaddr_nl is a valid "any port, no groups".
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: a valid sockaddr of its own size.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &sa as *const libc::sockaddr_nl as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(no(os("bind")));
        }
        // Best effort: capped error echoes with the kernel's own text, and
        // table-filtered dumps (older kernels lack them; nothing depends
        // on them but the message text and the dump size).
        for opt in [NETLINK_CAP_ACK, NETLINK_EXT_ACK, NETLINK_GET_STRICT_CHK] {
            let one: libc::c_int = 1;
            // SAFETY: an int option of its own size.
            unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    SOL_NETLINK,
                    opt,
                    &one as *const libc::c_int as *const libc::c_void,
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
        Ok(Netlink {
            fd,
            seq: 0,
            buf: vec![0; 64 << 10],
        })
    }

    /// Send one write and wait for its acknowledgement.
    fn request(&mut self, ty: u16, flags: u16, payload: &[u8]) -> Result<(), KernelError> {
        self.each(ty, flags, payload, &mut |_| {})
    }

    /// Send one request and hand each message of its answer to `f`, read
    /// in place: a dump's links were copied out one by one before, and
    /// those copies were a third of reading them.
    fn each(
        &mut self,
        ty: u16,
        flags: u16,
        payload: &[u8],
        f: &mut dyn FnMut(&[u8]),
    ) -> Result<(), KernelError> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let msg = nl::request(ty, flags, seq, payload)?;
        self.send(&msg)?;
        let dump = flags & nl::NLM_F_DUMP == nl::NLM_F_DUMP;
        loop {
            let n = self.recv()?;
            for m in nl::messages(&self.buf[..n]) {
                let m = m.map_err(undecodable)?;
                if m.seq != seq {
                    continue;
                }
                match m.ty {
                    nl::NLMSG_ERROR => {
                        // An ACK ends a write; a refusal ends anything.
                        nl::parse_error(&m)?;
                        if !dump {
                            return Ok(());
                        }
                    }
                    nl::NLMSG_DONE => return Ok(()),
                    _ => f(m.payload),
                }
            }
        }
    }

    fn send(&mut self, msg: &[u8]) -> Result<(), KernelError> {
        loop {
            // SAFETY: sending our own buffer on our socket.
            let n = unsafe {
                libc::send(
                    self.fd.as_raw_fd(),
                    msg.as_ptr() as *const libc::c_void,
                    msg.len(),
                    0,
                )
            };
            if n >= 0 {
                return Ok(());
            }
            if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                return Err(os("send"));
            }
        }
    }

    /// One datagram into `self.buf`: its length.
    fn recv(&mut self) -> Result<usize, KernelError> {
        loop {
            // SAFETY: receiving into our own buffer of its length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr() as *mut libc::c_void,
                    self.buf.len(),
                    0,
                )
            };
            if n >= 0 {
                return Ok(n as usize);
            }
            if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                return Err(os("recv"));
            }
        }
    }

    /// Whether the kernel has link type `kind` (macvlan for multidial).
    /// Err: could not tell (EPERM without root).
    /// Each link's (received, sent) bytes, by name (status).
    pub fn link_bytes(&mut self) -> Result<Vec<(String, (u64, u64))>, Error> {
        let mut out = Vec::new();
        self.each(
            nl::RTM_GETLINK,
            nl::NLM_F_DUMP,
            &nl::link_dump(),
            &mut |p| out.extend(nl::parse_link(p, true).and_then(|l| Some((l.name, l.bytes?)))),
        )
        .map_err(|e| Error::Kernel(format!("link dump: {e}")))?;
        Ok(out)
    }

    /// Every macvlan device as (name, its parent's name).
    pub fn macvlans(&mut self) -> Result<Vec<(String, String)>, Error> {
        let mut all = Vec::new();
        self.each(
            nl::RTM_GETLINK,
            nl::NLM_F_DUMP,
            &nl::link_dump(),
            &mut |p| all.extend(nl::parse_link_kind(p)),
        )
        .map_err(|e| Error::Kernel(format!("link dump: {e}")))?;
        Ok(all
            .iter()
            .filter(|(_, _, kind, _)| kind.as_deref() == Some("macvlan"))
            .filter_map(|(_, name, _, link)| {
                let parent = all.iter().find(|(i, ..)| Some(*i) == *link)?;
                Some((name.clone(), parent.1.clone()))
            })
            .collect())
    }

    pub fn has_link_kind(&mut self, kind: &str) -> Result<bool, KernelError> {
        let probe = nl::link_kind_probe(kind)?;
        match self.request(
            nl::RTM_NEWLINK,
            nl::NLM_F_ACK | nl::NLM_F_CREATE | nl::NLM_F_EXCL,
            &probe,
        ) {
            Err(e) if e.errno() == EOPNOTSUPP => Ok(false),
            Err(e) if e.errno() == EPERM => Err(e),
            // EINVAL (no lower device) or, in theory, success: it is there.
            _ => Ok(true),
        }
    }
}

/// RTM_GETLINK requests sent in one datagram: their answers (about 1 KB
/// each without counters) fit the socket's default receive buffer many
/// times over, so none is dropped.
const BATCH: usize = 16;

impl Netlink {
    /// The links of `asks` ((ifindex, or 0 and a name)) that exist, in
    /// their order: every request in one send, then their answers, each
    /// a link or ENODEV.
    fn get_links(&mut self, asks: &[(u32, &str)]) -> Result<Vec<Link>, KernelError> {
        let first = self.seq.wrapping_add(1);
        let mut out = Vec::with_capacity(asks.len());
        let mut batch = Vec::with_capacity(asks.len() * 48);
        for (index, name) in asks {
            self.seq = self.seq.wrapping_add(1);
            batch.extend(nl::request(
                nl::RTM_GETLINK,
                0,
                self.seq,
                &nl::link_get(*index, name)?,
            )?);
        }
        self.send(&batch)?;
        let mut answered = 0;
        while answered < asks.len() {
            let n = self.recv()?;
            for m in nl::messages(&self.buf[..n]) {
                let m = m.map_err(undecodable)?;
                if m.seq.wrapping_sub(first) as usize >= asks.len() {
                    continue;
                }
                answered += 1;
                match m.ty {
                    nl::NLMSG_ERROR => match nl::parse_error(&m) {
                        Err(e) if e.errno() == libc::ENODEV => {}
                        Err(e) => return Err(e),
                        Ok(()) => {}
                    },
                    _ => out.extend(nl::parse_link(m.payload, false)),
                }
            }
        }
        Ok(out)
    }
}

impl Kernel for Netlink {
    fn links(&mut self) -> Result<Vec<Link>, Error> {
        let mut links = Vec::new();
        self.each(
            nl::RTM_GETLINK,
            nl::NLM_F_DUMP,
            &nl::link_dump(),
            &mut |p| links.extend(nl::parse_link(p, false)),
        )
        .map_err(|e| Error::Kernel(format!("link dump: {e}")))?;
        Ok(links)
    }

    /// One RTM_GETLINK per link, sent [`BATCH`] to a datagram (a dump
    /// makes the kernel fill all 195 links at 64 dials): each answer has
    /// the carrier exactly as the kernel holds it.
    fn links_of(&mut self, names: &[&str], indexes: &[u32]) -> Result<Vec<Link>, Error> {
        // A name the kernel cannot hold (IFNAMSIZ, with its NUL) names no
        // link; nor does an empty one or one with a NUL inside.
        let fits = |n: &&&str| !n.is_empty() && n.len() < 16 && !n.contains('\0');
        let asks: Vec<(u32, &str)> = names
            .iter()
            .filter(fits)
            .map(|n| (0, *n))
            .chain(indexes.iter().map(|i| (*i, "")))
            .collect();
        let mut links: Vec<Link> = Vec::with_capacity(asks.len());
        for chunk in asks.chunks(BATCH) {
            for l in self
                .get_links(chunk)
                .map_err(|e| Error::Kernel(format!("links: {e}")))?
            {
                if !links.iter().any(|x| x.index == l.index) {
                    links.push(l);
                }
            }
        }
        Ok(links)
    }

    fn default_routes(&mut self, family: Family) -> Result<Vec<Route>, Error> {
        let mut routes = Vec::new();
        let mut bad = None;
        self.each(
            nl::RTM_GETROUTE,
            nl::NLM_F_DUMP,
            &nl::route_dump(family),
            &mut |p| match nl::parse_route(family, p) {
                Ok(Some(r)) => routes.push(r),
                Ok(None) => {}
                Err(e) => drop(bad.get_or_insert(e.to_string())),
            },
        )
        .map_err(|e| Error::Kernel(format!("route dump: {e}")))?;
        match bad {
            Some(e) => Err(Error::Kernel(format!("route dump: {e}"))),
            None => Ok(routes),
        }
    }

    fn replace(&mut self, route: &Route) -> Result<(), KernelError> {
        let msg = nl::route_msg(route, RouteOp::Replace)?;
        self.request(
            nl::RTM_NEWROUTE,
            nl::NLM_F_ACK | nl::NLM_F_CREATE | nl::NLM_F_REPLACE,
            &msg,
        )
    }

    fn delete(&mut self, route: &Route) -> Result<(), KernelError> {
        debug_assert!(route.is_ours());
        let msg = nl::route_msg(route, RouteOp::Delete)?;
        self.request(nl::RTM_DELROUTE, nl::NLM_F_ACK, &msg)
    }

    fn hash_policy(&self, family: Family) -> Option<u32> {
        std::fs::read_to_string(family.hash_policy_sysctl())
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn nexthops(&mut self) -> Result<Option<Vec<NhObject>>, Error> {
        let mut objs = Vec::new();
        let r = self.each(
            nl::RTM_GETNEXTHOP,
            nl::NLM_F_DUMP,
            &nl::nexthop_dump(),
            &mut |p| objs.extend(nl::parse_nexthop(p)),
        );
        match r {
            Ok(()) => Ok(Some(objs)),
            Err(e) if e.errno() == EOPNOTSUPP => Ok(None),
            Err(e) => Err(Error::Kernel(format!("nexthop dump: {e}"))),
        }
    }

    fn write_nexthop(&mut self, obj: &NhObject, how: Write) -> Result<(), KernelError> {
        let msg = nl::nexthop_msg(obj)?;
        let how = match how {
            Write::Create => nl::NLM_F_EXCL,
            Write::Replace => nl::NLM_F_REPLACE,
        };
        self.request(
            nl::RTM_NEWNEXTHOP,
            nl::NLM_F_ACK | nl::NLM_F_CREATE | how,
            &msg,
        )
    }

    fn del_nexthop(&mut self, id: u32) -> Result<(), KernelError> {
        let msg = nl::nexthop_del(id)?;
        self.request(nl::RTM_DELNEXTHOP, nl::NLM_F_ACK, &msg)
    }

    fn rules(&mut self, family: Family) -> Result<Option<Vec<Rule>>, Error> {
        let mut rules = Vec::new();
        let r = self.each(
            nl::RTM_GETRULE,
            nl::NLM_F_DUMP,
            &nl::rule_dump(family),
            &mut |p| rules.extend(nl::parse_rule(family, p)),
        );
        match r {
            Ok(()) => Ok(Some(rules)),
            Err(e) if e.errno() == EOPNOTSUPP || e.errno() == libc::EAFNOSUPPORT => Ok(None),
            Err(e) => Err(Error::Kernel(format!("rule dump: {e}"))),
        }
    }

    fn add_rule(&mut self, rule: &Rule) -> Result<(), KernelError> {
        let msg = nl::rule_msg(rule)?;
        self.request(
            nl::RTM_NEWRULE,
            nl::NLM_F_ACK | nl::NLM_F_CREATE | nl::NLM_F_EXCL,
            &msg,
        )
    }

    fn del_rule(&mut self, rule: &Rule) -> Result<(), KernelError> {
        debug_assert!(rule.is_ours());
        let msg = nl::rule_msg(rule)?;
        self.request(nl::RTM_DELRULE, nl::NLM_F_ACK, &msg)
    }
}
