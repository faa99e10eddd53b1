//! Our nft table (`table ip ecmp4`, `table ip6 ecmp6`): the connection
//! marks that tie a connection to one member, for two jobs.
//!
//! - Forwarded inbound connections (port forwards to LAN hosts): the
//!   reply's source is the LAN host, so the `from` rules of
//!   [`crate::plan::inbound`] do not catch it. A new connection arriving
//!   on a dial gets that dial's number in its conntrack mark (bits of our
//!   own mask).
//! - Policy rules (`config rule`, [`crate::input::policy`]): a new
//!   connection from the LAN that a rule pins gets its member's number;
//!   a sticky rule's source gets the member its last match left by.
//!
//! A marked connection's packets copy the number into the packet mark in
//! prerouting, and an `ip rule fwmark` per member sends them to that
//! member's table; the packets that arrive on the member itself (an
//! inbound connection's own, a pinned one's replies) are left alone.
//! Unmarked traffic pays one failed `ct state new` test and one map
//! lookup per packet; the rules are walked by a connection's first packet
//! only. Values at the top of the mask are reserved: the highest refuses
//! (an `unreachable` rule), the ones below it tag a sticky rule's new
//! connection until postrouting has seen which member it left by.
//!
//! The table is planned as text ([`ruleset`]) and loaded by
//! [`transition`]'s script, one `nft -f -` transaction that keeps the
//! sets dnsmasq fills and the sticky maps (a flush, not a delete).

use crate::input::policy::{names, PolicyRule, Proto, Use};
use crate::Family;
use std::fmt::Write as _;
use std::net::IpAddr;

pub use crate::input::options::{parse_marks, Marks, DEFAULT_MASK, MWAN3_MASK};

/// The table's name, as dnsmasq's `nftset` and `nft list` name it.
pub fn table(family: Family) -> &'static str {
    family.program()
}

/// nft's family keyword for our table.
pub fn nfamily(family: Family) -> &'static str {
    match family {
        Family::V4 => "ip",
        Family::V6 => "ip6",
    }
}

/// The highest value the mask holds (255 for 8 bits).
fn top(mask: u32) -> u32 {
    mask >> mask.trailing_zeros()
}

/// How many values at the top of the mask `rules` reserve: one to
/// refuse, one per sticky rule. None without rules.
pub fn reserved(rules: &[PolicyRule]) -> u32 {
    match rules.is_empty() {
        true => 0,
        false => 1 + rules.iter().filter(|r| is_sticky(r)).count() as u32,
    }
}

/// Sticky means something for the whole route and for a tier, not for
/// one member.
pub fn is_sticky(r: &PolicyRule) -> bool {
    r.sticky && matches!(r.target, Use::Balanced | Use::Tier(_))
}

/// The mark of member table slot `slot` (1-based) under `mask`, if the
/// mask holds it below the `reserved` values.
pub fn mark(mask: u32, slot: u32, reserved: u32) -> Option<u32> {
    let shift = mask.trailing_zeros();
    (slot >= 1 && slot + reserved <= top(mask)).then(|| slot << shift)
}

/// The mark that refuses a connection: an `unreachable` rule holds it.
pub fn refuse_mark(mask: u32) -> u32 {
    mask
}

/// A member with a mark: what the table knows of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marked {
    pub iface: String,
    pub dev: String,
    pub table: u32,
    pub mark: u32,
    /// Its tier and weight: a tier rule's choice among its members.
    pub tier: u8,
    pub weight: u16,
}

/// `{ a, b, c }` of `items`, each written by `one`.
fn braces<T>(s: &mut String, items: &[T], one: &mut dyn FnMut(&mut String, &T)) {
    s.push_str("{ ");
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        one(s, x);
    }
    s.push_str(" }\n");
}

/// A chain's opening line, and its rules' indent.
fn chain(s: &mut String, name: &str, n: impl std::fmt::Display) {
    let _ = write!(s, "\t}}\n\tchain {name}{n} {{\n\t\t");
}

/// `ct mark set ...` or `meta mark set ...`: our bits to `m`, the others kept.
fn set_mark(s: &mut String, what: &str, mask: u32, m: u32) {
    let _ = writeln!(
        s,
        "{what} mark set {what} mark and {:#010x} or {m:#010x}",
        !mask
    );
}

