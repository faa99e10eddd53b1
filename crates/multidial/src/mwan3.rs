//! `multidial import-mwan3`: an existing /etc/config/mwan3 as the `uci
//! batch` that carries it over to /etc/config/ecmp, and what it cannot.
//!
//! - Members: each enabled interface of the policy the default rule uses
//!   (else `balanced`) becomes `config member` with its `weight` (mwan3
//!   allows 1-1000, we 1-256) and a `tier` ranking its `metric` (mwan3's
//!   lower metric, our lower tier).
//! - Tracking: each interface's `track_ip` a member's own; the first
//!   enabled interface's reliability, count, timeout, interval,
//!   failure/recovery intervals, down and up, and its quality thresholds
//!   (check_quality, failure/recovery latency and loss) the `config
//!   track`; its `track_method` where ours has it.
//! - Rules, in order, with mwan3's option names: a policy of one
//!   interface (at its lowest metric) pins to it, `last_resort
//!   unreachable` or `blackhole` being `fallback '0'`; a policy of every
//!   interface is `balanced`; a policy of exactly the interfaces of one
//!   of our tiers is `tier:N`. mwan3's default rules (every destination
//!   to a policy of all) are what our route does already.
//!
//! Pure: sections in, text and notes out; `lib.rs` reads mwan3 through
//! the real uci.

use ecmp::input::uci::{quote, Section};

/// What the import prints: the batch, and one line per thing not carried.
pub struct Import {
    pub batch: String,
    pub notes: Vec<String>,
}

fn is_on(s: &Section, k: &str, default: bool) -> bool {
    match s.first(k) {
        Some(v) => matches!(v, "1" | "on" | "true" | "yes" | "enabled"),
        None => default,
    }
}

/// The interfaces a policy uses at its lowest metric, and whether it has
/// members at a higher one (failover to others).
fn policy_ifaces(p: &Section, members: &[&Section]) -> (Vec<String>, bool) {
    let used: Vec<(&str, u32)> = p
        .all("use_member")
        .iter()
        .filter_map(|m| members.iter().find(|s| s.name == *m))
        .filter_map(|m| {
            let metric = m.first("metric").and_then(|v| v.parse().ok()).unwrap_or(1);
            Some((m.first("interface")?, metric))
        })
        .collect();
    let Some(low) = used.iter().map(|u| u.1).min() else {
        return (Vec::new(), false);
    };
    let mut at_low: Vec<String> = used
        .iter()
        .filter(|u| u.1 == low)
        .map(|u| u.0.to_string())
        .collect();
    at_low.dedup();
    (at_low, used.iter().any(|u| u.1 > low))
}

/// Our section name for mwan3's `name`: the same, unless ours has a
/// section of that name for something else.
fn section_name(name: &str) -> String {
    match name {
        "globals" | "ipv4" | "ipv6" | "track" | "multidial" => format!("mwan3_{name}"),
        _ => name.replace(['[', ']', '@', '-'], "_"),
    }
}

