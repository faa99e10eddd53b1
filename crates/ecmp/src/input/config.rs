//! /etc/config/ecmp, read by our own UCI parser (`ucifile`, kept equal
//! to libuci's by a differential test), then overridden by flags. The
//! committed file is what counts, as for procd services: `uci set`
//! without `uci commit` changes nothing for us.
//!
//! ```text
//! config globals 'globals'
//!     option ubus_socket '/var/run/ubus/ubus.sock'  # ubusd, asked for the dump
//!     option ubus_timeout '5'        # seconds for ubus's answer
//!     option ubus '/path/to/program' # debugging: run a program printing the
//!                                    # dump as JSON instead ('/bin/ubus', the
//!                                    # default of earlier releases, means the socket)
//! config ecmp 'ipv4'                 # 'ipv6' for ecmp6
//!     option enabled '1'             # 0: events do nothing (our route stays as it is)
//!     option table 'main'            # main, default, or a number 1-4294967295
//!     option metric '1'              # metric of our default route
//!     list proto 'pppoe'             # netifd protos whose interfaces are members
//!     list exclude 'wan'             # interfaces never used
//!     option mode 'auto'             # auto, resilient, group or multipath
//!     option buckets '512'           # resilient: hash buckets (2-65535)
//!     option idle_timer '300'        # resilient: seconds before an idle bucket may move
//!     option unbalanced_timer '0'    # resilient: seconds before busy buckets move (0 never)
//!     option inbound '1'             # per-member tables and `from` rules: replies
//!                                    # leave by the dial they came in on
//!     option table_base '4200'       # member tables are table_base+1 .. +256
//!     option rule_priority '4200'    # priority of those rules
//!     option inbound_mark 'auto'     # IPv4 port forwards: auto (on when the firewall
//!                                    # has a redirect), 0, or a mask (0x00ff0000)
//! config member 'VWAN3'              # or: config member / option interface 'VWAN3'
//!     option weight '2'              # 1-256, default 1
//!     option tier '1'                # failover tier, 1-255: only the lowest
//!                                    # tier with a live member carries traffic
//!     list track_ip '192.0.2.1'      # this member's own tracking targets
//!     option track '0'               # never tracked (always counted alive)
//! config track 'track'               # ecmp-track (mwan3track's option names)
//!     option enabled '0'
//!     list track_ip '223.5.5.5'      # targets, both families mixed
//!     option reliability '1'  option count '1'  option timeout '2'
//!     option interval '5'            # failure_interval, recovery_interval: default interval (mwan3)
//!     option down '3'  option up '3'  option redial_after '0'
//! config rule 'bank'                # policy rules, in order, first match wins
//!     option use 'VWAN2'             # (see `input::policy`: src_ip, dest_ip,
//!     list src_ip '192.168.1.10'     # proto, ports, ipset, sticky, fallback)
//! config multidial 'multidial'       # written by `multidial apply`; read by
//!     option batch '4'               # /etc/init.d/multidial, ignored here
//!     option delay '5'
//! ```

pub use crate::input::options::{
    parse_bool, parse_buckets, parse_metric, parse_seconds, parse_table, parse_tier, parse_timeout,
    parse_weight, Inbound,
};
use crate::input::options::{Mode, Resilient};
pub use crate::input::policy::PolicyRule;
pub use crate::input::track::Track;
use crate::input::uci::Section;
use crate::{Error, Family};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_CONFIG: &str = "/etc/config/ecmp";
/// What earlier releases shipped as `option ubus`: now the socket.
pub const OLD_DEFAULT_UBUS: &str = "/bin/ubus";

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub enabled: bool,
    pub table: u32,
    pub metric: u32,
    pub protos: Vec<String>,
    pub exclude: Vec<String>,
    /// Weight per interface name.
    pub weights: Vec<(String, u16)>,
    /// A program printing the dump as JSON (debugging); None: ubusd's
    /// socket.
    pub ubus: Option<PathBuf>,
    /// ubusd's socket; None: the default (see `ubus::socket_path`).
    pub ubus_socket: Option<PathBuf>,
    pub ubus_timeout: Duration,
    pub mode: Mode,
    pub resilient: Resilient,
    /// Failover tier per interface name (default 1).
    pub tiers: Vec<(String, u8)>,
    /// Tracking: the `track` section, per-member targets and opt-outs.
    pub track: Track,
    /// Per-member tables and source rules for inbound connections.
    pub inbound: Inbound,
    /// Policy rules for this family, in file order.
    pub rules: Vec<PolicyRule>,
}