/// The whole table, canonical: what [`transition`] loads and the state
/// directory keeps. Empty: no table (no member marked, no rule).
pub fn ruleset(family: Family, mask: u32, members: &[Marked], rules: &[PolicyRule]) -> String {
    if members.is_empty() && rules.is_empty() {
        return String::new();
    }
    let ip = nfamily(family);
    let addr = match family {
        Family::V4 => "ipv4_addr",
        Family::V6 => "ipv6_addr",
    };
    let mut s = format!("table {ip} {} {{\n", table(family));
    // Objects first (sets, maps, counters), then chains: rules refer to them.
    for (i, r) in rules.iter().enumerate() {
        let n = i + 1;
        if let Some(set) = &r.ipset {
            if !rules[..i].iter().any(|x| x.ipset.as_ref() == Some(set)) {
                let _ = write!(
                    s,
                    "\tset {set} {{\n\t\ttype {addr}\n\t\tflags interval\n\t}}\n"
                );
            }
        }
        let _ = write!(s, "\tcounter r{n} {{\n\t}}\n");
        if is_sticky(r) {
            let _ = write!(
                s,
                "\tmap sticky_{n} {{\n\t\ttype {addr} : mark\n\t\tflags dynamic,timeout\n\t\ttimeout {}s\n\t}}\n",
                r.timeout
            );
        }
    }
    // `chain` closes the one before: the first closes nothing. An
    // established packet pays one `ct state new` test and, marks on, one
    // map lookup: a second test (a jump to the rules of its own) was 2% of
    // a forwarded packet's cost (`make bench-rules`).
    s.push_str("\tchain prerouting {\n\t\ttype filter hook prerouting priority mangle - 1; policy accept;\n\t\tct state new jump first\n");
    if !members.is_empty() {
        let _ = write!(s, "\t\tct mark and {mask:#010x} vmap ");
        braces(&mut s, members, &mut |s, m| {
            let _ = write!(s, "{:#010x} : jump out_{}", m.mark, m.table);
        });
    }
    // A connection's first packet: arriving on a member, that member's
    // (inbound); else the rules'.
    chain(&mut s, "first", "");
    if !members.is_empty() {
        s.push_str("iifname vmap ");
        braces(&mut s, members, &mut |s, m| {
            let _ = write!(s, "\"{}\" : goto in_{}", m.dev, m.table);
        });
        s.push_str("\t\t");
    }
    if !rules.is_empty() {
        s.push_str("goto rules\n\t\t");
    }
    s.truncate(s.len() - 2);
    let shift = mask.trailing_zeros();
    // The tag of the k-th sticky rule's new connections: below the refusal.
    let tag = |k: u32| (top(mask) - k) << shift;
    // A rule's tier (0: the whole route), and whether it has a member:
    // a tier's members are those marked with it.
    let tier_of = |r: &PolicyRule| match r.target {
        Use::Tier(t) => t,
        _ => 0,
    };
    let in_tier = |m: &Marked, t: u8| t == 0 || m.tier == t;
    let live = |r: &PolicyRule| members.iter().any(|m| in_tier(m, tier_of(r)));
    let sticky: Vec<usize> = (0..rules.len())
        .filter(|i| is_sticky(&rules[*i]) && live(&rules[*i]))
        .collect();
    // Postrouting records the member a balanced sticky rule's connection
    // left by (a tier rule chose it itself, in prerouting).
    if sticky.iter().any(|i| tier_of(&rules[*i]) == 0) {
        chain(&mut s, "postrouting", "");
        let _ = write!(
            s,
            "type filter hook postrouting priority mangle; policy accept;\n\t\tct state new ct mark and {mask:#010x} vmap {{ "
        );
        for (k, i) in sticky.iter().enumerate() {
            if tier_of(&rules[*i]) == 0 {
                let _ = write!(s, "{:#010x} : jump record_{}, ", tag(k as u32 + 1), i + 1);
            }
        }
        s.truncate(s.len() - 2);
        s.push_str(" }\n");
    }
    let mut refuse = false;
    if !rules.is_empty() {
        chain(&mut s, "rules", "");
        for (i, r) in rules.iter().enumerate() {
            let Some(m) = matcher(family, r) else {
                continue;
            };
            let _ = write!(s, "{m}counter name \"r{}\" ", i + 1);
            match &r.target {
                Use::Balanced if sticky.contains(&i) => {
                    let _ = write!(s, "goto keep_{}", i + 1);
                }
                Use::Member(iface) => match members.iter().find(|x| names(iface, &x.iface)) {
                    Some(x) => {
                        let _ = write!(s, "goto pin_{}", x.table);
                    }
                    None if !r.fallback => {
                        refuse = true;
                        s.push_str("goto refuse");
                    }
                    None => s.push_str("return"),
                },
                Use::Tier(_) if sticky.contains(&i) => {
                    let _ = write!(s, "goto keep_{}", i + 1);
                }
                Use::Tier(t) if live(r) => {
                    let _ = write!(s, "goto tier_{t}");
                }
                Use::Tier(_) if !r.fallback => {
                    refuse = true;
                    s.push_str("goto refuse");
                }
                Use::Tier(_) | Use::Balanced => s.push_str("return"),
            }
            s.push_str("\n\t\t");
        }
        s.truncate(s.len() - 2);
    }
    for (k, i) in sticky.iter().enumerate() {
        let n = i + 1;
        let tier = tier_of(&rules[*i]);
        let update = format!("update @sticky_{n} {{ {ip} saddr : ct mark and {mask:#010x} }}\n");
        // The source's member while it is in the route (in the tier);
        // else the connection goes by the route, tagged for postrouting
        // (a tier's: to a member of the tier chosen now, and recorded).
        chain(&mut s, "keep_", n);
        let _ = write!(
            s,
            "ct mark set {ip} saddr map @sticky_{n}\n\t\tct mark and {mask:#010x} vmap {{ "
        );
        for m in members.iter().filter(|m| in_tier(m, tier)) {
            let _ = write!(s, "{:#010x} : goto stay_{n}, ", m.mark);
        }
        s.truncate(s.len() - 2);
        s.push_str(" }\n\t\t");
        if tier == 0 {
            set_mark(&mut s, "ct", mask, tag(k as u32 + 1));
        } else {
            let _ = write!(s, "jump tier_{tier}\n\t\t{update}");
        }
        chain(&mut s, "stay_", n);
        s.push_str(&update);
        if tier > 0 {
            continue;
        }
        chain(&mut s, "record_", n);
        s.push_str("oifname vmap ");
        braces(&mut s, members, &mut |s, m| {
            let _ = write!(s, "\"{}\" : goto record_{n}_{}", m.dev, m.table);
        });
        for m in members {
            chain(&mut s, &format!("record_{n}_"), m.table);
            let _ = writeln!(s, "update @sticky_{n} {{ {ip} saddr : {:#010x} }}", m.mark);
        }
    }
    if refuse {
        chain(&mut s, "refuse", "");
        set_mark(&mut s, "meta", mask, refuse_mark(mask));
    }
    // Each tier a rule uses (once): a new connection to one of its
    // members, by weight (numgen: the choice is kept in the connection's
    // mark).
    for (i, r) in rules.iter().enumerate() {
        let t = tier_of(r);
        if t == 0 || !live(r) || rules[..i].iter().any(|x| tier_of(x) == t) {
            continue;
        }
        let weight = |m: &Marked| u32::from(m.weight.max(1));
        let total: u32 = members.iter().filter(|m| m.tier == t).map(weight).sum();
        chain(&mut s, "tier_", t);
        let _ = write!(s, "numgen random mod {total} vmap {{ ");
        let mut from = 0;
        for m in members.iter().filter(|m| m.tier == t) {
            let to = from + weight(m) - 1;
            let _ = match from == to {
                true => write!(s, "{from} : goto pin_{}, ", m.table),
                false => write!(s, "{from}-{to} : goto pin_{}, ", m.table),
            };
            from = to + 1;
        }
        s.truncate(s.len() - 2);
        s.push_str(" }\n");
    }
    for m in members {
        chain(&mut s, "in_", m.table);
        set_mark(&mut s, "ct", mask, m.mark);
        chain(&mut s, "out_", m.table);
        let _ = write!(s, "iifname \"{}\" return\n\t\t", m.dev);
        set_mark(&mut s, "meta", mask, m.mark);
        if rules.iter().any(|r| match &r.target {
            Use::Member(i) => names(i, &m.iface),
            Use::Tier(t) => *t == m.tier,
            Use::Balanced => false,
        }) {
            chain(&mut s, "pin_", m.table);
            set_mark(&mut s, "ct", mask, m.mark);
        }
    }
    s.push_str("\t}\n}\n");
    s
}