/// `mwan3`'s sections, against what /etc/config/ecmp holds now (`ecmp`:
/// only what exists is deleted first, so the batch runs clean and twice
/// gives the same file).
pub fn import(mwan3: &[Section], ecmp: &[Section]) -> Import {
    let has = |n: &str, opt: Option<&str>| {
        ecmp.iter()
            .any(|s| s.name == n && opt.is_none_or(|o| s.options.contains_key(o)))
    };
    let mut b = String::new();
    let mut notes = Vec::new();
    let of = |kind: &'static str| mwan3.iter().filter(move |s| s.kind == kind);
    let ifaces: Vec<&Section> = of("interface")
        .filter(|s| is_on(s, "enabled", true))
        .collect();
    let up = |i: &str| ifaces.iter().any(|s| s.name == i);
    let members: Vec<&Section> = of("member").collect();
    let policies: Vec<&Section> = of("policy").collect();
    // Every enabled interface a policy names, by its interfaces.
    let all: Vec<&str> = ifaces.iter().map(|s| s.name.as_str()).collect();
    let everyone = |v: &[String]| !v.is_empty() && all.iter().all(|i| v.iter().any(|x| x == i));
    // The route's members: the default rule's policy, else `balanced`.
    let default_rule = of("rule").find(|r| is_default(r));
    let route_policy = default_rule
        .and_then(|r| r.first("use_policy"))
        .unwrap_or("balanced");
    // Each member's tier, as imported: a rule's policy over exactly the
    // interfaces of one tier is that tier.
    let mut tier_of: Vec<(String, usize)> = Vec::new();
    match policies.iter().find(|p| p.name == route_policy) {
        Some(p) => {
            let mut metrics: Vec<u32> = Vec::new();
            let used: Vec<(&Section, u32)> = p
                .all("use_member")
                .iter()
                .filter_map(|m| members.iter().find(|s| s.name == *m))
                .filter(|m| m.first("interface").is_some_and(up))
                .map(|m| {
                    let metric = m.first("metric").and_then(|v| v.parse().ok()).unwrap_or(1);
                    metrics.push(metric);
                    (*m, metric)
                })
                .collect();
            metrics.sort();
            metrics.dedup();
            for (m, metric) in used {
                let iface = m.first("interface").unwrap_or_default();
                let tier = metrics.iter().position(|x| *x == metric).unwrap_or(0) + 1;
                let weight: u32 = m.first("weight").and_then(|v| v.parse().ok()).unwrap_or(1);
                if weight > 256 {
                    notes.push(format!(
                        "member {}: weight {weight} is more than our 256: carried as 256",
                        m.name
                    ));
                }
                let (w, t) = (weight.clamp(1, 256), tier.min(255));
                tier_of.push((iface.to_string(), t));
                if w != 1 || t != 1 {
                    let n = section_name(iface);
                    b.push_str(&format!("set ecmp.{n}=member\n"));
                    if w != 1 {
                        b.push_str(&format!("set ecmp.{n}.weight={}\n", quote(&w.to_string())));
                    }
                    if t != 1 {
                        b.push_str(&format!("set ecmp.{n}.tier={}\n", quote(&t.to_string())));
                    }
                }
            }
        }
        None => notes.push(format!(
            "policy {route_policy}: not found; members keep weight 1 and tier 1"
        )),
    }
    // Tracking.
    let tracked: Vec<&&Section> = ifaces
        .iter()
        .filter(|s| !s.all("track_ip").is_empty())
        .collect();
    if let Some(first) = tracked.first() {
        b.push_str("set ecmp.track=track\nset ecmp.track.enabled='1'\n");
        for k in [
            "reliability",
            "count",
            "timeout",
            "interval",
            "failure_interval",
            "recovery_interval",
            "down",
            "up",
            "check_quality",
            "failure_latency",
            "failure_loss",
            "recovery_latency",
            "recovery_loss",
        ] {
            if let Some(v) = first.first(k) {
                b.push_str(&format!("set ecmp.track.{k}={}\n", quote(v)));
            }
            if let Some(other) = tracked.iter().find(|s| s.first(k) != first.first(k)) {
                notes.push(format!(
                    "interface {}: {k} differs from {}'s; ours is one for all: {}'s is carried",
                    other.name, first.name, first.name
                ));
            }
        }
        for s in &tracked {
            let n = section_name(&s.name);
            b.push_str(&format!("set ecmp.{n}=member\n"));
            if has(&n, Some("track_ip")) {
                b.push_str(&format!("delete ecmp.{n}.track_ip\n"));
            }
            for ip in s.all("track_ip") {
                b.push_str(&format!("add_list ecmp.{n}.track_ip={}\n", quote(ip)));
            }
            match s.first("track_method") {
                None | Some("ping") => {}
                Some(m @ ("nping-tcp" | "nping-icmp" | "httping" | "nslookup")) => {
                    b.push_str(&format!("set ecmp.{n}.track_method={}\n", quote(m)))
                }
                Some(m) => notes.push(format!(
                    "interface {}: track_method {m} is not ours (ping, tcp, dns, http, gateway): ping is used",
                    s.name
                )),
            }
        }
    }
    // Rules, in order.
    for r in of("rule") {
        if is_default(r) {
            continue;
        }
        let p = r.first("use_policy").unwrap_or("");
        let Some(policy) = policies.iter().find(|x| x.name == p) else {
            notes.push(format!(
                "rule {}: use_policy '{p}' names no policy: left out",
                r.name
            ));
            continue;
        };
        let (to, failover) = policy_ifaces(policy, &members);
        let (target, fallback) = match to.as_slice() {
            _ if everyone(&to) => ("balanced".to_string(), true),
            [one] if up(one) => {
                if failover {
                    notes.push(format!(
                        "rule {}: policy {p} fails over to other members; here it goes by the whole route meanwhile",
                        r.name
                    ));
                }
                let strict = matches!(
                    policy.first("last_resort"),
                    Some("unreachable" | "blackhole")
                );
                (one.clone(), failover || !strict)
            }
            _ if !to.is_empty()
                && tier_of.iter().any(|(_, t)| {
                    let of_t = tier_of.iter().filter(|x| x.1 == *t);
                    of_t.clone().count() == to.len() && of_t.clone().all(|x| to.contains(&x.0))
                }) =>
            {
                let t = tier_of.iter().find(|x| x.0 == to[0]).map_or(1, |x| x.1);
                let strict = matches!(
                    policy.first("last_resort"),
                    Some("unreachable" | "blackhole")
                );
                (format!("tier:{t}"), failover || !strict)
            }
            _ => {
                notes.push(format!(
                    "rule {}: policy {p} balances over some interfaces ({}), not one of our tiers: no such route here, left out",
                    r.name,
                    to.join(", ")
                ));
                continue;
            }
        };
        let n = section_name(&r.name);
        if has(&n, None) {
            b.push_str(&format!("delete ecmp.{n}\n"));
        }
        b.push_str(&format!("set ecmp.{n}=rule\n"));
        for k in [
            "family",
            "proto",
            "src_port",
            "dest_port",
            "ipset",
            "sticky",
            "timeout",
        ] {
            if let Some(v) = r.first(k).filter(|v| !(k == "family" && *v == "any")) {
                b.push_str(&format!("set ecmp.{n}.{k}={}\n", quote(v)));
            }
        }
        for k in ["src_ip", "dest_ip"] {
            for v in r.all(k) {
                b.push_str(&format!("add_list ecmp.{n}.{k}={}\n", quote(v)));
            }
        }
        b.push_str(&format!("set ecmp.{n}.use={}\n", quote(&target)));
        if !fallback {
            b.push_str(&format!("set ecmp.{n}.fallback='0'\n"));
        }
        if let Some(set) = r.first("ipset") {
            notes.push(format!(
                "rule {}: ipset '{set}' is an nft set in our table now: fill it with dnsmasq's nftset '/<domain>/4#ip#ecmp4#{set}' (mwan3's was an ipset)",
                r.name
            ));
        }
        if r.first("logging").is_some_and(|v| v == "1") {
            notes.push(format!("rule {}: logging is not carried", r.name));
        }
    }
    b.push_str("commit ecmp\n");
    Import { batch: b, notes }
}

