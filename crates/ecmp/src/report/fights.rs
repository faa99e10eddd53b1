//! What else on the router fights our route, each as (what, the exact
//! command that ends it): mwan3 (its marks and rules send connections
//! around our route), syncdial (mwan3 plus its own dialling), `ip link add
//! ... type macvlan` lines in rc.local for devices UCI now declares, and a
//! `fib_multipath_hash_policy` that /etc/sysctl.conf (applied after our
//! /etc/sysctl.d file) sets to something else. `check` fails on each;
//! `status`, and so the LuCI status page, warns. Hotplug hooks writing
//! default routes (the write-up's 97-ECMPv4/98-ECMPv6) are `check`'s own.
//! Reads files under a root (`check --root`), and the rules the caller
//! read from the kernel.

use crate::plan::rule::Rule;
use crate::Family;
use std::path::Path;

/// mwan3's rule priorities and its mark mask (mwan3's defaults).
const MWAN3_PRIORITIES: std::ops::RangeInclusive<u32> = 1001..=3250;
const MWAN3_MASK: u32 = 0x3f00;

fn read(root: &Path, f: &str) -> Option<String> {
    std::fs::read(root.join(f))
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// An init script enabled at boot: an `S??name` link in /etc/rc.d.
fn enabled(root: &Path, name: &str) -> bool {
    std::fs::read_dir(root.join("etc/rc.d")).is_ok_and(|rd| {
        rd.flatten().any(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with('S')
                && n.trim_start_matches(|c: char| c == 'S' || c.is_ascii_digit()) == name
        })
    })
}

/// A process of that name runs (only for the live system, root "/").
fn running(root: &Path, comm: &str) -> bool {
    root == Path::new("/")
        && std::fs::read_dir("/proc").is_ok_and(|rd| {
            rd.flatten().any(|e| {
                std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == comm)
            })
        })
}

