//! The dials, the UCI sections they need, and the `uci batch` lines that
//! take the current config there: plain data, no uci run here.
//!
//! Every section multidial makes carries `option multidial '1'`; that mark
//! is how `remove` finds exactly its own, and how a same-named section of
//! the user's is refused instead of overwritten. The batch only holds what
//! differs from the current config, so a second apply is an empty batch.

use ecmp::input::uci::{quote, Section};

pub const MARK: &str = "multidial";
/// On a user's pppoe interface of a dialled line (the stock `wan`): the
/// `defaultroute` it had before apply set it to 0 (`none`: unset), so
/// `remove` can put it back.
pub const SAVED_DEFAULTROUTE: &str = "multidial_defaultroute";
/// The section of /etc/config/ecmp holding how the dials start at boot
/// (read by /etc/init.d/multidial).
pub const BOOT: &str = "multidial";
/// Our mwan3 rule, placed before the stock ones.
pub const MWAN3_RULE: &str = "md_default";
/// In our `config multidial` section of /etc/config/ecmp (fw4): each
/// device pattern apply added to a zone, as `<zone> <pattern>`, so
/// `remove` takes exactly those (a pattern the user had stays). Kept out
/// of the zone itself: fw4 warns of every option it does not know.
pub const ZONE_DEVICES: &str = "zone_device";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Balancer {
    Ecmp,
    Mwan3,
}

impl Balancer {
    pub fn parse(v: &str) -> Result<Balancer, String> {
        match v {
            "ecmp" => Ok(Balancer::Ecmp),
            "mwan3" => Ok(Balancer::Mwan3),
            b => Err(format!("balancer '{b}': ecmp or mwan3")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Balancer::Ecmp => "ecmp",
            Balancer::Mwan3 => "mwan3",
        }
    }
}

/// Which firewall the router runs, so how the dials join the zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firewall {
    /// firewall4 (nftables): by device pattern, `list device
    /// 'pppoe-VWAN+'`, which fw4 matches as `oifname "pppoe-VWAN*"`: dials
    /// come and go without a firewall reload (its 20-firewall hotplug
    /// reloads the whole ruleset on the ifup of a network the zone lists
    /// by name).
    Fw4,
    /// firewall3 (iptables): by network name, the only way it has.
    Fw3,
}

#[derive(Clone, Debug)]
pub struct Setup {
    pub lines: Vec<String>,
    pub dials: u32,
    pub username: String,
    pub password: String,
    /// Dial numbers (n of VWANn) with IPv6.
    pub ipv6: Vec<u32>,
    pub metric_base: u32,
    pub iface_prefix: String,
    pub dev_prefix: String,
    pub zone: String,
    pub firewall: Firewall,
    pub balancer: Balancer,
    pub track_ip: Vec<String>,
    /// At boot, /etc/init.d/multidial brings the dials up `batch` at a
    /// time, `delay` seconds apart (the dials themselves are `auto '0'`).
    pub batch: u32,
    pub delay: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dial {
    pub n: u32,
    pub iface: String,
    pub dev: String,
    pub parent: String,
    pub metric: u32,
    pub ipv6: bool,
}

/// The dials with IPv6 as [`parse_ipv6`] reads them: `1,2`, or `none`.
pub fn ipv6_text(v: &[u32]) -> String {
    if v.is_empty() {
        return "none".into();
    }
    v.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

/// The setup recorded in our `config multidial` of /etc/config/ecmp (by
/// apply, or by LuCI's Multi-dial page), for `--from-config`. Defaults as
/// the flags have them; a line, the username and the password must be
/// there.
pub fn setup_from(sec: &Section, firewall: Firewall) -> Result<Setup, String> {
    let get = |k: &str| sec.options.get(k).and_then(|v| v.first()).cloned();
    let list = |k: &str| sec.options.get(k).cloned().unwrap_or_default();
    let num = |k: &str, default: u32| -> Result<u32, String> {
        match get(k) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("ecmp.{BOOT}.{k} '{v}' is not a number")),
        }
    };
    let need = |k: &str| get(k).ok_or(format!("ecmp.{BOOT} has no {k}"));
    let lines = list("line");
    if lines.is_empty() {
        return Err(format!(
            "ecmp.{BOOT} has no line (the parent device of a line, e.g. eth0.2)"
        ));
    }
    let dials = num("dials", 2)?;
    let total = dials.saturating_mul(lines.len() as u32);
    Ok(Setup {
        dials,
        username: need("username")?,
        password: need("password")?,
        ipv6: parse_ipv6(&get("ipv6").unwrap_or_else(|| "none".into()), total)?,
        metric_base: num("metric_base", 10)?,
        iface_prefix: get("iface_prefix").unwrap_or_else(|| "VWAN".into()),
        dev_prefix: get("dev_prefix").unwrap_or_else(|| "veth".into()),
        zone: get("zone").unwrap_or_else(|| "wan".into()),
        firewall,
        balancer: Balancer::parse(&get("balancer").unwrap_or_else(|| "ecmp".into()))?,
        track_ip: list("track_ip"),
        batch: num("batch", 4)?,
        delay: num("delay", 5)?,
        lines,
    })
}

/// A batch in words, for a person deciding whether to apply it: "adds
/// VWAN5-VWAN8, removes nothing" (and how many other changes).
pub fn summary(lines: &[String], cur: &Current) -> String {
    let mut added = Vec::new();
    let mut removed = Vec::new();
    let mut other = 0;
    for l in lines {
        let new_iface = l
            .strip_prefix("set network.")
            .and_then(|r| r.strip_suffix("=interface"))
            .filter(|n| !cur.network.iter().any(|s| s.name == *n));
        let gone = l.strip_prefix("delete network.").filter(|n| {
            !n.contains('.')
                && cur
                    .network
                    .iter()
                    .any(|s| s.name == *n && s.kind == "interface")
        });
        match (new_iface, gone) {
            (Some(n), _) => added.push(n.to_string()),
            (_, Some(n)) => removed.push(n.to_string()),
            _ => other += 1,
        }
    }
    let words = |v: &[String]| match v.is_empty() {
        true => "nothing".to_string(),
        false => ranges(v),
    };
    let mut out = format!("adds {}, removes {}", words(&added), words(&removed));
    if other > 0 {
        out.push_str(&format!(", {other} other change{}", ecmp::log::s(other)));
    }
    out
}

