//! `multidial adopt`: take over a multi-dial made by hand or by the
//! write-up's scripts (pppoe interfaces `VWANn` with `ifname 'vethN'`, the
//! macvlans made by `ip link add` lines in rc.local, the dials listed by
//! name in the wan zone). Plain data here, as `plan`: the `uci batch`
//! lines from the current config, and what `remove` needs to put every
//! option back as it was.
//!
//! An adopted interface carries `option multidial 'adopted'` (not `'1'`:
//! `remove` must never delete a dial of the user's) and, in
//! `list multidial_saved`, each option adopt changed as it was
//! (`ifname=veth1`; a bare name when it was unset). Its macvlan gets a
//! `config device` of ours, so netifd makes it at boot and the rc.local
//! lines can go. On fw4 the dials leave the zone's `network` list for the
//! device pattern (the names taken out kept in our `config multidial`
//! section as `list zone_network '<zone> <iface>'`), so a dial's ifup no
//! longer reloads the firewall.

use crate::plan::{
    claimed, opt, ours, patterns, zone_named, zone_section, Current, Firewall, BOOT, MARK,
    ZONE_DEVICES,
};
use ecmp::input::uci::{quote, Section};

/// `option multidial` of an interface adopt took over.
pub const ADOPTED: &str = "adopted";
/// The options adopt changed, as they were: `name=value`, or `name`
/// (unset).
pub const SAVED: &str = "multidial_saved";
/// In our `config multidial` section: `<zone> <iface>` names adopt took
/// out of a zone's `network` list (fw4: the device pattern covers them).
pub const ZONE_NAMES: &str = "zone_network";

pub fn adopted(s: &Section) -> bool {
    opt(s, MARK) == Some(ADOPTED)
}

/// A dial found: its interface, its macvlan and that one's parent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub iface: String,
    pub dev: String,
    pub parent: String,
    /// /etc/config/network already declares the macvlan.
    pub declared: bool,
}

/// How the adopted dials start and where they go.
#[derive(Clone, Debug)]
pub struct Adopt {
    pub zone: String,
    pub firewall: Firewall,
    pub batch: u32,
    pub delay: u32,
}

/// The pppoe interfaces on macvlan devices: those /etc/config/network
/// declares, and `kernel`'s (name, parent) made outside UCI.
pub fn find(cur: &Current, kernel: &[(String, String)]) -> Result<Vec<Found>, String> {
    let declared = |d: &str| {
        cur.network.iter().find_map(|s| {
            (s.kind == "device" && opt(s, "type") == Some("macvlan") && opt(s, "name") == Some(d))
                .then(|| opt(s, "ifname").unwrap_or("").to_string())
        })
    };
    let mut out: Vec<Found> = Vec::new();
    for s in cur
        .network
        .iter()
        .filter(|s| s.kind == "interface" && !ours(s))
    {
        if opt(s, "proto") != Some("pppoe") {
            continue;
        }
        let (dev, ifname) = (opt(s, "device"), opt(s, "ifname"));
        if let (Some(d), Some(i)) = (dev, ifname) {
            if d != i {
                return Err(format!(
                    "network.{} has device '{d}' and ifname '{i}': which one is its device?",
                    s.name
                ));
            }
        }
        let Some(d) = dev.or(ifname) else { continue };
        let (parent, is_declared) = match declared(d) {
            Some(p) => (p, true),
            None => match kernel.iter().find(|(n, _)| n == d) {
                Some((_, p)) => (p.clone(), false),
                None => continue,
            },
        };
        if parent.is_empty() {
            return Err(format!(
                "the macvlan device of {d} (network.{}) names no parent (ifname)",
                s.name
            ));
        }
        if !crate::plan::uci_name(&s.name) || s.name.len() + "pppoe-".len() > 15 {
            return Err(format!(
                "interface name '{}' is not usable (at most 9 letters, digits or _, so pppoe-{} fits 15)",
                s.name, s.name
            ));
        }
        if let Some(o) = out.iter().find(|f| f.dev == d) {
            return Err(format!(
                "network.{} and network.{} both dial on {d}: one PPPoE session per macvlan",
                o.iface, s.name
            ));
        }
        out.push(Found {
            iface: s.name.clone(),
            dev: d.to_string(),
            parent,
            declared: is_declared,
        });
    }
    if out.is_empty() {
        return Err(
            "nothing to adopt: no pppoe interface of /etc/config/network sits on a macvlan device (declared there, or in the kernel now)"
                .into(),
        );
    }
    Ok(out)
}

