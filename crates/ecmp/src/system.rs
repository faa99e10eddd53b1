//! Every kernel call of the project: rtnetlink (NETLINK_ROUTE) through
//! neli, and the two sysctls we read. Everything else is plain data.
//!
//! neli 0.7 has no `struct rtnexthop`, no `struct nhmsg` and no
//! RTM_*NEXTHOP message types, so [`Rtnexthop`] and [`Nhmsg`] are ours,
//! built on neli's derives, and the nexthop messages go out as neli's
//! `UnrecognizedConst` types.

use crate::nexthop::{NhKind, NhObject, Resilient};
use crate::route::{Nexthop, Route};
use crate::{Error, Family};
use neli::consts::nl::{NlmF, Nlmsg, NlmsgerrAttr};
use neli::consts::rtnl::{Ifla, RtAddrFamily, RtScope, RtTable, Rta, Rtm, Rtn, Rtprot};
use neli::consts::socket::NlFamily;
use neli::err::DeError;
use neli::nl::{NlPayload, NlmsghdrBuilder};
use neli::rtnl::{Ifinfomsg, IfinfomsgBuilder, Rtattr, RtattrBuilder, Rtmsg, RtmsgBuilder};
use neli::socket::NlSocket;
use neli::types::{Buffer, NlBuffer, RtBuffer};
use neli::utils::Groups;
use neli::{FromBytesWithInput, Header, Size, ToBytes};
use std::io::Cursor;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `struct rtnexthop` followed by its nested attributes (RTA_GATEWAY).
#[derive(Debug, Size, ToBytes, FromBytesWithInput, Header)]
pub struct Rtnexthop {
    pub rtnh_len: u16,
    pub rtnh_flags: u8,
    /// weight - 1
    pub rtnh_hops: u8,
    pub rtnh_ifindex: i32,
    #[neli(input = "input.checked_sub(Self::header_size()).ok_or(DeError::InvalidInput(input))?")]
    pub attrs: RtBuffer<Rta, Buffer>,
}

/// `struct nhmsg` (linux/nexthop.h) followed by NHA_* attributes.
#[derive(Debug, Size, ToBytes, FromBytesWithInput, Header)]
pub struct Nhmsg {
    pub nh_family: u8,
    pub nh_scope: u8,
    pub nh_protocol: u8,
    pub resvd: u8,
    pub nh_flags: u32,
    #[neli(input = "input.checked_sub(Self::header_size()).ok_or(DeError::InvalidInput(input))?")]
    pub attrs: RtBuffer<u16, Buffer>,
}

/// linux/nexthop.h and linux/rtnetlink.h values neli does not name.
mod uapi {
    pub const RTM_NEWNEXTHOP: u16 = 104;
    pub const RTM_DELNEXTHOP: u16 = 105;
    pub const RTM_GETNEXTHOP: u16 = 106;
    pub const RTA_NH_ID: u16 = 30;
    pub const NHA_ID: u16 = 1;
    pub const NHA_GROUP: u16 = 2;
    pub const NHA_GROUP_TYPE: u16 = 3;
    pub const NHA_BLACKHOLE: u16 = 4;
    pub const NHA_OIF: u16 = 5;
    pub const NHA_GATEWAY: u16 = 6;
    pub const NHA_RES_GROUP: u16 = 12;
    pub const NHA_RES_GROUP_BUCKETS: u16 = 1;
    pub const NHA_RES_GROUP_IDLE_TIMER: u16 = 2;
    pub const NHA_RES_GROUP_UNBALANCED_TIMER: u16 = 3;
    pub const NEXTHOP_GRP_TYPE_RES: u16 = 1;
    pub const NLA_F_NESTED: u16 = 0x8000;
    pub const NLA_TYPE_MASK: u16 = 0x3fff;
    pub const AF_INET: u8 = 2;
    pub const AF_INET6: u8 = 10;
    /// Timers travel in clock_t, USER_HZ (100) per second.
    pub const USER_HZ: u32 = 100;
    pub const IFF_UP: u32 = 1;
    pub const IFF_LOWER_UP: u32 = 1 << 16;
}

/// A link as the kernel names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// Up with carrier (IFF_UP and IFF_LOWER_UP): the kernel refuses a
    /// nexthop object on a device without it.
    pub carrier: bool,
}