/// `VWAN5, VWAN6, VWAN7, wan` -> `VWAN5-VWAN7, wan`: runs of one prefix
/// with consecutive numbers.
fn ranges(names: &[String]) -> String {
    let split = |n: &str| {
        let digits = n.len() - n.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let (p, d) = n.split_at(n.len() - digits);
        (p.to_string(), d.parse::<u32>().ok())
    };
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < names.len() {
        let (p, d) = split(&names[i]);
        let mut j = i;
        while let (Some(d), Some(next)) = (d, names.get(j + 1)) {
            if split(next) != (p.clone(), Some(d + (j + 1 - i) as u32)) {
                break;
            }
            j += 1;
        }
        out.push(match j > i + 1 {
            true => format!("{}\u{2013}{}", names[i], names[j]),
            false => names[i..=j].join(", "),
        });
        i = j + 1;
    }
    out.join(", ")
}

/// `1,2`, `all` or `none`, for `dials` dials in all.
pub fn parse_ipv6(v: &str, total: u32) -> Result<Vec<u32>, String> {
    match v {
        "none" | "" => Ok(vec![]),
        "all" => Ok((1..=total).collect()),
        _ => v
            .split(',')
            .map(|x| match x.trim().parse::<u32>() {
                Ok(n) if (1..=total).contains(&n) => Ok(n),
                _ => Err(format!("--ipv6: '{x}' is not a dial number 1-{total}")),
            })
            .collect(),
    }
}