/// An interface's value in a list of (interface, value): its own, else
/// (for netifd's dynamic `<iface>_6` alias) its parent's. Lists, not maps:
/// each map type of its own cost the router binaries about 2 KB.
fn own_or_parent<T: Copy>(list: &[(String, T)], iface: &str) -> Option<T> {
    let of = |i: &str| list.iter().find(|(n, _)| n == i).map(|(_, v)| *v);
    of(iface).or_else(|| iface.strip_suffix("_6").and_then(of))
}

/// Set `iface`'s value, replacing an earlier one (a later section wins).
fn set<T>(list: &mut Vec<(String, T)>, iface: &str, v: T) {
    list.retain(|(n, _)| n != iface);
    list.push((iface.to_string(), v));
}

impl Config {
    pub fn defaults(family: Family) -> Config {
        Config {
            enabled: true,
            table: 254,
            metric: 1,
            protos: family
                .default_protos()
                .iter()
                .map(|s| s.to_string())
                .collect(),
            exclude: Vec::new(),
            weights: Vec::new(),
            ubus: None,
            ubus_socket: None,
            ubus_timeout: Duration::from_secs(5),
            mode: Mode::Auto,
            resilient: Resilient::default(),
            tiers: Vec::new(),
            track: Track::default(),
            inbound: Inbound::default(),
            rules: Vec::new(),
        }
    }

    /// Weight of an interface: its own, else (for netifd's dynamic
    /// `<iface>_6` alias) its parent's, else 1.
    pub fn weight(&self, iface: &str) -> u16 {
        own_or_parent(&self.weights, iface).unwrap_or(1)
    }

    /// Failover tier of an interface, looked up as [`Config::weight`].
    pub fn tier(&self, iface: &str) -> u8 {
        own_or_parent(&self.tiers, iface).unwrap_or(1)
    }

    /// Apply the options of `uci -q show ecmp` output for `family`.
    pub fn apply_uci(&mut self, family: Family, show: &str) -> Result<(), Error> {
        self.apply(family, &parse_show(show)?)
    }

