//! The rtnetlink messages we send and read, as bytes: a pure codec apart
//! from the socket (`rtnetlink.rs`), tested without root. One checked
//! walker ([`attrs`]) reads every attribute list, one ([`messages`]) every
//! receive buffer; the builders write what `ip route` and `ip nexthop`
//! would. Layouts are linux/netlink.h, rtnetlink.h and nexthop.h; every
//! integer is in host byte order, as netlink wants.

use crate::error::KernelError;
use crate::plan::link::Link;
pub use crate::plan::nexthop::Write;
use crate::plan::nexthop::{NhKind, NhObject, Resilient};
pub use crate::plan::route::RTN_UNICAST;
use crate::plan::route::{Nexthop, Route};
use crate::plan::rule::{Action, Rule};
use crate::Family;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const RTM_NEWLINK: u16 = 16;
pub const RTM_GETLINK: u16 = 18;
pub const RTM_NEWROUTE: u16 = 24;
pub const RTM_DELROUTE: u16 = 25;
pub const RTM_GETROUTE: u16 = 26;
pub const RTM_NEWNEXTHOP: u16 = 104;
pub const RTM_DELNEXTHOP: u16 = 105;
pub const RTM_GETNEXTHOP: u16 = 106;

pub const NLM_F_REQUEST: u16 = 0x01;
pub const NLM_F_MULTI: u16 = 0x02;
pub const NLM_F_ACK: u16 = 0x04;
pub const NLM_F_DUMP: u16 = 0x300;
pub const NLM_F_REPLACE: u16 = 0x100;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;

const NLMSG_HDRLEN: usize = 16;
const NLMSGERR_ATTR_MSG: u16 = 1;
const NLA_F_NESTED: u16 = 0x8000;
const NLA_TYPE_MASK: u16 = 0x3fff;

const IFLA_IFNAME: u16 = 3;
const IFLA_STATS64: u16 = 23;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFF_UP: u32 = 1;
const IFF_LOWER_UP: u32 = 1 << 16;

const RTA_GATEWAY: u16 = 5;
const RTA_OIF: u16 = 4;
const RTA_PRIORITY: u16 = 6;
const RTA_MULTIPATH: u16 = 9;
const RTA_TABLE: u16 = 15;
const RTA_NH_ID: u16 = 30;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RT_SCOPE_LINK: u8 = 253;
const RT_SCOPE_NOWHERE: u8 = 255;
/// RT_TABLE_COMPAT: what goes in rtm_table when RTA_TABLE holds a table
/// above 255.
const RT_TABLE_COMPAT: u8 = 252;

const NHA_ID: u16 = 1;
const NHA_GROUP: u16 = 2;
const NHA_GROUP_TYPE: u16 = 3;
const NHA_BLACKHOLE: u16 = 4;
const NHA_OIF: u16 = 5;
const NHA_GATEWAY: u16 = 6;
const NHA_RES_GROUP: u16 = 12;
const NHA_RES_GROUP_BUCKETS: u16 = 1;
const NHA_RES_GROUP_IDLE_TIMER: u16 = 2;
const NHA_RES_GROUP_UNBALANCED_TIMER: u16 = 3;
const NEXTHOP_GRP_TYPE_RES: u16 = 1;
/// Nexthop timers travel in clock_t, USER_HZ (100) per second.
const USER_HZ: u32 = 100;

pub const AF_UNSPEC: u8 = 0;
pub const AF_INET: u8 = 2;
pub const AF_INET6: u8 = 10;

pub fn family_byte(f: Family) -> u8 {
    match f {
        Family::V4 => AF_INET,
        Family::V6 => AF_INET6,
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn ip_from(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(b).ok()?))),
        16 => Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(b).ok()?))),
        _ => None,
    }
}

fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// The one attribute walker: (type without its flag bits, payload) for
/// each well-formed attribute; it stops at the first one whose length
/// does not fit, so no read ever goes past `b`.
pub fn attrs(mut b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let len = usize::from(u16_at(b, 0)?);
        let ty = u16_at(b, 2)? & NLA_TYPE_MASK;
        if len < 4 || len > b.len() {
            return None;
        }
        let payload = &b[4..len];
        b = &b[((len + 3) & !3).min(b.len())..];
        Some((ty, payload))
    })
}

/// One message of a receive buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct Msg<'a> {
    pub ty: u16,
    pub flags: u16,
    pub seq: u32,
    pub payload: &'a [u8],
}

/// The messages of a receive buffer; Err at the first malformed header
/// (a length that does not fit).
pub fn messages(mut b: &[u8]) -> impl Iterator<Item = Result<Msg<'_>, String>> {
    std::iter::from_fn(move || {
        if b.is_empty() {
            return None;
        }
        let len = match u32_at(b, 0) {
            Some(l) => l as usize,
            None => {
                b = &[];
                return Some(Err("truncated netlink header".into()));
            }
        };
        if len < NLMSG_HDRLEN || len > b.len() {
            b = &[];
            return Some(Err(format!("bad netlink message length {len}")));
        }
        let m = Msg {
            ty: u16_at(b, 4).unwrap_or(0),
            flags: u16_at(b, 6).unwrap_or(0),
            seq: u32_at(b, 8).unwrap_or(0),
            payload: &b[NLMSG_HDRLEN..len],
        };
        b = &b[((len + 3) & !3).min(b.len())..];
        Some(Ok(m))
    })
}