/// A UCI section name: letters, digits and `_` only (uci refuses the rest
/// line by line while `uci batch` still exits 0).
pub fn uci_name(x: &str) -> bool {
    !x.is_empty() && x.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The write-up's naming: `vethN` on one line; `veth<line>0<dial>` on
/// several (line and dial counted from 1); interfaces numbered across.
/// Every name and number is checked here, before uci runs.
pub fn dials(s: &Setup) -> Result<Vec<Dial>, String> {
    if s.lines.is_empty() {
        return Err("give at least one --line (the parent device, e.g. eth0.2)".into());
    }
    if s.dials == 0 || s.dials > 250 {
        return Err(format!("--dials {} is not 1-250", s.dials));
    }
    for (i, l) in s.lines.iter().enumerate() {
        if s.lines[..i].contains(l) {
            return Err(format!("--line {l} is given twice"));
        }
    }
    if !uci_name(&s.dev_prefix) {
        return Err(format!(
            "--dev-prefix '{}' is not usable: letters, digits and _ only (it names uci sections too)",
            s.dev_prefix
        ));
    }
    if s.username.trim().is_empty() {
        return Err("--username is empty".into());
    }
    if s.username.chars().any(char::is_control) {
        return Err(
            "--username has a control character (a newline?): a PPPoE username is one line of text"
                .into(),
        );
    }
    for t in &s.track_ip {
        if t.parse::<std::net::IpAddr>().is_err() {
            return Err(format!("--track-ip '{t}' is not an IP address"));
        }
    }
    let total = s.dials.saturating_mul(s.lines.len() as u32);
    if s.metric_base.checked_add(total).is_none() {
        return Err(format!(
            "--metric-base {} leaves no room for {total} dials (metrics are 0-4294967295)",
            s.metric_base
        ));
    }
    if s.batch == 0 {
        return Err("--batch 0: at least one dial at a time".into());
    }
    let ok_name = |x: &str| {
        !x.is_empty()
            && x.len() <= 15
            && x.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
    };
    let mut out = Vec::new();
    let mut n = 0;
    for (li, parent) in s.lines.iter().enumerate() {
        if !ok_name(parent) {
            return Err(format!("--line '{parent}' is not a device name"));
        }
        for j in 1..=s.dials {
            n += 1;
            let dev = if s.lines.len() == 1 {
                format!("{}{j}", s.dev_prefix)
            } else {
                format!("{}{}0{j}", s.dev_prefix, li + 1)
            };
            let iface = format!("{}{n}", s.iface_prefix);
            if !ok_name(&dev) {
                return Err(format!(
                    "device name '{dev}' is not usable (at most 15 letters, digits, _ - .)"
                ));
            }
            if s.lines.contains(&dev) {
                return Err(format!(
                    "macvlan '{dev}' would have the name of the line it sits on; choose another --dev-prefix"
                ));
            }
            // A UCI section name, and pppd's device is pppoe-<iface>.
            if iface.is_empty()
                || !iface
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_')
                || iface.len() + "pppoe-".len() > 15
            {
                return Err(format!(
                    "interface name '{iface}' is not usable (at most 9 letters, digits or _, so pppoe-{iface} fits 15)"
                ));
            }
            out.push(Dial {
                n,
                iface,
                dev,
                parent: parent.clone(),
                metric: s.metric_base + n,
                ipv6: s.ipv6.contains(&n),
            });
        }
    }
    Ok(out)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Val {
    One(String),
    List(Vec<String>),
}

/// A section as it should be.
#[derive(Clone, Debug)]
pub struct Want {
    pub pkg: &'static str,
    pub name: String,
    pub kind: &'static str,
    pub opts: Vec<(&'static str, Val)>,
}

fn one(v: impl Into<String>) -> Val {
    Val::One(v.into())
}

pub fn desired(s: &Setup, dials: &[Dial], claims: &[String]) -> Vec<Want> {
    let mut w = Vec::new();
    for d in dials {
        // A persistent macvlan: netifd creates it at boot (an `ip link
        // add` in rc.local is lost, or races netifd).
        w.push(Want {
            pkg: "network",
            name: format!("md_{}", d.dev),
            kind: "device",
            opts: vec![
                ("type", one("macvlan")),
                ("ifname", one(&d.parent)),
                ("name", one(&d.dev)),
                (MARK, one("1")),
            ],
        });
        let mut o = vec![
            ("proto", one("pppoe")),
            ("device", one(&d.dev)),
            ("username", one(&s.username)),
            ("password", one(&s.password)),
            ("metric", one(d.metric.to_string())),
            ("ipv6", one(if d.ipv6 { "auto" } else { "0" })),
            // Not all at once at boot or on `network reload`: the BRAS
            // refuses a burst of sessions; /etc/init.d/multidial starts
            // them in batches.
            ("auto", one("0")),
        ];
        if s.balancer == Balancer::Ecmp {
            // ecmp4/ecmp6 own the default route; netifd reports the
            // gateway under `inactive`.
            o.push(("defaultroute", one("0")));
        }
        o.push((MARK, one("1")));
        w.push(Want {
            pkg: "network",
            name: d.iface.clone(),
            kind: "interface",
            opts: o,
        });
    }
    w.push(Want {
        pkg: "ecmp",
        name: BOOT.into(),
        kind: "multidial",
        opts: {
            // The setup itself, so that `apply --from-config` (LuCI's
            // Multi-dial page) and the next look at it start from what
            // was applied.
            let mut o = vec![
                ("line", Val::List(s.lines.clone())),
                ("dials", one(s.dials.to_string())),
                ("username", one(&s.username)),
                ("password", one(&s.password)),
                ("ipv6", one(ipv6_text(&s.ipv6))),
                ("balancer", one(s.balancer.name())),
                ("metric_base", one(s.metric_base.to_string())),
                ("iface_prefix", one(&s.iface_prefix)),
                ("dev_prefix", one(&s.dev_prefix)),
                ("zone", one(&s.zone)),
            ];
            if !s.track_ip.is_empty() {
                o.push(("track_ip", Val::List(s.track_ip.clone())));
            }
            o.extend([
                ("batch", one(s.batch.to_string())),
                ("delay", one(s.delay.to_string())),
            ]);
            if !claims.is_empty() {
                o.push((ZONE_DEVICES, Val::List(claims.to_vec())));
            }
            o.push((MARK, one("1")));
            o
        },
    });
    if s.balancer == Balancer::Mwan3 {
        let track = if s.track_ip.is_empty() {
            vec!["223.5.5.5".to_string(), "223.6.6.6".to_string()]
        } else {
            s.track_ip.clone()
        };
        for d in dials {
            w.push(Want {
                pkg: "mwan3",
                name: d.iface.clone(),
                kind: "interface",
                opts: vec![
                    ("enabled", one("1")),
                    ("family", one("ipv4")),
                    ("track_ip", Val::List(track.clone())),
                    ("reliability", one("1")),
                    ("count", one("1")),
                    ("timeout", one("2")),
                    ("interval", one("5")),
                    ("down", one("3")),
                    ("up", one("3")),
                    (MARK, one("1")),
                ],
            });
            w.push(Want {
                pkg: "mwan3",
                name: format!("member_{}", d.iface),
                kind: "member",
                opts: vec![
                    ("interface", one(&d.iface)),
                    ("metric", one("1")),
                    ("weight", one("1")),
                    (MARK, one("1")),
                ],
            });
        }
        w.push(Want {
            pkg: "mwan3",
            name: "md_balanced".into(),
            kind: "policy",
            opts: vec![
                (
                    "use_member",
                    Val::List(
                        dials
                            .iter()
                            .map(|d| format!("member_{}", d.iface))
                            .collect(),
                    ),
                ),
                ("last_resort", one("unreachable")),
                (MARK, one("1")),
            ],
        });
        w.push(Want {
            pkg: "mwan3",
            name: MWAN3_RULE.into(),
            kind: "rule",
            opts: vec![
                ("dest_ip", one("0.0.0.0/0")),
                ("proto", one("all")),
                ("use_policy", one("md_balanced")),
                (MARK, one("1")),
            ],
        });
    }
    w
}

/// The config as `uci -q show <pkg>` printed it.
#[derive(Debug, Default)]
pub struct Current {
    pub network: Vec<Section>,
    pub firewall: Vec<Section>,
    pub mwan3: Vec<Section>,
    pub ecmp: Vec<Section>,
}

/// The packages multidial writes, in the order it commits them.
pub const PACKAGES: [&str; 4] = ["network", "firewall", "mwan3", "ecmp"];

impl Current {
    pub fn pkg(&self, p: &str) -> &[Section] {
        match p {
            "network" => &self.network,
            "firewall" => &self.firewall,
            "ecmp" => &self.ecmp,
            _ => &self.mwan3,
        }
    }
}

/// The packages a batch writes to, in [`PACKAGES`] order: each must be
/// committed (a switch from mwan3 back to ecmp only deletes in mwan3).
pub fn touched(lines: &[String]) -> Vec<&'static str> {
    PACKAGES
        .iter()
        .copied()
        .filter(|p| {
            lines.iter().any(|l| {
                l.split_once(' ')
                    .is_some_and(|(_, rest)| rest.starts_with(&format!("{p}.")))
            })
        })
        .collect()
}

/// ecmp4's route metric (/etc/config/ecmp, default 1).
fn ecmp_metric(cur: &Current) -> u32 {
    cur.ecmp
        .iter()
        .find(|s| s.name == "ipv4")
        .and_then(|s| s.options.get("metric"))
        .and_then(|v| v.first())
        .and_then(|m| m.parse().ok())
        .unwrap_or(1)
}

/// pppoe interfaces of the user's on the dialled lines whose own default
/// route would sit at or below ecmp's and so shadow it (the stock `wan`:
/// no metric means 0). With the ecmp balancer they become members.
pub fn shadowing(cur: &Current, lines: &[String]) -> Vec<String> {
    let metric = ecmp_metric(cur);
    cur.network
        .iter()
        .filter(|s| s.kind == "interface" && !ours(s))
        .filter(|s| opt(s, "proto") == Some("pppoe"))
        .filter(|s| {
            let dev = opt(s, "device").or_else(|| opt(s, "ifname")).unwrap_or("");
            lines.iter().any(|l| l == dev)
        })
        .filter(|s| {
            opt(s, "defaultroute") != Some("0")
                && opt(s, "metric").map_or(0, |m| m.parse::<u64>().unwrap_or(0))
                    <= u64::from(metric)
        })
        .map(|s| s.name.clone())
        .collect()
}

pub(crate) fn opt<'a>(s: &'a Section, k: &str) -> Option<&'a str> {
    s.options.get(k).and_then(|v| v.first()).map(String::as_str)
}