impl Link {
    /// The name of ifindex `i` among `links`, or `if<i>` for one we did
    /// not see (it went between two dumps).
    pub fn name_of(links: &[Link], i: u32) -> String {
        links
            .iter()
            .find(|l| l.index == i)
            .map(|l| l.name.clone())
            .unwrap_or_else(|| format!("if{i}"))
    }
}

/// The kernel's refusal of a write: errno and its extended-ACK text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelError {
    pub errno: i32,
    pub text: String,
}

// The target's own values: they differ between architectures (MIPS).
pub const ENODEV: i32 = libc::ENODEV;
pub const EINVAL: i32 = libc::EINVAL;
pub const ENETDOWN: i32 = libc::ENETDOWN;
pub const EOPNOTSUPP: i32 = libc::EOPNOTSUPP;
pub const ENOENT: i32 = libc::ENOENT;

impl std::fmt::Display for KernelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // errno 0: we failed before the kernel answered (encoding a
        // message, the socket): no "Success" to print.
        if self.errno == 0 {
            return f.write_str(if self.text.is_empty() {
                "failed before the kernel answered"
            } else {
                &self.text
            });
        }
        let os = std::io::Error::from_raw_os_error(self.errno).to_string();
        let os = os.split(" (os error").next().unwrap_or(&os).to_string();
        if self.text.is_empty() {
            write!(f, "{os} (errno {})", self.errno)
        } else {
            write!(f, "{os} (errno {}): {}", self.errno, self.text)
        }
    }
}

/// What the rest of the core needs from the kernel. The netlink
/// implementation is [`Netlink`]; tests drive the same logic with a fake.
pub trait Kernel {
    fn links(&mut self) -> Result<Vec<Link>, Error>;
    /// Default routes (dst /0) of `family` in `table`, names resolved.
    fn default_routes(&mut self, family: Family, table: u32) -> Result<Vec<Route>, Error>;
    /// RTM_NEWROUTE with CREATE|REPLACE, acknowledged.
    fn replace(&mut self, route: &Route) -> Result<(), KernelError>;
    /// RTM_DELROUTE of a route of ours, acknowledged.
    fn delete(&mut self, route: &Route) -> Result<(), KernelError>;
    /// net.ipv{4,6}.fib_multipath_hash_policy, if readable.
    fn hash_policy(&self, family: Family) -> Option<u32>;
    /// Every nexthop object in the namespace; None when the kernel has no
    /// nexthop objects (before 5.3: RTM_GETNEXTHOP is EOPNOTSUPP).
    fn nexthops(&mut self) -> Result<Option<Vec<NhObject>>, Error>;
    /// RTM_NEWNEXTHOP: CREATE|EXCL, or CREATE|REPLACE when `replace`.
    fn new_nexthop(&mut self, obj: &NhObject, replace: bool) -> Result<(), KernelError>;
    /// RTM_DELNEXTHOP of one of our objects.
    fn del_nexthop(&mut self, id: u32) -> Result<(), KernelError>;
}

pub struct Netlink {
    sock: NlSocket,
    seq: u32,
    buf: Vec<u8>,
}

fn af(family: Family) -> RtAddrFamily {
    match family {
        Family::V4 => RtAddrFamily::Inet,
        Family::V6 => RtAddrFamily::Inet6,
    }
}

fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

fn ip_from(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => <[u8; 4]>::try_from(b)
            .ok()
            .map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        16 => <[u8; 16]>::try_from(b)
            .ok()
            .map(|a| IpAddr::V6(Ipv6Addr::from(a))),
        _ => None,
    }
}

fn u32_from(b: &[u8]) -> Option<u32> {
    <[u8; 4]>::try_from(b.get(..4)?)
        .ok()
        .map(u32::from_ne_bytes)
}

fn attr<P: Size + ToBytes>(t: Rta, p: P) -> Result<Rtattr<Rta, Buffer>, String> {
    RtattrBuilder::default()
        .rta_type(t)
        .rta_payload(p)
        .build()
        .map_err(|e| e.to_string())
}

