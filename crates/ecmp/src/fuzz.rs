//! The bodies of the fuzz targets (tests/fuzz) and of their regression test:
//! bytes -> dump -> members for both families and every action -> the
//! desired route, the group plan and the dry-run text. Any panic here
//! would be a silent abort in netifd's hotplug queue on a router.

use crate::input::config::Config;
use crate::input::dump::Dump;
use crate::input::event::{Action, Event};
use crate::kernel::dummy::Dummy;
use crate::plan::members;
use crate::plan::nexthop::{self, Mode};
use crate::plan::route::Route;
use crate::{kernel::program, Family};

pub fn dump_and_select(data: &[u8]) {
    let Ok(dump) = Dump::parse(data) else {
        return;
    };
    select_all(&dump);
}

fn select_all(dump: &Dump) {
    for family in [Family::V4, Family::V6] {
        let cfg = Config::defaults(family);
        let names: Vec<String> = dump
            .interface
            .iter()
            .take(4)
            .map(|i| i.interface.to_string())
            .collect();
        for action in ["ifup", "ifdown", "ifupdate", "free"] {
            for iface in names.iter().map(String::as_str).chain([""]) {
                let event = Event {
                    action_name: action.into(),
                    action: Action::parse(action),
                    interface: iface.into(),
                };
                let Ok(sel) = members::select(family, dump, &cfg, &event) else {
                    continue;
                };
                // The kernel as a dry run sees it: every member's device
                // there; the plan, the group plan and the writes as `ip`.
                let devs: Vec<&str> = sel.members.iter().map(|m| m.device.as_str()).collect();
                let Ok(mut k) = Dummy::from_state(&mut Dummy::empty(), family, cfg.table, &devs)
                else {
                    continue;
                };
                let (hops, _) = program::resolve(&sel.members, &k.links);
                if let Some(r) = Route::desired(family, cfg.table, cfg.metric, &hops) {
                    let _ = r.to_ip("replace");
                }
                let _ = nexthop::plan_group(family, cfg.table, &hops, Some(cfg.resilient), &[]);
                for mode in [Mode::Auto, Mode::Multipath] {
                    let cfg = Config {
                        mode,
                        ..cfg.clone()
                    };
                    let input = crate::pass::Input {
                        family,
                        cfg: &cfg,
                        dump,
                        sel: &sel,
                        mask: None,
                    };
                    let _ = crate::pass::run(&mut k, None, &input, &event.label());
                }
            }
        }
    }
}

/// `uci -q show` text (what uci prints for /etc/config/ecmp) -> config
/// for both families, and the batch quoting round trip.
pub fn uci_show(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for family in [Family::V4, Family::V6] {
        let mut cfg = Config::defaults(family);
        let _ = cfg.apply_uci(family, text);
    }
    if let Ok(sections) = crate::input::uci::parse_show(text) {
        for s in sections {
            for v in s.options.values().flatten() {
                let q = crate::input::uci::quote(v);
                assert_eq!(
                    crate::input::uci::split_values(&q).ok().as_deref(),
                    Some(&[v.clone()][..])
                );
            }
        }
    }
}

/// ubusd's answer bytes -> the typed dump (read in place, as the socket
/// path does, and through a value tree: both alike) -> members and plans;
/// and a round trip of what decodes through the encoder.
pub fn blobmsg(data: &[u8]) {
    let Ok(v) = crate::input::blob::table(data) else {
        return;
    };
    assert_eq!(
        crate::input::blob::table(&crate::input::blob::encode::table(&v)).ok(),
        Some(v.clone())
    );
    // Read in place (the socket path) and through the tree: the same.
    let node = crate::input::blob::read(data).expect("table() took it");
    let typed = Dump::from_tree(node).map_err(|e| e.to_string());
    assert_eq!(typed, Dump::from_value(&v).map_err(|e| e.to_string()));
    if let Ok(d) = typed {
        select_all(&d);
    }
}

/// A UCI file -> sections (libuci's algorithm) -> config for both families.
pub fn ucifile(data: &[u8]) {
    let Ok(sections) = crate::input::ucifile::parse(data) else {
        return;
    };
    for family in [Family::V4, Family::V6] {
        let mut cfg = Config::defaults(family);
        let _ = cfg.apply(family, &sections);
    }
}

#[cfg(test)]
mod tests {
    /// Every input in the fuzz corpus (the fixtures it was seeded from, and
    /// every crash it found) goes through the fuzz body in `cargo test`.
    #[test]
    fn corpus_replays_without_panic() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fuzz/corpus/dump");
        let mut n = 0;
        for e in std::fs::read_dir(dir).expect("fuzz corpus") {
            let data = std::fs::read(e.unwrap().path()).unwrap();
            super::dump_and_select(&data);
            n += 1;
        }
        assert!(n >= 5, "corpus has {n} inputs");
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fuzz/corpus/uci");
        let mut n = 0;
        for e in std::fs::read_dir(dir).expect("fuzz corpus") {
            super::uci_show(&std::fs::read(e.unwrap().path()).unwrap());
            n += 1;
        }
        assert!(n >= 2, "uci corpus has {n} inputs");
        for (target, body, least) in [
            ("blobmsg", super::blobmsg as fn(&[u8]), 3),
            ("ucifile", super::ucifile, 10),
        ] {
            let dir = format!(
                "{}/../../tests/fuzz/corpus/{target}",
                env!("CARGO_MANIFEST_DIR")
            );
            let mut n = 0;
            for e in std::fs::read_dir(&dir).expect("fuzz corpus") {
                body(&std::fs::read(e.unwrap().path()).unwrap());
                n += 1;
            }
            assert!(n >= least, "{target} corpus has {n} inputs");
        }
    }
}

/// `count` mutations of `base`, the same for every run: each one to three
/// bytes replaced, inserted or removed, the new ones taken from `special`
/// (xorshift from a fixed seed). For the tests that hold a quick reader
/// to a full one on odd input.
pub fn mutations(base: &[u8], special: &[u8], count: usize) -> Vec<Vec<u8>> {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed as usize
    };
    (0..count)
        .map(|_| {
            let mut b = base.to_vec();
            for _ in 0..1 + next() % 3 {
                let at = next() % b.len().max(1);
                let c = special[next() % special.len()];
                match next() % 3 {
                    0 if at < b.len() => b[at] = c,
                    2 if at < b.len() => drop(b.remove(at)),
                    _ => b.insert(at.min(b.len()), c),
                }
            }
            b
        })
        .collect()
}
