//! Forwarded inbound connections (port forwards to LAN hosts): the reply's
//! source is the LAN host, so the `from` rules of [`crate::plan::inbound`] do
//! not catch it. A new connection arriving on a dial gets that dial's
//! number in its conntrack mark (bits of our own mask); the LAN host's
//! replies copy it into the packet mark in prerouting, and an
//! `ip rule fwmark` per member sends them to that member's table.
//!
//! This is IPv4's (DNAT is an IPv4 habit; on IPv6 a LAN host answers from
//! a delegated prefix, which the `from` rules already cover). The rules
//! live in a table of ours, `table ip ecmp4`, beside fw4's `inet fw4`,
//! replaced as a whole by `nft -f -` (what fw4 itself runs) only when the
//! members change: the text last written is kept in the state directory.
//! Per forwarded packet it adds one chain of two rules, each a map lookup
//! (`vmap`), and for the packets it marks one more two-expression rule.

pub const TABLE: &str = "ecmp4";
pub use crate::input::options::{parse_marks, Marks, DEFAULT_MASK, MWAN3_MASK};

/// The mark of member table slot `slot` (1-based) under `mask`, if the
/// mask can hold it.
pub fn mark(mask: u32, slot: u32) -> Option<u32> {
    let shift = mask.trailing_zeros();
    let max = mask >> shift;
    (slot >= 1 && slot <= max).then(|| slot << shift)
}

/// The whole table for these members: (device, table, mark). With none,
/// the table is removed. Created and replaced in one transaction (the
/// classic `table; delete table; table {...}` idiom).
pub fn ruleset(mask: u32, members: &[(String, u32, u32)]) -> String {
    let mut s = format!("table ip {TABLE}\ndelete table ip {TABLE}\n");
    if members.is_empty() {
        return s;
    }
    let keep = !mask;
    s.push_str(&format!("table ip {TABLE} {{\n\tchain prerouting {{\n\t\ttype filter hook prerouting priority mangle; policy accept;\n"));
    let ins: Vec<String> = members
        .iter()
        .map(|(dev, t, _)| format!("\"{dev}\" : jump in_{t}"))
        .collect();
    let outs: Vec<String> = members
        .iter()
        .map(|(_, t, m)| format!("{m:#010x} : jump out_{t}"))
        .collect();
    s.push_str(&format!(
        "\t\tct state new iifname vmap {{ {} }}\n",
        ins.join(", ")
    ));
    s.push_str(&format!(
        "\t\tct direction reply ct mark and {mask:#010x} vmap {{ {} }}\n\t}}\n",
        outs.join(", ")
    ));
    for (_, t, m) in members {
        s.push_str(&format!(
            "\tchain in_{t} {{\n\t\tct mark set ct mark and {keep:#010x} or {m:#010x}\n\t}}\n\tchain out_{t} {{\n\t\tmeta mark set meta mark and {keep:#010x} or {m:#010x}\n\t}}\n"
        ));
    }
    s.push_str("}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(mark(0x00ff_0000, 1), Some(0x0001_0000));
        assert_eq!(mark(0x00ff_0000, 255), Some(0x00ff_0000));
        assert_eq!(mark(0x00ff_0000, 256), None);
    }

    #[test]
    fn the_ruleset() {
        let r = ruleset(
            0x00ff_0000,
            &[
                ("pppoe-wan".into(), 4201, 0x10000),
                ("pppoe-VWAN1".into(), 4202, 0x20000),
            ],
        );
        assert!(
            r.starts_with("table ip ecmp4\ndelete table ip ecmp4\ntable ip ecmp4 {\n"),
            "{r}"
        );
        assert!(r.contains("ct state new iifname vmap { \"pppoe-wan\" : jump in_4201, \"pppoe-VWAN1\" : jump in_4202 }"), "{r}");
        assert!(r.contains("ct direction reply ct mark and 0x00ff0000 vmap { 0x00010000 : jump out_4201, 0x00020000 : jump out_4202 }"), "{r}");
        assert!(
            r.contains("ct mark set ct mark and 0xff00ffff or 0x00020000"),
            "{r}"
        );
        assert!(
            r.contains("meta mark set meta mark and 0xff00ffff or 0x00010000"),
            "{r}"
        );
        assert_eq!(
            ruleset(0x00ff_0000, &[]),
            "table ip ecmp4\ndelete table ip ecmp4\n"
        );
    }
}