fn ser<T: ToBytes + Size>(v: &T) -> Result<Vec<u8>, String> {
    let mut c = Cursor::new(vec![0u8; v.padded_size()]);
    v.to_bytes(&mut c).map_err(|e| e.to_string())?;
    Ok(c.into_inner())
}

/// Encode the RTA_MULTIPATH payload for `hops`.
pub fn encode_multipath(hops: &[Nexthop]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for n in hops {
        let mut attrs = RtBuffer::new();
        if let Some(gw) = n.gateway {
            attrs.push(attr(Rta::Gateway, Buffer::from(ip_bytes(gw)))?);
        }
        let mut hop = Rtnexthop {
            rtnh_len: 0,
            rtnh_flags: 0,
            rtnh_hops: (n.weight.clamp(1, 256) - 1) as u8,
            rtnh_ifindex: n.ifindex as i32,
            attrs,
        };
        hop.rtnh_len = hop.unpadded_size() as u16;
        out.extend(ser(&hop)?);
    }
    Ok(out)
}

/// Decode an RTA_MULTIPATH payload into (gateway, ifindex, weight).
pub fn decode_multipath(mut b: &[u8]) -> Result<Vec<(Option<IpAddr>, u32, u16)>, String> {
    let mut out = Vec::new();
    while b.len() >= Rtnexthop::header_size() {
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        if len < Rtnexthop::header_size() || len > b.len() {
            return Err(format!("bad rtnexthop length {len}"));
        }
        let hop = Rtnexthop::from_bytes_with_input(&mut Cursor::new(&b[..len]), len)
            .map_err(|e| e.to_string())?;
        let gw = hop
            .attrs
            .iter()
            .find(|a| *a.rta_type() == Rta::Gateway)
            .and_then(|a| ip_from(a.rta_payload().as_ref()));
        out.push((gw, hop.rtnh_ifindex as u32, u16::from(hop.rtnh_hops) + 1));
        b = &b[((len + 3) & !3).min(b.len())..];
    }
    Ok(out)
}

/// RTM_NEWLINK of `kind` without a parent or a name: the kernel answers
/// "Unknown device type" (EOPNOTSUPP) when the kind is not there, and a
/// kind's own refusal (EINVAL: no lower device) when it is; nothing is
/// ever created.
pub fn link_kind_probe(kind: &str) -> Vec<u8> {
    const IFLA_LINKINFO: u16 = 18;
    const IFLA_INFO_KIND: u16 = 1;
    const NLA_F_NESTED: u16 = 1 << 15;
    let pad = |v: &mut Vec<u8>| v.resize((v.len() + 3) & !3, 0);
    let mut kind_attr = Vec::new();
    let k = kind.as_bytes();
    kind_attr.extend(((4 + k.len() + 1) as u16).to_ne_bytes());
    kind_attr.extend(IFLA_INFO_KIND.to_ne_bytes());
    kind_attr.extend(k);
    kind_attr.push(0);
    pad(&mut kind_attr);
    let mut msg = vec![0u8; 16]; // struct ifinfomsg, AF_UNSPEC
    msg.extend(((4 + kind_attr.len()) as u16).to_ne_bytes());
    msg.extend((IFLA_LINKINFO | NLA_F_NESTED).to_ne_bytes());
    msg.extend(kind_attr);
    msg
}

impl Netlink {
    /// Whether the kernel has link type `kind` (macvlan for multidial).
    /// Err: could not tell (EPERM without root).
    pub fn has_link_kind(&mut self, kind: &str) -> Result<bool, KernelError> {
        match self.request_bytes(
            Rtm::Newlink,
            NlmF::ACK | NlmF::CREATE | NlmF::EXCL,
            link_kind_probe(kind),
        ) {
            Err(e) if e.errno == EOPNOTSUPP => Ok(false),
            Err(e) if e.errno == libc::EPERM => Err(e),
            // EINVAL (no lower device) or, in theory, success: it is there.
            _ => Ok(true),
        }
    }

    pub fn open() -> Result<Netlink, Error> {
        let sock = NlSocket::connect(NlFamily::Route, None, Groups::empty())
            .map_err(|e| Error::Kernel(format!("cannot open rtnetlink socket: {e}")))?;
        // Best effort: the kernel's own error text, and table-filtered dumps.
        let _ = sock.enable_ext_ack(true);
        let _ = sock.enable_strict_checking(true);
        Ok(Netlink {
            sock,
            seq: 0,
            buf: vec![0; 64 << 10],
        })
    }

