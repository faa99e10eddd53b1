//! multidial against OpenWrt's real `uci` (from the kit, on a config
//! directory of the test's own with stock 23.05-style network, firewall and
//! mwan3 files): what apply writes, twice, fewer dials, remove, the mwan3
//! switch, refused lines, and the password's path (a wrapper records the
//! argv and stdin the real uci gets). `up` talks to a ubus stand-in here;
//! tests/router.rs runs it against the real netifd.

use sim::{script, TempDir};
use std::path::PathBuf;
use std::process::Command;

const PASSWORD: &str = "pw-Zq8!x y";

const NETWORK: &str = "
config interface 'loopback'
	option device 'lo'
	option proto 'static'
	option ipaddr '127.0.0.1'
	option netmask '255.0.0.0'

config globals 'globals'
	option ula_prefix 'fd12:3456:789a::/48'

config device
	option name 'br-lan'
	option type 'bridge'
	list ports 'lan1'
	list ports 'lan2'

config interface 'lan'
	option device 'br-lan'
	option proto 'static'
	option ipaddr '192.168.1.1'
	option netmask '255.255.255.0'

config interface 'wan'
	option device 'eth0.2'
	option proto 'pppoe'
	option username 'stock'
	option password 'stockpw'

config interface 'wan6'
	option device '@wan'
	option proto 'dhcpv6'
";

const FIREWALL: &str = "
config defaults
	option input 'REJECT'
	option output 'ACCEPT'
	option forward 'REJECT'

config zone
	option name 'lan'
	list network 'lan'
	option input 'ACCEPT'
	option output 'ACCEPT'
	option forward 'ACCEPT'

config zone
	option name 'wan'
	list network 'wan'
	list network 'wan6'
	option input 'REJECT'
	option output 'ACCEPT'
	option forward 'REJECT'
	option masq '1'
	option mtu_fix '1'

config forwarding
	option src 'lan'
	option dest 'wan'
";

/// mwan3's stock /etc/config/mwan3 (trimmed to what matters here).
const MWAN3: &str = "
config globals 'globals'
	option mmx_mask '0x3F00'

config interface 'wan'
	option enabled '1'
	list track_ip '1.0.0.1'
	option family 'ipv4'

config member 'wan_m1_w3'
	option interface 'wan'
	option metric '1'
	option weight '3'

config policy 'balanced'
	list use_member 'wan_m1_w3'
	option last_resort 'unreachable'

config rule 'https'
	option sticky '1'
	option dest_port '443'
	option proto 'tcp'
	option use_policy 'balanced'

config rule 'default_rule_v4'
	option dest_ip '0.0.0.0/0'
	option use_policy 'balanced'
	option family 'ipv4'

config rule 'default_rule_v6'
	option dest_ip '::/0'
	option use_policy 'balanced'
	option family 'ipv6'
";

/// A config directory with the stock files, the real uci behind a
/// recording wrapper, and a password file.
struct Conf {
    d: TempDir,
    real: PathBuf,
}

impl Conf {
    /// None when the kit is missing (see [`sim::kit`]).
    fn new(mwan3: bool) -> Option<Conf> {
        let real = sim::real_uci()?;
        let d = TempDir::new("multidial");
        std::fs::create_dir_all(d.0.join("config")).unwrap();
        std::fs::create_dir_all(d.0.join("save")).unwrap();
        std::fs::write(d.0.join("config/network"), NETWORK).unwrap();
        std::fs::write(d.0.join("config/firewall"), FIREWALL).unwrap();
        if mwan3 {
            std::fs::write(d.0.join("config/mwan3"), MWAN3).unwrap();
        }
        std::fs::write(d.0.join("pw"), format!("{PASSWORD}\n")).unwrap();
        let b = Conf { d, real };
        b.wrap("");
        Some(b)
    }

    fn p(&self, f: &str) -> PathBuf {
        self.d.0.join(f)
    }

    /// The uci multidial runs: records argv and batch stdin, then the real
    /// uci; `filter` (a sed script) may alter the batch on its way.
    fn wrap(&self, filter: &str) {
        let sed = if filter.is_empty() {
            "cat".to_string()
        } else {
            format!("sed '{filter}'")
        };
        script(
            &self.p("uci"),
            &format!(
                "echo \"$*\" >> '{d}/argv.log'\n\
                 case \"$*\" in *batch) tee -a '{d}/stdin.log' | {sed} | exec {real} \"$@\" ;; *) exec {real} \"$@\" ;; esac",
                d = self.d.0.display(),
                real = self.real.display()
            ),
        );
    }

