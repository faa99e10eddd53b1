//! Policy rules (`config rule` in /etc/config/ecmp) as data: which new
//! connections they match and where they send them, with mwan3's option
//! names wherever the meaning is the same. Parsed and checked here; the
//! nft text they become is `plan::nft`'s.
//!
//! ```text
//! config rule 'bank'
//!     option family 'ipv4'        # ipv4, ipv6, any (default)
//!     option proto 'tcp'          # tcp, udp, icmp, all (default)
//!     list src_ip '192.168.1.10'  # an address, a CIDR, or a list of them
//!     list dest_ip '203.0.113.0/24'
//!     option src_port '1024-65535'  # tcp/udp: a port, a range (a-b or a:b), a list
//!     option dest_port '443,8443'
//!     option ipset 'bank'         # a set in our table that dnsmasq fills
//!     option use 'VWAN2'          # a member's interface, 'tier:2', or 'balanced'
//!     option fallback '1'         # 0: refused when that member is not in the route
//!     option sticky '1'           # a source keeps the member its last match used
//!     option timeout '600'        # ... for this many seconds without one
//! ```

use crate::input::options::parse_bool;
use crate::input::uci::Section;
use crate::Family;
use std::net::IpAddr;

/// Where a rule sends the connections it matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Use {
    /// The whole route: the rules after it are not looked at.
    Balanced,
    /// One member, by its interface name.
    Member(String),
    /// The live members of one tier (`use 'tier:2'`), in use by the route
    /// or standing by: each new connection to one of them, by weight.
    Tier(u8),
}

/// A transport protocol a rule matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    All,
    Tcp,
    Udp,
    Icmp,
}

/// One `config rule` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyRule {
    /// The section's name (or `@rule[N]`), for status and errors.
    pub name: String,
    /// None: both families.
    pub family: Option<Family>,
    pub proto: Proto,
    pub src: Vec<(IpAddr, u8)>,
    pub dest: Vec<(IpAddr, u8)>,
    /// Inclusive port ranges; empty: any port.
    pub src_port: Vec<(u16, u16)>,
    pub dest_port: Vec<(u16, u16)>,
    /// The name of a destination set in our table (dnsmasq's nftset).
    pub ipset: Option<String>,
    pub target: Use,
    /// With the member not in the route: the balanced route (true), or
    /// refused as unreachable.
    pub fallback: bool,
    pub sticky: bool,
    /// Seconds a sticky source stays on its member without a match.
    pub timeout: u32,
}

/// Addresses with their prefix lengths.
pub type Nets = Vec<(IpAddr, u8)>;

/// mwan3's default `timeout` for sticky rules.
pub const DEFAULT_TIMEOUT: u32 = 600;

/// Whether a rule's `use` names member interface `iface`: itself, or
/// (IPv6) netifd's dynamic `<use>_6` riding on it, as weights and tiers
/// are inherited.
pub fn names(target: &str, iface: &str) -> bool {
    iface == target || iface.strip_suffix("_6") == Some(target)
}

impl PolicyRule {
    /// Whether the rule applies to `family`.
    pub fn is_for(&self, family: Family) -> bool {
        self.family.is_none_or(|f| f == family)
    }

    /// The addresses of the rule's `src_ip` and `dest_ip` of `family`. A
    /// rule whose addresses are all of the other family does not apply.
    pub fn addrs(&self, family: Family) -> Option<(Nets, Nets)> {
        let of = |v: &[(IpAddr, u8)]| -> Option<Nets> {
            let mine: Vec<_> = v
                .iter()
                .filter(|(a, _)| a.is_ipv4() == (family == Family::V4))
                .copied()
                .collect();
            (v.is_empty() || !mine.is_empty()).then_some(mine)
        };
        Some((of(&self.src)?, of(&self.dest)?))
    }
}

/// An address or a CIDR of either family.
pub fn parse_net(v: &str) -> Result<(IpAddr, u8), String> {
    let (a, len) = match v.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (v, None),
    };
    let ip: IpAddr = a
        .parse()
        .map_err(|_| format!("'{v}' is not an address or a CIDR"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) => match l.parse::<u8>() {
            Ok(n) if n <= max => n,
            _ => return Err(format!("'{v}' has no valid prefix length (0-{max})")),
        },
    };
    Ok((ip, len))
}