    /// Send one request and collect the payloads of its answer: every
    /// message of a dump, or nothing for an acknowledged write.
    fn request<P: Size + ToBytes>(
        &mut self,
        ty: Rtm,
        flags: NlmF,
        payload: P,
    ) -> Result<Vec<(u16, Buffer)>, KernelError> {
        let bytes = ser(&payload).map_err(|e| KernelError { errno: 0, text: e })?;
        self.request_bytes(ty, flags, bytes)
    }

    /// The body of [`Netlink::request`], not generic: one copy of the
    /// receive loop instead of one per message type (8 KB on mips).
    fn request_bytes(
        &mut self,
        ty: Rtm,
        flags: NlmF,
        payload: Vec<u8>,
    ) -> Result<Vec<(u16, Buffer)>, KernelError> {
        let io = |e: String| KernelError { errno: 0, text: e };
        let os = |what: &str, e: std::io::Error| KernelError {
            errno: e.raw_os_error().unwrap_or(0),
            text: format!("{what}: {e}"),
        };
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let msg = NlmsghdrBuilder::default()
            .nl_type(ty)
            .nl_flags(flags | NlmF::REQUEST)
            .nl_seq(seq)
            .nl_payload(NlPayload::Payload(Buffer::from(payload)))
            .build()
            .map_err(|e| io(e.to_string()))?;
        let bytes = ser(&msg).map_err(io)?;
        self.sock
            .send(&bytes, neli::consts::socket::Msg::empty())
            .map_err(|e| os("send", e))?;
        let dump = flags.contains(NlmF::DUMP);
        let mut out = Vec::new();
        loop {
            let (n, _) = self
                .sock
                .recv(&mut self.buf[..], neli::consts::socket::Msg::empty())
                .map_err(|e| os("recv", e))?;
            let msgs =
                NlBuffer::<u16, Buffer>::from_bytes_with_input(&mut Cursor::new(&self.buf[..n]), n)
                    .map_err(|e| io(format!("undecodable netlink answer: {e}")))?;
            for m in msgs {
                if *m.nl_seq() != seq {
                    continue;
                }
                let t = *m.nl_type();
                match m.nl_payload() {
                    NlPayload::Err(e) => {
                        let text = e
                            .ext_ack()
                            .iter()
                            .find(|a| *a.nla_type().nla_type() == NlmsgerrAttr::Msg)
                            .map(|a| {
                                String::from_utf8_lossy(a.nla_payload().as_ref())
                                    .trim_end_matches('\0')
                                    .to_string()
                            })
                            .unwrap_or_default();
                        return Err(KernelError {
                            errno: -*e.error(),
                            text,
                        });
                    }
                    NlPayload::Ack(_) => return Ok(out),
                    NlPayload::Payload(p) if t != u16::from(Nlmsg::Done) => {
                        out.push((t, p.clone()))
                    }
                    _ => {}
                }
                if t == u16::from(Nlmsg::Done) && dump {
                    return Ok(out);
                }
            }
        }
    }

    fn route_msg(&self, r: &Route, with_hops: bool) -> Result<Rtmsg, KernelError> {
        let e = |t: String| KernelError { errno: 0, text: t };
        let mut attrs = RtBuffer::new();
        attrs.push(attr(Rta::Table, r.table).map_err(e)?);
        attrs.push(attr(Rta::Priority, r.metric).map_err(e)?);
        let mut scope = RtScope::Universe;
        if let (true, Some(id)) = (with_hops, r.nhid) {
            attrs.push(attr(Rta::UnrecognizedConst(uapi::RTA_NH_ID), id).map_err(e)?);
        } else if with_hops {
            match r.nexthops.as_slice() {
                [n] => {
                    if let Some(gw) = n.gateway {
                        attrs.push(attr(Rta::Gateway, Buffer::from(ip_bytes(gw))).map_err(e)?);
                    } else {
                        scope = RtScope::Link;
                    }
                    attrs.push(attr(Rta::Oif, n.ifindex).map_err(e)?);
                }
                hops => {
                    let mp = encode_multipath(hops).map_err(e)?;
                    attrs.push(attr(Rta::Multipath, Buffer::from(mp)).map_err(e)?);
                }
            }
        }
        RtmsgBuilder::default()
            .rtm_family(af(r.family))
            .rtm_dst_len(0)
            .rtm_src_len(0)
            .rtm_tos(0)
            .rtm_table(RtTable::from(if r.table < 256 {
                r.table as u8
            } else {
                252
            }))
            .rtm_protocol(Rtprot::from(r.protocol))
            .rtm_scope(if with_hops { scope } else { RtScope::Nowhere })
            .rtm_type(Rtn::Unicast)
            .rtattrs(attrs)
            .build()
            .map_err(|x| e(x.to_string()))
    }
}