    /// `uci show PKG` of the committed and pending state, for comparing.
    fn show(&self, pkg: &str) -> String {
        let o = Command::new(&self.real)
            .arg("-c")
            .arg(self.p("config"))
            .arg("-t")
            .arg(self.p("save"))
            .args(["show", pkg])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Uncommitted changes (empty when everything was committed).
    fn changes(&self) -> String {
        let o = Command::new(&self.real)
            .arg("-c")
            .arg(self.p("config"))
            .arg("-t")
            .arg(self.p("save"))
            .arg("changes")
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn file(&self, pkg: &str) -> String {
        std::fs::read_to_string(self.p(&format!("config/{pkg}"))).unwrap_or_default()
    }

    /// multidial CMD with this box's uci, dirs and password, then `extra`.
    fn run(&self, cmd: &str, extra: &[&str]) -> (i32, String, String) {
        let pw = self.p("pw").display().to_string();
        let mut a: Vec<&str> = Vec::new();
        if cmd != "remove" && cmd != "up" {
            a.extend(["--username", "u1", "--password-file", &pw]);
        }
        a.extend(extra);
        self.bare(cmd, &a)
    }
}

impl Conf {
    /// multidial CMD with this box's uci and dirs only (no setup flags),
    /// then `extra`.
    fn bare(&self, cmd: &str, extra: &[&str]) -> (i32, String, String) {
        let mut a: Vec<String> = vec![cmd.into()];
        for (f, v) in [
            ("--uci", "uci"),
            ("--config-dir", "config"),
            ("--save-dir", "save"),
        ] {
            a.push(f.into());
            a.push(self.p(v).display().to_string());
        }
        a.extend(extra.iter().map(|s| s.to_string()));
        multidial(&a.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// The real uci, as LuCI's save and apply leave it: `set` lines, then
    /// a commit.
    fn uci_set(&self, pkg: &str, lines: &[&str]) {
        for l in lines {
            let o = Command::new(&self.real)
                .arg("-c")
                .arg(self.p("config"))
                .arg("-t")
                .arg(self.p("save"))
                .args(["set", l])
                .output()
                .unwrap();
            assert!(o.status.success(), "uci set {l}: {o:?}");
        }
        let o = Command::new(&self.real)
            .arg("-c")
            .arg(self.p("config"))
            .arg("-t")
            .arg(self.p("save"))
            .args(["commit", pkg])
            .output()
            .unwrap();
        assert!(o.status.success(), "uci commit {pkg}: {o:?}");
    }
}

fn multidial(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(sim::bin("multidial"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn section<'a>(file: &'a str, head: &str) -> &'a str {
    let i = file
        .find(head)
        .unwrap_or_else(|| panic!("no {head} in:\n{file}"));
    let rest = &file[i..];
    &rest[..rest[1..].find("\nconfig ").map_or(rest.len(), |j| j + 1)]
}

#[test]
fn apply_twice_fewer_and_remove_with_the_real_uci() {
    let Some(b) = Conf::new(false) else { return };
    let (net0, fw0) = (b.show("network"), b.show("firewall"));
    let line = ["--line", "eth0.2", "--dials", "3", "--ipv6", "1"];
    let (code, out, err) = b.run("plan", &line);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("set network.VWAN1.password='********'"),
        "{out}"
    );
    assert!(!out.contains(PASSWORD) && !err.contains(PASSWORD));
    assert_eq!(b.changes(), "", "plan writes nothing");
    let (code, out, err) = b.run("apply", &line);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("multidial: 3 dials on 1 line (eth0.2): "),
        "{out}"
    );
    assert!(
        out.contains(
            "multidial: wan on the same line now has defaultroute '0' and joins ecmp's route"
        ),
        "{out}"
    );
    assert!(!out.contains(PASSWORD) && !err.contains(PASSWORD));
    // The step after apply is said: nothing dials before `up`.
    assert!(
        out.contains("; now: /etc/init.d/network reload; /etc/init.d/firewall reload; multidial up (the dials are auto '0'"),
        "{out}"
    );
    // What the real uci committed.
    assert_eq!(b.changes(), "", "everything committed");
    let net = b.file("network");
    let v1 = section(&net, "config interface 'VWAN1'");
    for o in [
        "option proto 'pppoe'",
        "option device 'veth1'",
        &format!("option password '{PASSWORD}'"),
        "option metric '11'",
        "option ipv6 'auto'",
        "option auto '0'",
        "option defaultroute '0'",
        "option multidial '1'",
    ] {
        assert!(v1.contains(o), "{o}: {v1}");
    }
    assert!(section(&net, "config interface 'VWAN3'").contains("option ipv6 '0'"));
    let dev = section(&net, "config device 'md_veth2'");
    assert!(
        dev.contains("option type 'macvlan'") && dev.contains("option ifname 'eth0.2'"),
        "{dev}"
    );
    // The stock wan on the dialled line no longer shadows ecmp's route.
    let wan = section(&net, "config interface 'wan'");
    assert!(
        wan.contains("option defaultroute '0'")
            && wan.contains("option multidial_defaultroute 'none'"),
        "{wan}"
    );
    let fw = b.file("firewall");
    assert!(fw.contains("list network 'VWAN3'"), "{fw}");
    let ecmp = b.file("ecmp");
    assert!(
        ecmp.contains("config multidial 'multidial'") && ecmp.contains("option batch '4'"),
        "{ecmp}"
    );
    // The password reached uci on stdin only.
    let argv = std::fs::read_to_string(b.p("argv.log")).unwrap();
    assert!(!argv.contains(PASSWORD), "{argv}");
    let stdin = std::fs::read_to_string(b.p("stdin.log")).unwrap();
    assert!(
        stdin.contains(&format!("set network.VWAN1.password='pw-Zq8!x y'")),
        "{stdin}"
    );
    // Twice: nothing to do, and plan says so.
    let (code, out, _) = b.run("apply", &line);
    assert_eq!(code, 0);
    assert!(out.contains(": 0 changes, nothing to do"), "{out}");
    let (code, out, err) = b.run("plan", &line);
    assert_eq!((code, out.as_str()), (0, ""));
    assert!(err.contains("nothing to do"), "{err}");
    // Fewer dials: VWAN3 and its macvlan go, from the zone too.
    let (code, _, err) = b.run(
        "apply",
        &["--line", "eth0.2", "--dials", "2", "--ipv6", "1"],
    );
    assert_eq!(code, 0, "{err}");
    let (net, fw) = (b.file("network"), b.file("firewall"));
    assert!(
        !net.contains("VWAN3") && !net.contains("md_veth3") && !fw.contains("VWAN3"),
        "{net}{fw}"
    );
    // plan remove: what remove will do, and nothing done.
    let (code, preview, err) = b.run("plan", &["remove"]);
    assert_eq!(code, 0, "{err}");
    assert!(preview.contains("delete network.VWAN1\n"), "{preview}");
    assert_eq!(
        (b.file("network"), b.changes()),
        (net.clone(), String::new())
    );
    // remove: exactly as before, the stock wan's default route back.
    let (code, out, err) = b.run("remove", &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        format!("multidial: removed: {} changes\n", preview.lines().count())
    );
    assert_eq!(b.changes(), "");
    assert_eq!(b.show("network"), net0);
    assert_eq!(b.show("firewall"), fw0);
    assert!(!b.file("ecmp").contains("multidial"));
    let (_, out, _) = b.run("remove", &[]);
    assert!(out.contains("removed: 0 changes"), "{out}");
    let (code, out, err) = b.run("plan", &["remove"]);
    assert_eq!((code, out.as_str()), (0, ""));
    assert!(err.contains("nothing to remove"), "{err}");
}

#[test]
fn a_line_uci_refuses_leaves_the_config_as_it_was() {
    let Some(b) = Conf::new(false) else { return };
    let (net0, fw0) = (b.file("network"), b.file("firewall"));
    let line = ["--line", "eth0.2", "--dials", "2"];
    // uci refuses a line and still exits 0 (the bug this guards against).
    b.wrap("s/^set network.md_veth1=device$/set network.md_veth-1=device/");
    let (code, out, err) = b.run("apply", &line);
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        err.contains("batch refused") && err.contains("nothing written"),
        "{err}"
    );
    assert_eq!(
        (b.file("network"), b.file("firewall")),
        (net0.clone(), fw0.clone())
    );
    assert_eq!(b.changes(), "", "reverted");
    // A line lost on the way: the re-read finds it missing.
    b.wrap("/^set network.VWAN2.metric=/d");
    let (code, _, err) = b.run("apply", &line);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("uci did not take every change (still to do: set network.VWAN2.metric='12')"),
        "{err}"
    );
    assert_eq!(
        (b.file("network"), b.file("firewall")),
        (net0.clone(), fw0.clone())
    );
    assert_eq!(b.changes(), "");
    // Changes of the user's pending in uci: not committed along with ours.
    b.wrap("");
    let o = Command::new(&b.real)
        .arg("-c")
        .arg(b.p("config"))
        .arg("-t")
        .arg(b.p("save"))
        .args(["set", "network.lan.ipaddr=192.168.9.1"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let (code, _, err) = b.run("apply", &line);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("uncommitted uci changes (network.lan.ipaddr='192.168.9.1')"),
        "{err}"
    );
    assert_eq!(b.file("network"), net0);
    // A name uci would refuse is refused before uci runs.
    let (code, _, err) = b.run("apply", &["--line", "eth0.2", "--dev-prefix", "v-eth"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--dev-prefix 'v-eth' is not usable"), "{err}");
}

#[test]
fn mwan3_rule_comes_first_and_switching_back_commits_mwan3() {
    let Some(b) = Conf::new(true) else { return };
    let line = ["--line", "eth0.2", "--line", "eth0.3", "--dials", "2"];
    let mut m3 = line.to_vec();
    m3.extend(["--balancer", "mwan3", "--track-ip", "192.0.2.1"]);
    let (code, out, err) = b.run("apply", &m3);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("mwan3 rule md_default now comes before the stock rules")
            && out.contains("/etc/init.d/mwan3 restart"),
        "{out}"
    );
    assert_eq!(b.changes(), "");
    let m = b.file("mwan3");
    let ours = m.find("config rule 'md_default'").expect("our rule");
    assert!(ours < m.find("config rule 'https'").unwrap(), "{m}");
    assert!(
        ours < m.find("config rule 'default_rule_v4'").unwrap(),
        "{m}"
    );
    assert!(m.contains("list track_ip '192.0.2.1'"), "{m}");
    // mwan3 needs the dials' own default routes: no defaultroute '0'.
    assert!(!section(&b.file("network"), "config interface 'VWAN1'").contains("defaultroute"));
    let (code, _, err) = b.run("plan", &m3);
    assert_eq!(code, 0);
    assert!(err.contains("nothing to do"), "{err}");
    // Back to ecmp: the mwan3 sections are gone from the committed file.
    let (code, _, err) = b.run("apply", &line);
    assert_eq!(code, 0, "{err}");
    assert_eq!(b.changes(), "", "mwan3 committed too");
    let m = b.file("mwan3");
    assert!(!m.contains("md_") && !m.contains("VWAN"), "{m}");
    assert!(
        m.contains("config rule 'default_rule_v4'"),
        "the stock rules stay: {m}"
    );
    let (_, _, err) = b.run("plan", &line);
    assert!(err.contains("nothing to do"), "{err}");
}

#[test]
fn bad_input_is_refused_before_uci_runs() {
    let Some(b) = Conf::new(false) else { return };
    let net0 = b.file("network");
    for (extra, code, msg) in [
        (
            vec!["--line", "eth0.2", "--zone", "lan"],
            3,
            "firewall zone 'lan' does not masquerade",
        ),
        (
            vec!["--line", "eth1", "--dev-prefix", "eth"],
            2,
            "macvlan 'eth1' would have the name of the line",
        ),
        (
            vec!["--line", "eth0.2", "--line", "eth0.2"],
            2,
            "--line eth0.2 is given twice",
        ),
        (
            vec!["--line", "eth0.2", "--metric-base", "4294967295"],
            2,
            "--metric-base 4294967295 leaves no room",
        ),
        (
            vec!["--line", "eth0.2", "--track-ip", "notanip"],
            2,
            "--track-ip 'notanip' is not an IP address",
        ),
        (vec![], 2, "give at least one --line"),
    ] {
        let (c, out, err) = b.run("apply", &extra);
        assert_eq!(c, code, "{extra:?}: {out}{err}");
        assert!(err.contains(msg), "{extra:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    }
    std::fs::write(b.p("pw"), "first\nsecond\n").unwrap();
    let (c, _, err) = b.run("apply", &["--line", "eth0.2"]);
    assert_eq!(c, 2);
    assert!(err.contains("has more than one line"), "{err}");
    // Usage errors never ran uci at all.
    let argv = std::fs::read_to_string(b.p("argv.log")).unwrap_or_default();
    assert_eq!(
        argv.lines().filter(|l| l.ends_with("batch")).count(),
        0,
        "{argv}"
    );
    assert_eq!(b.file("network"), net0);
    let (c, out, err) = multidial(&[
        "apply",
        "--line",
        "eth0.2",
        "--username",
        "",
        "--password-file",
        b.p("pw").to_str().unwrap(),
    ]);
    assert_eq!(c, 2, "{out}{err}");
    assert!(err.contains("--username is empty"), "{err}");
    // A username uci cannot take in one line: refused before uci runs.
    let (c, out, err) = multidial(&[
        "apply",
        "--line",
        "eth0.2",
        "--username",
        "u1\nset network.lan.proto=dhcp",
        "--password-file",
        b.p("pw").to_str().unwrap(),
    ]);
    assert_eq!(c, 2, "{out}{err}");
    assert!(err.contains("--username has a control character"), "{err}");
    assert_eq!(b.file("network"), net0);
    // Usage errors in ecmp4's words; the exit statuses listed once.
    let (c, _, err) = multidial(&["plan", "--frob"]);
    assert_eq!(
        (c, err.as_str()),
        (
            2,
            "multidial: usage: unrecognized argument: --frob (see --help)\n"
        )
    );
    let (c, _, err) = b.run("remove", &["extra"]);
    assert_eq!(c, 2);
    assert!(err.contains("'remove' takes no second word"), "{err}");
    let (_, help, _) = multidial(&["--help"]);
    assert!(!help.contains("Exit status: 0 done, 1"), "{help}");
    for code in [
        "  1 some dials did not come up",
        "  2 usage",
        "  3 uci failed",
    ] {
        assert!(help.contains(code), "{code}: {help}");
    }
    let (c, out, _) = multidial(&["--version"]);
    assert_eq!(c, 0);
    assert!(out.starts_with("multidial 0."), "{out}");
    let (c, _, err) = multidial(&[]);
    assert_eq!(c, 2);
    assert!(err.contains("give a command"), "{err}");
}

#[test]
fn up_in_batches_and_reports_which_came_up() {
    let Some(b) = Conf::new(false) else { return };
    let d = &b.d;
    // The config after apply: 5 dials of ours, read by the real uci.
    let mut net = String::from(NETWORK);
    for n in 1..=5 {
        net.push_str(&format!(
            "\nconfig interface 'VWAN{n}'\n\toption proto 'pppoe'\n\toption multidial '1'\n"
        ));
    }
    std::fs::write(d.0.join("config/network"), net).unwrap();
    let uci = b.p("uci");
    let ubus = d.0.join("ubus");
    script(
        &ubus,
        &format!(
            "echo \"$*\" >> '{0}/ubus.log'\n\
             [ \"$*\" = 'call network.interface dump' ] || exit 0\n\
             echo '{{\"interface\":[{{\"interface\":\"VWAN1\",\"up\":true}},{{\"interface\":\"VWAN2\",\"up\":true}},{{\"interface\":\"VWAN3\",\"up\":false}},{{\"interface\":\"VWAN4\",\"up\":true}},{{\"interface\":\"VWAN5\",\"up\":true}}]}}'",
            d.0.display()
        ),
    );
    let (code, out, err) = multidial(&[
        "up",
        "--batch",
        "2",
        "--delay",
        "0",
        "--wait",
        "1",
        "--uci",
        uci.to_str().unwrap(),
        "--config-dir",
        b.p("config").to_str().unwrap(),
        "--save-dir",
        b.p("save").to_str().unwrap(),
        "--ubus",
        ubus.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        out,
        "multidial: up VWAN1 VWAN2\nmultidial: up VWAN3 VWAN4\nmultidial: up VWAN5\n\
         multidial: 4 of 5 up: VWAN1 VWAN2 VWAN4 VWAN5\nmultidial: not up after 1 s: VWAN3\n"
    );
    let log = std::fs::read_to_string(d.0.join("ubus.log")).unwrap();
    let calls: Vec<&str> = log.lines().filter(|l| l.ends_with(" up")).collect();
    assert_eq!(calls[0], "call network.interface.VWAN1 up");
    assert_eq!(calls.len(), 5);
}

/// A ubus stand-in that logs every call and answers the dump with
/// `VWAN1..VWAN{n}` up, listing the last of them only from the `late`-th
/// dump on (netifd registering interfaces after a reload).
fn late_ubus(d: &std::path::Path, n: u32, late: u32) -> PathBuf {
    let ubus = d.join("ubus");
    let all: Vec<String> = (1..=n)
        .map(|i| format!("{{\"interface\":\"VWAN{i}\",\"up\":true,\"proto\":\"pppoe\"}}"))
        .collect();
    let early = all[..all.len() - 1].join(",");
    script(
        &ubus,
        &format!(
            "echo \"$*\" >> '{d}/ubus.log'\n\
             [ \"$*\" = 'call network.interface dump' ] || exit 0\n\
             echo >> '{d}/dumps'\n\
             if [ $(wc -l < '{d}/dumps') -lt {late} ]; then echo '{{\"interface\":[{early}]}}'; else echo '{{\"interface\":[{all}]}}'; fi",
            d = d.display(),
            all = all.join(","),
        ),
    );
    ubus
}

#[test]
fn apply_up_reloads_then_brings_the_dials_up_once_netifd_lists_them() {
    let Some(b) = Conf::new(false) else { return };
    let ubus = late_ubus(&b.d.0, 2, 3);
    let (code, out, err) = b.run(
        "apply",
        &[
            "--line",
            "eth0.2",
            "--dials",
            "2",
            "--up",
            "--delay",
            "0",
            "--ubus",
            ubus.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("multidial: 2 of 2 up: VWAN1 VWAN2"), "{out}");
    assert!(!out.contains("now: /etc/init.d/network reload"), "{out}");
    let log = std::fs::read_to_string(b.p("ubus.log")).unwrap();
    let calls: Vec<&str> = log.lines().filter(|l| !l.ends_with("dump")).collect();
    assert_eq!(
        calls,
        [
            "call network reload",
            "call network.interface.VWAN1 up",
            "call network.interface.VWAN2 up"
        ],
        "{log}"
    );
    // VWAN2 was listed from the third dump on: up waited for it.
    assert!(
        std::fs::read_to_string(b.p("dumps"))
            .unwrap()
            .lines()
            .count()
            >= 3
    );
}

#[test]
fn up_says_which_interface_netifd_never_listed() {
    let Some(b) = Conf::new(false) else { return };
    let mut net = String::from(NETWORK);
    for n in 1..=2 {
        net.push_str(&format!(
            "\nconfig interface 'VWAN{n}'\n\toption proto 'pppoe'\n\toption multidial '1'\n"
        ));
    }
    std::fs::write(b.p("config/network"), net).unwrap();
    let ubus = late_ubus(&b.d.0, 2, u32::MAX);
    let (code, out, err) = b.run("up", &["--wait", "1", "--ubus", ubus.to_str().unwrap()]);
    assert_eq!(code, 3, "{out}{err}");
    assert_eq!(
        err,
        "multidial: config: netifd has no interface VWAN2 after 1 s (is the network reloaded? /etc/init.d/network reload)\n"
    );
    let log = std::fs::read_to_string(b.p("ubus.log")).unwrap();
    assert!(!log.contains(" up"), "no dial asked up: {log}");
}

/// The write-up's single-line multi-dial, made as it says: its
/// `ip link add ... type macvlan` loop (here in a private network
/// namespace) and its `uci set` script, run by the real uci; then
/// `multidial adopt` takes it over, and `remove` gives it back as it was.
#[test]
fn adopt_takes_over_the_write_ups_dials_and_remove_gives_them_back() {
    let Some(b) = Conf::new(false) else { return };
    let real = b.real.clone();
    let dir = b.d.0.clone();
    sim::in_netns(move || {
        // `uci` for the write-up's script: the real one on our config dir.
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        script(
            &dir.join("bin/uci"),
            &format!(
                "exec {} -c {} -t {} \"$@\"",
                real.display(),
                dir.join("config").display(),
                dir.join("save").display()
            ),
        );
        sim::ip_line("link add eth0.2 type veth peer name eth0p");
        let writeup = r#"
NUM=4
for i in `seq 1 $NUM`
do
  ip link add link eth0.2 name veth$i type macvlan
done
username=u1
password=pw
for i in `seq 1 $NUM`
do
  uci set network.VWAN$i=interface
  uci set network.VWAN$i.proto='pppoe'
  uci set network.VWAN$i.username="$username"
  uci set network.VWAN$i.password="$password"
  uci set network.VWAN$i.metric="$((i+1))"
  uci set network.VWAN$i.ifname="veth$i"
  uci set network.VWAN$i.ipv6='0'
done
uci commit network
for i in `uci show network | grep pppoe | awk -F. '{print $2}'`
do
  uci add_list firewall.@zone[1].network=$i
done
uci commit firewall
"#;
        let o = Command::new("sh")
            .arg("-c")
            .arg(writeup)
            .env(
                "PATH",
                format!(
                    "{}:/usr/sbin:/usr/bin:/sbin:/bin",
                    dir.join("bin").display()
                ),
            )
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::write(
            dir.join("rc.local"),
            "for i in `seq 1 4`; do ip link add link eth0.2 name veth$i type macvlan; done\nexit 0\n",
        )
        .unwrap();
        let before = (b.show("network"), b.show("firewall"));
        assert!(
            before.0.contains("network.VWAN4.ifname='veth4'"),
            "{}",
            before.0
        );
        // --dry-run: the batch, nothing written.
        let (code, plan, err) = b.run("adopt", &["--dry-run"]);
        assert_eq!(code, 0, "{err}");
        assert!(
            plan.contains("set network.VWAN1.device='veth1'\ndelete network.VWAN1.ifname\n"),
            "{plan}"
        );
        assert_eq!(
            (b.show("network"), b.changes()),
            (before.0.clone(), String::new())
        );
        let (code, out, err) = b.run("adopt", &[]);
        assert_eq!(code, 0, "{out}{err}");
        assert!(
            out.starts_with("multidial: adopted 4 dials (VWAN1 VWAN2 VWAN3 VWAN4): "),
            "{out}"
        );
        assert!(
            out.contains("declares the macvlans veth1 veth2 veth3 veth4"),
            "{out}"
        );
        assert!(
            out.contains("these lines of /etc/rc.local can go (this does not edit it):\n  for i in `seq 1 4`; do ip link add link eth0.2 name veth$i type macvlan; done\n"),
            "{out}"
        );
        assert_eq!(b.changes(), "", "committed");
        let net = b.file("network");
        let v3 = section(&net, "config interface 'VWAN3'");
        for o in [
            "option device 'veth3'",
            "option auto '0'",
            "option defaultroute '0'",
            "option multidial 'adopted'",
            "option metric '4'",
            "option password 'pw'",
        ] {
            assert!(v3.contains(o), "{o}: {v3}");
        }
        assert!(!v3.contains("option ifname"), "{v3}");
        let dev = section(&net, "config device 'md_veth3'");
        assert!(
            dev.contains("option type 'macvlan'") && dev.contains("option ifname 'eth0.2'"),
            "{dev}"
        );
        // The stock wan on the same line joins ecmp's route.
        assert!(
            section(&net, "config interface 'wan'").contains("option defaultroute '0'"),
            "{net}"
        );
        // Twice: nothing to do. `up` starts the adopted dials.
        let (code, again, err) = b.run("adopt", &["--dry-run"]);
        assert_eq!((code, again.as_str()), (0, ""), "{err}");
        assert!(err.contains("nothing to do"), "{err}");
        // remove: every option back, the macvlans undeclared, nothing else
        // (an option set again goes to the end of its section: UCI's
        // order of options means nothing, so the lines are compared sorted).
        let (code, out, err) = b.run("remove", &[]);
        assert_eq!(code, 0, "{out}{err}");
        let sorted = |t: &str| {
            let mut l: Vec<String> = t.lines().map(String::from).collect();
            l.sort();
            l
        };
        assert_eq!(sorted(&b.show("network")), sorted(&before.0));
        assert_eq!(b.show("firewall"), before.1);
        // Nothing of the kind to adopt: one line, exit 3.
        let (code, _, err) = b.run("adopt", &["--config-dir", "/nonexistent"]);
        assert_eq!(code, 2, "--config-dir twice is a usage error: {err}");
        sim::ip_line("link del veth1");
        std::fs::write(
            b.p("config/network"),
            "config interface 'VWAN9'\n\toption proto 'pppoe'\n\toption ifname 'veth1'\n",
        )
        .unwrap();
        let (code, _, err) = b.run("adopt", &[]);
        assert_eq!(code, 3, "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("nothing to adopt: no pppoe interface"),
            "{err}"
        );
    });
}

/// The setup apply records in /etc/config/ecmp, changed there as LuCI's
/// Multi-dial page would change it, then planned and applied with
/// `--from-config`: the plan in words, and the config exactly what the
/// same setup given as flags makes.
#[test]
fn apply_from_config_is_apply_with_the_saved_setup() {
    let Some(b) = Conf::new(false) else { return };
    let Some(flags) = Conf::new(false) else {
        return;
    };
    // No setup saved yet: said, nothing written.
    let (code, _, err) = b.bare("plan", &["--from-config"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("no config multidial 'multidial'"), "{err}");
    // Saved as LuCI's page saves it (no mark of ours on it yet): applied
    // as the flags would be.
    let Some(page) = Conf::new(false) else { return };
    std::fs::write(page.p("config/ecmp"), "").unwrap();
    page.uci_set(
        "ecmp",
        &[
            "ecmp.multidial=multidial",
            "ecmp.multidial.line=eth0.2",
            "ecmp.multidial.dials=3",
            "ecmp.multidial.username=u1",
            &format!("ecmp.multidial.password={PASSWORD}"),
            "ecmp.multidial.ipv6=1",
        ],
    );
    let (code, out, err) = page.bare("apply", &["--from-config"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("multidial: 3 dials on 1 line (eth0.2): "),
        "{out}"
    );
    let line = ["--line", "eth0.2", "--dials", "3", "--ipv6", "1"];
    let (code, _, err) = b.run("apply", &line);
    assert_eq!(code, 0, "{err}");
    assert_eq!(page.file("network"), b.file("network"));
    let ecmp = b.file("ecmp");
    for o in [
        "list line 'eth0.2'",
        "option dials '3'",
        "option username 'u1'",
        &format!("option password '{PASSWORD}'"),
        "option ipv6 '1'",
        "option balancer 'ecmp'",
    ] {
        assert!(ecmp.contains(o), "{o}: {ecmp}");
    }
    // Unchanged: nothing to do.
    let (code, out, err) = b.bare("plan", &["--from-config"]);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    assert!(err.contains("nothing to do"), "{err}");
    // Two more dials, IPv6 on the first two, as the page saves them.
    b.uci_set(
        "ecmp",
        &["ecmp.multidial.dials=5", "ecmp.multidial.ipv6=1,2"],
    );
    let (code, out, err) = b.bare("plan", &["--from-config"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("multidial: plan: adds VWAN4, VWAN5, removes nothing, "),
        "{err}"
    );
    assert!(!out.contains(PASSWORD) && !err.contains(PASSWORD), "{out}");
    assert!(
        out.contains("set network.VWAN5.password='********'"),
        "{out}"
    );
    assert_eq!(b.changes(), "", "plan writes nothing");
    let (code, out, err) = b.bare("apply", &["--from-config"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("multidial: 5 dials on 1 line (eth0.2): "),
        "{out}"
    );
    // The same setup as flags, on a box of its own: the same files.
    let (code, _, err) = flags.run(
        "apply",
        &["--line", "eth0.2", "--dials", "5", "--ipv6", "1,2"],
    );
    assert_eq!(code, 0, "{err}");
    for pkg in ["network", "firewall", "ecmp"] {
        assert_eq!(b.file(pkg), flags.file(pkg), "{pkg}");
    }
    // A setup flag beside --from-config would be ignored: refused.
    let (code, _, err) = b.bare("apply", &["--from-config", "--dials", "9"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--dials goes without it"), "{err}");
    // What the page may get wrong is named, nothing written.
    b.uci_set("ecmp", &["ecmp.multidial.dials=many"]);
    let before = b.file("network");
    let (code, _, err) = b.bare("apply", &["--from-config"]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("ecmp.multidial.dials 'many' is not a number"),
        "{err}"
    );
    assert_eq!(b.file("network"), before);
}

/// mwan3's stock config with both wans enabled: 4 members, its policies,
/// and rules beside its defaults.
const MWAN3_STOCK: &str = "
config globals 'globals'
	option mmx_mask '0x3F00'

config interface 'wan'
	option enabled '1'
	list track_ip '8.8.4.4'
	list track_ip '8.8.8.8'
	option family 'ipv4'
	option reliability '2'

config interface 'wanb'
	option enabled '1'
	list track_ip '208.67.222.222'
	option family 'ipv4'
	option reliability '2'

config member 'wan_m1_w3'
	option interface 'wan'
	option metric '1'
	option weight '3'

config member 'wan_m2_w3'
	option interface 'wan'
	option metric '2'
	option weight '3'

config member 'wanb_m1_w2'
	option interface 'wanb'
	option metric '1'
	option weight '2'

config member 'wanb_m2_w2'
	option interface 'wanb'
	option metric '2'
	option weight '2'

config policy 'wan_only'
	list use_member 'wan_m1_w3'
	option last_resort 'unreachable'

config policy 'balanced'
	list use_member 'wan_m1_w3'
	list use_member 'wanb_m1_w2'

config policy 'wan_wanb'
	list use_member 'wan_m1_w3'
	list use_member 'wanb_m2_w2'

config rule 'https'
	option sticky '1'
	option dest_port '443'
	option proto 'tcp'
	option use_policy 'balanced'

config rule 'bank'
	option src_ip '192.168.1.10'
	option use_policy 'wan_only'

config rule 'game'
	option dest_ip '203.0.113.0/24'
	option use_policy 'wan_wanb'
	option logging '1'

config rule 'default_rule_v4'
	option dest_ip '0.0.0.0/0'
	option use_policy 'balanced'
	option family 'ipv4'
";

#[test]
fn import_mwan3_carries_members_tracking_and_rules_through_the_real_uci() {
    use ecmp::input::policy::Use;
    let Some(b) = Conf::new(false) else { return };
    std::fs::write(b.p("config/mwan3"), MWAN3_STOCK).unwrap();
    // As the package installs it.
    std::fs::write(b.p("config/ecmp"), "config ecmp 'ipv4'\n").unwrap();
    let (code, batch, err) = b.bare("import-mwan3", &[]);
    assert_eq!(code, 0, "{err}");
    for n in [
        "multidial: import-mwan3: not carried: rule game: policy wan_wanb fails over to other members",
        "multidial: import-mwan3: not carried: rule game: logging is not carried",
    ] {
        assert!(err.contains(n), "{n}: {err}");
    }
    // Twice through the real uci: the same file.
    let apply = |batch: &str| {
        let mut c = Command::new(&b.real)
            .arg("-c")
            .arg(b.p("config"))
            .arg("-t")
            .arg(b.p("save"))
            .arg("batch")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        c.stdin.take().unwrap().write_all(batch.as_bytes()).unwrap();
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success() && o.stderr.is_empty(), "{o:?}\n{batch}");
        std::fs::read_to_string(b.p("config/ecmp")).unwrap()
    };
    let once = apply(&batch);
    // Imported again over it: the same file.
    let (code, batch2, err) = b.bare("import-mwan3", &[]);
    assert_eq!(code, 0, "{err}");
    assert!(batch2.contains("delete ecmp.bank\n"), "{batch2}");
    assert_eq!(apply(&batch2), once, "imported twice");
    // What ecmp4 makes of it.
    let cfg = ecmp::input::config::Config::load(ecmp::Family::V4, &b.p("config/ecmp")).unwrap();
    assert_eq!((cfg.weight("wan"), cfg.weight("wanb")), (3, 2));
    assert!(cfg.track.enabled, "{once}");
    let rules: Vec<(&str, &Use, bool, bool)> = cfg
        .rules
        .iter()
        .map(|r| (r.name.as_str(), &r.target, r.fallback, r.sticky))
        .collect();
    assert_eq!(
        rules,
        [
            ("https", &Use::Balanced, true, true),
            ("bank", &Use::Member("wan".into()), false, false),
            ("game", &Use::Member("wan".into()), true, false),
        ],
        "{once}"
    );
}