/// An NLMSG_ERROR message: 0 (an ACK) or the refusal, with the kernel's
/// extended-ACK text when it sent one (NLM_F_ACK_TLVS). The TLVs follow
/// the echoed request: its header only when NLM_F_CAPPED, else all of it.
pub fn parse_error(m: &Msg) -> Result<(), KernelError> {
    const NLM_F_CAPPED: u16 = 0x100;
    const NLM_F_ACK_TLVS: u16 = 0x200;
    let p = m.payload;
    let errno = u32_at(p, 0).map_or(-1, |e| e as i32);
    if errno == 0 {
        return Ok(());
    }
    let echoed = if m.flags & NLM_F_CAPPED != 0 {
        NLMSG_HDRLEN
    } else {
        u32_at(p, 4).map_or(NLMSG_HDRLEN, |l| l as usize)
    };
    let text = if m.flags & NLM_F_ACK_TLVS == 0 {
        None
    } else {
        p.get(4 + ((echoed + 3) & !3)..)
            .and_then(|tlv| attrs(tlv).find(|(t, _)| *t == NLMSGERR_ATTR_MSG))
            .map(|(_, m)| {
                String::from_utf8_lossy(m)
                    .trim_end_matches('\0')
                    .to_string()
            })
    };
    Err(KernelError::Refused {
        errno: errno.wrapping_neg(),
        text: text.unwrap_or_default(),
    })
}

/// A message being built: a fixed header, then attributes.
#[derive(Default)]
pub struct Builder {
    b: Vec<u8>,
}

impl Builder {
    fn new(fixed: &[u8]) -> Builder {
        Builder { b: fixed.to_vec() }
    }

    fn attr(&mut self, ty: u16, payload: &[u8]) -> Result<&mut Builder, KernelError> {
        let len = u16::try_from(4 + payload.len()).map_err(|_| {
            KernelError::Encode(format!(
                "attribute {ty} of {} bytes does not fit a netlink attribute",
                payload.len()
            ))
        })?;
        self.b.extend(len.to_ne_bytes());
        self.b.extend(ty.to_ne_bytes());
        self.b.extend(payload);
        self.b.resize((self.b.len() + 3) & !3, 0);
        Ok(self)
    }

    fn u32(&mut self, ty: u16, v: u32) -> Result<&mut Builder, KernelError> {
        self.attr(ty, &v.to_ne_bytes())
    }

    fn done(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.b)
    }
}

/// The whole request: nlmsghdr (REQUEST set) and `payload`.
pub fn request(ty: u16, flags: u16, seq: u32, payload: &[u8]) -> Result<Vec<u8>, KernelError> {
    let len = u32::try_from(NLMSG_HDRLEN + payload.len())
        .map_err(|_| KernelError::Encode("message too large".into()))?;
    let mut m = Vec::with_capacity(len as usize);
    m.extend(len.to_ne_bytes());
    m.extend(ty.to_ne_bytes());
    m.extend((flags | NLM_F_REQUEST).to_ne_bytes());
    m.extend(seq.to_ne_bytes());
    m.extend(0u32.to_ne_bytes()); // port id: the kernel fills it
    m.extend(payload);
    Ok(m)
}

/// struct ifinfomsg of family AF_UNSPEC, all zero: a link dump request.
pub fn link_dump() -> Vec<u8> {
    vec![0u8; 16]
}

/// RTM_GETLINK of one link, by ifindex or (index 0) by name, without its
/// counters (IFLA_EXT_MASK RTEXT_FILTER_SKIP_STATS): the kernel's answer
/// carries IFF_LOWER_UP, the carrier itself, which the SIOCGIFFLAGS ioctl
/// cannot (16 bits), and whose IFF_RUNNING lags it by up to a second.
pub fn link_get(index: u32, name: &str) -> Result<Vec<u8>, KernelError> {
    const IFLA_EXT_MASK: u16 = 29;
    const RTEXT_FILTER_SKIP_STATS: u32 = 1 << 3;
    let mut fixed = link_dump();
    fixed[4..8].copy_from_slice(&index.to_ne_bytes());
    let mut b = Builder::new(&fixed);
    if index == 0 {
        let mut n = name.as_bytes().to_vec();
        n.push(0);
        b.attr(IFLA_IFNAME, &n)?;
    }
    Ok(b.u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)?.done())
}

/// RTM_NEWLINK of `kind` without a parent or a name: the kernel answers
/// "Unknown device type" (EOPNOTSUPP) when the kind is not there, and a
/// kind's own refusal (EINVAL: no lower device) when it is; nothing is
/// ever created.
pub fn link_kind_probe(kind: &str) -> Result<Vec<u8>, KernelError> {
    let mut name = kind.as_bytes().to_vec();
    name.push(0);
    let info = Builder::new(&[]).attr(IFLA_INFO_KIND, &name)?.done();
    Ok(Builder::new(&link_dump())
        .attr(IFLA_LINKINFO | NLA_F_NESTED, &info)?
        .done())
}