/// Index and name of one RTM_NEWLINK message. This is the hot path with
/// hundreds of links (every dial has a macvlan and a pppoe device), so it
/// walks the attributes in place instead of building neli's typed list of
/// all of them (stats, af_spec...), which cost 40% of an event at N=64.
fn link_name(p: &[u8]) -> Option<Link> {
    let index = u32_from(p.get(4..8)?)?;
    let flags = u32_from(p.get(8..12)?)?;
    let up = uapi::IFF_UP | uapi::IFF_LOWER_UP;
    let ifla_ifname = u16::from(Ifla::Ifname);
    let (_, name) = attrs(p.get(Ifinfomsg::header_size()..)?).find(|(t, _)| *t == ifla_ifname)?;
    Some(Link {
        index,
        name: String::from_utf8_lossy(name)
            .trim_end_matches('\0')
            .to_string(),
        carrier: flags & up == up,
    })
}

/// Walk netlink attributes in place: (type without flags, payload).
fn attrs(mut b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if b.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let ty = u16::from_ne_bytes([b[2], b[3]]) & uapi::NLA_TYPE_MASK;
        if len < 4 || len > b.len() {
            return None;
        }
        let payload = &b[4..len];
        b = &b[((len + 3) & !3).min(b.len())..];
        Some((ty, payload))
    })
}

fn u16_from(b: &[u8]) -> Option<u16> {
    <[u8; 2]>::try_from(b.get(..2)?)
        .ok()
        .map(u16::from_ne_bytes)
}