/// What a rule matches, as nft expressions ending in a space; None when
/// nothing of `family` can match (its addresses are all of the other).
fn matcher(family: Family, r: &PolicyRule) -> Option<String> {
    let (src, dest) = r.addrs(family)?;
    let ip = nfamily(family);
    let mut m = String::new();
    let list = |v: &[(IpAddr, u8)]| {
        let full = if family == Family::V4 { 32 } else { 128 };
        let items: Vec<String> = v
            .iter()
            .map(|(a, l)| match *l == full {
                true => a.to_string(),
                false => format!("{a}/{l}"),
            })
            .collect();
        format!("{{ {} }}", items.join(", "))
    };
    let ports = |v: &[(u16, u16)]| {
        let items: Vec<String> = v
            .iter()
            .map(|(a, b)| match a == b {
                true => a.to_string(),
                false => format!("{a}-{b}"),
            })
            .collect();
        format!("{{ {} }}", items.join(", "))
    };
    let l4 = match r.proto {
        Proto::All => None,
        Proto::Tcp => Some("tcp"),
        Proto::Udp => Some("udp"),
        Proto::Icmp if family == Family::V4 => Some("icmp"),
        Proto::Icmp => Some("icmpv6"),
    };
    if let Some(p) = l4.filter(|_| r.src_port.is_empty() && r.dest_port.is_empty()) {
        let _ = write!(m, "meta l4proto {p} ");
    }
    if !src.is_empty() {
        let _ = write!(m, "{ip} saddr {} ", list(&src));
    }
    if !dest.is_empty() {
        let _ = write!(m, "{ip} daddr {} ", list(&dest));
    }
    if let Some(set) = &r.ipset {
        let _ = write!(m, "{ip} daddr @{set} ");
    }
    if let Some(p) = l4 {
        if !r.src_port.is_empty() {
            let _ = write!(m, "{p} sport {} ", ports(&r.src_port));
        }
        if !r.dest_port.is_empty() {
            let _ = write!(m, "{p} dport {} ", ports(&r.dest_port));
        }
    }
    Some(m)
}