/// Ports as mwan3 writes them: `443`, `80,443`, `1000-2000` or
/// `1000:2000`, and lists of those.
pub fn parse_ports(values: &[String]) -> Result<Vec<(u16, u16)>, String> {
    let mut out = Vec::new();
    for part in values.iter().flat_map(|v| v.split([',', ' '])) {
        if part.is_empty() {
            continue;
        }
        let port = |p: &str| match p.parse::<u16>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(format!("'{part}' is not a port (1-65535) or a range")),
        };
        let (a, b) = match part.split_once(['-', ':']) {
            Some((a, b)) => (port(a)?, port(b)?),
            None => (port(part)?, port(part)?),
        };
        if a > b {
            return Err(format!("'{part}' is a range that ends before it starts"));
        }
        out.push((a, b));
    }
    Ok(out)
}

/// A set's name as nft and dnsmasq take it.
fn parse_set_name(v: &str) -> Result<String, String> {
    let ok = !v.is_empty()
        && v.len() <= 32
        && v.starts_with(|c: char| c.is_ascii_alphabetic())
        && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(v.to_string())
    } else {
        Err(format!(
            "'{v}' is not a set name (a letter, then letters, digits or _; 32 at most)"
        ))
    }
}

/// One `config rule` section; `Err` names the option.
pub fn parse(s: &Section) -> Result<PolicyRule, String> {
    let opt = |k: &str| s.first(k);
    let all = |k: &str| s.all(k);
    let ctx = |k: &str, e: String| format!("rule {}: {k}: {e}", s.name);
    let family = match opt("family").unwrap_or("any") {
        "any" => None,
        "ipv4" => Some(Family::V4),
        "ipv6" => Some(Family::V6),
        v => return Err(ctx("family", format!("'{v}' is not ipv4, ipv6 or any"))),
    };
    let proto = match opt("proto").unwrap_or("all") {
        "all" => Proto::All,
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        "icmp" | "icmpv6" => Proto::Icmp,
        v => return Err(ctx("proto", format!("'{v}' is not tcp, udp, icmp or all"))),
    };
    let mut nets = [Vec::new(), Vec::new()];
    for (k, out) in ["src_ip", "dest_ip"].into_iter().zip(&mut nets) {
        for v in all(k).iter().flat_map(|v| v.split_whitespace()) {
            let n = parse_net(v).map_err(|e| ctx(k, e))?;
            if family.is_some_and(|f| n.0.is_ipv4() != (f == Family::V4)) {
                return Err(ctx(
                    k,
                    format!("'{v}' is not of family {}", opt("family").unwrap_or("")),
                ));
            }
            out.push(n);
        }
    }
    let [src, dest] = nets;
    let ports = |k: &str| parse_ports(all(k)).map_err(|e| ctx(k, e));
    let (src_port, dest_port) = (ports("src_port")?, ports("dest_port")?);
    if !matches!(proto, Proto::Tcp | Proto::Udp) {
        if let Some(k) = [("src_port", &src_port), ("dest_port", &dest_port)]
            .iter()
            .find(|(_, p)| !p.is_empty())
            .map(|(k, _)| *k)
        {
            return Err(ctx(k, "ports need proto tcp or udp".into()));
        }
    }
    let ipset = opt("ipset")
        .map(|v| parse_set_name(v).map_err(|e| ctx("ipset", e)))
        .transpose()?;
    let target = match (opt("use"), opt("use_policy")) {
        (Some("balanced"), None) | (None, Some("balanced" | "default")) => Use::Balanced,
        (Some(t), None) if t.starts_with("tier:") => match t[5..].parse::<u8>() {
            Ok(n) if n >= 1 => Use::Tier(n),
            _ => return Err(ctx("use", format!("'{t}' is not a tier: tier:1 to tier:255"))),
        },
        (Some(m), None) if !m.is_empty() => Use::Member(m.to_string()),
        // mwan3's other policies name its members, which mean nothing here.
        (None, Some(p)) => {
            return Err(ctx(
                "use_policy",
                format!("'{p}' is a mwan3 policy; only balanced and default mean something here: name a member with option use"),
            ))
        }
        _ => {
            return Err(ctx(
                "use",
                "needs one value: a member's interface, tier:N or 'balanced' (and no use_policy beside it)".into(),
            ))
        }
    };
    let flag = |k: &str, d: bool| -> Result<bool, String> {
        opt(k).map_or(Ok(d), |v| parse_bool(v).map_err(|e| ctx(k, e)))
    };
    let timeout = match opt("timeout") {
        None => DEFAULT_TIMEOUT,
        Some(v) => match v.parse::<u32>() {
            Ok(t) if (1..=86_400 * 7).contains(&t) => t,
            _ => return Err(ctx("timeout", format!("'{v}' is not seconds (1-604800)"))),
        },
    };
    Ok(PolicyRule {
        name: s.name.clone(),
        family,
        proto,
        src,
        dest,
        src_port,
        dest_port,
        ipset,
        fallback: flag("fallback", true)?,
        sticky: flag("sticky", false)?,
        timeout,
        target,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(opts: &[(&str, &str)]) -> Section {
        let mut s = Section {
            name: "r".into(),
            kind: "rule".into(),
            ..Section::default()
        };
        for (k, v) in opts {
            s.options
                .entry(k.to_string())
                .or_default()
                .push(v.to_string());
        }
        s
    }

    #[test]
    fn a_rule_with_mwan3s_names() {
        let r = parse(&section(&[
            ("proto", "tcp"),
            ("src_ip", "192.168.1.10"),
            ("dest_ip", "203.0.113.0/24"),
            ("dest_ip", "2001:db8::/32"),
            ("dest_port", "443,8000-8080 9000:9001"),
            ("use", "VWAN2"),
            ("sticky", "1"),
        ]))
        .unwrap();
        assert_eq!(r.family, None);
        assert_eq!(r.proto, Proto::Tcp);
        assert_eq!(r.dest_port, [(443, 443), (8000, 8080), (9000, 9001)]);
        assert_eq!(r.target, Use::Member("VWAN2".into()));
        assert!(r.sticky && r.fallback);
        assert_eq!(r.timeout, DEFAULT_TIMEOUT);
        let (s4, d4) = r.addrs(Family::V4).unwrap();
        assert_eq!((s4.len(), d4.len()), (1, 1));
        // Its sources are IPv4 only: it does not apply to IPv6.
        assert_eq!(r.addrs(Family::V6), None);
        let b = parse(&section(&[("use_policy", "default")])).unwrap();
        assert_eq!(b.target, Use::Balanced);
        let t = parse(&section(&[("use", "tier:2")])).unwrap();
        assert_eq!(t.target, Use::Tier(2));
        assert_eq!(b.addrs(Family::V6), Some((vec![], vec![])));
    }

    #[test]
    fn bad_values_name_their_option() {
        for (opts, want) in [
            (
                &[("use", "A"), ("proto", "sctp")][..],
                "rule r: proto: 'sctp'",
            ),
            (
                &[("use", "A"), ("dest_port", "443")],
                "dest_port: ports need proto",
            ),
            (
                &[("use", "A"), ("proto", "udp"), ("dest_port", "0")],
                "dest_port: '0' is not a port",
            ),
            (
                &[("use", "A"), ("proto", "udp"), ("dest_port", "9-1")],
                "ends before it starts",
            ),
            (
                &[("use", "A"), ("src_ip", "192.168.1.300")],
                "src_ip: '192.168.1.300'",
            ),
            (
                &[("use", "A"), ("dest_ip", "10.0.0.0/33")],
                "dest_ip: '10.0.0.0/33' has no valid prefix",
            ),
            (
                &[("use", "A"), ("family", "ipv6"), ("src_ip", "10.0.0.1")],
                "src_ip: '10.0.0.1' is not of family ipv6",
            ),
            (&[("use", "A"), ("ipset", "bad-name")], "ipset: 'bad-name'"),
            (&[("use", "A"), ("timeout", "0")], "timeout: '0'"),
            (
                &[("use", "A"), ("sticky", "maybe")],
                "sticky: 'maybe' is not a boolean",
            ),
            (
                &[("use_policy", "wan_only")],
                "use_policy: 'wan_only' is a mwan3 policy",
            ),
            (&[], "use: needs one value"),
            (
                &[("use", "tier:0")],
                "use: 'tier:0' is not a tier: tier:1 to tier:255",
            ),
            (&[("use", "tier:256")], "use: 'tier:256' is not a tier"),
            (&[("use", "tier:x")], "use: 'tier:x' is not a tier"),
            (
                &[("use", "A"), ("use_policy", "default")],
                "use: needs one value",
            ),
        ] {
            let e = parse(&section(opts)).unwrap_err();
            assert!(e.contains(want), "{opts:?}: {e}");
        }
    }
}