/// One RTM_NEWNEXTHOP message of a dump.
fn parse_nexthop(p: &[u8]) -> Option<NhObject> {
    let family = match *p.first()? {
        uapi::AF_INET => Some(Family::V4),
        uapi::AF_INET6 => Some(Family::V6),
        _ => None,
    };
    let protocol = *p.get(2)?;
    let (mut id, mut gateway, mut oif) = (None, None, None);
    let (mut group, mut res, mut blackhole) = (None, None, false);
    for (ty, b) in attrs(p.get(8..)?) {
        match ty {
            uapi::NHA_ID => id = u32_from(b),
            uapi::NHA_GATEWAY => gateway = ip_from(b),
            uapi::NHA_BLACKHOLE => blackhole = true,
            uapi::NHA_OIF => oif = u32_from(b),
            uapi::NHA_GROUP => {
                group = Some(
                    b.chunks_exact(8)
                        .filter_map(|e| {
                            let w = u16::from(e[4]) + 1 + (u16::from(e[5]) << 8);
                            Some((u32_from(e)?, w))
                        })
                        .collect::<Vec<_>>(),
                )
            }
            uapi::NHA_RES_GROUP => {
                let mut r = Resilient {
                    buckets: 0,
                    idle_timer: 0,
                    unbalanced_timer: 0,
                };
                for (t, v) in attrs(b) {
                    match t {
                        uapi::NHA_RES_GROUP_BUCKETS => r.buckets = u16_from(v).unwrap_or(0),
                        uapi::NHA_RES_GROUP_IDLE_TIMER => {
                            r.idle_timer = u32_from(v).unwrap_or(0) / uapi::USER_HZ
                        }
                        uapi::NHA_RES_GROUP_UNBALANCED_TIMER => {
                            r.unbalanced_timer = u32_from(v).unwrap_or(0) / uapi::USER_HZ
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

fn nla(ty: u16, payload: Vec<u8>) -> Result<Rtattr<u16, Buffer>, String> {
    RtattrBuilder::default()
        .rta_type(ty)
        .rta_payload(Buffer::from(payload))
        .build()
        .map_err(|e| e.to_string())
}

/// The RTM_NEWNEXTHOP request for `obj`.
pub fn nexthop_msg(obj: &NhObject) -> Result<Nhmsg, String> {
    let mut a = RtBuffer::new();
    a.push(nla(uapi::NHA_ID, obj.id.to_ne_bytes().to_vec())?);
    let family = match &obj.kind {
        NhKind::Gateway { gateway, ifindex } => {
            a.push(nla(uapi::NHA_OIF, ifindex.to_ne_bytes().to_vec())?);
            if let Some(g) = gateway {
                a.push(nla(uapi::NHA_GATEWAY, ip_bytes(*g))?);
            }
            match obj.family {
                Some(Family::V6) => uapi::AF_INET6,
                _ => uapi::AF_INET,
            }
        }
        NhKind::Group { entries, resilient } => {
            let mut g = Vec::with_capacity(entries.len() * 8);
            for (id, w) in entries {
                let w = w.clamp(&1, &256) - 1;
                g.extend(id.to_ne_bytes());
                g.extend([(w & 0xff) as u8, (w >> 8) as u8, 0, 0]);
            }
            a.push(nla(uapi::NHA_GROUP, g)?);
            if let Some(r) = resilient {
                a.push(nla(
                    uapi::NHA_GROUP_TYPE,
                    uapi::NEXTHOP_GRP_TYPE_RES.to_ne_bytes().to_vec(),
                )?);
                let mut nest = RtBuffer::<u16, Buffer>::new();
                nest.push(nla(
                    uapi::NHA_RES_GROUP_BUCKETS,
                    r.buckets.to_ne_bytes().to_vec(),
                )?);
                let hz = |s: u32| s.saturating_mul(uapi::USER_HZ).to_ne_bytes().to_vec();
                nest.push(nla(uapi::NHA_RES_GROUP_IDLE_TIMER, hz(r.idle_timer))?);
                nest.push(nla(
                    uapi::NHA_RES_GROUP_UNBALANCED_TIMER,
                    hz(r.unbalanced_timer),
                )?);
                a.push(nla(uapi::NHA_RES_GROUP | uapi::NLA_F_NESTED, ser(&nest)?)?);
            }
            0
        }
        NhKind::Blackhole => {
            a.push(nla(uapi::NHA_BLACKHOLE, Vec::new())?);
            uapi::AF_INET
        }
        NhKind::Other => return Err(format!("nexthop {} is not one we write", obj.id)),
    };
    Ok(Nhmsg {
        nh_family: family,
        nh_scope: 0,
        nh_protocol: obj.protocol,
        resvd: 0,
        nh_flags: 0,
        attrs: a,
    })
}

fn parse_route(family: Family, p: &Buffer, names: &[Link]) -> Result<Option<Route>, String> {
    let m = Rtmsg::from_bytes_with_input(&mut Cursor::new(p.as_ref()), p.len())
        .map_err(|e| e.to_string())?;
    if *m.rtm_dst_len() != 0 || *m.rtm_family() != af(family) {
        return Ok(None);
    }
    let mut table = u32::from(u8::from(*m.rtm_table()));
    let mut metric = 0;
    let (mut gw, mut oif, mut hops, mut nhid) = (None, 0u32, Vec::new(), None);
    for a in m.rtattrs().iter() {
        let b = a.rta_payload().as_ref();
        match a.rta_type() {
            Rta::UnrecognizedConst(uapi::RTA_NH_ID) => nhid = u32_from(b),
            Rta::Table => table = u32_from(b).unwrap_or(table),
            Rta::Priority => metric = u32_from(b).unwrap_or(0),
            Rta::Gateway => gw = ip_from(b),
            Rta::Oif => oif = u32_from(b).unwrap_or(0),
            Rta::Multipath => hops = decode_multipath(b)?,
            _ => {}
        }
    }
    if hops.is_empty() && (gw.is_some() || oif != 0) {
        hops.push((gw, oif, 1));
    }
    let name = |i: u32| Link::name_of(names, i);
    Ok(Some(Route {
        family,
        table,
        metric,
        protocol: u8::from(*m.rtm_protocol()),
        src_len: *m.rtm_src_len(),
        kind: u8::from(*m.rtm_type()),
        nhid,
        nexthops: hops
            .into_iter()
            .map(|(gateway, ifindex, weight)| Nexthop {
                gateway,
                ifindex,
                dev: name(ifindex),
                weight,
            })
            .collect(),
    }))
}

impl Kernel for Netlink {
    fn links(&mut self) -> Result<Vec<Link>, Error> {
        let req = IfinfomsgBuilder::default()
            .ifi_family(RtAddrFamily::Unspecified)
            .build()
            .map_err(|e| Error::Kernel(e.to_string()))?;
        let msgs = self
            .request(Rtm::Getlink, NlmF::DUMP, req)
            .map_err(|e| Error::Kernel(format!("link dump: {e}")))?;
        Ok(msgs
            .iter()
            .filter_map(|(_, p)| link_name(p.as_ref()))
            .collect())
    }

    fn default_routes(&mut self, family: Family, table: u32) -> Result<Vec<Route>, Error> {
        let links = self.links()?;
        // Strict checking lets the kernel filter by table; older kernels
        // ignore the filter and we filter below.
        let req = RtmsgBuilder::default()
            .rtm_family(af(family))
            .rtm_dst_len(0)
            .rtm_src_len(0)
            .rtm_tos(0)
            .rtm_table(RtTable::from(if table < 256 { table as u8 } else { 0 }))
            .rtm_protocol(Rtprot::Unspec)
            .rtm_scope(RtScope::Universe)
            .rtm_type(Rtn::Unspec)
            .rtattrs({
                let mut a = RtBuffer::new();
                a.push(attr(Rta::Table, table).map_err(Error::Kernel)?);
                a
            })
            .build()
            .map_err(|e| Error::Kernel(e.to_string()))?;
        let msgs = match self.request(Rtm::Getroute, NlmF::DUMP, req) {
            Ok(m) => m,
            // IPv4 answers ENOENT for a table that does not exist yet.
            Err(e) if e.errno == ENOENT => Vec::new(),
            Err(e) => return Err(Error::Kernel(format!("route dump: {e}"))),
        };
        let mut routes = Vec::new();
        for (_, p) in msgs {
            if let Some(r) = parse_route(family, &p, &links)
                .map_err(|e| Error::Kernel(format!("route dump: {e}")))?
            {
                if r.table == table {
                    routes.push(r);
                }
            }
        }
        Ok(crate::route::merge_siblings(routes))
    }

    fn replace(&mut self, route: &Route) -> Result<(), KernelError> {
        let msg = self.route_msg(route, true)?;
        self.request(Rtm::Newroute, NlmF::ACK | NlmF::CREATE | NlmF::REPLACE, msg)
            .map(drop)
    }

    fn delete(&mut self, route: &Route) -> Result<(), KernelError> {
        debug_assert!(route.is_ours());
        let msg = self.route_msg(route, false)?;
        self.request(Rtm::Delroute, NlmF::ACK, msg).map(drop)
    }

    fn hash_policy(&self, family: Family) -> Option<u32> {
        let v = if family == Family::V4 { 4 } else { 6 };
        std::fs::read_to_string(format!("/proc/sys/net/ipv{v}/fib_multipath_hash_policy"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn nexthops(&mut self) -> Result<Option<Vec<NhObject>>, Error> {
        let req = Nhmsg {
            nh_family: 0,
            nh_scope: 0,
            nh_protocol: 0,
            resvd: 0,
            nh_flags: 0,
            attrs: RtBuffer::new(),
        };
        match self.request(Rtm::from(uapi::RTM_GETNEXTHOP), NlmF::DUMP, req) {
            Ok(msgs) => Ok(Some(
                msgs.iter()
                    .filter_map(|(_, p)| parse_nexthop(p.as_ref()))
                    .collect(),
            )),
            Err(e) if e.errno == EOPNOTSUPP => Ok(None),
            Err(e) => Err(Error::Kernel(format!("nexthop dump: {e}"))),
        }
    }

    fn new_nexthop(&mut self, obj: &NhObject, replace: bool) -> Result<(), KernelError> {
        let msg = nexthop_msg(obj).map_err(|t| KernelError { errno: 0, text: t })?;
        let how = if replace { NlmF::REPLACE } else { NlmF::EXCL };
        self.request(
            Rtm::from(uapi::RTM_NEWNEXTHOP),
            NlmF::ACK | NlmF::CREATE | how,
            msg,
        )
        .map(drop)
    }

    fn del_nexthop(&mut self, id: u32) -> Result<(), KernelError> {
        let mut a = RtBuffer::new();
        a.push(
            nla(uapi::NHA_ID, id.to_ne_bytes().to_vec())
                .map_err(|t| KernelError { errno: 0, text: t })?,
        );
        let msg = Nhmsg {
            nh_family: 0,
            nh_scope: 0,
            nh_protocol: 0,
            resvd: 0,
            nh_flags: 0,
            attrs: a,
        };
        self.request(Rtm::from(uapi::RTM_DELNEXTHOP), NlmF::ACK, msg)
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipath_round_trip() {
        let hops = vec![
            Nexthop {
                gateway: Some("100.64.1.1".parse().unwrap()),
                ifindex: 7,
                dev: String::new(),
                weight: 1,
            },
            Nexthop {
                gateway: None,
                ifindex: 9,
                dev: String::new(),
                weight: 256,
            },
            Nexthop {
                gateway: Some("fe80::b:1".parse().unwrap()),
                ifindex: 11,
                dev: String::new(),
                weight: 3,
            },
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
    fn link_name_from_a_newlink_payload() {
        // ifinfomsg (16 bytes, index 7) + IFLA_MTU + IFLA_IFNAME "pppoe-wan".
        let mut p = vec![0u8; 16];
        p[4..8].copy_from_slice(&7i32.to_ne_bytes());
        p[8..12].copy_from_slice(&(1u32 | 1 << 16).to_ne_bytes());
        p.extend([8, 0, 4, 0, 0xdc, 5, 0, 0]);
        p.extend([14, 0, 3, 0]);
        p.extend(b"pppoe-wan\0\0\0");
        assert_eq!(
            link_name(&p),
            Some(Link {
                index: 7,
                name: "pppoe-wan".into(),
                carrier: true,
            })
        );
        p[10] = 0; // no IFF_LOWER_UP
        assert!(!link_name(&p).unwrap().carrier);
        assert_eq!(link_name(&p[..10]), None);
        p[24] = 200; // IFLA_IFNAME length past the end
        assert_eq!(link_name(&p), None);
    }

    #[test]
    fn nexthop_messages_round_trip() {
        use crate::RTPROT_ECMP;
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
        ];
        for o in objs {
            let b = ser(&nexthop_msg(&o).unwrap()).unwrap();
            assert_eq!(parse_nexthop(&b), Some(o));
        }
        let bh = NhObject {
            id: 5,
            family: Some(Family::V4),
            protocol: RTPROT_ECMP,
            kind: NhKind::Blackhole,
        };
        let b = ser(&nexthop_msg(&bh).unwrap()).unwrap();
        assert_eq!(parse_nexthop(&b), Some(bh));
        let other = NhObject {
            id: 1,
            family: None,
            protocol: 4,
            kind: NhKind::Other,
        };
        assert!(nexthop_msg(&other).is_err());
        assert_eq!(parse_nexthop(&[2, 0, 4]), None, "short message");
    }

    #[test]
    fn route_kinds_agree_with_neli() {
        assert_eq!(u8::from(Rtn::Unicast), crate::route::RTN_UNICAST);
    }

    #[test]
    fn kernel_error_text() {
        let e = KernelError {
            errno: 19,
            text: "Nexthop device is not up".into(),
        };
        assert_eq!(
            e.to_string(),
            "No such device (errno 19): Nexthop device is not up"
        );
        let enc = KernelError {
            errno: 0,
            text: "encode: buffer too small".into(),
        };
        assert_eq!(enc.to_string(), "encode: buffer too small");
        assert!(!KernelError {
            errno: 0,
            text: String::new()
        }
        .to_string()
        .contains("Success"));
    }
}
