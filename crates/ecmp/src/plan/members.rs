//! Which netifd interfaces carry the default route, and through which
//! gateway. Pure: a dump and a config in, a list of members out.

use crate::input::config::Config;
use crate::input::dump::{Dump, Interface, RouteEntry};
use crate::input::event::{Action, Event};
use crate::input::settings::Settings;
use crate::plan::track::{self, Health, Seen};
use crate::{Error, Family};
use std::net::IpAddr;

/// Longest interface name the kernel takes (IFNAMSIZ - 1).
pub const IFNAMSIZ_MAX: usize = 15;

/// One live WAN link: a nexthop of the route we want.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub interface: String,
    /// The layer-3 device (`pppoe-VWAN1` for PPPoE, not `vwan1`).
    pub device: String,
    /// None: a device-only nexthop (IPv4 only).
    pub gateway: Option<IpAddr>,
    pub weight: u16,
    /// Failover tier: only the lowest tier with a live member is used.
    pub tier: u8,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    pub members: Vec<Member>,
    /// Interfaces left out, and why (logged, never silent).
    pub skipped: Vec<String>,
    /// Members netifd calls up that tracking (dead) or a lower tier keep
    /// out of the route: shown by `status`, not written.
    pub held: Vec<Member>,
    /// Of those, the live ones a lower tier keeps out whose tier a
    /// policy rule uses (`use 'tier:N'`): they get a table and a mark, as
    /// the route's members do.
    pub standby: Vec<Member>,
}

fn check_ifname(iface: &str, dev: &str) -> Result<(), Error> {
    if dev.len() > IFNAMSIZ_MAX {
        return Err(Error::Input(format!(
            "{iface}: device name {dev} is longer than {IFNAMSIZ_MAX} bytes"
        )));
    }
    if dev.contains(['/', ' ', '\t', '\n']) || dev == "." || dev == ".." {
        return Err(Error::Input(format!(
            "{iface}: '{dev}' is not a device name"
        )));
    }
    Ok(())
}

fn parse_gw(family: Family, iface: &str, text: &str) -> Result<IpAddr, Error> {
    let ip: Option<IpAddr> = text.parse().ok();
    match (family, ip) {
        (Family::V4, Some(ip @ IpAddr::V4(_))) | (Family::V6, Some(ip @ IpAddr::V6(_))) => Ok(ip),
        _ => Err(Error::Input(format!(
            "{iface}: gateway '{text}' is not an IPv{} address",
            if family == Family::V4 { 4 } else { 6 }
        ))),
    }
}

/// The live default entries of `route`, else of `inactive.route` (where
/// netifd reports them for `defaultroute 0` interfaces).
fn defaults<'a>(family: Family, i: &'a Interface) -> Vec<&'a RouteEntry<'a>> {
    let pick = |rs: &'a [RouteEntry]| -> Vec<&'a RouteEntry> {
        rs.iter()
            .filter(|r| r.is_default(family.any()) && r.is_live())
            .collect()
    };
    let active = pick(&i.route);
    if active.is_empty() {
        pick(&i.inactive.route)
    } else {
        active
    }
}

/// IPv4 gateway: the default entry's nexthop, else the point-to-point
/// peer, else none (device-only nexthop). Never by array index.
fn gateway_v4(i: &Interface) -> Result<Option<IpAddr>, Error> {
    if let Some(r) = defaults(Family::V4, i).first() {
        return match r.nexthop.as_deref() {
            None | Some("") | Some("0.0.0.0") => Ok(None),
            Some(gw) => parse_gw(Family::V4, &i.interface, gw).map(Some),
        };
    }
    if let Some(peer) = i.ipv4_address.iter().find_map(|a| a.ptpaddress.as_deref()) {
        return parse_gw(Family::V4, &i.interface, peer).map(Some);
    }
    Ok(None)
}

/// IPv6 gateway: odhcp6c adds one `::/0` entry per source prefix, and
/// entries can be expired; take the live one with the lowest metric.
/// IPv6 multipath needs a gateway on every nexthop, so none means no member.
fn gateway_v6(i: &Interface) -> Result<Option<IpAddr>, Error> {
    let mut best: Option<(u32, IpAddr)> = None;
    for r in defaults(Family::V6, i) {
        let Some(text) = r.nexthop.as_deref().filter(|t| !t.is_empty() && *t != "::") else {
            continue;
        };
        let gw = parse_gw(Family::V6, &i.interface, text)?;
        let metric = r.metric.unwrap_or(0);
        if best.map_or(true, |(m, _)| metric < m) {
            best = Some((metric, gw));
        }
    }
    Ok(best.map(|(_, gw)| gw))
}

