//! The write sequences and `apply` against the dummy kernel, which
//! refuses what Linux refuses; scripted refusals stand for the rest.

use super::*;
use crate::input::event::{Action as Ev, Event};
use crate::kernel::dummy::{Dummy, Op};
use crate::plan::members::Member;
use crate::plan::nexthop::{NhKind, NhObject};
use crate::plan::route::Nexthop;

pub(crate) fn link(i: u32, n: &str) -> Link {
    Link {
        index: i,
        name: n.into(),
        carrier: true,
        bytes: None,
    }
}

pub(crate) fn member(i: &str, dev: &str, gw: &str) -> Member {
    Member {
        interface: i.into(),
        device: dev.into(),
        gateway: Some(gw.parse().unwrap()),
        weight: 1,
        tier: 1,
    }
}

/// The kernel read, then [`super::apply`]: an event's route half.
fn apply(
    k: &mut dyn Kernel,
    family: Family,
    cfg: &Config,
    dump: &Dump,
    sel: &Selection,
    ev: &Event,
) -> Result<Outcome, Error> {
    let devs: Vec<&str> = sel.members.iter().map(|m| m.device.as_str()).collect();
    let mut st = State::read_for(k, family, cfg.table, &devs)?;
    super::apply(k, family, cfg, dump, sel, &ev.label(), &mut st)
}

fn ev(a: &str, i: &str) -> Event {
    Event {
        action_name: a.into(),
        action: Ev::parse(a),
        interface: i.into(),
    }
}

/// The dummy's writes in short: `replace DEVS`, `route nhid ID`,
/// `delete METRIC`, `nh add|replace|del ID` (IDs in hex).
fn writes(k: &Dummy) -> Vec<String> {
    k.commands
        .iter()
        .map(|c| {
            let w: Vec<&str> = c.split_whitespace().collect();
            let after = |key: &str| w.iter().position(|x| *x == key).map(|i| w[i + 1]);
            let hex = |id: &str| format!("{:x}", id.parse::<u32>().unwrap());
            match (w[1], w[2]) {
                ("nexthop", verb) => format!("nh {verb} {}", hex(after("id").unwrap())),
                ("route", "del") => format!("delete {}", after("metric").unwrap()),
                _ if c.contains(" nhid ") => format!("route nhid {}", hex(after("nhid").unwrap())),
                _ => {
                    let devs: Vec<&str> = w
                        .iter()
                        .enumerate()
                        .filter(|(_, x)| **x == "dev")
                        .map(|(i, _)| w[i + 1])
                        .collect();
                    format!("replace {}", devs.join(","))
                }
            }
        })
        .collect()
}

fn setup() -> (Dummy, Config, Selection) {
    let fake = Dummy {
        links: vec![
            link(1, "lo"),
            link(5, "pppoe-wan"),
            link(6, "pppoe-VWAN1"),
            link(7, "pppoe-VWAN2"),
        ],
        policy: Some(1),
        ..Dummy::default()
    };
    let sel = Selection {
        members: vec![
            member("wan", "pppoe-wan", "100.64.0.1"),
            member("VWAN1", "pppoe-VWAN1", "100.64.1.1"),
            member("VWAN2", "pppoe-VWAN2", "100.64.2.1"),
        ],
        skipped: vec![],
        held: vec![],
        standby: vec![],
    };
    let mut cfg = Config::defaults(Family::V4);
    cfg.mode = Mode::Multipath;
    (fake, cfg, sel)
}

#[test]
fn replace_then_unchanged_with_no_write() {
    let (mut k, cfg, sel) = setup();
    let d = Dump::default();
    let o = apply(&mut k, Family::V4, &cfg, &d, &sel, &ev("ifup", "VWAN2")).unwrap();
    assert_eq!(
        o.line,
        "ifup VWAN2: multipath default metric 1 via 3 links pppoe-VWAN1,pppoe-VWAN2,pppoe-wan (replaced)"
    );
    assert_eq!(writes(&k), ["replace pppoe-wan,pppoe-VWAN1,pppoe-VWAN2"]);
    let o = apply(&mut k, Family::V4, &cfg, &d, &sel, &ev("ifupdate", "VWAN1")).unwrap();
    assert!(o.line.ends_with("(unchanged)"), "{}", o.line);
    assert_eq!(k.commands.len(), 1, "no second write");
}

