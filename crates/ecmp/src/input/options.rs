//! Option values as the config file and the flags give them, parsed and
//! range-checked (each error says what was expected), and the inbound
//! options with the ranges of others ours must stay clear of: plain data,
//! shared by the config reader, the planners and the tracker.

use std::time::Duration;

#[inline(never)]
pub fn parse_bool(v: &str) -> Result<bool, String> {
    match v {
        "1" | "on" | "true" | "yes" | "enabled" => Ok(true),
        "0" | "off" | "false" | "no" | "disabled" => Ok(false),
        _ => Err(format!("'{v}' is not a boolean")),
    }
}

/// Route table: a name iproute2 always knows, or a number. 0 (unspec) and
/// 255 (local) are refused: a default route there is never what is meant.
#[inline(never)]
pub fn parse_table(v: &str) -> Result<u32, String> {
    let t = match v {
        "main" => 254,
        "default" => 253,
        _ => v
            .parse::<u32>()
            .map_err(|_| format!("'{v}' is not main, default or a table number"))?,
    };
    if t == 0 || t == 255 {
        return Err(format!("table {t} cannot hold our route"));
    }
    Ok(t)
}

#[inline(never)]
pub fn parse_metric(v: &str) -> Result<u32, String> {
    v.parse::<u32>()
        .map_err(|_| format!("'{v}' is not a metric (0-4294967295)"))
}

#[inline(never)]
pub fn parse_weight(v: &str) -> Result<u16, String> {
    match v.parse::<u16>() {
        Ok(w) if (1..=256).contains(&w) => Ok(w),
        _ => Err(format!("'{v}' is not a weight (1-256)")),
    }
}

#[inline(never)]
pub fn parse_tier(v: &str) -> Result<u8, String> {
    match v.parse::<u8>() {
        Ok(t) if t >= 1 => Ok(t),
        _ => Err(format!("'{v}' is not a tier (1-255)")),
    }
}

#[inline(never)]
pub fn parse_buckets(v: &str) -> Result<u16, String> {
    match v.parse::<u16>() {
        Ok(b) if b >= 2 => Ok(b),
        _ => Err(format!("'{v}' is not a bucket count (2-65535)")),
    }
}

/// Resilient-group timers: whole seconds the kernel can hold in clock_t.
#[inline(never)]
pub fn parse_seconds(v: &str) -> Result<u32, String> {
    match v.parse::<u32>() {
        Ok(s) if s <= 3600 * 24 * 7 => Ok(s),
        _ => Err(format!("'{v}' is not a number of seconds (0-604800)")),
    }
}

/// Seconds with up to three decimals, in (0, 60]. Parsed by hand: float
/// parsing would add 15 KB of tables to a router binary.
#[inline(never)]
pub fn parse_timeout(v: &str) -> Result<Duration, String> {
    let bad = || format!("'{v}' is not a timeout (0.001-60 seconds)");
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() && frac.is_empty() || !digits(int) || !digits(frac) || frac.len() > 3 {
        return Err(bad());
    }
    let secs: u64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    let ms: u64 = format!("{frac:0<3}").parse().map_err(|_| bad())?;
    let total = secs
        .checked_mul(1000)
        .and_then(|s| s.checked_add(ms))
        .ok_or_else(bad)?;
    if total == 0 || total > 60_000 {
        return Err(bad());
    }
    Ok(Duration::from_millis(total))
}

/// Member tables per family.
pub const SLOTS: u32 = 255;
pub const DEFAULT_TABLE_BASE: u32 = 4200;
pub const DEFAULT_RULE_PRIORITY: u32 = 4200;

/// The options (`config ecmp 'ipv4'`/`'ipv6'`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inbound {
    /// `option inbound`: keep the per-member tables and rules (default on).
    pub enabled: bool,
    pub table_base: u32,
    pub rule_priority: u32,
    /// `option inbound_mark` (IPv4): marks for port forwards.
    pub marks: Marks,
}