/// The `nft -f -` script that takes the table from `old` (what was loaded
/// last, if known) to `new`, in one transaction. Known: the table is
/// flushed, its chains deleted and declared anew, and of the sets, maps
/// and counters only those gone or declared otherwise are deleted: the
/// sets keep what dnsmasq put in them, the sticky maps their sources
/// (emptied only when a member's mark went: its sources choose afresh).
/// Unknown: the table is replaced whole.
pub fn transition(family: Family, old: Option<&str>, new: &str) -> String {
    let (ip, t) = (nfamily(family), table(family));
    let mut s = format!("table {ip} {t}\n");
    let Some(old) = old.filter(|o| !o.is_empty() && !new.is_empty()) else {
        let _ = writeln!(s, "delete table {ip} {t}");
        s.push_str(new);
        return s;
    };
    let _ = writeln!(s, "flush table {ip} {t}");
    let (mut gone, mut maps) = (false, Vec::new());
    // Each object of the old table: from its `\tKIND NAME {` line to `\t}`.
    for piece in old.split_inclusive("\t}\n") {
        // The first follows the table's own line.
        let at = match piece.starts_with("table ") {
            true => piece.find('\n').map_or(piece.len(), |i| i + 1),
            false => 0,
        };
        let block = &piece[at..];
        let head = block.strip_prefix('\t').and_then(|b| b.split(" {").next());
        let Some((kind, name)) = head.and_then(|h| h.split_once(' ')) else {
            continue;
        };
        let kept = new.contains(block);
        gone |= kind == "chain" && name.starts_with("out_") && !kept;
        match (kind, kept) {
            ("map", true) => maps.push(name),
            (_, true) if kind != "chain" => {}
            _ => {
                let _ = writeln!(s, "delete {kind} {ip} {t} {name}");
            }
        }
    }
    for m in maps.iter().filter(|_| gone) {
        let _ = writeln!(s, "flush map {ip} {t} {m}");
    }
    s.push_str(new);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::policy::DEFAULT_TIMEOUT;

    fn marked(iface: &str, dev: &str, table: u32, mark: u32) -> Marked {
        Marked {
            iface: iface.into(),
            dev: dev.into(),
            table,
            mark,
            tier: 1,
            weight: 1,
        }
    }

    fn rule(target: Use) -> PolicyRule {
        PolicyRule {
            name: "r".into(),
            family: None,
            proto: Proto::All,
            src: vec![],
            dest: vec![],
            src_port: vec![],
            dest_port: vec![],
            ipset: None,
            target,
            fallback: true,
            sticky: false,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    #[test]
    fn masks_and_marks() {
        assert_eq!(parse_marks("auto"), Ok(Marks::Auto));
        assert_eq!(parse_marks("0"), Ok(Marks::Off));
        assert_eq!(parse_marks("on"), Ok(Marks::Mask(0x00ff_0000)));
        assert_eq!(parse_marks("0xff000000"), Ok(Marks::Mask(0xff00_0000)));
        assert!(parse_marks("0x3f00").unwrap_err().contains("8 contiguous"));
        assert!(parse_marks("0xffff00").unwrap_err().contains("mwan3"));
        assert!(parse_marks("0x00f0f000").is_err());
        assert!(parse_marks("x").is_err());
        assert_eq!(mark(0x00ff_0000, 1, 0), Some(0x0001_0000));
        assert_eq!(mark(0x00ff_0000, 255, 0), Some(0x00ff_0000));
        assert_eq!(mark(0x00ff_0000, 256, 0), None);
        // Rules reserve the top: 255 refuses, 254 tags a sticky rule's.
        let sticky = PolicyRule {
            sticky: true,
            ..rule(Use::Balanced)
        };
        assert_eq!(reserved(&[sticky, rule(Use::Balanced)]), 2);
        assert_eq!(mark(0x00ff_0000, 253, 2), Some(0x00fd_0000));
        assert_eq!(mark(0x00ff_0000, 254, 2), None);
        assert_eq!(reserved(&[]), 0);
    }

    #[test]
    fn the_port_forward_marks() {
        let r = ruleset(
            Family::V4,
            0x00ff_0000,
            &[
                marked("wan", "pppoe-wan", 4201, 0x10000),
                marked("VWAN1", "pppoe-VWAN1", 4202, 0x20000),
            ],
            &[],
        );
        assert!(
            r.starts_with("table ip ecmp4 {\n\tchain prerouting {\n"),
            "{r}"
        );
        // One `ct state new` test per packet; the first packet's own chain.
        assert!(
            r.contains("\t\tct state new jump first\n\t\tct mark and"),
            "{r}"
        );
        assert!(r.contains("\tchain first {\n\t\tiifname vmap { \"pppoe-wan\" : goto in_4201, \"pppoe-VWAN1\" : goto in_4202 }\n\t}\n"), "{r}");
        assert!(r.contains("ct mark and 0x00ff0000 vmap { 0x00010000 : jump out_4201, 0x00020000 : jump out_4202 }"), "{r}");
        assert!(
            r.contains("\tchain in_4202 {\n\t\tct mark set ct mark and 0xff00ffff or 0x00020000\n"),
            "{r}"
        );
        assert!(
            r.contains("\tchain out_4201 {\n\t\tiifname \"pppoe-wan\" return\n\t\tmeta mark set meta mark and 0xff00ffff or 0x00010000\n"),
            "{r}"
        );
        assert!(!r.contains("rules") && !r.contains("postrouting"), "{r}");
        assert_eq!(ruleset(Family::V4, 0x00ff_0000, &[], &[]), "");
    }

    #[test]
    fn pins_fallbacks_and_sticky() {
        let members = [
            marked("A", "pppoe-a", 4201, 0x10000),
            marked("B", "pppoe-b", 4202, 0x20000),
        ];
        let pin = PolicyRule {
            proto: Proto::Tcp,
            src: vec![("192.168.1.10".parse().unwrap(), 32)],
            dest: vec![
                ("2001:db8::".parse().unwrap(), 32),
                ("203.0.113.0".parse().unwrap(), 24),
            ],
            dest_port: vec![(443, 443), (8000, 8080)],
            ..rule(Use::Member("B".into()))
        };
        let strict = PolicyRule {
            fallback: false,
            ipset: Some("bank".into()),
            ..rule(Use::Member("C".into()))
        };
        let loose = rule(Use::Member("C".into()));
        let sticky = PolicyRule {
            sticky: true,
            timeout: 30,
            ..rule(Use::Balanced)
        };
        let rules = [pin, strict, loose, sticky];
        let r = ruleset(Family::V4, 0x00ff_0000, &members, &rules);
        assert!(
            r.contains("\tset bank {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t}\n"),
            "{r}"
        );
        assert!(r.contains("\tmap sticky_4 {\n\t\ttype ipv4_addr : mark\n\t\tflags dynamic,timeout\n\t\ttimeout 30s\n"), "{r}");
        assert!(r.contains("goto in_4202 }\n\t\tgoto rules\n\t}\n"), "{r}");
        // Prerouting tests `ct state new` once (postrouting, for sticky).
        let pre = r.split("chain first").next().unwrap();
        assert_eq!(pre.matches("ct state new").count(), 1, "{r}");
        // The IPv6 destination is left out of IPv4's rule.
        assert!(r.contains("\t\tip saddr { 192.168.1.10 } ip daddr { 203.0.113.0/24 } tcp dport { 443, 8000-8080 } counter name \"r1\" goto pin_4202\n"), "{r}");
        assert!(
            r.contains("\t\tip daddr @bank counter name \"r2\" goto refuse\n"),
            "{r}"
        );
        assert!(r.contains("\t\tcounter name \"r3\" return\n"), "{r}");
        assert!(r.contains("\t\tcounter name \"r4\" goto keep_4\n"), "{r}");
        assert!(
            r.contains(
                "\tchain refuse {\n\t\tmeta mark set meta mark and 0xff00ffff or 0x00ff0000\n"
            ),
            "{r}"
        );
        assert!(
            r.contains(
                "\tchain pin_4202 {\n\t\tct mark set ct mark and 0xff00ffff or 0x00020000\n"
            ),
            "{r}"
        );
        assert!(!r.contains("pin_4201"), "{r}");
        // Sticky: the source's member while it is live, else tagged 254.
        assert!(r.contains("\tchain keep_4 {\n\t\tct mark set ip saddr map @sticky_4\n\t\tct mark and 0x00ff0000 vmap { 0x00010000 : goto stay_4, 0x00020000 : goto stay_4 }\n\t\tct mark set ct mark and 0xff00ffff or 0x00fe0000\n"), "{r}");
        assert!(
            r.contains("ct state new ct mark and 0x00ff0000 vmap { 0x00fe0000 : jump record_4 }"),
            "{r}"
        );
        assert!(
            r.contains("\tchain record_4_4202 {\n\t\tupdate @sticky_4 { ip saddr : 0x00020000 }\n"),
            "{r}"
        );
        // IPv6: its table, its addresses; the pin's source is IPv4 only.
        let r6 = ruleset(Family::V6, 0x00ff_0000, &members, &rules);
        assert!(r6.starts_with("table ip6 ecmp6 {\n"), "{r6}");
        assert!(!r6.contains("\"r1\""), "{r6}");
        assert!(r6.contains("ip6 daddr @bank counter name \"r2\""), "{r6}");
        assert!(r6.contains("type ipv6_addr : mark"), "{r6}");
    }

    /// `use 'tier:2'`: a new connection to one of the tier's members, by
    /// weight, kept in its mark; sticky, the source keeps the member it
    /// got while that member is live; no member in the tier: the route,
    /// or refused. The text is one nft takes (`nft -c`, where there is
    /// one and the test may use it).
    #[test]
    fn tiers_choose_by_weight() {
        let m = |iface: &str, table: u32, tier: u8, weight: u16| Marked {
            tier,
            weight,
            ..marked(
                iface,
                &format!("pppoe-{iface}"),
                table,
                (table - 4200) << 16,
            )
        };
        let members = [m("A", 4201, 1, 1), m("C", 4203, 2, 1), m("D", 4204, 2, 3)];
        let tier = rule(Use::Tier(2));
        let sticky = PolicyRule {
            sticky: true,
            ..rule(Use::Tier(2))
        };
        let empty = PolicyRule {
            fallback: false,
            ..rule(Use::Tier(3))
        };
        let r = ruleset(Family::V4, 0x00ff_0000, &members, &[tier, sticky, empty]);
        assert!(r.contains("\t\tcounter name \"r1\" goto tier_2\n"), "{r}");
        assert!(r.contains("\t\tcounter name \"r2\" goto keep_2\n"), "{r}");
        assert!(r.contains("\t\tcounter name \"r3\" goto refuse\n"), "{r}");
        assert!(
            r.contains("\tchain tier_2 {\n\t\tnumgen random mod 4 vmap { 0 : goto pin_4203, 1-3 : goto pin_4204 }\n"),
            "{r}"
        );
        assert!(r.contains("\tchain keep_2 {\n\t\tct mark set ip saddr map @sticky_2\n\t\tct mark and 0x00ff0000 vmap { 0x00030000 : goto stay_2, 0x00040000 : goto stay_2 }\n\t\tjump tier_2\n\t\tupdate @sticky_2 { ip saddr : ct mark and 0x00ff0000 }\n"), "{r}");
        // The tier chose in prerouting: nothing for postrouting to record.
        assert!(!r.contains("postrouting") && !r.contains("record_"), "{r}");
        assert!(
            r.contains("chain pin_4203") && !r.contains("chain pin_4201"),
            "{r}"
        );
        let nft = std::process::Command::new("nft")
            .args(["-c", "-f", "-"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn();
        if let Ok(mut c) = nft {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(r.as_bytes()).unwrap();
            let out = c.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            // Without CAP_NET_ADMIN nft cannot check at all; else it must take it.
            assert!(
                out.status.success() || err.contains("Operation not permitted"),
                "{err}\n{r}"
            );
        }
    }

    #[test]
    fn transitions_keep_sets_and_delete_what_went() {
        let a = marked("A", "pppoe-a", 4201, 0x10000);
        let b = marked("B", "pppoe-b", 4202, 0x20000);
        let sticky = PolicyRule {
            sticky: true,
            ipset: Some("bank".into()),
            ..rule(Use::Balanced)
        };
        let both = ruleset(Family::V4, 0x00ff_0000, &[a.clone(), b], &[sticky.clone()]);
        let one = ruleset(Family::V4, 0x00ff_0000, &[a], &[sticky]);
        let t = transition(Family::V4, Some(&both), &one);
        assert!(
            t.starts_with("table ip ecmp4\nflush table ip ecmp4\n"),
            "{t}"
        );
        assert!(t.contains("delete chain ip ecmp4 out_4202\n"), "{t}");
        assert!(t.contains("delete chain ip ecmp4 record_1_4202\n"), "{t}");
        assert!(
            !t.contains("delete set") && !t.contains("delete map"),
            "{t}"
        );
        // B's sources chose B: they choose afresh.
        assert!(t.contains("flush map ip ecmp4 sticky_1\n"), "{t}");
        assert!(t.ends_with(&one), "{t}");
        // Nothing known of the last load: replaced whole.
        assert_eq!(
            transition(Family::V4, None, &one),
            format!("table ip ecmp4\ndelete table ip ecmp4\n{one}")
        );
        // Nothing wanted: the table goes.
        assert_eq!(
            transition(Family::V4, Some(&one), ""),
            "table ip ecmp4\ndelete table ip ecmp4\n"
        );
        // A member coming: its chains are new, the objects all kept.
        let t = transition(Family::V4, Some(&one), &both);
        assert!(t.contains("delete chain ip ecmp4 out_4201\n"), "{t}");
        assert!(
            !t.contains("delete set") && !t.contains("delete map") && !t.contains("delete counter"),
            "{t}"
        );
        assert!(!t.contains("flush map"), "{t}");
    }
}