/// One RTM_NEWLINK message of a link dump: index, name, carrier, and with
/// `bytes` the byte counters (status only). The hot path with hundreds of
/// links, so it stops at the name, or at the counters.
pub fn parse_link(p: &[u8], want_bytes: bool) -> Option<Link> {
    let index = u32_at(p, 4)?;
    let flags = u32_at(p, 8)?;
    // One walk for the name and struct rtnl_link_stats64 (rx_packets,
    // tx_packets, rx_bytes, tx_bytes, ...).
    let u64_at =
        |b: &[u8], at: usize| Some(u64::from_ne_bytes(b.get(at..at + 8)?.try_into().ok()?));
    let (mut name, mut bytes) = (None, None);
    for (t, b) in attrs(p.get(16..)?) {
        match t {
            IFLA_IFNAME if !want_bytes => {
                name = Some(b);
                break;
            }
            IFLA_IFNAME => name = Some(b),
            IFLA_STATS64 => {
                bytes = u64_at(b, 16).zip(u64_at(b, 24));
                if name.is_some() {
                    break;
                }
            }
            _ => {}
        }
    }
    let name = name?;
    Some(Link {
        index,
        name: String::from_utf8_lossy(name)
            .trim_end_matches('\0')
            .to_string(),
        carrier: flags & (IFF_UP | IFF_LOWER_UP) == IFF_UP | IFF_LOWER_UP,
        bytes,
    })
}

/// A link of a dump as (index, name, kind, parent ifindex): the kind
/// from IFLA_LINKINFO's IFLA_INFO_KIND (`macvlan`), the parent from
/// IFLA_LINK (what multidial adopt asks of macvlans made outside UCI).
pub fn parse_link_kind(p: &[u8]) -> Option<(u32, String, Option<String>, Option<u32>)> {
    const IFLA_LINK: u16 = 5;
    let index = u32_at(p, 4)?;
    let (mut name, mut kind, mut link) = (None, None, None);
    for (t, b) in attrs(p.get(16..)?) {
        match t & NLA_TYPE_MASK {
            IFLA_IFNAME => {
                name = Some(
                    String::from_utf8_lossy(b)
                        .trim_end_matches('\0')
                        .to_string(),
                )
            }
            IFLA_LINK => link = u32_at(b, 0),
            IFLA_LINKINFO => {
                kind = attrs(b)
                    .find(|(k, _)| k & NLA_TYPE_MASK == IFLA_INFO_KIND)
                    .map(|(_, v)| {
                        String::from_utf8_lossy(v)
                            .trim_end_matches('\0')
                            .to_string()
                    })
            }
            _ => {}
        }
    }
    Some((index, name?, kind, link))
}

/// struct rtmsg (12 bytes).
fn rtmsg(family: Family, table: u32, protocol: u8, scope: u8, kind: u8) -> [u8; 12] {
    [
        family_byte(family),
        0, // dst_len: the default route
        0, // src_len
        0, // tos
        if table < 256 {
            table as u8
        } else {
            RT_TABLE_COMPAT
        },
        protocol,
        scope,
        kind,
        0,
        0,
        0,
        0,
    ]
}

/// A dump of `family`'s routes in every table: ours and others' in our
/// table and the member tables, in one request. The kernel sends every
/// route (strict checking filters one table or one protocol, never both
/// sets at once); [`parse_route`] keeps the default routes.
pub fn route_dump(family: Family) -> Vec<u8> {
    rtmsg(family, 0, 0, 0, 0).to_vec()
}

/// RTA_MULTIPATH: one struct rtnexthop (8 bytes) per hop, each followed
/// by its RTA_GATEWAY; rtnh_hops holds weight - 1.
pub fn encode_multipath(hops: &[Nexthop]) -> Result<Vec<u8>, KernelError> {
    let mut out = Vec::new();
    for n in hops {
        let gw = match n.gateway {
            Some(g) => Builder::new(&[]).attr(RTA_GATEWAY, &ip_bytes(g))?.done(),
            None => Vec::new(),
        };
        let len = (8 + gw.len()) as u16;
        out.extend(len.to_ne_bytes());
        out.push(0); // rtnh_flags
        out.push((n.weight.clamp(1, 256) - 1) as u8);
        out.extend(n.ifindex.to_ne_bytes());
        out.extend(gw);
    }
    Ok(out)
}

/// (gateway, ifindex, weight) of each hop of an RTA_MULTIPATH payload.
pub fn decode_multipath(mut b: &[u8]) -> Result<Vec<(Option<IpAddr>, u32, u16)>, String> {
    let mut out = Vec::new();
    while b.len() >= 8 {
        let len = usize::from(u16_at(b, 0).unwrap_or(0));
        if len < 8 || len > b.len() {
            return Err(format!("bad rtnexthop length {len}"));
        }
        let gw = attrs(&b[8..len])
            .find(|(t, _)| *t == RTA_GATEWAY)
            .and_then(|(_, g)| ip_from(g));
        let ifindex = u32_at(b, 4).unwrap_or(0);
        out.push((gw, ifindex, u16::from(b[3]) + 1));
        b = &b[((len + 3) & !3).min(b.len())..];
    }
    Ok(out)
}

/// What a route write does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteOp {
    /// RTM_NEWROUTE, CREATE|REPLACE: the route with its nexthops.
    Replace,
    /// RTM_DELROUTE: matched by table, metric, protocol and type.
    Delete,
}