pub(crate) fn ours(s: &Section) -> bool {
    s.options.get(MARK).map(|v| v.as_slice()) == Some(&["1".to_string()][..])
}

/// The section name of firewall zone `zone` (`@zone[1]` or a name).
pub(crate) fn zone_section<'a>(cur: &'a Current, zone: &str) -> Result<&'a Section, String> {
    cur.firewall
        .iter()
        .find(|s| {
            s.kind == "zone"
                && s.options.get("name").map(|v| v.as_slice()) == Some(&[zone.to_string()][..])
        })
        .ok_or_else(|| format!("no firewall zone named '{zone}'"))
        .and_then(|s| {
            if opt(s, "masq") == Some("1") {
                Ok(s)
            } else {
                Err(format!(
                    "firewall zone '{zone}' does not masquerade (no masq '1'): internet dials belong in the wan zone (--zone wan)"
                ))
            }
        })
}

/// `uci batch` lines from `cur` to `want` (+ the dials in `zone`).
/// `mask`: print the password as ******** (for `plan`).
pub fn batch(
    want: &[Want],
    ifaces: &[String],
    zone: &str,
    fw: Firewall,
    cur: &Current,
    mask: bool,
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let z = zone_section(cur, zone)?;
    for w in want {
        let have = cur.pkg(w.pkg).iter().find(|s| s.name == w.name);
        // Our own section of /etc/config/ecmp is ours however it came
        // (LuCI's Multi-dial page creates it without the mark).
        let boot = w.pkg == "ecmp" && w.name == BOOT;
        if let Some(h) = have {
            if !ours(h) && !boot {
                return Err(format!(
                    "{}.{} exists and was not made by multidial; remove it or choose other names (--iface-prefix, --dev-prefix)",
                    w.pkg, w.name
                ));
            }
        }
        let key = format!("{}.{}", w.pkg, w.name);
        let empty = Default::default();
        let have_opts = match have {
            Some(h) if h.kind == w.kind => &h.options,
            Some(_) => {
                out.push(format!("delete {key}"));
                out.push(format!("set {key}={}", w.kind));
                &empty
            }
            None => {
                out.push(format!("set {key}={}", w.kind));
                &empty
            }
        };
        for (k, v) in &w.opts {
            let shown = |x: &str| {
                if mask && *k == "password" {
                    "'********'".to_string()
                } else {
                    quote(x)
                }
            };
            match v {
                Val::One(x) => {
                    if have_opts.get(*k) != Some(&vec![x.clone()]) {
                        out.push(format!("set {key}.{k}={}", shown(x)));
                    }
                }
                Val::List(xs) => {
                    if have_opts.get(*k) != Some(xs) {
                        if have_opts.contains_key(*k) {
                            out.push(format!("delete {key}.{k}"));
                        }
                        for x in xs {
                            out.push(format!("add_list {key}.{k}={}", shown(x)));
                        }
                    }
                }
            }
        }
        // Options of ours that the new setup does not have (defaultroute
        // after a switch to mwan3).
        for k in have_opts.keys() {
            if !w.opts.iter().any(|(o, _)| o == k) {
                out.push(format!("delete {key}.{k}"));
            }
        }
    }
    // Our sections the new setup does not have (fewer dials than before).
    for pkg in ["network", "mwan3", "ecmp"] {
        for s in cur.pkg(pkg).iter().filter(|s| ours(s)) {
            if !want.iter().any(|w| w.pkg == pkg && w.name == s.name) {
                out.push(format!("delete {pkg}.{}", s.name));
            }
        }
    }
    // mwan3 matches rules top to bottom: ours goes before the first rule
    // of the user's (the stock https/default_rule_v4 would catch all).
    if want
        .iter()
        .any(|w| w.pkg == "mwan3" && w.name == MWAN3_RULE)
    {
        let secs = cur.pkg("mwan3");
        let first_rule = secs
            .iter()
            .position(|s| s.kind == "rule" && s.name != MWAN3_RULE);
        let at = secs.iter().position(|s| s.name == MWAN3_RULE);
        if let Some(first) = first_rule {
            // Where it lands: appended (a new section), or where it is.
            let ours_at = at.unwrap_or(secs.len());
            if ours_at > first {
                out.push(format!("reorder mwan3.{MWAN3_RULE}={first}"));
            }
        }
    }
    out.extend(zone_batch(z, zone, ifaces, cur, fw));
    Ok(out)
}

/// The device pattern of each interface prefix of `ifaces` (`VWAN1`,
/// `VWAN12` -> `pppoe-VWAN+`), in order.
pub fn patterns(ifaces: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for i in ifaces {
        let p = format!(
            "pppoe-{}+",
            i.trim_end_matches(|c: char| c.is_ascii_digit())
        );
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// The (zone, pattern) pairs apply added before, from our section of
/// /etc/config/ecmp.
pub(crate) fn claimed(cur: &Current) -> Vec<(String, String)> {
    cur.ecmp
        .iter()
        .filter(|s| ours(s) && s.name == BOOT)
        .flat_map(|s| s.options.get(ZONE_DEVICES).into_iter().flatten())
        .filter_map(|v| v.split_once(' '))
        .map(|(z, p)| (z.to_string(), p.to_string()))
        .collect()
}

/// The zone section named `name` (by its `option name`).
pub(crate) fn zone_named<'a>(cur: &'a Current, name: &str) -> Option<&'a Section> {
    cur.firewall
        .iter()
        .find(|s| s.kind == "zone" && opt(s, "name") == Some(name))
}