impl Default for Inbound {
    fn default() -> Inbound {
        Inbound {
            enabled: true,
            table_base: DEFAULT_TABLE_BASE,
            rule_priority: DEFAULT_RULE_PRIORITY,
            marks: Marks::Auto,
        }
    }
}

/// Ranges of others ours must not overlap: the kernel's local, main and
/// default tables, and mwan3's tables and rule priorities.
const TAKEN: [(u32, u32, &str); 4] = [
    (253, 255, "the kernel's default, main and local tables"),
    (1001, 1250, "mwan3's"),
    (2001, 2250, "mwan3's"),
    (3001, 3250, "mwan3's"),
];

/// `option table_base`: tables base+1 ..= base+256 must be free.
#[inline(never)]
pub fn parse_table_base(v: &str) -> Result<u32, String> {
    let b: u32 = v
        .parse()
        .map_err(|_| format!("'{v}' is not a table number"))?;
    let (lo, hi) = (b.checked_add(1), b.checked_add(SLOTS));
    let (Some(lo), Some(hi)) = (lo, hi) else {
        return Err(format!("'{v}' leaves no room for {SLOTS} tables"));
    };
    for (a, z, whose) in TAKEN {
        if lo <= z && a <= hi {
            return Err(format!("tables {lo}-{hi} overlap {whose} ({a}-{z})"));
        }
    }
    Ok(b)
}

/// Priorities our rules take from `rule_priority` on (see
/// `inbound::guards`).
pub const PRIORITIES: u32 = 6;

/// `option rule_priority`: ours take it and the next five, all before the
/// kernel's main rule (32766), none among mwan3's priorities.
#[inline(never)]
pub fn parse_rule_priority(v: &str) -> Result<u32, String> {
    let p: u32 = v
        .parse()
        .map_err(|_| format!("'{v}' is not a rule priority"))?;
    let last = 32765 - (PRIORITIES - 1);
    if p == 0 || p > last {
        return Err(format!(
            "{p} is not between 1 and {last} (ours take it and the next {}, before the main table's rule)",
            PRIORITIES - 1
        ));
    }
    let z = p + PRIORITIES - 1;
    if let Some((a, b, whose)) = TAKEN[1..].iter().find(|(a, b, _)| p <= *b && *a <= z) {
        return Err(format!(
            "{p}-{z} overlaps {whose} rule priorities ({a}-{b})"
        ));
    }
    Ok(p)
}

/// How the route is programmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Resilient if the kernel takes it, else group, else multipath.
    Auto,
    Resilient,
    Group,
    Multipath,
}

impl Mode {
    pub fn parse(v: &str) -> Result<Mode, String> {
        match v {
            "auto" => Ok(Mode::Auto),
            "resilient" => Ok(Mode::Resilient),
            "group" => Ok(Mode::Group),
            "multipath" => Ok(Mode::Multipath),
            _ => Err(format!(
                "'{v}' is not a mode (auto, resilient, group, multipath)"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Resilient => "resilient",
            Mode::Group => "group",
            Mode::Multipath => "multipath",
        }
    }
}

/// Parameters of a resilient group. Timers in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resilient {
    pub buckets: u16,
    /// A bucket that saw no packet for this long may move to a member that
    /// has fewer buckets than its share.
    pub idle_timer: u32,
    /// After this long out of balance, busy buckets move too (0: never).
    pub unbalanced_timer: u32,
}

impl Default for Resilient {
    /// Chosen for NAT'd multi-dial, where a moved flow is a broken
    /// connection: 512 buckets (fair shares up to a few hundred dials),
    /// idle 300 s (longer than most NAT'd UDP and idle HTTP), never force.
    fn default() -> Self {
        Resilient {
            buckets: 512,
            idle_timer: 300,
            unbalanced_timer: 0,
        }
    }
}

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

#[inline(never)]
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