/// The RTM_NEWROUTE / RTM_DELROUTE payload for `r`.
pub fn route_msg(r: &Route, op: RouteOp) -> Result<Vec<u8>, KernelError> {
    let mut scope = RT_SCOPE_UNIVERSE;
    let mut b = Builder::default();
    b.u32(RTA_TABLE, r.table)?.u32(RTA_PRIORITY, r.metric)?;
    match (op, r.nhid, r.nexthops.as_slice()) {
        (RouteOp::Delete, ..) => scope = RT_SCOPE_NOWHERE,
        (RouteOp::Replace, Some(id), _) => {
            b.u32(RTA_NH_ID, id)?;
        }
        (RouteOp::Replace, None, [n]) => {
            match n.gateway {
                Some(gw) => {
                    b.attr(RTA_GATEWAY, &ip_bytes(gw))?;
                }
                None => scope = RT_SCOPE_LINK,
            }
            b.u32(RTA_OIF, n.ifindex)?;
        }
        (RouteOp::Replace, None, hops) => {
            b.attr(RTA_MULTIPATH, &encode_multipath(hops)?)?;
        }
    }
    let mut m = rtmsg(r.family, r.table, r.protocol, scope, RTN_UNICAST).to_vec();
    m.extend(b.done());
    Ok(m)
}

/// One RTM_NEWROUTE message of a dump, if it is a default route of
/// `family`. Nexthops carry their ifindex; `dev` is left empty for the
/// caller to name from the links it read.
pub fn parse_route(family: Family, p: &[u8]) -> Result<Option<Route>, String> {
    if p.len() < 12 {
        return Err(format!("route message of {} bytes", p.len()));
    }
    if p[1] != 0 || p[0] != family_byte(family) {
        return Ok(None);
    }
    let mut table = u32::from(p[4]);
    let mut metric = 0;
    let (mut gw, mut oif, mut hops, mut nhid) = (None, 0u32, Vec::new(), None);
    for (ty, b) in attrs(&p[12..]) {
        match ty {
            RTA_NH_ID => nhid = u32_at(b, 0),
            RTA_TABLE => table = u32_at(b, 0).unwrap_or(table),
            RTA_PRIORITY => metric = u32_at(b, 0).unwrap_or(0),
            RTA_GATEWAY => gw = ip_from(b),
            RTA_OIF => oif = u32_at(b, 0).unwrap_or(0),
            RTA_MULTIPATH => hops = decode_multipath(b)?,
            _ => {}
        }
    }
    if hops.is_empty() && (gw.is_some() || oif != 0) {
        hops.push((gw, oif, 1));
    }
    Ok(Some(Route {
        family,
        table,
        metric,
        protocol: p[5],
        src_len: p[2],
        kind: p[7],
        nhid,
        nexthops: hops
            .into_iter()
            .map(|(gateway, ifindex, weight)| Nexthop {
                gateway,
                ifindex,
                dev: String::new(),
                weight,
            })
            .collect(),
    }))
}

pub const RTM_NEWRULE: u16 = 32;
pub const RTM_DELRULE: u16 = 33;
pub const RTM_GETRULE: u16 = 34;
const FRA_DST: u16 = 1;
const FRA_SRC: u16 = 2;
const FRA_IIFNAME: u16 = 3;
const FRA_GOTO: u16 = 4;
const FRA_PRIORITY: u16 = 6;
const FRA_FWMARK: u16 = 10;
const FRA_SUPPRESS_PREFIXLEN: u16 = 14;
const FRA_TABLE: u16 = 15;
const FRA_FWMASK: u16 = 16;
const FRA_PROTOCOL: u16 = 21;
/// fib_rule_hdr.action: look the packet up in a table, go to a later
/// priority, do nothing.
const FR_ACT_TO_TBL: u8 = 1;
const FR_ACT_GOTO: u8 = 2;
const FR_ACT_NOP: u8 = 3;
/// ... or refuse it (ENETUNREACH, an ICMP "net unreachable" to a sender).
const FR_ACT_UNREACHABLE: u8 = 7;

/// struct fib_rule_hdr (12 bytes): family, dst_len, src_len, tos, table,
/// two reserved bytes, action, flags.
fn rule_hdr(family: Family, dst_len: u8, src_len: u8, table: u32, action: u8) -> [u8; 12] {
    let t = if table < 256 { table as u8 } else { 0 };
    [
        family_byte(family),
        dst_len,
        src_len,
        0,
        t,
        0,
        0,
        action,
        0,
        0,
        0,
        0,
    ]
}

/// A dump of `family`'s policy rules (a header of zeros but the family:
/// with strict checking the kernel refuses anything else).
pub fn rule_dump(family: Family) -> Vec<u8> {
    let mut h = [0u8; 12];
    h[0] = family_byte(family);
    h.to_vec()
}