#[test]
fn device_vanishing_before_the_write_is_dropped_and_retried_once() {
    let (mut k, cfg, sel) = setup();
    k.links_after_write = Some(vec![
        link(1, "lo"),
        link(5, "pppoe-wan"),
        link(7, "pppoe-VWAN2"),
    ]);
    let o = run_on(&mut k, &cfg, &sel, "ifup", "VWAN2").unwrap();
    assert_eq!(writes(&k), ["replace pppoe-wan,pppoe-VWAN2"]);
    assert_eq!(k.refused.len(), 1, "the first try, with VWAN1");
    assert!(k.refused[0].contains("dev pppoe-VWAN1"), "{:?}", k.refused);
    assert!(
        o.line.ends_with("(replaced) [gone: pppoe-VWAN1]"),
        "{}",
        o.line
    );
}

#[test]
fn missing_device_up_front_is_left_out() {
    let (mut k, cfg, sel) = setup();
    k.links.retain(|l| l.name != "pppoe-wan");
    let o = run_on(&mut k, &cfg, &sel, "ifup", "VWAN1").unwrap();
    assert_eq!(writes(&k), ["replace pppoe-VWAN1,pppoe-VWAN2"]);
    assert!(o.line.contains("[gone: pppoe-wan]"));
}

#[test]
fn kernel_refusal_is_an_error_and_nothing_else_is_written() {
    let (mut k, cfg, sel) = setup();
    k.refuse_once(Op::Replace, 1);
    let e = run(&mut k, &cfg, &sel, "ifup").unwrap_err();
    assert_eq!(e.exit_code(), 5);
    assert!(
        e.to_string()
            .contains("Operation not permitted (errno 1): scripted"),
        "{e}"
    );
    assert!(k.routes.is_empty());
}

#[test]
fn no_members_deletes_ours_only() {
    let (mut k, cfg, sel) = setup();
    run(&mut k, &cfg, &sel, "ifup").unwrap();
    let foreign = Route {
        protocol: 4,
        metric: 0,
        nexthops: vec![Nexthop {
            gateway: None,
            ifindex: 5,
            dev: "pppoe-wan".into(),
            weight: 1,
        }],
        ..k.routes[0].clone()
    };
    k.routes.push(foreign.clone());
    let o = run(&mut k, &cfg, &Selection::default(), "ifdown").unwrap();
    assert_eq!(
        o.line,
        "ifdown wan: no live links, default metric 1 deleted"
    );
    assert_eq!(k.routes, vec![foreign]);
    let o = run(&mut k, &cfg, &Selection::default(), "ifdown").unwrap();
    assert_eq!(o.line, "ifdown wan: no live links, no route of ours");
}

#[test]
fn metric_change_removes_our_old_route() {
    let (mut k, mut cfg, sel) = setup();
    run(&mut k, &cfg, &sel, "ifup").unwrap();
    cfg.metric = 3;
    let o = run(&mut k, &cfg, &sel, "ifup").unwrap();
    assert!(o.line.ends_with("[removed ours at metric 1]"), "{}", o.line);
    assert_eq!(k.routes.len(), 1);
    assert_eq!(k.routes[0].metric, 3);
}

#[test]
fn warnings_for_shadowing_metric_collision_and_hash_policy() {
    let (mut k, cfg, sel) = setup();
    k.policy = Some(0);
    k.routes.push(Route {
        family: Family::V4,
        table: 254,
        metric: 0,
        protocol: 4,
        src_len: 0,
        kind: 1,
        nhid: None,
        nexthops: vec![Nexthop {
            gateway: Some("100.64.0.1".parse().unwrap()),
            ifindex: 5,
            dev: "pppoe-wan".into(),
            weight: 1,
        }],
    });
    let dump = Dump::parse(br#"{"interface":[{"interface":"VWAN1","up":true,"metric":1,"route":[{"target":"0.0.0.0","mask":0,"nexthop":"100.64.1.1"}]},
        {"interface":"VWAN2","up":true,"metric":1,"inactive":{"route":[{"target":"0.0.0.0","mask":0,"nexthop":"100.64.2.1"}]}}]}"#).unwrap();
    let o = apply(&mut k, Family::V4, &cfg, &dump, &sel, &ev("ifup", "wan")).unwrap();
    assert_eq!(o.warnings.len(), 3, "{:?}", o.warnings);
    assert!(
        o.warnings[0].starts_with("default route via pppoe-wan metric 0 (proto 4) shadows ours")
    );
    assert!(o.warnings[1].starts_with("interface VWAN1 has metric 1, the same as ours"));
    assert!(o.warnings[2].starts_with("net.ipv4.fib_multipath_hash_policy is 0"));
}

