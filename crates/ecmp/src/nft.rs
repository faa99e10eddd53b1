//! Forwarded inbound connections (port forwards to LAN hosts): the reply's
//! source is the LAN host, so the `from` rules of [`crate::inbound`] do
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

use crate::proc;
use std::path::Path;
use std::time::Duration;

pub const TABLE: &str = "ecmp4";
/// Default mask: bits 16-23, clear of mwan3's 0x3F00.
pub const DEFAULT_MASK: u32 = 0x00ff_0000;
pub const MWAN3_MASK: u32 = 0x3f00;

/// `option inbound_mark`: `auto` (on when the firewall has a port
/// forward), `0`/`off`, `on`, or a mask of at least 8 contiguous bits
/// that does not overlap mwan3's 0x3F00.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Marks {
    #[default]
    Auto,
    Off,
    Mask(u32),
}

pub fn parse_marks(v: &str) -> Result<Marks, String> {
    match v {
        "auto" => return Ok(Marks::Auto),
        "0" | "off" | "no" | "false" | "disabled" => return Ok(Marks::Off),
        "1" | "on" | "yes" | "true" | "enabled" => return Ok(Marks::Mask(DEFAULT_MASK)),
        _ => {}
    }
    let hex = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X"));
    let m = match hex {
        Some(h) => u32::from_str_radix(h, 16),
        None => v.parse(),
    }
    .map_err(|_| format!("'{v}' is not auto, 0 or a mark mask such as 0x00ff0000"))?;
    let bits = m >> m.trailing_zeros().min(31);
    if m == 0 || bits & (bits.wrapping_add(1)) != 0 || m.count_ones() < 8 {
        return Err(format!(
            "{m:#010x} is not a mask of at least 8 contiguous bits"
        ));
    }
    if m & MWAN3_MASK != 0 {
        return Err(format!("{m:#010x} overlaps mwan3's mark bits 0x3f00"));
    }
    Ok(Marks::Mask(m))
}

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

/// Where the port-forward marks go: the real `nft` ([`Nft`]) or a dry
/// run's record of what it would load ([`DryNft`]). The event's one pass
/// is the same for both, as it is for the kernel.
pub trait Marker {
    /// Load `text` unless it is what was loaded last. True when it was
    /// (or would be) loaded.
    fn load(&mut self, text: &str) -> Result<bool, String>;
}

/// fw4's `nft`, with the text last loaded kept in the state directory.
pub struct Nft<'a> {
    /// None: no nft on this router (fw3); nothing is loaded.
    pub program: Option<std::path::PathBuf>,
    pub state_dir: &'a Path,
}

impl Marker for Nft<'_> {
    fn load(&mut self, text: &str) -> Result<bool, String> {
        match &self.program {
            Some(nft) => load(nft, self.state_dir, text),
            None => Ok(false),
        }
    }
}

/// A dry run: the `nft -f -` it would run, as a shell command.
pub struct DryNft<'a> {
    pub state_dir: &'a Path,
    pub commands: Vec<String>,
}

impl Marker for DryNft<'_> {
    fn load(&mut self, text: &str) -> Result<bool, String> {
        let needed = needed(self.state_dir, text);
        if needed {
            self.commands.push(format!("nft -f - <<EOF\n{text}EOF"));
        }
        Ok(needed)
    }
}

/// The `nft` program on PATH (fw4's; a fw3 router has none).
pub fn program() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("nft"))
        .find(|p| p.is_file())
}

/// Where the text last written is kept.
pub fn cache(state_dir: &Path) -> std::path::PathBuf {
    state_dir.join("nft-ecmp4.rules")
}

/// Whether `text` differs from what was loaded last (nothing loaded since
/// boot and nothing to load is no difference).
pub fn needed(state_dir: &Path, text: &str) -> bool {
    match std::fs::read_to_string(cache(state_dir)) {
        Ok(t) => t != text,
        Err(_) => text != ruleset(0, &[]),
    }
}

/// Load `text` with `nft -f -` unless it is what was loaded last. True
/// when nft ran.
pub fn load(nft: &Path, state_dir: &Path, text: &str) -> Result<bool, String> {
    if !needed(state_dir, text) {
        return Ok(false);
    }
    let c = cache(state_dir);
    proc::run(
        nft,
        &["-f", "-"],
        Some(text.as_bytes()),
        Duration::from_secs(5),
        1 << 16,
    )
    .map_err(|e| format!("{} -f -: {e}", nft.display()))?;
    let _ = std::fs::create_dir_all(state_dir);
    let _ = std::fs::write(&c, text);
    Ok(true)
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