/// The RTM_NEWRULE / RTM_DELRULE payload for `r` (a delete matches on
/// every attribute given: priority, action, table, source, iif, mark,
/// suppression, protocol).
pub fn rule_msg(r: &Rule) -> Result<Vec<u8>, KernelError> {
    let src_len = r.src.map_or(0, |(_, l)| l);
    let (action, table) = match r.action {
        Action::Lookup => (FR_ACT_TO_TBL, r.table),
        Action::Goto(_) => (FR_ACT_GOTO, 0),
        Action::Nop => (FR_ACT_NOP, 0),
        Action::Unreachable => (FR_ACT_UNREACHABLE, 0),
    };
    let dst_len = r.dst.map_or(0, |(_, l)| l);
    let mut b = Builder::new(&rule_hdr(r.family, dst_len, src_len, table, action));
    b.u32(FRA_PRIORITY, r.priority)?;
    match r.action {
        Action::Lookup => {
            b.u32(FRA_TABLE, r.table)?;
        }
        Action::Goto(p) => {
            b.u32(FRA_GOTO, p)?;
        }
        Action::Nop | Action::Unreachable => {}
    }
    if let Some((ip, _)) = r.src {
        b.attr(FRA_SRC, &ip_bytes(ip))?;
    }
    if let Some((ip, _)) = r.dst {
        b.attr(FRA_DST, &ip_bytes(ip))?;
    }
    if let Some(dev) = &r.iif {
        let mut n = dev.as_bytes().to_vec();
        n.push(0);
        b.attr(FRA_IIFNAME, &n)?;
    }
    if let Some((mark, mask)) = r.fwmark {
        b.u32(FRA_FWMARK, mark)?.u32(FRA_FWMASK, mask)?;
    }
    if let Some(n) = r.suppress {
        b.u32(FRA_SUPPRESS_PREFIXLEN, n)?;
    }
    b.attr(FRA_PROTOCOL, &[r.protocol])?;
    Ok(b.done())
}

/// One RTM_NEWRULE message of a dump, if it is a rule of `family` that
/// looks up a table, goes to a priority, does nothing or refuses (others,
/// such as blackhole or prohibit rules, are no concern of ours).
pub fn parse_rule(family: Family, p: &[u8]) -> Option<Rule> {
    if p.len() < 12 || p[0] != family_byte(family) {
        return None;
    }
    let action = match p[7] {
        FR_ACT_TO_TBL => Action::Lookup,
        FR_ACT_GOTO => Action::Goto(0),
        FR_ACT_NOP => Action::Nop,
        FR_ACT_UNREACHABLE => Action::Unreachable,
        _ => return None,
    };
    let mut r = Rule {
        table: if action == Action::Lookup {
            u32::from(p[4])
        } else {
            0
        },
        ..Rule::doing(family, 0, action)
    };
    r.protocol = 0;
    let (mut mark, mut mask) = (None, None);
    for (ty, b) in attrs(&p[12..]) {
        match ty {
            FRA_PRIORITY => r.priority = u32_at(b, 0)?,
            FRA_TABLE if action == Action::Lookup => r.table = u32_at(b, 0)?,
            FRA_GOTO if action != Action::Lookup => r.action = Action::Goto(u32_at(b, 0)?),
            FRA_SRC => r.src = Some((ip_from(b)?, p[2])),
            FRA_DST => r.dst = Some((ip_from(b)?, p[1])),
            FRA_IIFNAME => {
                r.iif = Some(
                    String::from_utf8_lossy(b)
                        .trim_end_matches('\0')
                        .to_string(),
                )
            }
            FRA_FWMARK => mark = u32_at(b, 0),
            FRA_FWMASK => mask = Some(u32_at(b, 0)?),
            FRA_SUPPRESS_PREFIXLEN => r.suppress = u32_at(b, 0).filter(|n| *n != u32::MAX),
            FRA_PROTOCOL => r.protocol = *b.first()?,
            _ => {}
        }
    }
    // The kernel leaves FRA_FWMARK out for mark 0 (`fwmark 0/MASK`, our
    // guard), and FRA_FWMASK out for a full mask.
    r.fwmark = match (mark, mask) {
        (None, None) => None,
        (m, k) => Some((m.unwrap_or(0), k.unwrap_or(u32::MAX))),
    };
    Some(r)
}

/// struct nhmsg (8 bytes).
fn nhmsg(family: u8, protocol: u8) -> [u8; 8] {
    [family, 0, protocol, 0, 0, 0, 0, 0]
}

/// A nexthop dump request (every object in the namespace).
pub fn nexthop_dump() -> Vec<u8> {
    nhmsg(AF_UNSPEC, 0).to_vec()
}

/// RTM_DELNEXTHOP of `id`.
pub fn nexthop_del(id: u32) -> Result<Vec<u8>, KernelError> {
    Ok(Builder::new(&nhmsg(AF_UNSPEC, 0)).u32(NHA_ID, id)?.done())
}