/// The patterns of `ifaces` that are ours in zone `z` (`zone`): those it
/// lacks now, and those apply added before; not one the user had.
pub fn claims(s: &Setup, ifaces: &[String], cur: &Current) -> Vec<String> {
    if s.firewall != Firewall::Fw4 {
        return Vec::new();
    }
    let before = claimed(cur);
    let devices = zone_named(cur, &s.zone)
        .and_then(|z| z.options.get("device").cloned())
        .unwrap_or_default();
    patterns(ifaces)
        .into_iter()
        .filter(|p| !devices.contains(p) || before.iter().any(|(z, q)| *z == s.zone && q == p))
        .map(|p| format!("{} {p}", s.zone))
        .collect()
}

/// The dials in zone `z` (`zone`): by device pattern (fw4), or by network
/// name (fw3). Either way what the other way, or another zone, held of
/// ours goes.
fn zone_batch(
    z: &Section,
    zone: &str,
    ifaces: &[String],
    cur: &Current,
    fw: Firewall,
) -> Vec<String> {
    let mut out = Vec::new();
    let list = |k: &str| z.options.get(k).cloned().unwrap_or_default();
    let (names, devices) = (list("network"), list("device"));
    let want_names: &[String] = match fw {
        Firewall::Fw4 => &[],
        Firewall::Fw3 => ifaces,
    };
    let want_pats = match fw {
        Firewall::Fw4 => patterns(ifaces),
        Firewall::Fw3 => Vec::new(),
    };
    let key = format!("firewall.{}", z.name);
    for i in want_names.iter().filter(|i| !names.contains(i)) {
        out.push(format!("add_list {key}.network={}", quote(i)));
    }
    // Our interfaces listed by name and no longer wanted so (fewer dials,
    // or fw4's pattern now covers them).
    for s in cur
        .network
        .iter()
        .filter(|s| ours(s) && s.kind == "interface")
    {
        if names.contains(&s.name) && !want_names.contains(&s.name) {
            out.push(format!("del_list {key}.network={}", quote(&s.name)));
        }
    }
    for p in want_pats.iter().filter(|p| !devices.contains(p)) {
        out.push(format!("add_list {key}.device={}", quote(p)));
    }
    // Patterns apply added before that this setup does not want here.
    for (zn, p) in claimed(cur) {
        if zn == zone && want_pats.contains(&p) {
            continue;
        }
        if let Some(other) = zone_named(cur, &zn) {
            if other.options.get("device").is_some_and(|d| d.contains(&p)) {
                out.push(format!(
                    "del_list firewall.{}.device={}",
                    other.name,
                    quote(&p)
                ));
            }
        }
    }
    out
}

/// Everything `plan` prints and `apply` writes: the sections, the zone,
/// mwan3's rule order, and (ecmp balancer) the user's pppoe interfaces on
/// the dialled lines joining ecmp instead of shadowing it; with mwan3,
/// those get their own default route back (mwan3 needs it).
pub fn plan(s: &Setup, cur: &Current, mask: bool) -> Result<Vec<String>, String> {
    let d = dials(s)?;
    let ifaces: Vec<String> = d.iter().map(|x| x.iface.clone()).collect();
    let claims = claims(s, &ifaces, cur);
    let mut out = batch(
        &desired(s, &d, &claims),
        &ifaces,
        &s.zone,
        s.firewall,
        cur,
        mask,
    )?;
    match s.balancer {
        Balancer::Ecmp => out.extend(shadow_batch(cur, &s.lines)),
        Balancer::Mwan3 => out.extend(restore_defaultroutes(cur)),
    }
    Ok(out)
}

pub(crate) fn restore_defaultroutes(cur: &Current) -> Vec<String> {
    let mut out = Vec::new();
    for s in cur.network.iter().filter(|s| !ours(s)) {
        match opt(s, SAVED_DEFAULTROUTE) {
            None => continue,
            Some("none") => out.push(format!("delete network.{}.defaultroute", s.name)),
            Some(v) => out.push(format!("set network.{}.defaultroute={}", s.name, quote(v))),
        }
        out.push(format!("delete network.{}.{SAVED_DEFAULTROUTE}", s.name));
    }
    out
}

/// `remove`: every section of ours, and our interfaces in every zone.
pub fn remove_batch(cur: &Current) -> Vec<String> {
    let mut out = Vec::new();
    let mine: Vec<&String> = cur
        .network
        .iter()
        .filter(|s| ours(s) && s.kind == "interface")
        .map(|s| &s.name)
        .collect();
    for z in cur.firewall.iter().filter(|s| s.kind == "zone") {
        for i in z.options.get("network").into_iter().flatten() {
            if mine.contains(&i) {
                out.push(format!("del_list firewall.{}.network={}", z.name, quote(i)));
            }
        }
    }
    // The device patterns apply added (our section goes below).
    for (zn, p) in claimed(cur) {
        if let Some(z) = zone_named(cur, &zn) {
            if z.options.get("device").is_some_and(|d| d.contains(&p)) {
                out.push(format!("del_list firewall.{}.device={}", z.name, quote(&p)));
            }
        }
    }
    for pkg in ["network", "mwan3", "ecmp"] {
        for s in cur.pkg(pkg).iter().filter(|s| ours(s)) {
            out.push(format!("delete {pkg}.{}", s.name));
        }
    }
    // The user's interfaces whose default route apply turned off.
    out.extend(restore_defaultroutes(cur));
    // Dials adopt took over: back as they were.
    out.extend(crate::adopt::release(cur));
    out
}