/// The `uci batch` lines that take `found` over (empty: already done).
pub fn plan(cur: &Current, found: &[Found], a: &Adopt) -> Result<Vec<String>, String> {
    let z = zone_section(cur, &a.zone)?;
    let mut out = Vec::new();
    for f in found {
        let s = cur
            .network
            .iter()
            .find(|s| s.name == f.iface)
            .ok_or_else(|| format!("network.{} is gone", f.iface))?;
        if adopted(s) {
            continue;
        }
        let key = format!("network.{}", f.iface);
        let mut saved = Vec::new();
        // One option set to `v`, and what it was kept.
        let set = |k: &str, v: &str, out: &mut Vec<String>, saved: &mut Vec<String>| {
            if opt(s, k) != Some(v) {
                saved.push(match opt(s, k) {
                    Some(old) => format!("{k}={old}"),
                    None => k.to_string(),
                });
                out.push(format!("set {key}.{k}={}", quote(v)));
            }
        };
        // 21.02 and later name an interface's device `device`.
        if opt(s, "ifname").is_some() {
            set("device", &f.dev, &mut out, &mut saved);
            saved.push(format!("ifname={}", f.dev));
            out.push(format!("delete {key}.ifname"));
        }
        // Started in batches by `up` and the init script, and the default
        // route is ecmp's.
        set("auto", "0", &mut out, &mut saved);
        set("defaultroute", "0", &mut out, &mut saved);
        out.push(format!("set {key}.{MARK}={}", quote(ADOPTED)));
        for v in saved {
            out.push(format!("add_list {key}.{SAVED}={}", quote(&v)));
        }
    }
    for f in found.iter().filter(|f| !f.declared) {
        let key = format!("network.md_{}", f.dev);
        if cur
            .network
            .iter()
            .any(|s| s.name == format!("md_{}", f.dev))
        {
            return Err(format!("{key} exists and was not made by multidial"));
        }
        out.push(format!("set {key}=device"));
        out.push(format!("set {key}.type='macvlan'"));
        out.push(format!("set {key}.ifname={}", quote(&f.parent)));
        out.push(format!("set {key}.name={}", quote(&f.dev)));
        out.push(format!("set {key}.{MARK}='1'"));
    }
    // The zone, and what our section keeps for `remove`.
    let ifaces: Vec<String> = found.iter().map(|f| f.iface.clone()).collect();
    let mut names_out: Vec<String> = Vec::new();
    let mut claims: Vec<String> = Vec::new();
    match a.firewall {
        Firewall::Fw4 => {
            let had = claimed(cur);
            for p in patterns(&ifaces) {
                let devices = z.options.get("device").cloned().unwrap_or_default();
                if !devices.contains(&p) {
                    out.push(format!("add_list firewall.{}.device={}", z.name, quote(&p)));
                    claims.push(format!("{} {p}", a.zone));
                } else if had.iter().any(|(zn, q)| *zn == a.zone && *q == p) {
                    claims.push(format!("{} {p}", a.zone));
                }
            }
            for zs in cur.firewall.iter().filter(|s| s.kind == "zone") {
                let zname = opt(zs, "name").unwrap_or(&zs.name).to_string();
                for i in zs.options.get("network").into_iter().flatten() {
                    if ifaces.contains(i) {
                        out.push(format!(
                            "del_list firewall.{}.network={}",
                            zs.name,
                            quote(i)
                        ));
                        names_out.push(format!("{zname} {i}"));
                    }
                }
            }
        }
        Firewall::Fw3 => {
            for i in &ifaces {
                let listed = cur.firewall.iter().any(|zs| {
                    zs.kind == "zone" && zs.options.get("network").is_some_and(|n| n.contains(i))
                });
                if !listed {
                    return Err(format!(
                        "{i} is in no firewall zone: add it to the {} zone first (uci add_list firewall.{}.network={i}; uci commit firewall)",
                        a.zone, z.name
                    ));
                }
            }
        }
    }
    // Our section: how the dials start at boot, and what remove restores.
    let sec = cur.ecmp.iter().find(|s| s.name == BOOT);
    match sec {
        Some(s) if !ours(s) => {
            return Err("ecmp.multidial exists and was not made by multidial".into());
        }
        Some(_) => {}
        None => {
            out.push(format!("set ecmp.{BOOT}=multidial"));
            out.push(format!("set ecmp.{BOOT}.batch='{}'", a.batch));
            out.push(format!("set ecmp.{BOOT}.delay='{}'", a.delay));
            out.push(format!("set ecmp.{BOOT}.{MARK}='1'"));
        }
    }
    let have = |k: &str| {
        sec.and_then(|s| s.options.get(k).cloned())
            .unwrap_or_default()
    };
    for c in claims.iter().filter(|c| !have(ZONE_DEVICES).contains(c)) {
        out.push(format!("add_list ecmp.{BOOT}.{ZONE_DEVICES}={}", quote(c)));
    }
    for n in &names_out {
        if !have(ZONE_NAMES).contains(n) {
            out.push(format!("add_list ecmp.{BOOT}.{ZONE_NAMES}={}", quote(n)));
        }
    }
    Ok(out)
}

/// `remove`'s part for adopted dials: every option adopt changed back,
/// our marks gone, and the names it took out of a zone back in it.
pub fn release(cur: &Current) -> Vec<String> {
    let mut out = Vec::new();
    for s in cur.network.iter().filter(|s| adopted(s)) {
        let key = format!("network.{}", s.name);
        for v in s.options.get(SAVED).into_iter().flatten() {
            match v.split_once('=') {
                Some((k, old)) => out.push(format!("set {key}.{k}={}", quote(old))),
                None => out.push(format!("delete {key}.{v}")),
            }
        }
        out.push(format!("delete {key}.{SAVED}"));
        out.push(format!("delete {key}.{MARK}"));
    }
    let names = cur
        .ecmp
        .iter()
        .filter(|s| ours(s) && s.name == BOOT)
        .flat_map(|s| s.options.get(ZONE_NAMES).into_iter().flatten())
        .filter_map(|v| v.split_once(' '));
    for (zn, i) in names {
        if let Some(z) = zone_named(cur, zn) {
            if !z
                .options
                .get("network")
                .is_some_and(|n| n.iter().any(|x| x == i))
            {
                out.push(format!("add_list firewall.{}.network={}", z.name, quote(i)));
            }
        }
    }
    out
}