// ---- nexthop objects (the Dummy models what Linux accepts) ----

const M0: u32 = crate::plan::nexthop::ID_BASE;
const G0: u32 = 0xEC80_03F8; // group slot 0 for IPv4, table main

fn group_setup(mode: Mode) -> (Dummy, Config, Selection) {
    let (mut k, mut cfg, sel) = setup();
    k.objs = Some(vec![]);
    cfg.mode = mode;
    (k, cfg, sel)
}

/// One event about `iface`, with an empty dump.
fn run_on(
    k: &mut Dummy,
    cfg: &Config,
    sel: &Selection,
    a: &str,
    iface: &str,
) -> Result<Outcome, Error> {
    apply(k, Family::V4, cfg, &Dump::default(), sel, &ev(a, iface))
}

fn run(k: &mut Dummy, cfg: &Config, sel: &Selection, a: &str) -> Result<Outcome, Error> {
    run_on(k, cfg, sel, a, "wan")
}

/// A nexthop object of someone else's (proto static) on pppoe-wan.
fn foreign(id: u32) -> NhObject {
    NhObject {
        id,
        family: Some(Family::V4),
        protocol: 4,
        kind: NhKind::Gateway {
            gateway: None,
            ifindex: 5,
        },
    }
}

fn group_of(k: &Dummy, id: u32) -> Option<NhKind> {
    k.objs
        .iter()
        .flatten()
        .find(|o| o.id == id)
        .map(|o| o.kind.clone())
}

#[test]
fn auto_builds_a_resilient_group_then_writes_only_the_group() {
    let (mut k, cfg, mut sel) = group_setup(Mode::Auto);
    let o = run(&mut k, &cfg, &sel, "ifup").unwrap();
    assert_eq!(
        o.line,
        "ifup wan: resilient default metric 1 via 3 links pppoe-VWAN1,pppoe-VWAN2,pppoe-wan (replaced)"
    );
    assert_eq!(
        writes(&k),
        [
            format!("nh add {:x}", M0),
            format!("nh add {:x}", M0 + 1),
            format!("nh add {:x}", M0 + 2),
            format!("nh add {G0:x}"),
            format!("route nhid {G0:x}"),
        ]
    );
    match group_of(&k, G0) {
        Some(NhKind::Group { entries, resilient }) => {
            assert_eq!(entries, [(M0, 1), (M0 + 1, 1), (M0 + 2, 1)]);
            assert_eq!(resilient, Some(cfg.resilient));
        }
        other => panic!("{other:?}"),
    }
    k.commands.clear();
    let o = run(&mut k, &cfg, &sel, "ifupdate").unwrap();
    assert!(o.line.ends_with("(unchanged)"), "{}", o.line);
    assert!(k.commands.is_empty(), "{:?}", k.commands);
    // VWAN1 leaves: the group is replaced in place, the route is not
    // touched, and its member object goes.
    sel.members.remove(1);
    let o = run(&mut k, &cfg, &sel, "ifdown").unwrap();
    assert_eq!(
        writes(&k),
        [format!("nh replace {G0:x}"), format!("nh del {:x}", M0 + 1)]
    );
    assert!(
        o.line
            .ends_with("(replaced) [removed 1 unused nexthop object]"),
        "{}",
        o.line
    );
    assert_eq!(k.routes.len(), 1);
}

