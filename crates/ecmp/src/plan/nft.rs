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
//! Unmarked traffic pays two failed `ct state new` tests and one map
//! lookup per packet; the rules are walked by a connection's first packet
//! only. Values at the top of the mask are reserved: the highest refuses
//! (an `unreachable` rule), the ones below it tag a sticky rule's new
//! connection until postrouting has seen which member it left by.
//!
//! The table is planned as text ([`ruleset`]) and loaded by
//! [`transition`]'s script, one `nft -f -` transaction that keeps the
//! sets dnsmasq fills and the sticky maps (a flush, not a delete).

use crate::input::policy::{PolicyRule, Proto, Use};
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

/// Sticky means something only for the whole route.
fn is_sticky(r: &PolicyRule) -> bool {
    r.sticky && r.target == Use::Balanced
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
}

/// The whole table, canonical: what [`transition`] loads and the state
/// directory keeps. Empty: no table (no member marked, no rule).
pub fn ruleset(family: Family, mask: u32, members: &[Marked], rules: &[PolicyRule]) -> String {
    if members.is_empty() && rules.is_empty() {
        return String::new();
    }
    let keep = !mask;
    let ip = nfamily(family);
    let addr = match family {
        Family::V4 => "ipv4_addr",
        Family::V6 => "ipv6_addr",
    };
    let mut s = format!("table {ip} {} {{\n", table(family));
    // Objects first (sets, maps, counters), then chains: rules refer to them.
    let mut sets: Vec<&str> = Vec::new();
    for r in rules {
        if let Some(n) = r.ipset.as_deref().filter(|n| !sets.contains(n)) {
            sets.push(n);
            let _ = write!(
                s,
                "\tset {n} {{\n\t\ttype {addr}\n\t\tflags interval\n\t}}\n"
            );
        }
    }
    for (i, r) in rules.iter().enumerate() {
        let n = i + 1;
        let _ = write!(s, "\tcounter r{n} {{\n\t}}\n");
        if is_sticky(r) {
            let _ = write!(
                s,
                "\tmap sticky_{n} {{\n\t\ttype {addr} : mark\n\t\tflags dynamic,timeout\n\t\ttimeout {}s\n\t}}\n",
                r.timeout
            );
        }
    }
    let mut chain = |name: &str, lines: &[String]| {
        let _ = writeln!(s, "\tchain {name} {{");
        for l in lines {
            let _ = writeln!(s, "\t\t{l}");
        }
        s.push_str("\t}\n");
    };
    let set_mark = |what: &str, m: u32| format!("{what} mark set {what} mark and {keep:#010x} or {m:#010x}");
    let vmap = |pairs: Vec<String>| format!("{{ {} }}", pairs.join(", "));
    let live: Vec<String> = members.iter().map(|m| format!("{:#010x}", m.mark)).collect();
    let mut pre = vec!["type filter hook prerouting priority mangle - 1; policy accept;".to_string()];
    if !members.is_empty() {
        pre.push(format!(
            "ct state new iifname vmap {}",
            vmap(members.iter().map(|m| format!("\"{}\" : goto in_{}", m.dev, m.table)).collect())
        ));
    }
    if !rules.is_empty() {
        pre.push("ct state new jump rules".into());
    }
    if !members.is_empty() {
        pre.push(format!(
            "ct mark and {mask:#010x} vmap {}",
            vmap(members.iter().map(|m| format!("{:#010x} : jump out_{}", m.mark, m.table)).collect())
        ));
    }
    chain("prerouting", &pre);
    let t = top(mask);
    let shift = mask.trailing_zeros();
    let sticky_mark = |k: u32| (t - k) << shift;
    if rules.iter().any(is_sticky) && !members.is_empty() {
        let mut k = 0;
        let tags: Vec<String> = rules
            .iter()
            .enumerate()
            .filter(|(_, r)| is_sticky(r))
            .map(|(i, _)| {
                k += 1;
                format!("{:#010x} : jump record_{}", sticky_mark(k), i + 1)
            })
            .collect();
        chain(
            "postrouting",
            &[
                "type filter hook postrouting priority mangle; policy accept;".into(),
                format!("ct state new ct mark and {mask:#010x} vmap {}", vmap(tags)),
            ],
        );
    }
    let mut lines = Vec::new();
    let mut k = 0;
    let mut refuse = false;
    for (i, r) in rules.iter().enumerate() {
        let n = i + 1;
        let Some(m) = matcher(family, r) else { continue };
        if is_sticky(r) {
            k += 1;
        }
        let target = match &r.target {
            // With no member there is nothing to stick to.
            Use::Balanced if is_sticky(r) && !members.is_empty() => format!("goto keep_{n}"),
            Use::Balanced => "return".into(),
            Use::Member(iface) => match members.iter().find(|x| &x.iface == iface) {
                Some(x) => format!("goto pin_{}", x.table),
                None if r.fallback => "return".into(),
                None => {
                    refuse = true;
                    "goto refuse".into()
                }
            },
        };
        lines.push(format!("{m}counter name \"r{n}\" {target}"));
        if is_sticky(r) && !members.is_empty() {
            // The source's member, while it is in the route; else the
            // connection goes by the route, tagged for postrouting.
            let ct_map = format!("ct mark set {ip} saddr map @sticky_{n}");
            chain(
                &format!("keep_{n}"),
                &[
                    ct_map,
                    format!(
                        "ct mark and {mask:#010x} vmap {}",
                        vmap(live.iter().map(|m| format!("{m} : goto stay_{n}")).collect())
                    ),
                    set_mark("ct", sticky_mark(k)),
                ],
            );
            chain(
                &format!("stay_{n}"),
                &[format!("update @sticky_{n} {{ {ip} saddr : ct mark and {mask:#010x} }}")],
            );
            chain(
                &format!("record_{n}"),
                &[format!(
                    "oifname vmap {}",
                    vmap(members.iter().map(|m| format!("\"{}\" : goto record_{n}_{}", m.dev, m.table)).collect())
                )],
            );
            for m in members {
                chain(
                    &format!("record_{n}_{}", m.table),
                    &[format!("update @sticky_{n} {{ {ip} saddr : {:#010x} }}", m.mark)],
                );
            }
        }
    }
    if !rules.is_empty() {
        chain("rules", &lines);
    }
    if refuse {
        chain("refuse", &[set_mark("meta", refuse_mark(mask))]);
    }
    for m in members {
        chain(&format!("in_{}", m.table), &[set_mark("ct", m.mark)]);
        chain(
            &format!("out_{}", m.table),
            &[format!("iifname \"{}\" return", m.dev), set_mark("meta", m.mark)],
        );
        let pinned = rules
            .iter()
            .any(|r| r.target == Use::Member(m.iface.clone()));
        if pinned {
            chain(&format!("pin_{}", m.table), &[set_mark("ct", m.mark)]);
        }
    }
    s.push_str("}\n");
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

/// The table's objects as [`ruleset`] writes them: (kind and name, the
/// declaration, the rules). A chain's declaration is its `type` line.
fn objects(text: &str) -> Vec<(&str, String, String)> {
    let mut out = Vec::new();
    let mut cur: Option<(&str, String, String)> = None;
    for l in text.lines() {
        if let Some(head) = l.strip_prefix('\t').filter(|h| !h.starts_with('\t')) {
            match head.strip_suffix(" {") {
                Some(name) => cur = Some((name, String::new(), String::new())),
                None => out.extend(cur.take()),
            }
        } else if let (Some(body), Some((name, decl, rules))) = (l.strip_prefix("\t\t"), cur.as_mut()) {
            let is_decl = !name.starts_with("chain ") || body.starts_with("type ");
            let to = if is_decl { decl } else { rules };
            to.push_str(body);
            to.push('\n');
        }
    }
    out
}

/// The `nft -f -` script that takes the table from `old` (what was loaded
/// last, if known) to `new`, in one transaction. Known: the table is
/// flushed (its sets and the sticky maps keep their elements), objects
/// gone or declared otherwise are deleted, and the sticky maps are
/// emptied when a member's mark went (its sources must choose afresh).
/// Unknown: the table is replaced whole.
pub fn transition(family: Family, old: Option<&str>, new: &str) -> String {
    let (ip, t) = (nfamily(family), table(family));
    let mut s = format!("table {ip} {t}\n");
    match old {
        Some(old) if !new.is_empty() && !old.is_empty() => {
            let _ = writeln!(s, "flush table {ip} {t}");
            let (was, now) = (objects(old), objects(new));
            let gone_mark = was.iter().any(|(n, _, rules)| {
                n.starts_with("chain out_") && !now.iter().any(|(m, _, r)| m == n && r == rules)
            });
            for (name, decl, _) in &was {
                match now.iter().find(|(n, _, _)| n == name) {
                    Some((_, d, _)) if d == decl => {
                        if gone_mark && name.starts_with("map sticky_") {
                            let (kind, n) = name.split_once(' ').unwrap_or((name, ""));
                            let _ = writeln!(s, "flush {kind} {ip} {t} {n}");
                        }
                    }
                    _ => {
                        let (kind, n) = name.split_once(' ').unwrap_or((name, ""));
                        let _ = writeln!(s, "delete {kind} {ip} {t} {n}");
                    }
                }
            }
        }
        _ => {
            let _ = writeln!(s, "delete table {ip} {t}");
        }
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
        assert!(r.starts_with("table ip ecmp4 {\n\tchain prerouting {\n"), "{r}");
        assert!(r.contains("ct state new iifname vmap { \"pppoe-wan\" : goto in_4201, \"pppoe-VWAN1\" : goto in_4202 }"), "{r}");
        assert!(r.contains("ct mark and 0x00ff0000 vmap { 0x00010000 : jump out_4201, 0x00020000 : jump out_4202 }"), "{r}");
        assert!(r.contains("\tchain in_4202 {\n\t\tct mark set ct mark and 0xff00ffff or 0x00020000\n"), "{r}");
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
            dest: vec![("2001:db8::".parse().unwrap(), 32), ("203.0.113.0".parse().unwrap(), 24)],
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
        assert!(r.contains("\tset bank {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t}\n"), "{r}");
        assert!(r.contains("\tmap sticky_4 {\n\t\ttype ipv4_addr : mark\n\t\tflags dynamic,timeout\n\t\ttimeout 30s\n"), "{r}");
        assert!(r.contains("\t\tct state new jump rules\n"), "{r}");
        // The IPv6 destination is left out of IPv4's rule.
        assert!(r.contains("\t\tip saddr { 192.168.1.10 } ip daddr { 203.0.113.0/24 } tcp dport { 443, 8000-8080 } counter name \"r1\" goto pin_4202\n"), "{r}");
        assert!(r.contains("\t\tip daddr @bank counter name \"r2\" goto refuse\n"), "{r}");
        assert!(r.contains("\t\tcounter name \"r3\" return\n"), "{r}");
        assert!(r.contains("\t\tcounter name \"r4\" goto keep_4\n"), "{r}");
        assert!(r.contains("\tchain refuse {\n\t\tmeta mark set meta mark and 0xff00ffff or 0x00ff0000\n"), "{r}");
        assert!(r.contains("\tchain pin_4202 {\n\t\tct mark set ct mark and 0xff00ffff or 0x00020000\n"), "{r}");
        assert!(!r.contains("pin_4201"), "{r}");
        // Sticky: the source's member while it is live, else tagged 254.
        assert!(r.contains("\tchain keep_4 {\n\t\tct mark set ip saddr map @sticky_4\n\t\tct mark and 0x00ff0000 vmap { 0x00010000 : goto stay_4, 0x00020000 : goto stay_4 }\n\t\tct mark set ct mark and 0xff00ffff or 0x00fe0000\n"), "{r}");
        assert!(r.contains("ct state new ct mark and 0x00ff0000 vmap { 0x00fe0000 : jump record_4 }"), "{r}");
        assert!(r.contains("\tchain record_4_4202 {\n\t\tupdate @sticky_4 { ip saddr : 0x00020000 }\n"), "{r}");
        // IPv6: its table, its addresses; the pin's source is IPv4 only.
        let r6 = ruleset(Family::V6, 0x00ff_0000, &members, &rules);
        assert!(r6.starts_with("table ip6 ecmp6 {\n"), "{r6}");
        assert!(!r6.contains("\"r1\""), "{r6}");
        assert!(r6.contains("ip6 daddr @bank counter name \"r2\""), "{r6}");
        assert!(r6.contains("type ipv6_addr : mark"), "{r6}");
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
        assert!(t.starts_with("table ip ecmp4\nflush table ip ecmp4\n"), "{t}");
        assert!(t.contains("delete chain ip ecmp4 out_4202\n"), "{t}");
        assert!(t.contains("delete chain ip ecmp4 record_1_4202\n"), "{t}");
        assert!(!t.contains("delete set") && !t.contains("delete map"), "{t}");
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
        // A member coming: nothing deleted, nothing flushed.
        let t = transition(Family::V4, Some(&one), &both);
        assert!(!t.contains("delete") && !t.contains("flush map"), "{t}");
    }
}