/// Every finding, in a fixed order.
pub fn find(root: &Path, family: Family, rules: &[Rule]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    // mwan3: installed and enabled or running, or its rules in the kernel.
    let theirs = rules
        .iter()
        .filter(|r| {
            MWAN3_PRIORITIES.contains(&r.priority) || r.fwmark.is_some_and(|(_, k)| k == MWAN3_MASK)
        })
        .count();
    let installed = root.join("etc/init.d/mwan3").exists();
    let (on, live) = (enabled(root, "mwan3"), running(root, "mwan3track"));
    if theirs > 0 || (installed && (on || live)) {
        let mut state = Vec::new();
        if on {
            state.push("enabled".to_string());
        }
        if live {
            state.push("running".to_string());
        }
        if theirs > 0 {
            state.push(format!(
                "{theirs} of its {} rules in the kernel",
                family.section()
            ));
        }
        out.push((
            format!(
                "mwan3 is {}: its marks and rules send connections around our route",
                state.join(", ")
            ),
            "/etc/init.d/mwan3 stop; /etc/init.d/mwan3 disable (then, to remove it: apk del luci-app-mwan3 mwan3; 24.10: opkg remove luci-app-mwan3 mwan3)".into(),
        ));
    }
    // syncdial (luci-app-syncdial): mwan3's balancing and its own dials.
    let sync_on = read(root, "etc/config/syncdial").is_some_and(|t| {
        crate::input::ucifile::parse(t.as_bytes()).is_ok_and(|secs| {
            secs.iter().any(|s| {
                s.options
                    .get("enabled")
                    .and_then(|v| v.first())
                    .is_some_and(|v| crate::input::options::parse_bool(v) == Ok(true))
            })
        })
    });
    if sync_on || enabled(root, "syncdial") {
        out.push((
            "syncdial is enabled: it dials and balances with mwan3 on its own".into(),
            "uci set syncdial.config.enabled=0; uci commit syncdial; /etc/init.d/syncdial stop; /etc/init.d/syncdial disable".into(),
        ));
    }
    // rc.local macvlans that /etc/config/network now declares.
    let declared: Vec<String> = read(root, "etc/config/network")
        .and_then(|t| crate::input::ucifile::parse(t.as_bytes()).ok())
        .unwrap_or_default()
        .iter()
        .filter(|s| {
            s.kind == "device"
                && s.options
                    .get("type")
                    .is_some_and(|t| t.iter().any(|x| x == "macvlan"))
        })
        .filter_map(|s| s.options.get("name").and_then(|v| v.first()).cloned())
        .collect();
    if let Some(rc) = read(root, "etc/rc.local") {
        let lines: Vec<&str> = rc
            .lines()
            .filter(|l| {
                !l.trim_start().starts_with('#')
                    && l.contains("ip link add")
                    && l.contains("type macvlan")
            })
            .collect();
        if !lines.is_empty() && !declared.is_empty() {
            out.push((
                format!(
                    "/etc/rc.local makes macvlan devices that /etc/config/network now declares ({} line{}: {}): netifd makes them at boot",
                    lines.len(),
                    crate::log::s(lines.len()),
                    lines.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" | ")
                ),
                "sed -i '/ip link add.*type macvlan/d' /etc/rc.local".into(),
            ));
        }
    }
    // A hash policy that sysctl.conf (applied last) sets otherwise.
    let key = family.hash_policy_name();
    if let Some(conf) = read(root, "etc/sysctl.conf") {
        for l in conf.lines().filter(|l| !l.trim_start().starts_with('#')) {
            let Some((k, v)) = l.split_once('=') else {
                continue;
            };
            if k.trim() == key && v.trim() != "1" {
                out.push((
                    format!(
                        "/etc/sysctl.conf sets {key} = {} after our /etc/sysctl.d/60-ecmp-hotplug.conf: one download uses one link",
                        v.trim()
                    ),
                    format!("sed -i '/{key}/d' /etc/sysctl.conf; sysctl -w {key}=1"),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(root: &Path, f: &str, text: &str) {
        let p = root.join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn what_fights_our_route_with_its_fix() {
        let root = std::env::temp_dir().join(format!("ecmp-fights-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        assert!(
            find(&root, Family::V4, &[]).is_empty(),
            "an empty root: nothing"
        );
        put(&root, "etc/init.d/mwan3", "#!/bin/sh\n");
        assert!(
            find(&root, Family::V4, &[]).is_empty(),
            "installed, disabled, no rules"
        );
        put(&root, "etc/rc.d/S19mwan3", "");
        let rules = [
            Rule {
                fwmark: Some((0x100, 0x3f00)),
                protocol: 0,
                ..Rule::lookup(Family::V4, 2001, 1001)
            },
            Rule {
                protocol: 0,
                ..Rule::lookup(Family::V4, 30000, 100)
            },
        ];
        let f = find(&root, Family::V4, &rules);
        assert_eq!(f[0].0, "mwan3 is enabled, 1 of its ipv4 rules in the kernel: its marks and rules send connections around our route");
        assert!(f[0]
            .1
            .starts_with("/etc/init.d/mwan3 stop; /etc/init.d/mwan3 disable"));
        put(
            &root,
            "etc/config/syncdial",
            "config syncdial 'config'\n\toption enabled '1'\n\toption wannum '4'\n",
        );
        put(&root, "etc/rc.local", "# comment: ip link add link eth0.2 name x type macvlan\nfor i in $(seq 1 4); do ip link add link eth0.2 name veth$i type macvlan; done\nexit 0\n");
        put(
            &root,
            "etc/config/network",
            "config device 'md_veth1'\n\toption type 'macvlan'\n\toption name 'veth1'\n",
        );
        put(
            &root,
            "etc/sysctl.conf",
            "net.ipv4.fib_multipath_hash_policy=0\nnet.ipv6.fib_multipath_hash_policy=1\n",
        );
        let f = find(&root, Family::V4, &[]);
        let what: Vec<&str> = f.iter().map(|(w, _)| w.as_str()).collect();
        assert_eq!(what.len(), 4, "{what:?}");
        assert!(what[1].starts_with("syncdial is enabled"));
        assert!(what[2].contains("(1 line: for i in $(seq 1 4); do ip link add link eth0.2 name veth$i type macvlan; done)"), "{}", what[2]);
        assert_eq!(
            f[2].1,
            "sed -i '/ip link add.*type macvlan/d' /etc/rc.local"
        );
        assert_eq!(f[3].1, "sed -i '/net.ipv4.fib_multipath_hash_policy/d' /etc/sysctl.conf; sysctl -w net.ipv4.fib_multipath_hash_policy=1");
        // IPv6's policy is 1 there: nothing for ecmp6 but mwan3's files.
        let f6 = find(&root, Family::V6, &[]);
        assert!(f6.iter().all(|(w, _)| !w.contains("sysctl.conf")), "{f6:?}");
        let _ = std::fs::remove_dir_all(&root);
    }
}