/// With the ecmp balancer: the user's pppoe interfaces on the dialled
/// lines stop installing their own default route (they join ecmp's as
/// members); what they had is kept for `remove`.
pub fn shadow_batch(cur: &Current, lines: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for name in shadowing(cur, lines) {
        let s = cur.network.iter().find(|s| s.name == name);
        let old = s.and_then(|s| opt(s, "defaultroute")).unwrap_or("none");
        out.push(format!(
            "set network.{name}.{SAVED_DEFAULTROUTE}={}",
            quote(old)
        ));
        out.push(format!("set network.{name}.defaultroute='0'"));
    }
    out
}

/// Our interfaces in the current config (for `up`), in config order.
/// The dials `up` starts: those multidial made, and those it adopted.
pub fn our_interfaces(cur: &Current) -> Vec<String> {
    cur.network
        .iter()
        .filter(|s| (ours(s) || crate::adopt::adopted(s)) && s.kind == "interface")
        .map(|s| s.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecmp::input::uci::{parse_show, split_values};

    /// A model of OpenWrt's uci for `show` and `batch` (set, delete,
    /// add_list, del_list), over sections in order: no real uci can be
    /// installed on the development machine.
    #[derive(Clone, Debug, PartialEq, Default)]
    pub struct Uci {
        pkgs: Vec<(String, Vec<Section>)>,
    }

    impl Uci {
        pub fn load(pkg: &str, show: &str) -> Uci {
            let mut u = Uci::default();
            u.pkgs.push((pkg.into(), parse_show(show).unwrap()));
            u
        }
        pub fn add(&mut self, pkg: &str, show: &str) {
            self.pkgs.push((pkg.into(), parse_show(show).unwrap()));
        }
        fn secs(&mut self, pkg: &str) -> &mut Vec<Section> {
            if !self.pkgs.iter().any(|(p, _)| p == pkg) {
                self.pkgs.push((pkg.into(), Vec::new()));
            }
            &mut self.pkgs.iter_mut().find(|(p, _)| p == pkg).unwrap().1
        }
        pub fn show(&self, pkg: &str) -> Vec<Section> {
            self.pkgs
                .iter()
                .find(|(p, _)| p == pkg)
                .map(|(_, s)| {
                    s.iter()
                        .map(|x| Section {
                            name: x.name.clone(),
                            kind: x.kind.clone(),
                            options: x.options.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default()
        }
        pub fn current(&self) -> Current {
            Current {
                network: self.show("network"),
                firewall: self.show("firewall"),
                mwan3: self.show("mwan3"),
                ecmp: self.show("ecmp"),
            }
        }
        fn find<'a>(secs: &'a mut [Section], name: &str) -> Option<&'a mut Section> {
            if let Some(rest) = name.strip_prefix('@') {
                let (kind, idx) = rest.trim_end_matches(']').split_once('[').unwrap();
                let idx: usize = idx.parse().unwrap();
                return secs.iter_mut().filter(|s| s.kind == kind).nth(idx);
            }
            secs.iter_mut().find(|s| s.name == name)
        }
        pub fn batch(&mut self, lines: &[String]) {
            for l in lines {
                let (cmd, rest) = l.split_once(' ').unwrap();
                let (path, value) = match rest.split_once('=') {
                    Some((p, v)) => (p, Some(split_values(v).unwrap().join(" "))),
                    None => (rest, None),
                };
                let mut parts = path.splitn(3, '.');
                let (pkg, sec, opt) = (parts.next().unwrap(), parts.next().unwrap(), parts.next());
                let secs = self.secs(pkg);
                match (cmd, opt) {
                    ("reorder", None) => {
                        let i = secs.iter().position(|s| s.name == sec).unwrap();
                        let x = secs.remove(i);
                        let at: usize = value.unwrap().parse().unwrap();
                        secs.insert(at.min(secs.len()), x);
                    }
                    ("set", None) => match Self::find(secs, sec) {
                        Some(s) => s.kind = value.unwrap(),
                        None => secs.push(Section {
                            name: sec.into(),
                            kind: value.unwrap(),
                            options: Default::default(),
                        }),
                    },
                    ("set", Some(o)) => {
                        Self::find(secs, sec)
                            .unwrap()
                            .options
                            .insert(o.into(), vec![value.unwrap()]);
                    }
                    ("delete", None) => secs.retain(|s| s.name != sec),
                    ("delete", Some(o)) => {
                        Self::find(secs, sec).unwrap().options.remove(o);
                    }
                    ("add_list", Some(o)) => {
                        Self::find(secs, sec)
                            .unwrap()
                            .options
                            .entry(o.into())
                            .or_default()
                            .push(value.unwrap());
                    }
                    ("del_list", Some(o)) => {
                        let s = Self::find(secs, sec).unwrap();
                        let v = value.unwrap();
                        if let Some(list) = s.options.get_mut(o) {
                            list.retain(|x| *x != v);
                            if list.is_empty() {
                                s.options.remove(o);
                            }
                        }
                    }
                    _ => panic!("model: unsupported batch line {l}"),
                }
            }
        }
    }

    /// OpenWrt 23.05's default network and firewall, as `uci show` prints them.
    pub fn openwrt() -> Uci {
        let mut u = Uci::load(
            "network",
            "network.loopback=interface
network.loopback.device='lo'
network.loopback.proto='static'
network.loopback.ipaddr='127.0.0.1'
network.loopback.netmask='255.0.0.0'
network.globals=globals
network.globals.ula_prefix='fd12:3456:789a::/48'
network.@device[0]=device
network.@device[0].name='br-lan'
network.@device[0].type='bridge'
network.@device[0].ports='lan1' 'lan2'
network.lan=interface
network.lan.device='br-lan'
network.lan.proto='static'
network.lan.ipaddr='192.168.1.1'
network.lan.netmask='255.255.255.0'
network.wan=interface
network.wan.device='eth0.2'
network.wan.proto='pppoe'
network.wan6=interface
network.wan6.device='@wan'
network.wan6.proto='dhcpv6'
",
        );
        u.add(
            "firewall",
            "firewall.@defaults[0]=defaults
firewall.@defaults[0].input='REJECT'
firewall.@zone[0]=zone
firewall.@zone[0].name='lan'
firewall.@zone[0].network='lan'
firewall.@zone[1]=zone
firewall.@zone[1].name='wan'
firewall.@zone[1].network='wan' 'wan6'
firewall.@zone[1].masq='1'
firewall.@forwarding[0]=forwarding
firewall.@forwarding[0].src='lan'
firewall.@forwarding[0].dest='wan'
",
        );
        u
    }

    fn setup(lines: &[&str], dials: u32, balancer: Balancer) -> Setup {
        Setup {
            lines: lines.iter().map(|s| s.to_string()).collect(),
            dials,
            username: "0571user@isp".into(),
            password: "s3cr'et pw".into(),
            ipv6: vec![1, 2],
            metric_base: 10,
            iface_prefix: "VWAN".into(),
            dev_prefix: "veth".into(),
            zone: "wan".into(),
            firewall: Firewall::Fw3,
            balancer,
            track_ip: vec![],
            batch: 4,
            delay: 5,
        }
    }

    fn plan_of(s: &Setup, u: &Uci, mask: bool) -> Result<Vec<String>, String> {
        plan(s, &u.current(), mask)
    }

    fn golden(name: &str, lines: &[String]) {
        let path = format!("{}/golden/{name}", env!("CARGO_MANIFEST_DIR"));
        let got = lines.join("\n") + "\n";
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, &got).unwrap();
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            got, want,
            "{name} differs (UPDATE_GOLDEN=1 rewrites it after review)"
        );
    }

    #[test]
    fn golden_batches() {
        let u = openwrt();
        golden(
            "1line-8dials.batch",
            &plan_of(&setup(&["eth0.2"], 8, Balancer::Ecmp), &u, true).unwrap(),
        );
        golden(
            "4lines-2dials.batch",
            &plan_of(
                &setup(&["eth0.2", "eth0.3", "eth0.4", "eth0.5"], 2, Balancer::Ecmp),
                &u,
                true,
            )
            .unwrap(),
        );
        golden(
            "4lines-2dials-mwan3.batch",
            &plan_of(
                &setup(
                    &["eth0.2", "eth0.3", "eth0.4", "eth0.5"],
                    2,
                    Balancer::Mwan3,
                ),
                &u,
                true,
            )
            .unwrap(),
        );
    }

    /// What apply records in ecmp.multidial is the setup itself:
    /// `--from-config` reads back the same setup, whose plan is empty; a
    /// dial count changed there (as LuCI's page would) plans those dials.
    #[test]
    fn the_saved_setup_reads_back_and_plans_in_words() {
        for b in [Balancer::Ecmp, Balancer::Mwan3] {
            let s = Setup {
                track_ip: match b {
                    Balancer::Mwan3 => vec!["192.0.2.1".into()],
                    Balancer::Ecmp => vec![],
                },
                ..setup(&["eth0.2", "eth0.3"], 2, b)
            };
            let mut u = openwrt();
            u.batch(&plan_of(&s, &u, false).unwrap());
            let cur = u.current();
            let sec = cur.ecmp.iter().find(|x| x.name == BOOT).unwrap();
            let back = setup_from(sec, s.firewall).unwrap();
            assert_eq!(format!("{back:?}"), format!("{s:?}"));
            assert!(plan_of(&back, &u, false).unwrap().is_empty());
        }
        let s = setup(&["eth0.2"], 4, Balancer::Ecmp);
        let mut u = openwrt();
        let first = plan_of(&s, &u, false).unwrap();
        assert!(
            summary(&first, &u.current()).starts_with("adds VWAN1\u{2013}VWAN4, removes nothing, "),
            "{}",
            summary(&first, &u.current())
        );
        u.batch(&first);
        let more = Setup {
            dials: 8,
            ..s.clone()
        };
        let lines = plan_of(&more, &u, true).unwrap();
        assert!(
            summary(&lines, &u.current()).starts_with("adds VWAN5\u{2013}VWAN8, removes nothing"),
            "{}",
            summary(&lines, &u.current())
        );
        let fewer = Setup { dials: 2, ..s };
        let lines = plan_of(&fewer, &u, true).unwrap();
        assert!(
            summary(&lines, &u.current()).starts_with("adds nothing, removes VWAN3, VWAN4"),
            "{}",
            summary(&lines, &u.current())
        );
        // What is missing or wrong is named.
        let mut sec = u
            .current()
            .ecmp
            .into_iter()
            .find(|x| x.name == BOOT)
            .unwrap();
        sec.options.remove("password");
        assert!(setup_from(&sec, Firewall::Fw4)
            .unwrap_err()
            .contains("no password"));
        sec.options.insert("dials".into(), vec!["x".into()]);
        assert!(setup_from(&sec, Firewall::Fw4)
            .unwrap_err()
            .contains("dials 'x'"));
        assert_eq!(
            ranges(&["a1".into(), "a2".into(), "b".into(), "a4".into()]),
            "a1, a2, b, a4"
        );
    }

    #[test]
    fn apply_twice_changes_nothing_and_remove_restores() {
        for (lines, n, b, fw) in [
            (vec!["eth0.2"], 8, Balancer::Ecmp),
            (
                vec!["eth0.2", "eth0.3", "eth0.4", "eth0.5"],
                2,
                Balancer::Ecmp,
            ),
            (vec!["eth0.2", "eth0.3"], 3, Balancer::Mwan3),
        ]
        .into_iter()
        .flat_map(|c| [Firewall::Fw3, Firewall::Fw4].map(|f| (c.clone(), f)))
        .map(|((l, n, b), f)| (l, n, b, f))
        .collect::<Vec<_>>()
        {
            let s = Setup {
                firewall: fw,
                ..setup(&lines, n, b)
            };
            let before = openwrt();
            let mut u = before.clone();
            let first = plan_of(&s, &u, false).unwrap();
            assert!(!first.is_empty());
            u.batch(&first);
            let applied = u.clone();
            assert!(
                plan_of(&s, &u, false).unwrap().is_empty(),
                "second apply is empty"
            );
            // The model now holds the real password, the plan masks it.
            assert!(u
                .show("network")
                .iter()
                .any(|x| x.options.get("password") == Some(&vec!["s3cr'et pw".to_string()])));
            // Fewer dials: the extra ones go, in every package.
            let mut fewer = s.clone();
            fewer.dials = 1;
            let b2 = plan_of(&fewer, &u, false).unwrap();
            u.batch(&b2);
            assert!(plan_of(&fewer, &u, false).unwrap().is_empty());
            assert_eq!(our_interfaces(&u.current()).len(), lines.len());
            // remove: exactly as before.
            u = applied;
            let r = remove_batch(&u.current());
            u.batch(&r);
            assert_eq!(u.show("network"), before.show("network"));
            assert_eq!(u.show("firewall"), before.show("firewall"));
            assert!(u.show("mwan3").is_empty());
            assert!(
                remove_batch(&u.current()).is_empty(),
                "remove twice is empty"
            );
        }
    }

    #[test]
    fn fw4_zones_take_a_device_pattern_and_names_move_to_it() {
        let names = setup(&["eth0.2", "eth0.3"], 3, Balancer::Ecmp);
        let pattern = Setup {
            firewall: Firewall::Fw4,
            ..names.clone()
        };
        let before = openwrt();
        let mut u = before.clone();
        let p = plan_of(&pattern, &u, false).unwrap();
        let zone: Vec<&String> = p.iter().filter(|l| l.contains("pppoe-VWAN+")).collect();
        assert_eq!(
            zone,
            [
                "add_list ecmp.multidial.zone_device='wan pppoe-VWAN+'",
                "add_list firewall.@zone[1].device='pppoe-VWAN+'"
            ]
        );
        // A router whose dials were listed by name (fw3, or an earlier
        // release): apply moves them to the pattern, and back.
        u.batch(&plan_of(&names, &u, false).unwrap());
        let moved = plan_of(&pattern, &u, false).unwrap();
        for i in 1..=6 {
            assert!(
                moved.contains(&format!("del_list firewall.@zone[1].network='VWAN{i}'")),
                "{moved:?}"
            );
        }
        assert!(moved.contains(&"add_list firewall.@zone[1].device='pppoe-VWAN+'".to_string()));
        u.batch(&moved);
        assert!(plan_of(&pattern, &u, false).unwrap().is_empty());
        let z = u.show("firewall");
        let wan = z.iter().find(|s| s.name == "@zone[1]").unwrap();
        assert_eq!(wan.options["network"], ["wan", "wan6"]);
        assert_eq!(wan.options["device"], ["pppoe-VWAN+"]);
        // A pattern the user had already is not ours: remove keeps it.
        let mut had = before.clone();
        had.batch(&["add_list firewall.@zone[1].device='pppoe-VWAN+'".to_string()]);
        let kept = had.clone();
        had.batch(&plan_of(&pattern, &had, false).unwrap());
        had.batch(&remove_batch(&had.current()));
        assert_eq!(had.show("firewall"), kept.show("firewall"));
        assert_eq!(
            patterns(&["VWAN1".into(), "VWAN12".into(), "X2".into()]),
            ["pppoe-VWAN+", "pppoe-X+"]
        );
    }

    #[test]
    fn sections_of_the_user_are_refused_not_overwritten() {
        let mut u = openwrt();
        u.batch(&[
            "set network.VWAN1=interface".into(),
            "set network.VWAN1.proto='dhcp'".into(),
        ]);
        let e = plan_of(&setup(&["eth0.2"], 2, Balancer::Ecmp), &u, true).unwrap_err();
        assert!(
            e.contains("network.VWAN1 exists and was not made by multidial"),
            "{e}"
        );
        let mut s = setup(&["eth0.2"], 2, Balancer::Ecmp);
        s.zone = "wan9".into();
        assert!(plan_of(&s, &openwrt(), true)
            .unwrap_err()
            .contains("no firewall zone named 'wan9'"));
    }

    #[test]
    fn names_numbers_and_ipv6_selection() {
        let d = dials(&setup(&["eth0.2", "eth1"], 2, Balancer::Ecmp)).unwrap();
        let names: Vec<(&str, &str, &str, u32, bool)> = d
            .iter()
            .map(|x| {
                (
                    x.iface.as_str(),
                    x.dev.as_str(),
                    x.parent.as_str(),
                    x.metric,
                    x.ipv6,
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                ("VWAN1", "veth101", "eth0.2", 11, true),
                ("VWAN2", "veth102", "eth0.2", 12, true),
                ("VWAN3", "veth201", "eth1", 13, false),
                ("VWAN4", "veth202", "eth1", 14, false)
            ]
        );
        assert_eq!(parse_ipv6("all", 3).unwrap(), [1, 2, 3]);
        assert!(parse_ipv6("4", 3).is_err());
        let mut s = setup(&["eth0.2"], 2, Balancer::Ecmp);
        s.iface_prefix = "VERYLONGNAME".into();
        assert!(dials(&s).unwrap_err().contains("pppoe-"));
        s = setup(&["eth 0"], 2, Balancer::Ecmp);
        assert!(dials(&s).is_err());
        s = setup(&[], 2, Balancer::Ecmp);
        assert!(dials(&s).is_err());
    }

    #[test]
    fn plan_masks_the_password_unless_asked() {
        let s = setup(&["eth0.2"], 1, Balancer::Ecmp);
        let masked = plan_of(&s, &openwrt(), true).unwrap().join("\n");
        assert!(!masked.contains("s3cr"), "{masked}");
        assert!(masked.contains("set network.VWAN1.password='********'"));
        let shown = plan_of(&s, &openwrt(), false).unwrap().join("\n");
        assert!(
            shown.contains("set network.VWAN1.password='s3cr'\\''et pw'"),
            "{shown}"
        );
    }
}