    /// Apply the sections of /etc/config/ecmp for `family`.
    pub fn apply(&mut self, family: Family, sections: &[Section]) -> Result<(), Error> {
        for s in sections {
            let opt = |k: &str| s.options.get(k).and_then(|v| v.first()).map(String::as_str);
            match s.kind.as_str() {
                "globals" => {
                    if let Some(v) = opt("ubus") {
                        self.ubus =
                            (v != OLD_DEFAULT_UBUS && !v.is_empty()).then(|| PathBuf::from(v));
                    }
                    if let Some(v) = opt("ubus_socket") {
                        self.ubus_socket = Some(PathBuf::from(v));
                    }
                    if let Some(v) = opt("ubus_timeout") {
                        self.ubus_timeout = parse_timeout(v)
                            .map_err(|e| Error::Config(format!("ubus_timeout: {e}")))?;
                    }
                }
                "ecmp" if s.name == family.section() => {
                    let ctx = |k: &str, e: String| Error::Config(format!("{}.{k}: {e}", s.name));
                    if let Some(v) = opt("enabled") {
                        self.enabled = parse_bool(v).map_err(|e| ctx("enabled", e))?;
                    }
                    if let Some(v) = opt("table") {
                        self.table = parse_table(v).map_err(|e| ctx("table", e))?;
                    }
                    if let Some(v) = opt("metric") {
                        self.metric = parse_metric(v).map_err(|e| ctx("metric", e))?;
                    }
                    if let Some(v) = s.options.get("proto") {
                        self.protos = v.clone();
                    }
                    if let Some(v) = s.options.get("exclude") {
                        self.exclude = v.clone();
                    }
                    if let Some(v) = opt("mode") {
                        self.mode = Mode::parse(v).map_err(|e| ctx("mode", e))?;
                    }
                    if let Some(v) = opt("buckets") {
                        self.resilient.buckets = parse_buckets(v).map_err(|e| ctx("buckets", e))?;
                    }
                    if let Some(v) = opt("idle_timer") {
                        self.resilient.idle_timer =
                            parse_seconds(v).map_err(|e| ctx("idle_timer", e))?;
                    }
                    if let Some(v) = opt("inbound") {
                        self.inbound.enabled = parse_bool(v).map_err(|e| ctx("inbound", e))?;
                    }
                    if let Some(v) = opt("table_base") {
                        self.inbound.table_base = crate::input::options::parse_table_base(v)
                            .map_err(|e| ctx("table_base", e))?;
                    }
                    if let Some(v) = opt("rule_priority") {
                        self.inbound.rule_priority = crate::input::options::parse_rule_priority(v)
                            .map_err(|e| ctx("rule_priority", e))?;
                    }
                    if let Some(v) = opt("inbound_mark") {
                        self.inbound.marks = crate::input::options::parse_marks(v)
                            .map_err(|e| ctx("inbound_mark", e))?;
                    }
                    if let Some(v) = opt("unbalanced_timer") {
                        self.resilient.unbalanced_timer =
                            parse_seconds(v).map_err(|e| ctx("unbalanced_timer", e))?;
                    }
                }
                "member" => {
                    let iface = match opt("interface") {
                        Some(i) => i.to_string(),
                        None if !s.name.starts_with('@') => s.name.clone(),
                        None => {
                            return Err(Error::Config(format!(
                                "{}: member without interface",
                                s.name
                            )))
                        }
                    };
                    if let Some(v) = opt("weight") {
                        let w = parse_weight(v)
                            .map_err(|e| Error::Config(format!("{}.weight: {e}", s.name)))?;
                        set(&mut self.weights, &iface, w);
                    }
                    if let Some(v) = opt("tier") {
                        let t = parse_tier(v)
                            .map_err(|e| Error::Config(format!("{}.tier: {e}", s.name)))?;
                        set(&mut self.tiers, &iface, t);
                    }
                    self.track.member(&iface, s)?;
                }
                "track" => self.track.section(s)?,
                "rule" => {
                    let r = crate::input::policy::parse(s).map_err(Error::Config)?;
                    if r.is_for(family) && r.addrs(family).is_some() {
                        self.rules.push(r);
                    }
                }
                _ => {}
            }
        }
        // Rules send connections to member tables by mark.
        if let Some(r) = self.rules.first() {
            let why = match () {
                _ if !self.inbound.enabled => Some("option inbound '0'"),
                _ if self.inbound.marks == crate::input::options::Marks::Off => {
                    Some("option inbound_mark '0'")
                }
                _ => None,
            };
            if let Some(why) = why {
                return Err(Error::Config(format!(
                    "rule {}: rules need the member tables and their marks, and {}.{why} turns them off",
                    r.name,
                    family.section()
                )));
            }
        }
        Ok(())
    }

    /// Read /etc/config/ecmp (or `path`) when it exists: no program run.
    pub fn load(family: Family, path: &Path) -> Result<Config, Error> {
        let mut cfg = Config::defaults(family);
        let text = match std::fs::read(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(cfg),
            Err(e) => return Err(Error::Config(format!("{}: {e}", path.display()))),
            Ok(t) => t,
        };
        let sections = crate::input::ucifile::parse(&text)
            .map_err(|e| Error::Config(format!("{}: parse error, {e}", path.display())))?;
        cfg.apply(family, &sections)?;
        Ok(cfg)
    }
}