/// mwan3's stock default rules: every destination, to one policy.
fn is_default(r: &Section) -> bool {
    let only_dest = r
        .options
        .keys()
        .all(|k| matches!(k.as_str(), "dest_ip" | "use_policy" | "family" | "proto"));
    only_dest
        && r.first("proto").is_none_or(|p| p == "all")
        && matches!(r.all("dest_ip"), [d] if d == "0.0.0.0/0" || d == "::/0")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OpenWrt's stock /etc/config/mwan3 with wanb enabled and 4 members.
    pub const STOCK: &str = "mwan3.globals=globals
mwan3.globals.mmx_mask='0x3F00'
mwan3.wan=interface
mwan3.wan.enabled='1'
mwan3.wan.track_ip='8.8.4.4' '8.8.8.8'
mwan3.wan.family='ipv4'
mwan3.wan.reliability='2'
mwan3.wan.check_quality='1'
mwan3.wan.failure_latency='800'
mwan3.wanb=interface
mwan3.wanb.enabled='1'
mwan3.wanb.track_ip='208.67.222.222'
mwan3.wanb.family='ipv4'
mwan3.wanb.reliability='1'
mwan3.wanb.track_method='arping'
mwan3.wan_m1_w3=member
mwan3.wan_m1_w3.interface='wan'
mwan3.wan_m1_w3.metric='1'
mwan3.wan_m1_w3.weight='3'
mwan3.wan_m2_w3=member
mwan3.wan_m2_w3.interface='wan'
mwan3.wan_m2_w3.metric='2'
mwan3.wan_m2_w3.weight='3'
mwan3.wanb_m1_w2=member
mwan3.wanb_m1_w2.interface='wanb'
mwan3.wanb_m1_w2.metric='1'
mwan3.wanb_m1_w2.weight='2'
mwan3.wanb_m2_w2=member
mwan3.wanb_m2_w2.interface='wanb'
mwan3.wanb_m2_w2.metric='2'
mwan3.wanb_m2_w2.weight='2'
mwan3.wan_only=policy
mwan3.wan_only.use_member='wan_m1_w3'
mwan3.wan_only.last_resort='unreachable'
mwan3.balanced=policy
mwan3.balanced.use_member='wan_m1_w3' 'wanb_m1_w2'
mwan3.wan_wanb=policy
mwan3.wan_wanb.use_member='wan_m1_w3' 'wanb_m2_w2'
mwan3.https=rule
mwan3.https.sticky='1'
mwan3.https.dest_port='443'
mwan3.https.proto='tcp'
mwan3.https.use_policy='balanced'
mwan3.bank=rule
mwan3.bank.src_ip='192.168.1.10'
mwan3.bank.use_policy='wan_only'
mwan3.game=rule
mwan3.game.dest_ip='203.0.113.0/24'
mwan3.game.use_policy='wan_wanb'
mwan3.gone=rule
mwan3.gone.use_policy='nothing'
mwan3.default_rule_v4=rule
mwan3.default_rule_v4.dest_ip='0.0.0.0/0'
mwan3.default_rule_v4.use_policy='balanced'
mwan3.default_rule_v4.family='ipv4'
";

    /// Four lines, two at metric 1 and two at metric 2 (tiers 1 and 2):
    /// a rule whose policy balances over the metric-2 pair uses tier 2; one
    /// over a pair that is no tier is left out, with a note.
    #[test]
    fn a_policy_over_one_tier_is_that_tier() {
        let mut text = String::new();
        for (i, m) in [("a", 1), ("b", 1), ("c", 2), ("d", 2)] {
            text.push_str(&format!("mwan3.{i}=interface\nmwan3.{i}.enabled='1'\nmwan3.{i}_m{m}=member\nmwan3.{i}_m{m}.interface='{i}'\nmwan3.{i}_m{m}.metric='{m}'\nmwan3.{i}_x=member\nmwan3.{i}_x.interface='{i}'\nmwan3.{i}_x.metric='1'\n"));
        }
        text.push_str("mwan3.all=policy\nmwan3.all.use_member='a_m1' 'b_m1' 'c_m2' 'd_m2'\nmwan3.backup=policy\nmwan3.backup.use_member='c_x' 'd_x'\nmwan3.odd=policy\nmwan3.odd.use_member='a_x' 'c_x'\nmwan3.game=rule\nmwan3.game.proto='udp'\nmwan3.game.use_policy='backup'\nmwan3.mixed=rule\nmwan3.mixed.use_policy='odd'\nmwan3.default_rule_v4=rule\nmwan3.default_rule_v4.dest_ip='0.0.0.0/0'\nmwan3.default_rule_v4.use_policy='all'\n");
        let secs = ecmp::input::uci::parse_show(&text).unwrap();
        let i = import(&secs, &[]);
        assert!(i.batch.contains("set ecmp.c.tier='2'\n"), "{}", i.batch);
        assert!(
            i.batch.contains("set ecmp.game.use='tier:2'\n"),
            "{}",
            i.batch
        );
        assert!(!i.batch.contains("ecmp.mixed"), "{}", i.batch);
        let notes = i.notes.join("\n");
        assert!(
            notes.contains(
                "rule mixed: policy odd balances over some interfaces (a, c), not one of our tiers"
            ),
            "{notes}"
        );
    }

    #[test]
    fn the_stock_config_carries_over_and_says_what_does_not() {
        let secs = ecmp::input::uci::parse_show(STOCK).unwrap();
        let i = import(&secs, &[]);
        let b = &i.batch;
        assert!(
            b.contains("set ecmp.wan=member\nset ecmp.wan.weight='3'\n"),
            "{b}"
        );
        assert!(
            b.contains("set ecmp.wanb=member\nset ecmp.wanb.weight='2'\n"),
            "{b}"
        );
        assert!(b.contains("set ecmp.track.reliability='2'\n"), "{b}");
        assert!(
            b.contains("set ecmp.track.check_quality='1'\nset ecmp.track.failure_latency='800'\n"),
            "{b}"
        );
        assert!(b.contains("add_list ecmp.wan.track_ip='8.8.8.8'\n"), "{b}");
        assert!(b.contains("set ecmp.https=rule\nset ecmp.https.proto='tcp'\nset ecmp.https.dest_port='443'\nset ecmp.https.sticky='1'\nset ecmp.https.use='balanced'\n"), "{b}");
        assert!(b.contains("add_list ecmp.bank.src_ip='192.168.1.10'\nset ecmp.bank.use='wan'\nset ecmp.bank.fallback='0'\n"), "{b}");
        // wan_wanb: wan at metric 1, failing over to wanb.
        assert!(
            b.contains("set ecmp.game.use='wan'\n") && !b.contains("ecmp.game.fallback"),
            "{b}"
        );
        assert!(!b.contains("default_rule"), "{b}");
        assert!(b.ends_with("commit ecmp\n"), "{b}");
        // Over an earlier import: what exists is deleted first.
        let again = import(&secs, &ecmp::input::uci::parse_show("ecmp.https=rule\necmp.https.use='balanced'\necmp.wan=member\necmp.wan.track_ip='8.8.4.4'\n").unwrap());
        assert!(
            again
                .batch
                .contains("delete ecmp.https\nset ecmp.https=rule\n"),
            "{}",
            again.batch
        );
        assert!(
            again.batch.contains("delete ecmp.wan.track_ip\n"),
            "{}",
            again.batch
        );
        assert!(!again.batch.contains("delete ecmp.bank"), "{}", again.batch);
        let notes = i.notes.join("\n");
        for n in [
            "interface wanb: reliability differs from wan's",
            "interface wanb: track_method arping is not ours",
            "rule game: policy wan_wanb fails over to other members",
            "rule gone: use_policy 'nothing' names no policy: left out",
        ] {
            assert!(notes.contains(n), "{n}: {notes}");
        }
    }
}