/// The RTM_NEWNEXTHOP payload for `obj`.
pub fn nexthop_msg(obj: &NhObject) -> Result<Vec<u8>, KernelError> {
    let mut b = Builder::default();
    b.u32(NHA_ID, obj.id)?;
    let family = match &obj.kind {
        NhKind::Gateway { gateway, ifindex } => {
            b.u32(NHA_OIF, *ifindex)?;
            if let Some(g) = gateway {
                b.attr(NHA_GATEWAY, &ip_bytes(*g))?;
            }
            match obj.family {
                Some(Family::V6) => AF_INET6,
                _ => AF_INET,
            }
        }
        NhKind::Group { entries, resilient } => {
            // struct nexthop_grp: u32 id, u8 weight - 1, u8 weight_high
            // (weight - 1 >> 8, since 6.12), u16 reserved.
            let mut g = Vec::with_capacity(entries.len() * 8);
            for (id, w) in entries {
                let w = w.clamp(&1, &256) - 1;
                g.extend(id.to_ne_bytes());
                g.extend([(w & 0xff) as u8, (w >> 8) as u8, 0, 0]);
            }
            b.attr(NHA_GROUP, &g)?;
            if let Some(r) = resilient {
                b.attr(NHA_GROUP_TYPE, &NEXTHOP_GRP_TYPE_RES.to_ne_bytes())?;
                let hz = |s: u32| s.saturating_mul(USER_HZ);
                let nest = Builder::default()
                    .attr(NHA_RES_GROUP_BUCKETS, &r.buckets.to_ne_bytes())?
                    .u32(NHA_RES_GROUP_IDLE_TIMER, hz(r.idle_timer))?
                    .u32(NHA_RES_GROUP_UNBALANCED_TIMER, hz(r.unbalanced_timer))?
                    .done();
                b.attr(NHA_RES_GROUP | NLA_F_NESTED, &nest)?;
            }
            AF_UNSPEC
        }
        NhKind::Blackhole => {
            b.attr(NHA_BLACKHOLE, &[])?;
            AF_INET
        }
        NhKind::Other => {
            return Err(KernelError::Encode(format!(
                "nexthop {} is not one we write",
                obj.id
            )))
        }
    };
    let mut m = nhmsg(family, obj.protocol).to_vec();
    m.extend(b.done());
    Ok(m)
}