/// The section types of /etc/config/ecmp and the options each takes
/// (`multidial`, the mark multidial leaves on what it wrote, in any).
pub const KNOWN: &[(&str, &[&str])] = &[
    ("globals", &["ubus", "ubus_socket", "ubus_timeout"]),
    (
        "ecmp",
        &[
            "enabled",
            "table",
            "metric",
            "proto",
            "exclude",
            "mode",
            "buckets",
            "idle_timer",
            "unbalanced_timer",
            "inbound",
            "table_base",
            "rule_priority",
            "inbound_mark",
        ],
    ),
    (
        "member",
        &[
            "interface",
            "weight",
            "tier",
            "track_ip",
            "track",
            "track_method",
        ],
    ),
    (
        "track",
        &[
            "enabled",
            "track_ip",
            "reliability",
            "count",
            "timeout",
            "interval",
            "failure_interval",
            "recovery_interval",
            "down",
            "up",
            "redial_after",
            "track_method",
            "track_port",
            "track_name",
            "check_quality",
            "failure_latency",
            "failure_loss",
            "recovery_latency",
            "recovery_loss",
            "max_rtt",
            "max_loss",
        ],
    ),
    (
        "rule",
        &[
            "family",
            "proto",
            "src_ip",
            "dest_ip",
            "src_port",
            "dest_port",
            "ipset",
            "use",
            "use_policy",
            "fallback",
            "sticky",
            "timeout",
        ],
    ),
    (
        "multidial",
        &[
            "batch",
            "delay",
            "zone_device",
            "zone_name",
            "line",
            "dials",
            "username",
            "password",
            "ipv6",
            "balancer",
            "metric_base",
            "iface_prefix",
            "dev_prefix",
            "zone",
            "track_ip",
        ],
    ),
];

/// Names in the file that nothing reads: section types, `ecmp` sections
/// other than ipv4/ipv6, options. Runs ignore them, as UCI programs do;
/// `check` names each, with the nearest known name.
pub fn unknown_names(sections: &[Section]) -> Vec<String> {
    use crate::input::names::did_you_mean;
    let mut out = Vec::new();
    let types = || KNOWN.iter().map(|(t, _)| *t);
    for s in sections {
        let label = match s.name.starts_with('@') {
            true => format!("config {}", s.kind),
            false => format!("config {} '{}'", s.kind, s.name),
        };
        let Some((_, opts)) = KNOWN.iter().find(|(t, _)| *t == s.kind) else {
            out.push(format!(
                "unknown section type '{}' ({label}){}",
                s.kind,
                did_you_mean(&s.kind, types())
            ));
            continue;
        };
        if s.kind == "ecmp" && s.name != "ipv4" && s.name != "ipv6" {
            out.push(format!(
                "{label}: an ecmp section is named 'ipv4' or 'ipv6'{}",
                did_you_mean(&s.name, ["ipv4", "ipv6"])
            ));
        }
        for k in s.options.keys() {
            if k != "multidial" && !opts.contains(&k.as_str()) {
                out.push(format!(
                    "unknown option '{k}' in {label}{}",
                    did_you_mean(k, opts.iter().copied())
                ));
            }
        }
    }
    out
}

fn parse_show(text: &str) -> Result<Vec<Section>, Error> {
    crate::input::uci::parse_show(text).map_err(Error::Config)
}

#[cfg(test)]
mod tests {