#[test]
fn auto_falls_back_to_group_then_to_multipath() {
    let (mut k, cfg, sel) = group_setup(Mode::Auto);
    k.no_resilient = true;
    let o = run(&mut k, &cfg, &sel, "ifup").unwrap();
    assert!(
        o.line.starts_with("ifup wan: group default metric 1"),
        "{}",
        o.line
    );
    assert!(
        o.line.contains("[refused: resilient write group"),
        "{}",
        o.line
    );
    assert!(matches!(
        group_of(&k, G0),
        Some(NhKind::Group {
            resilient: None,
            ..
        })
    ));
    assert_eq!(
        k.objs.as_ref().unwrap().len(),
        4,
        "no leftover from the refused try"
    );

    let (mut k, cfg, sel) = group_setup(Mode::Auto);
    k.objs = None;
    let o = run(&mut k, &cfg, &sel, "ifup").unwrap();
    assert!(
        o.line.starts_with("ifup wan: multipath default"),
        "{}",
        o.line
    );
    assert_eq!(writes(&k), ["replace pppoe-wan,pppoe-VWAN1,pppoe-VWAN2"]);
}

#[test]
fn forced_modes_the_kernel_lacks_are_errors_that_change_nothing() {
    let (mut k, cfg, sel) = group_setup(Mode::Resilient);
    k.no_resilient = true;
    let e = run(&mut k, &cfg, &sel, "ifup").unwrap_err();
    assert_eq!(e.exit_code(), 5);
    assert!(e.to_string().contains("resilient write group"), "{e}");
    assert_eq!(k.objs, Some(vec![]), "members created before were removed");
    assert!(k.routes.is_empty());

    let (mut k, cfg, sel) = group_setup(Mode::Group);
    k.objs = None;
    let e = run(&mut k, &cfg, &sel, "ifup").unwrap_err();
    assert!(e.to_string().contains("needs nexthop objects"), "{e}");
    assert!(k.commands.is_empty());
}

#[test]
fn mode_switches_leave_exactly_one_route_and_no_stray_objects() {
    let (mut k, mut cfg, sel) = group_setup(Mode::Multipath);
    run(&mut k, &cfg, &sel, "ifup").unwrap();
    assert_eq!(k.routes[0].nhid, None);
    for (mode, nhid) in [
        (Mode::Resilient, Some(G0)),
        (Mode::Group, Some(G0 + 1)),
        (Mode::Resilient, Some(G0)),
        (Mode::Multipath, None),
    ] {
        cfg.mode = mode;
        run(&mut k, &cfg, &sel, "ifup").unwrap();
        assert_eq!(k.routes.len(), 1, "{mode:?}");
        assert_eq!(k.routes[0].nhid, nhid, "{mode:?}");
        let objs = k.objs.as_ref().unwrap();
        let want = if nhid.is_some() { 4 } else { 0 };
        assert_eq!(objs.len(), want, "{mode:?}: {objs:?}");
    }
}

#[test]
fn a_failed_route_write_undoes_the_new_objects() {
    let (mut k, cfg, sel) = group_setup(Mode::Resilient);
    let foreign = foreign(7);
    k.objs = Some(vec![foreign.clone()]);
    let before_routes = k.routes.clone();
    // Fail the route write: the group exists, the route is refused.
    k.refuse_always(Op::Replace, 1);
    let e = run(&mut k, &cfg, &sel, "ifup").unwrap_err();
    assert_eq!(e.exit_code(), 5);
    assert!(
        e.to_string().contains("point the route at the group"),
        "{e}"
    );
    assert_eq!(k.objs, Some(vec![foreign]), "exactly as before");
    assert_eq!(k.routes, before_routes);
}

#[test]
fn a_device_vanishing_mid_way_is_retried_without_it() {
    let (mut k, cfg, sel) = group_setup(Mode::Resilient);
    k.links_after_write = Some(vec![
        link(1, "lo"),
        link(5, "pppoe-wan"),
        link(7, "pppoe-VWAN2"),
    ]);
    let o = run(&mut k, &cfg, &sel, "ifup").unwrap();
    assert!(
        o.line
            .contains("via 2 links pppoe-VWAN2,pppoe-wan (replaced) [gone: pppoe-VWAN1]"),
        "{}",
        o.line
    );
    match group_of(&k, G0) {
        Some(NhKind::Group { entries, .. }) => assert_eq!(entries.len(), 2),
        other => panic!("{other:?}"),
    }
    assert_eq!(k.objs.as_ref().unwrap().len(), 3);
}