/// Select the members for `family` from a dump, as of `event`.
pub fn select(
    family: Family,
    dump: &Dump,
    cfg: &Config,
    event: &Event,
) -> Result<Selection, Error> {
    // netifd sends ifup/ifupdate after the interface is in its state, so a
    // dump without it is not the one this event is about (a stale stand-in,
    // or another router's): acting on it could drop a live link.
    if matches!(event.action, Action::Ifup | Action::Ifupdate)
        && !event.interface.is_empty()
        && !dump
            .interface
            .iter()
            .any(|i| i.interface == event.interface)
    {
        return Err(Error::Input(format!(
            "the dump does not list {}, the interface of this {} event: inconsistent; route kept",
            event.interface, event.action_name
        )));
    }
    let mut sel = Selection::default();
    if let Some(note) = protos_present(family, dump, cfg)? {
        sel.skipped.push(note);
    }
    // The members' devices, sorted, with the member's index: a scan of
    // every member for each was 2,000 string comparisons at 64 dials.
    let mut by_dev: Vec<(&str, usize)> = Vec::new();
    for i in &dump.interface {
        if !i.up || !cfg.protos.iter().any(|p| *p == i.proto) {
            continue;
        }
        if event.action.removes() && i.interface == event.interface {
            sel.skipped.push(format!("{} going down", i.interface));
            continue;
        }
        if cfg.exclude.iter().any(|x| *x == i.interface) {
            sel.skipped.push(format!("{} excluded", i.interface));
            continue;
        }
        let Some(dev) = i.l3_device.as_deref().filter(|d| !d.is_empty()) else {
            sel.skipped
                .push(format!("{} has no l3_device", i.interface));
            continue;
        };
        check_ifname(&i.interface, dev)?;
        let gateway = match family {
            Family::V4 => gateway_v4(i)?,
            Family::V6 => match gateway_v6(i)? {
                Some(gw) => Some(gw),
                None => {
                    sel.skipped
                        .push(format!("{} has no live IPv6 default route", i.interface));
                    continue;
                }
            },
        };
        // Dials on one BRAS often share a peer address, so members are per
        // device (IPv4) or per (gateway, device) (IPv6), never per gateway.
        let at = by_dev.partition_point(|(d, _)| *d < dev);
        let shared = by_dev[at..]
            .iter()
            .take_while(|(d, _)| *d == dev)
            .any(|(_, k)| family == Family::V4 || sel.members[*k].gateway == gateway);
        if shared {
            sel.skipped
                .push(format!("{} shares {dev} with another member", i.interface));
            continue;
        }
        by_dev.insert(at, (dev, sel.members.len()));
        sel.members.push(Member {
            interface: i.interface.to_string(),
            device: dev.to_string(),
            gateway,
            weight: cfg.weight(&i.interface),
            tier: cfg.tier(&i.interface),
        });
    }
    Ok(sel)
}