    /// Every option the package's /etc/config/ecmp sets, and every
    /// tracking option, is one `check` knows: none is called unknown.
    #[test]
    fn the_shipped_config_and_every_track_option_are_known() {
        let shipped = include_bytes!("../../../../openwrt/files/ecmp.config");
        let sections = crate::input::ucifile::parse(shipped).unwrap();
        assert!(sections.iter().any(|s| s.kind == "track"));
        assert_eq!(unknown_names(&sections), Vec::<String>::new());
        let all = b"config track 'track'\n\toption check_quality '1'\n\toption failure_latency '1'\n\toption failure_loss '1'\n\toption recovery_latency '1'\n\toption recovery_loss '1'\n\toption max_rtt '1'\n\toption max_loss '1'\n\toption track_name 'x'\n\toption track_port '1'\n\toption track_method 'dns'\n";
        let sections = crate::input::ucifile::parse(all).unwrap();
        assert_eq!(unknown_names(&sections), Vec::<String>::new());
    }

    use super::*;

    const SHOW: &str = "ecmp.globals=globals
ecmp.globals.ubus='/usr/bin/ubus'
ecmp.globals.ubus_timeout='2.5'
ecmp.ipv4=ecmp
ecmp.ipv4.enabled='1'
ecmp.ipv4.table='100'
ecmp.ipv4.metric='7'
ecmp.ipv4.proto='pppoe' 'dhcp'
ecmp.ipv4.exclude='wan'
ecmp.ipv4.mode='group'
ecmp.ipv4.buckets='64'
ecmp.ipv4.idle_timer='30'
ecmp.ipv4.unbalanced_timer='600'
ecmp.ipv6=ecmp
ecmp.ipv6.metric='9'
ecmp.VWAN3=member
ecmp.VWAN3.weight='2'
ecmp.@member[1]=member
ecmp.@member[1].interface='wan'
ecmp.@member[1].weight='256'
";

    #[test]
    fn uci_show_for_each_family() {
        let mut c = Config::defaults(Family::V4);
        c.apply_uci(Family::V4, SHOW).unwrap();
        assert_eq!(c.table, 100);
        assert_eq!(c.metric, 7);
        assert_eq!(c.protos, ["pppoe", "dhcp"]);
        assert_eq!(c.exclude, ["wan"]);
        assert_eq!(c.ubus, Some(PathBuf::from("/usr/bin/ubus")));
        assert_eq!(c.ubus_timeout, Duration::from_millis(2500));
        assert_eq!(c.weight("VWAN3"), 2);
        assert_eq!(c.weight("VWAN3_6"), 2);
        assert_eq!(c.weight("wan"), 256);
        assert_eq!(c.weight("VWAN1"), 1);
        assert_eq!(c.mode, Mode::Group);
        assert_eq!(
            c.resilient,
            Resilient {
                buckets: 64,
                idle_timer: 30,
                unbalanced_timer: 600
            }
        );

        let mut c6 = Config::defaults(Family::V6);
        c6.apply_uci(Family::V6, SHOW).unwrap();
        assert_eq!((c6.table, c6.metric), (254, 9));
        assert_eq!(c6.protos, ["dhcpv6"]);
        assert_eq!((c6.mode, c6.resilient), (Mode::Auto, Resilient::default()));
    }

    #[test]
    fn timeouts() {
        for (v, ms) in [
            ("5", 5000),
            ("2.5", 2500),
            ("0.25", 250),
            (".5", 500),
            ("60", 60000),
            ("1.", 1000),
        ] {
            assert_eq!(parse_timeout(v), Ok(Duration::from_millis(ms)), "{v}");
        }
        for v in [
            "0",
            "0.000",
            "60.001",
            "-1",
            "1e3",
            "",
            ".",
            "1.2345",
            "99999999999999999999",
            "nan",
        ] {
            assert!(parse_timeout(v).is_err(), "{v}");
        }
    }

    #[test]
    fn quoting() {
        use crate::input::uci::{quote, split_values};
        assert_eq!(split_values("'a' 'b c'").unwrap(), ["a", "b c"]);
        assert_eq!(split_values("'it'\\''s'").unwrap(), ["it's"]);
        assert_eq!(split_values("ecmp").unwrap(), ["ecmp"]);
        assert!(split_values("'open").is_err());
        for v in ["it's", "a b", "", "x'y'z"] {
            assert_eq!(split_values(&quote(v)).unwrap(), [v]);
        }
    }