/// One RTM_NEWNEXTHOP message of a dump.
pub fn parse_nexthop(p: &[u8]) -> Option<NhObject> {
    let family = match *p.first()? {
        AF_INET => Some(Family::V4),
        AF_INET6 => Some(Family::V6),
        _ => None,
    };
    let protocol = *p.get(2)?;
    let (mut id, mut gateway, mut oif) = (None, None, None);
    let (mut group, mut res, mut blackhole) = (None, None, false);
    for (ty, b) in attrs(p.get(8..)?) {
        match ty {
            NHA_ID => id = u32_at(b, 0),
            NHA_GATEWAY => gateway = ip_from(b),
            NHA_BLACKHOLE => blackhole = true,
            NHA_OIF => oif = u32_at(b, 0),
            NHA_GROUP => {
                group = Some(
                    b.chunks_exact(8)
                        .filter_map(|e| {
                            let w = u16::from(e[4]) + 1 + (u16::from(e[5]) << 8);
                            Some((u32_at(e, 0)?, w))
                        })
                        .collect::<Vec<_>>(),
                )
            }
            NHA_RES_GROUP => {
                let mut r = Resilient {
                    buckets: 0,
                    idle_timer: 0,
                    unbalanced_timer: 0,
                };
                for (t, v) in attrs(b) {
                    match t {
                        NHA_RES_GROUP_BUCKETS => r.buckets = u16_at(v, 0).unwrap_or(0),
                        NHA_RES_GROUP_IDLE_TIMER => {
                            r.idle_timer = u32_at(v, 0).unwrap_or(0) / USER_HZ
                        }
                        NHA_RES_GROUP_UNBALANCED_TIMER => {
                            r.unbalanced_timer = u32_at(v, 0).unwrap_or(0) / USER_HZ
                        }
                        _ => {}
                    }
                }
                res = Some(r);
            }
            _ => {}
        }
    }
    let kind = match (group, oif) {
        (Some(entries), _) => NhKind::Group {
            entries,
            resilient: res,
        },
        (None, Some(ifindex)) => NhKind::Gateway { gateway, ifindex },
        _ if blackhole => NhKind::Blackhole,
        _ => NhKind::Other,
    };
    Some(NhObject {
        id: id?,
        family,
        protocol,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RTPROT_ECMP;

    fn hop(gw: Option<&str>, ifindex: u32, weight: u16) -> Nexthop {
        Nexthop {
            gateway: gw.map(|g| g.parse().unwrap()),
            ifindex,
            dev: String::new(),
            weight,
        }
    }

    #[test]
    fn multipath_round_trip() {
        let hops = vec![
            hop(Some("100.64.1.1"), 7, 1),
            hop(None, 9, 256),
            hop(Some("fe80::b:1"), 11, 3),
        ];
        let b = encode_multipath(&hops).unwrap();
        // rtnexthop is 8 bytes; RTA_GATEWAY is 8 (IPv4) or 20 (IPv6).
        assert_eq!(b.len(), 16 + 8 + 28);
        assert_eq!(&b[..8], &[16, 0, 0, 0, 7, 0, 0, 0]);
        assert_eq!(
            decode_multipath(&b).unwrap(),
            vec![
                (Some("100.64.1.1".parse().unwrap()), 7, 1),
                (None, 9, 256),
                (Some("fe80::b:1".parse().unwrap()), 11, 3)
            ]
        );
        assert!(decode_multipath(&[200, 0, 0, 0, 1, 0, 0, 0]).is_err());
    }

    #[test]
    fn rules_round_trip_and_the_kernels_mark_forms_are_read() {
        use crate::plan::rule::{Action, Rule};
        let k = 0x00ff_0000;
        let rules = [
            Rule {
                src: Some(("100.66.0.1".parse().unwrap(), 32)),
                ..Rule::lookup(Family::V4, 4204, 4201)
            },
            Rule {
                iif: Some("lo".into()),
                ..Rule::doing(Family::V4, 4200, Action::Goto(4202))
            },
            Rule {
                fwmark: Some((k, k)),
                ..Rule::doing(Family::V6, 4204, Action::Unreachable)
            },
            Rule {
                fwmark: Some((0x10000, k)),
                ..Rule::lookup(Family::V4, 4204, 4201)
            },
        ];
        for r in &rules {
            let msg = rule_msg(r).unwrap();
            assert_eq!(parse_rule(r.family, &msg).as_ref(), Some(r));
        }
        // `fwmark 0/MASK` comes back without FRA_FWMARK; a full mask
        // without FRA_FWMASK.
        let mut b = Builder::new(&rule_hdr(Family::V4, 0, 0, 0, FR_ACT_GOTO));
        b.u32(FRA_PRIORITY, 4201)
            .unwrap()
            .u32(FRA_GOTO, 4205)
            .unwrap();
        b.u32(FRA_FWMASK, k)
            .unwrap()
            .attr(FRA_PROTOCOL, &[236])
            .unwrap();
        let r = parse_rule(Family::V4, &b.done()).unwrap();
        assert_eq!(r.fwmark, Some((0, k)));
        let mut b = Builder::new(&rule_hdr(Family::V4, 0, 0, 0, FR_ACT_UNREACHABLE));
        b.u32(FRA_PRIORITY, 4204)
            .unwrap()
            .u32(FRA_FWMARK, 7)
            .unwrap();
        let r = parse_rule(Family::V4, &b.done()).unwrap();
        assert_eq!(
            (r.fwmark, r.action),
            (Some((7, u32::MAX)), Action::Unreachable)
        );
    }

    #[test]
    fn routes_round_trip_through_the_codec() {
        let mut r = Route {
            family: Family::V4,
            table: 100_000,
            metric: 7,
            protocol: RTPROT_ECMP,
            src_len: 0,
            kind: RTN_UNICAST,
            nhid: None,
            nexthops: vec![hop(Some("100.64.1.1"), 7, 2), hop(Some("100.64.2.1"), 8, 1)],
        };
        for hops in [
            r.nexthops.clone(),
            vec![hop(Some("100.64.1.1"), 7, 1)],
            vec![hop(None, 4, 1)],
        ] {
            r.nexthops = hops;
            let m = route_msg(&r, RouteOp::Replace).unwrap();
            assert_eq!(m[4], RT_TABLE_COMPAT, "a table above 255 goes in RTA_TABLE");
            assert_eq!(parse_route(Family::V4, &m).unwrap(), Some(r.clone()));
        }
        r.nhid = Some(0xEC80_0000);
        let m = route_msg(&r, RouteOp::Replace).unwrap();
        assert_eq!(parse_route(Family::V4, &m).unwrap().unwrap().nhid, r.nhid);
        let del = route_msg(&r, RouteOp::Delete).unwrap();
        assert_eq!(del[6], RT_SCOPE_NOWHERE);
        assert!(parse_route(Family::V4, &del)
            .unwrap()
            .unwrap()
            .nexthops
            .is_empty());
        // Another family, a non-default route, a short message.
        assert_eq!(parse_route(Family::V6, &m).unwrap(), None);
        let mut not_default = m.clone();
        not_default[1] = 24;
        assert_eq!(parse_route(Family::V4, &not_default).unwrap(), None);
        assert!(parse_route(Family::V4, &m[..8]).is_err());
    }

    #[test]
    fn a_route_too_large_for_netlink_is_an_encode_error() {
        let r = Route {
            family: Family::V6,
            table: 254,
            metric: 1,
            protocol: RTPROT_ECMP,
            src_len: 0,
            kind: RTN_UNICAST,
            nhid: None,
            nexthops: (0..3000).map(|i| hop(Some("fe80::1"), i, 1)).collect(),
        };
        let e = route_msg(&r, RouteOp::Replace).unwrap_err();
        assert_eq!(e.errno(), 0);
        assert!(e.to_string().contains("does not fit"), "{e}");
    }

    #[test]
    fn link_from_a_newlink_payload() {
        // ifinfomsg (16 bytes, index 7) + IFLA_MTU + IFLA_IFNAME "pppoe-wan".
        let mut p = vec![0u8; 16];
        p[4..8].copy_from_slice(&7i32.to_ne_bytes());
        p[8..12].copy_from_slice(&(1u32 | 1 << 16).to_ne_bytes());
        p.extend([8, 0, 4, 0, 0xdc, 5, 0, 0]);
        p.extend([14, 0, 3, 0]);
        p.extend(b"pppoe-wan\0\0\0");
        assert_eq!(
            parse_link(&p, false),
            Some(Link {
                index: 7,
                name: "pppoe-wan".into(),
                carrier: true,
                bytes: None,
            })
        );
        // IFLA_STATS64: rx_packets, tx_packets, rx_bytes 1000, tx_bytes 2000.
        let mut q = p.clone();
        q.extend([4 + 32, 0, 23, 0]);
        for v in [1u64, 2, 1000, 2000] {
            q.extend(v.to_ne_bytes());
        }
        assert_eq!(parse_link(&q, true).unwrap().bytes, Some((1000, 2000)));
        assert_eq!(parse_link(&q, false).unwrap().bytes, None);
        p[10] = 0; // no IFF_LOWER_UP
        assert!(!parse_link(&p, false).unwrap().carrier);
        assert_eq!(parse_link(&p[..10], false), None);
        p[24] = 200; // IFLA_IFNAME length past the end
        assert_eq!(parse_link(&p, false), None);
    }

    #[test]
    fn nexthop_messages_round_trip() {
        let objs = [
            NhObject {
                id: 0xEC00_0001,
                family: Some(Family::V6),
                protocol: RTPROT_ECMP,
                kind: NhKind::Gateway {
                    gateway: Some("fe80::b:1".parse().unwrap()),
                    ifindex: 9,
                },
            },
            NhObject {
                id: 0xEC00_0002,
                family: Some(Family::V4),
                protocol: RTPROT_ECMP,
                kind: NhKind::Gateway {
                    gateway: None,
                    ifindex: 4,
                },
            },
            NhObject {
                id: 0xEC80_03F8,
                family: None,
                protocol: RTPROT_ECMP,
                kind: NhKind::Group {
                    entries: vec![(0xEC00_0001, 1), (0xEC00_0002, 256)],
                    resilient: Some(Resilient {
                        buckets: 64,
                        idle_timer: 30,
                        unbalanced_timer: 600,
                    }),
                },
            },
            NhObject {
                id: 0xEC80_03F9,
                family: None,
                protocol: RTPROT_ECMP,
                kind: NhKind::Group {
                    entries: vec![(0xEC00_0001, 7)],
                    resilient: None,
                },
            },
            NhObject {
                id: 5,
                family: Some(Family::V4),
                protocol: RTPROT_ECMP,
                kind: NhKind::Blackhole,
            },
        ];
        for o in objs {
            assert_eq!(parse_nexthop(&nexthop_msg(&o).unwrap()), Some(o));
        }
        let other = NhObject {
            id: 1,
            family: None,
            protocol: 4,
            kind: NhKind::Other,
        };
        assert!(nexthop_msg(&other).is_err());
        assert_eq!(parse_nexthop(&[2, 0, 4]), None, "short message");
        assert_eq!(
            parse_nexthop(&nexthop_del(9).unwrap()).map(|o| o.id),
            Some(9)
        );
    }

    #[test]
    fn messages_and_errors_of_a_receive_buffer() {
        let ack = {
            let mut p = 0i32.to_ne_bytes().to_vec();
            p.extend(request(RTM_NEWROUTE, NLM_F_ACK, 5, &[]).unwrap());
            request(NLMSG_ERROR, 0, 5, &p).unwrap()
        };
        // Not capped: the whole request (with 8 bytes of payload) comes
        // back, then the TLVs.
        let refusal = {
            let mut p = (-19i32).to_ne_bytes().to_vec();
            p.extend(request(RTM_NEWNEXTHOP, NLM_F_ACK, 6, &[1; 8]).unwrap());
            p.extend([27, 0, 1, 0]);
            p.extend(b"Nexthop device is down\0\0");
            request(NLMSG_ERROR, 0x200, 6, &p).unwrap()
        };
        let mut buf = ack.clone();
        buf.extend(&refusal);
        let msgs: Vec<Msg> = messages(&buf).map(Result::unwrap).collect();
        assert_eq!(msgs.len(), 2);
        assert_eq!((msgs[0].ty, msgs[0].seq), (NLMSG_ERROR, 5));
        assert_eq!(parse_error(&msgs[0]), Ok(()));
        let e = parse_error(&msgs[1]).unwrap_err();
        assert_eq!(e.errno(), 19);
        assert_eq!(
            e.to_string(),
            "No such device (errno 19): Nexthop device is down"
        );
        // A length past the end stops the walk with an error, never a read.
        let mut bad = ack;
        bad[0] = 200;
        let got: Vec<_> = messages(&bad).collect();
        assert_eq!(got.len(), 1);
        assert!(got[0].is_err());
        assert!(messages(&[1, 0]).next().unwrap().is_err());
    }

    #[test]
    fn the_attribute_walker_never_reads_past_its_buffer() {
        let mut b = Builder::default();
        b.u32(1, 7).unwrap().attr(2, b"abc").unwrap();
        let m = b.done();
        let all: Vec<_> = attrs(&m).collect();
        assert_eq!(all, vec![(1, &7u32.to_ne_bytes()[..]), (2, &b"abc"[..])]);
        for cut in 0..m.len() {
            assert!(attrs(&m[..cut]).count() <= 2);
        }
        assert_eq!(attrs(&[3, 0, 1, 0]).count(), 0, "a length below the header");
    }

    #[test]
    fn link_kind_probe_is_a_nested_kind() {
        let m = link_kind_probe("macvlan").unwrap();
        let (t, info) = attrs(&m[16..]).next().unwrap();
        assert_eq!(t, IFLA_LINKINFO);
        assert_eq!(
            attrs(info).next(),
            Some((IFLA_INFO_KIND, &b"macvlan\0"[..]))
        );
    }
}