/// Every member proto names interfaces netifd has: its dump lists every
/// configured interface, up or down, with its proto, so a proto no
/// interface has is a mistake (`ppoe`, `""`) that would otherwise empty
/// the route: a config error, and nothing is written. The one exception
/// is IPv6's: a real proto (`dhcpv6`) with no interface yet is a router
/// without an IPv6 uplink now (netifd adds `<iface>_6` only while its
/// dial is up), so the run goes on and this note says so.
pub fn protos_present(family: Family, dump: &Dump, cfg: &Config) -> Result<Option<String>, Error> {
    let has = |p: &str| dump.interface.iter().any(|i| i.proto == p);
    let missing: Vec<&str> = cfg
        .protos
        .iter()
        .map(String::as_str)
        .filter(|p| !has(p))
        .collect();
    let real = |p: &str| crate::input::names::NETIFD_PROTOS.contains(&p);
    if missing.is_empty() {
        return Ok(None);
    }
    if family == Family::V6 && missing.iter().all(|p| real(p)) {
        return Ok((missing.len() == cfg.protos.len()).then(|| {
            format!(
                "no interface of proto {} in netifd's dump (no IPv6 uplink now)",
                missing.join(", ")
            )
        }));
    }
    let p = missing
        .iter()
        .find(|p| !real(p) || family == Family::V4)
        .unwrap_or(&missing[0]);
    let mut theirs: Vec<&str> = dump
        .interface
        .iter()
        .map(|i| &*i.proto)
        .filter(|p| !p.is_empty())
        .collect();
    theirs.sort_unstable();
    theirs.dedup();
    Err(Error::Config(format!(
        "proto '{p}' is the proto of no interface netifd has (theirs: {}{}); route kept",
        if theirs.is_empty() {
            "none".into()
        } else {
            theirs.join(", ")
        },
        crate::input::names::did_you_mean(
            p,
            theirs
                .iter()
                .copied()
                .chain(crate::input::names::NETIFD_PROTOS.iter().copied())
        )
    )))
}

/// Leave out the members tracking calls dead (`dead`), then every member
/// above the lowest tier left. Never empties the route on probes alone:
/// when every member is dead they all stay (the targets may be what is
/// down), and the warning returned says so.
pub fn narrow(sel: &mut Selection, dead: impl Fn(&Member) -> bool) -> Option<String> {
    let mut warning = None;
    let n_dead = sel.members.iter().filter(|m| dead(m)).count();
    if n_dead > 0 && n_dead == sel.members.len() {
        warning = Some(format!(
            "tracking calls every member dead ({n_dead}); all kept, as the targets may be what is down"
        ));
    } else if n_dead > 0 {
        let (out, keep): (Vec<Member>, Vec<Member>) = std::mem::take(&mut sel.members)
            .into_iter()
            .partition(|m| dead(m));
        sel.members = keep;
        for m in out {
            sel.skipped.push(format!("{} dead (tracking)", m.interface));
            sel.held.push(m);
        }
    }
    if let Some(low) = sel.members.iter().map(|m| m.tier).min() {
        let (keep, out): (Vec<Member>, Vec<Member>) = std::mem::take(&mut sel.members)
            .into_iter()
            .partition(|m| m.tier == low);
        sel.members = keep;
        for m in out {
            sel.skipped.push(format!(
                "{} tier {} standing by for tier {low}",
                m.interface, m.tier
            ));
            sel.standby.push(m.clone());
            sel.held.push(m);
        }
    }
    warning
}