    #[test]
    fn bad_values_are_config_errors() {
        for (show, what) in [
            ("ecmp.ipv4=ecmp\necmp.ipv4.metric='one'\n", "ipv4.metric"),
            ("ecmp.ipv4=ecmp\necmp.ipv4.table='local'\n", "ipv4.table"),
            ("ecmp.ipv4=ecmp\necmp.ipv4.table='255'\n", "ipv4.table"),
            (
                "ecmp.ipv4=ecmp\necmp.ipv4.enabled='maybe'\n",
                "ipv4.enabled",
            ),
            ("ecmp.x=member\necmp.x.weight='0'\n", "x.weight"),
            ("ecmp.x=member\necmp.x.weight='257'\n", "x.weight"),
            (
                "ecmp.@member[0]=member\necmp.@member[0].weight='2'\n",
                "without interface",
            ),
            (
                "ecmp.globals=globals\necmp.globals.ubus_timeout='0'\n",
                "ubus_timeout",
            ),
            ("ecmp.ipv4=ecmp\necmp.ipv4.mode='fast'\n", "ipv4.mode"),
            ("ecmp.ipv4=ecmp\necmp.ipv4.buckets='1'\n", "ipv4.buckets"),
            (
                "ecmp.ipv4=ecmp\necmp.ipv4.buckets='65536'\n",
                "ipv4.buckets",
            ),
            (
                "ecmp.ipv4=ecmp\necmp.ipv4.idle_timer='-1'\n",
                "ipv4.idle_timer",
            ),
            (
                "ecmp.ipv4=ecmp\necmp.ipv4.unbalanced_timer='604801'\n",
                "ipv4.unbalanced_timer",
            ),
            ("garbage\n", "unexpected uci output"),
            ("ecmp.nosection.metric='1'\n", "unexpected uci output"),
            (
                "ecmp.track=track\necmp.track.track_name='a..b'\n",
                "track.track_name: 'a..b' is not a DNS name",
            ),
            (
                "ecmp.track=track\necmp.track.track_name='bad name'\n",
                "track.track_name",
            ),
            (
                "ecmp.r=rule\necmp.r.use='VWAN1'\necmp.r.proto='sctp'\n",
                "rule r: proto",
            ),
        ] {
            let e = Config::defaults(Family::V4)
                .apply_uci(Family::V4, show)
                .unwrap_err();
            assert_eq!(e.exit_code(), 3);
            assert!(e.to_string().contains(what), "{e} should mention {what}");
        }
    }

    #[test]
    fn the_file_itself_is_read() {
        let d = std::env::temp_dir().join(format!("ecmp-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let f = d.join("ecmp");
        assert_eq!(
            Config::load(Family::V4, &f).unwrap(),
            Config::defaults(Family::V4),
            "absent"
        );
        std::fs::write(&f, "").unwrap();
        assert_eq!(
            Config::load(Family::V4, &f).unwrap(),
            Config::defaults(Family::V4),
            "empty"
        );
        std::fs::write(
            &f,
            "config globals 'globals'\n\toption ubus '/bin/ubus'\n\toption ubus_socket /tmp/u.sock\nconfig ecmp 'ipv4'\n\toption metric 7\n",
        )
        .unwrap();
        let c = Config::load(Family::V4, &f).unwrap();
        assert_eq!(c.metric, 7);
        assert_eq!(c.ubus, None, "the old default means the socket");
        assert_eq!(c.ubus_socket, Some(PathBuf::from("/tmp/u.sock")));
        std::fs::write(&f, "config ecmp 'ipv4'\nmetric 9\n").unwrap();
        let e = Config::load(Family::V4, &f).unwrap_err();
        assert_eq!(e.exit_code(), 3);
        assert!(
            e.to_string()
                .contains("parse error, line 2: invalid command"),
            "{e}"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }
}