#[test]
fn a_member_without_carrier_stays_out_of_the_group() {
    let (mut k, cfg, sel) = group_setup(Mode::Group);
    k.links[2].carrier = false;
    let o = run(&mut k, &cfg, &sel, "ifup").unwrap();
    assert!(
        o.line
            .contains("via 2 links pppoe-VWAN2,pppoe-wan (replaced) [no carrier: pppoe-VWAN1]"),
        "{}",
        o.line
    );
    // In multipath mode the kernel takes it (flagged linkdown).
    let (mut k, mut cfg, sel) = group_setup(Mode::Multipath);
    k.links[2].carrier = false;
    cfg.mode = Mode::Multipath;
    let o = run(&mut k, &cfg, &sel, "ifup").unwrap();
    assert!(o.line.contains("via 3 links"), "{}", o.line);
}

#[test]
fn no_members_removes_route_group_and_members_but_not_foreign_objects() {
    let (mut k, cfg, sel) = group_setup(Mode::Auto);
    let foreign = foreign(M0 + 100);
    k.objs = Some(vec![foreign.clone()]);
    run(&mut k, &cfg, &sel, "ifup").unwrap();
    assert_eq!(k.objs.as_ref().unwrap().len(), 5);
    let o = run(&mut k, &cfg, &Selection::default(), "ifdown").unwrap();
    assert_eq!(
        o.line,
        "ifdown wan: no live links, default metric 1 deleted [removed 4 unused nexthop objects]"
    );
    assert_eq!(k.objs, Some(vec![foreign]));
    assert!(k.routes.is_empty());
}

#[test]
fn dry_run_prints_the_commands_of_each_mode() {
    // What --dry-run does: the real apply through a dummy made from
    // the kernel's state (here: empty, the devices made up).
    let (_, mut cfg, sel) = setup();
    cfg.resilient.buckets = 64;
    let devs: Vec<&str> = sel.members.iter().map(|m| m.device.as_str()).collect();
    let dry = |mode: Mode, sel: &Selection| {
        let mut cfg = cfg.clone();
        cfg.mode = mode;
        let mut d = Dummy::from_state(&mut Dummy::empty(), Family::V4, 254, &devs).unwrap();
        apply(
            &mut d,
            Family::V4,
            &cfg,
            &Dump::default(),
            sel,
            &ev("ifup", "wan"),
        )
        .unwrap();
        d.commands
    };
    let lines = dry(Mode::Auto, &sel);
    assert_eq!(lines.len(), 5);
    assert_eq!(
        lines[0],
        "ip nexthop add id 3959422976 via 100.64.0.1 dev pppoe-wan proto 236"
    );
    assert!(lines[3].starts_with("ip nexthop add id 3967812600 group 3959422976/3959422977/3959422978 type resilient buckets 64"), "{}", lines[3]);
    assert_eq!(
        lines[4],
        "ip route replace default proto 236 metric 1 nhid 3967812600"
    );
    let lines = dry(Mode::Multipath, &sel);
    assert_eq!(lines.len(), 1);
    assert!(lines[0].contains("nexthop via 100.64.1.1 dev pppoe-VWAN1 weight 1"));
    // With a route of ours in place, no members: the route goes, and
    // (cleanup included) the objects no longer used.
    let mut d = Dummy::from_state(&mut Dummy::empty(), Family::V4, 254, &devs).unwrap();
    cfg.mode = Mode::Group;
    apply(
        &mut d,
        Family::V4,
        &cfg,
        &Dump::default(),
        &sel,
        &ev("ifup", "wan"),
    )
    .unwrap();
    d.commands.clear();
    apply(
        &mut d,
        Family::V4,
        &cfg,
        &Dump::default(),
        &Selection::default(),
        &ev("ifdown", "wan"),
    )
    .unwrap();
    assert_eq!(d.commands[0], "ip route del default proto 236 metric 1");
    assert_eq!(
        d.commands.len(),
        5,
        "and the group and its 3 members: {:?}",
        d.commands
    );
}