/// The members of `ev`: netifd's selection, less what ecmp-track calls
/// dead (only while its state file is fresh), at the lowest tier left.
/// Also what the state file was, and the warnings to log.
pub fn for_event(
    s: &Settings,
    cfg: &Config,
    dump: &Dump,
    ev: &Event,
) -> Result<(Selection, Seen, Vec<String>), Error> {
    let mut sel = select(s.family, dump, cfg, ev)?;
    let seen = track::read(&s.state_dir, track::now(), track::tracker_alive);
    let mut warnings = Vec::new();
    if let (Seen::Stale(why), true) = (&seen, cfg.track.enabled) {
        warnings.push(format!(
            "tracking ignored: ecmp-track's state is stale ({why})"
        ));
    }
    let st = seen.state();
    let dead = |m: &Member| {
        st.and_then(|st| st.link(s.family, &m.interface))
            .is_some_and(|l| l.health == Health::Dead)
    };
    warnings.extend(narrow(&mut sel, dead));
    sel.standby.retain(|m| {
        cfg.rules
            .iter()
            .any(|r| matches!(r.target, crate::input::policy::Use::Tier(t) if t == m.tier))
    });
    if s.family == crate::Family::V4
        && cfg.inbound.enabled
        && matches!(cfg.inbound.marks, crate::input::options::Marks::Mask(_))
        && crate::proc::on_path("nft").is_none()
    {
        warnings.push(
            "option inbound_mark is set, but there is no nft (fw4): port forwards are not marked"
                .into(),
        );
    }
    Ok((sel, seen, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::dump::tests::fixture;
    use crate::input::event::Action;

    fn ev(action: &str, iface: &str) -> Event {
        Event {
            action_name: action.into(),
            action: Action::parse(action),
            interface: iface.into(),
        }
    }

    fn sel(family: Family, json: &str, cfg: &Config, e: &Event) -> Result<Selection, Error> {
        select(family, &Dump::parse(json.as_bytes()).unwrap(), cfg, e)
    }

    /// Select from a dump with the family's default config.
    fn sel_dump(family: Family, d: &Dump, action: &str, iface: &str) -> Selection {
        select(family, d, &Config::defaults(family), &ev(action, iface)).unwrap()
    }

    fn summary(s: &Selection) -> Vec<String> {
        s.members
            .iter()
            .map(|m| match m.gateway {
                Some(gw) => format!("{} {gw} {} w{}", m.interface, m.device, m.weight),
                None => format!("{} - {} w{}", m.interface, m.device, m.weight),
            })
            .collect()
    }

    #[test]
    fn event_interface_missing_from_the_dump_is_refused() {
        let text = fixture("netifd/dump-8dials-ipv6.json");
        let d = Dump::parse(&text).unwrap();
        let cfg = Config::defaults(Family::V4);
        for a in ["ifup", "ifupdate"] {
            let e = select(Family::V4, &d, &cfg, &ev(a, "VWAN99")).unwrap_err();
            assert_eq!(e.exit_code(), 4, "{e}");
            assert!(e.to_string().contains("does not list VWAN99"), "{e}");
        }
        // netifd may have forgotten an interface by its ifdown/free.
        for a in ["ifdown", "free", "ifup-failed"] {
            assert!(select(Family::V4, &d, &cfg, &ev(a, "VWAN99")).is_ok());
        }
    }

    #[test]
    fn v4_from_real_dump() {
        let text = fixture("netifd/dump-8dials-ipv6.json");
        let d = Dump::parse(&text).unwrap();
        let s = sel_dump(Family::V4, &d, "ifup", "VWAN3");
        assert_eq!(s.members.len(), 8);
        assert_eq!(summary(&s)[0], "VWAN1 100.64.1.1 pppoe-VWAN1 w1");
        assert_eq!(summary(&s)[7], "wan 100.64.0.1 pppoe-wan w1");
        assert!(s.members.iter().all(|m| m.device.starts_with("pppoe-")));
    }

    #[test]
    fn v4_ifdown_excludes_event_interface_even_if_dump_says_up() {
        let text = fixture("netifd/dump-2dials-ipv6.json");
        let d = Dump::parse(&text).unwrap();
        let cfg = Config::defaults(Family::V4);
        for a in ["ifdown", "ifup-failed", "free"] {
            let s = select(Family::V4, &d, &cfg, &ev(a, "VWAN1")).unwrap();
            assert_eq!(summary(&s), ["wan 100.64.0.1 pppoe-wan w1"], "{a}");
            assert_eq!(s.skipped, ["VWAN1 going down"]);
        }
        let s = select(Family::V4, &d, &cfg, &ev("ifupdate", "VWAN1")).unwrap();
        assert_eq!(s.members.len(), 2);
    }

    #[test]
    fn v4_gateway_sources_in_order() {
        let cfg = Config::defaults(Family::V4);
        let e = ev("ifup", "a");
        // route entry wins over ptpaddress; inactive route (defaultroute 0)
        // next; then the peer; then device-only. Not the first array entry.
        let j = r#"{"interface":[
          {"interface":"a","up":true,"proto":"pppoe","l3_device":"pppoe-a",
           "ipv4-address":[{"address":"10.0.0.2","mask":32,"ptpaddress":"10.0.0.9"}],
           "route":[{"target":"10.1.0.0","mask":16,"nexthop":"10.0.0.7"},{"target":"0.0.0.0","mask":0,"nexthop":"10.0.0.1"}]},
          {"interface":"b","up":true,"proto":"pppoe","l3_device":"pppoe-b",
           "ipv4-address":[{"address":"10.0.1.2","mask":32,"ptpaddress":"10.0.1.9"}],
           "inactive":{"route":[{"target":"0.0.0.0","mask":0,"nexthop":"10.0.1.1"}]}},
          {"interface":"c","up":true,"proto":"pppoe","l3_device":"pppoe-c",
           "ipv4-address":[{"address":"10.0.2.2","mask":32,"ptpaddress":"10.0.2.9"}]},
          {"interface":"d","up":true,"proto":"pppoe","l3_device":"pppoe-d"},
          {"interface":"e","up":true,"proto":"pppoe","l3_device":"pppoe-e",
           "route":[{"target":"0.0.0.0","mask":0,"nexthop":"0.0.0.0"}]}
        ]}"#;
        let s = sel(Family::V4, j, &cfg, &e).unwrap();
        assert_eq!(
            summary(&s),
            [
                "a 10.0.0.1 pppoe-a w1",
                "b 10.0.1.1 pppoe-b w1",
                "c 10.0.2.9 pppoe-c w1",
                "d - pppoe-d w1",
                "e - pppoe-e w1"
            ]
        );
    }

    #[test]
    fn v4_membership_rules() {
        let mut cfg = Config::defaults(Family::V4);
        cfg.exclude = vec!["x".into()];
        cfg.weights.push(("b".into(), 3));
        let j = r#"{"interface":[
          {"interface":"a","up":true,"proto":"pppoe","l3_device":"pppoe-a","device":"vwan1"},
          {"interface":"down","up":false,"proto":"pppoe"},
          {"interface":"lan","up":true,"proto":"static","l3_device":"br-lan"},
          {"interface":"x","up":true,"proto":"pppoe","l3_device":"pppoe-x"},
          {"interface":"nodev","up":true,"proto":"pppoe"},
          {"interface":"b","up":true,"proto":"pppoe","l3_device":"pppoe-b"},
          {"interface":"b2","up":true,"proto":"pppoe","l3_device":"pppoe-b"},
          {"interface":"dh","up":true,"proto":"dhcp","l3_device":"eth1",
           "route":[{"target":"0.0.0.0","mask":0,"nexthop":"192.168.2.1"}]}
        ]}"#;
        let s = sel(Family::V4, j, &cfg, &ev("ifup", "a")).unwrap();
        assert_eq!(summary(&s), ["a - pppoe-a w1", "b - pppoe-b w3"]);
        assert_eq!(
            s.skipped,
            [
                "x excluded",
                "nodev has no l3_device",
                "b2 shares pppoe-b with another member"
            ]
        );
        cfg.protos.push("dhcp".into());
        let s = sel(Family::V4, j, &cfg, &ev("ifup", "a")).unwrap();
        assert_eq!(summary(&s).last().unwrap(), "dh 192.168.2.1 eth1 w1");
    }

    #[test]
    fn shared_peer_address_gives_one_member_per_device() {
        let j = r#"{"interface":[
          {"interface":"a","up":true,"proto":"pppoe","l3_device":"pppoe-a","route":[{"target":"0.0.0.0","mask":0,"nexthop":"10.0.0.1"}]},
          {"interface":"b","up":true,"proto":"pppoe","l3_device":"pppoe-b","route":[{"target":"0.0.0.0","mask":0,"nexthop":"10.0.0.1"}]}
        ]}"#;
        let s = sel(
            Family::V4,
            j,
            &Config::defaults(Family::V4),
            &ev("ifup", "a"),
        )
        .unwrap();
        assert_eq!(
            summary(&s),
            ["a 10.0.0.1 pppoe-a w1", "b 10.0.0.1 pppoe-b w1"]
        );
    }

    #[test]
    fn bad_member_data_is_an_input_error() {
        let cfg = Config::defaults(Family::V4);
        for (j, what) in [
            (
                r#"{"interface":[{"interface":"a","up":true,"proto":"pppoe","l3_device":"pppoe-a","route":[{"target":"0.0.0.0","mask":0,"nexthop":"fe80::1"}]}]}"#,
                "gateway 'fe80::1' is not an IPv4",
            ),
            (
                r#"{"interface":[{"interface":"a","up":true,"proto":"pppoe","l3_device":"pppoe-a","ipv4-address":[{"address":"1.2.3.4","ptpaddress":"peer"}]}]}"#,
                "gateway 'peer'",
            ),
            (
                r#"{"interface":[{"interface":"a","up":true,"proto":"pppoe","l3_device":"pppoe-abcdefghijklmn"}]}"#,
                "longer than 15",
            ),
            (
                r#"{"interface":[{"interface":"a","up":true,"proto":"pppoe","l3_device":"../x"}]}"#,
                "not a device name",
            ),
        ] {
            let e = sel(Family::V4, j, &cfg, &ev("ifup", "a")).unwrap_err();
            assert_eq!(e.exit_code(), 4);
            assert!(e.to_string().contains(what), "{e}");
        }
        // A bad value on an interface that is not a member does not matter.
        let j = r#"{"interface":[{"interface":"lan","up":true,"proto":"static","l3_device":"br-lan","route":[{"target":"0.0.0.0","mask":0,"nexthop":"bad"}]},{"interface":"wan","up":false,"proto":"pppoe"}]}"#;
        assert!(sel(Family::V4, j, &cfg, &ev("ifup", "lan"))
            .unwrap()
            .members
            .is_empty());
    }

    #[test]
    fn a_proto_no_interface_has_is_a_config_error_but_ipv6_may_be_absent() {
        let j = r#"{"interface":[{"interface":"lan","up":true,"proto":"static","l3_device":"br-lan"},{"interface":"wan","up":false,"proto":"pppoe"},{"interface":"wan6","up":false,"proto":"dhcpv6"}]}"#;
        let with = |family, protos: &[&str]| {
            let mut cfg = Config::defaults(family);
            if !protos.is_empty() {
                cfg.protos = protos.iter().map(|p| p.to_string()).collect();
            }
            sel(family, j, &cfg, &ev("ifdown", "wan"))
        };
        for (protos, said) in [
            (&["ppoe"][..], "proto 'ppoe' is the proto of no interface netifd has (theirs: dhcpv6, pppoe, static; did you mean 'pppoe'?); route kept"),
            (&[""], "proto '' is the proto of no interface"),
            (&["pppoe", "dhcp"], "proto 'dhcp' is the proto of no interface"),
        ] {
            let e = with(Family::V4, protos).unwrap_err();
            assert_eq!(e.exit_code(), 3, "{protos:?}");
            assert!(e.to_string().contains(said), "{protos:?}: {e}");
        }
        // Every configured proto present (down counts): no error.
        assert!(with(Family::V4, &[]).is_ok());
        assert!(with(Family::V4, &["pppoe", "static"]).is_ok());
        // IPv6: a real proto no interface has yet is no error, and said so.
        let none = r#"{"interface":[{"interface":"wan","up":false,"proto":"pppoe"}]}"#;
        let s = sel(
            Family::V6,
            none,
            &Config::defaults(Family::V6),
            &ev("ifdown", "wan"),
        )
        .unwrap();
        assert!(s.members.is_empty());
        assert_eq!(
            s.skipped,
            ["no interface of proto dhcpv6 in netifd's dump (no IPv6 uplink now)"]
        );
        // ... but a typo is an error for IPv6 too.
        let e = with(Family::V6, &["dhcpv66"]).unwrap_err();
        assert!(e.to_string().contains("did you mean 'dhcpv6'?"), "{e}");
    }

    #[test]
    fn v6_from_real_dump_uses_the_6_aliases() {
        let text = fixture("netifd/dump-8dials-ipv6.json");
        let d = Dump::parse(&text).unwrap();
        let s = sel_dump(Family::V6, &d, "ifup", "wan_6");
        let sm = summary(&s);
        assert_eq!(sm.len(), 8);
        assert_eq!(sm[0], "VWAN1_6 fe80::b:1 pppoe-VWAN1 w1");
        assert_eq!(sm[7], "wan_6 fe80::b:0 pppoe-wan w1");
    }

    #[test]
    fn v6_gateway_choice() {
        let cfg = Config::defaults(Family::V6);
        let j = r#"{"interface":[
          {"interface":"a_6","up":true,"proto":"dhcpv6","l3_device":"pppoe-a","route":[
            {"target":"2001:db8::","mask":64,"nexthop":"::","metric":256},
            {"target":"::","mask":0,"nexthop":"fe80::1","metric":1024,"valid":100,"source":"2001:db8:1::/56"},
            {"target":"::","mask":0,"nexthop":"fe80::2","metric":512,"valid":0,"source":"2001:db8:2::/56"},
            {"target":"::","mask":0,"nexthop":"fe80::3","metric":768,"valid":50,"source":"2001:db8:3::/56"}]},
          {"interface":"none_6","up":true,"proto":"dhcpv6","l3_device":"pppoe-n","route":[
            {"target":"::","mask":0,"nexthop":"fe80::9","valid":0}]},
          {"interface":"ethwan","up":true,"proto":"dhcpv6","l3_device":"eth1","device":"eth1",
           "inactive":{"route":[{"target":"::","mask":0,"nexthop":"fe80::aa","metric":512,"valid":1800}]}},
          {"interface":"gwless","up":true,"proto":"dhcpv6","l3_device":"eth2","route":[{"target":"::","mask":0,"nexthop":"::"}]}
        ]}"#;
        let s = sel(Family::V6, j, &cfg, &ev("ifup", "a_6")).unwrap();
        assert_eq!(
            summary(&s),
            ["a_6 fe80::3 pppoe-a w1", "ethwan fe80::aa eth1 w1"]
        );
        assert_eq!(
            s.skipped,
            [
                "none_6 has no live IPv6 default route",
                "gwless has no live IPv6 default route"
            ]
        );
        let e = sel(Family::V6, r#"{"interface":[{"interface":"a","up":true,"proto":"dhcpv6","l3_device":"eth1","route":[{"target":"::","mask":0,"nexthop":"10.0.0.1"}]}]}"#, &cfg, &ev("ifup", "a")).unwrap_err();
        assert!(e.to_string().contains("not an IPv6 address"), "{e}");
    }

    #[test]
    fn v6_from_a_lede_router_with_redacted_prefixes() {
        // `ifstatus wan_6` published from a LEDE 17.01 router: older shape,
        // prefixes redacted to "xxx" (not ours to parse), gateway intact.
        let mut j = b"{\"interface\":[".to_vec();
        let one = fixture("field/lede-wan_6-dhcpv6-over-pppoe.json");
        j.extend(b"{\"interface\":\"wan_6\",");
        j.extend(&one[one.iter().position(|&b| b == b'{').unwrap() + 1..]);
        j.extend(b"]}");
        let d = Dump::parse(&j).unwrap();
        let s = sel_dump(Family::V6, &d, "ifup", "wan_6");
        assert_eq!(
            summary(&s),
            ["wan_6 fe80::96db:daff:fe3e:8fcf pppoe-wan w1"]
        );
    }

    #[test]
    fn v6_ifdown_removes_the_nexthop() {
        let text = fixture("netifd/dump-2dials-ipv6.json");
        let d = Dump::parse(&text).unwrap();
        let s = sel_dump(Family::V6, &d, "ifdown", "VWAN1_6");
        assert_eq!(summary(&s), ["wan_6 fe80::b:0 pppoe-wan w1"]);
    }

    #[test]
    fn dead_members_and_higher_tiers_are_held_out() {
        let m = |i: &str, tier: u8| Member {
            interface: i.into(),
            device: format!("pppoe-{i}"),
            gateway: None,
            weight: 1,
            tier,
        };
        let base = Selection {
            members: vec![m("a", 1), m("b", 1), m("c", 2)],
            ..Selection::default()
        };
        let names = |s: &Selection| {
            s.members
                .iter()
                .map(|m| m.interface.clone())
                .collect::<Vec<_>>()
        };
        // Nothing dead: tier 1 only.
        let mut s = base.clone();
        assert_eq!(narrow(&mut s, |_| false), None);
        assert_eq!(names(&s), ["a", "b"]);
        assert_eq!(s.skipped, ["c tier 2 standing by for tier 1"]);
        // One of tier 1 dead: the other carries alone.
        let mut s = base.clone();
        narrow(&mut s, |m| m.interface == "a");
        assert_eq!(names(&s), ["b"]);
        assert_eq!(s.held.len(), 2);
        // Every tier-1 member dead: tier 2 joins.
        let mut s = base.clone();
        narrow(&mut s, |m| m.tier == 1);
        assert_eq!(names(&s), ["c"]);
        assert_eq!(s.skipped, ["a dead (tracking)", "b dead (tracking)"]);
        // Every member dead: all kept (lowest tier), and said so.
        let mut s = base.clone();
        let w = narrow(&mut s, |_| true).unwrap();
        assert!(w.contains("every member dead (3); all kept"), "{w}");
        assert_eq!(names(&s), ["a", "b"]);
    }
}