#[test]
fn eexist_and_eperm_from_the_kernel_undo_everything() {
    for errno in [libc::EEXIST, libc::EPERM, libc::ENETUNREACH] {
        let (mut k, cfg, sel) = group_setup(Mode::Resilient);
        run(&mut k, &cfg, &sel, "ifup").unwrap();
        let (objs, routes) = (k.objs.clone(), k.routes.clone());
        // A new member: its object is the first write and fails.
        let mut sel2 = sel.clone();
        sel2.members
            .push(member("VWAN3", "pppoe-VWAN3", "100.64.3.1"));
        k.links.push(link(8, "pppoe-VWAN3"));
        k.refuse_once(Op::WriteNexthop, errno);
        let e = run(&mut k, &cfg, &sel2, "ifup").unwrap_err();
        assert_eq!(e.exit_code(), 5, "{errno}: {e}");
        assert_eq!(
            (k.objs.clone(), k.routes.clone()),
            (objs, routes),
            "{errno}"
        );
    }
}

#[test]
fn log_line_names_every_device_in_natural_order() {
    let members: Vec<Member> = [10, 2, 1, 11, 9, 3, 4, 5, 6, 7, 8]
        .iter()
        .map(|n| Member {
            interface: format!("VWAN{n}"),
            device: format!("pppoe-VWAN{n}"),
            gateway: None,
            weight: 1,
            tier: 1,
        })
        .collect();
    let hops: Vec<Nexthop> = members
        .iter()
        .enumerate()
        .map(|(i, m)| Nexthop {
            gateway: m.gateway,
            ifindex: i as u32 + 1,
            dev: m.device.clone(),
            weight: m.weight,
        })
        .collect();
    let r = Route::desired(Family::V4, 254, 1, &hops).unwrap();
    assert_eq!(
        summary(&r),
        "default metric 1 via 11 links pppoe-VWAN1,pppoe-VWAN2,pppoe-VWAN3,pppoe-VWAN4,pppoe-VWAN5,pppoe-VWAN6,pppoe-VWAN7,pppoe-VWAN8,pppoe-VWAN9,pppoe-VWAN10,pppoe-VWAN11"
    );
    assert_eq!(natural("x2y10", "x2y9"), std::cmp::Ordering::Greater);
}

/// The order without allocations is the order of splitting each name
/// into runs first (the earlier implementation, kept here as the oracle),
/// for every pair of some awkward names.
#[test]
fn natural_order_matches_its_oracle() {
    fn oracle(a: &str, b: &str) -> std::cmp::Ordering {
        fn split(s: &str) -> Vec<(bool, &str)> {
            let (bytes, mut out, mut start) = (s.as_bytes(), Vec::new(), 0);
            for i in 1..=bytes.len() {
                if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                    out.push((bytes[start].is_ascii_digit(), &s[start..i]));
                    start = i;
                }
            }
            out
        }
        let (x, y) = (split(a), split(b));
        for (p, q) in x.iter().zip(&y) {
            let o = match (p, q) {
                ((true, m), (true, n)) => {
                    let (m, n) = (m.trim_start_matches('0'), n.trim_start_matches('0'));
                    m.len().cmp(&n.len()).then(m.cmp(n))
                }
                ((_, m), (_, n)) => m.cmp(n),
            };
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        }
        x.len().cmp(&y.len()).then(a.cmp(b))
    }
    let names = [
        "",
        "0",
        "00",
        "1",
        "01",
        "10",
        "9",
        "a",
        "a0",
        "a00",
        "a1",
        "a01",
        "a10",
        "a9b",
        "a9b2",
        "pppoe-VWAN2",
        "pppoe-VWAN10",
        "pppoe-wan",
        "wan",
        "é1",
        "é10",
        "1é",
        "x2y10",
        "x2y9",
    ];
    for a in names {
        for b in names {
            assert_eq!(natural(a, b), oracle(a, b), "{a:?} {b:?}");
        }
    }
}

#[test]
fn a_table_group_ids_cannot_encode_falls_back_in_auto_only() {
    let mut cfg = Config::defaults(Family::V4);
    cfg.table = crate::plan::nexthop::GROUP_TABLE_MAX + 1;
    assert_eq!(modes(&cfg, true).unwrap(), [Mode::Multipath]);
    cfg.mode = Mode::Resilient;
    assert_eq!(modes(&cfg, true).unwrap_err().exit_code(), 3);
    cfg.table = 100;
    assert_eq!(modes(&cfg, true).unwrap(), [Mode::Resilient]);
}
