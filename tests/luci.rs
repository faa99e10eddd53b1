//! luci-app-ecmp (openwrt/luci-app-ecmp) in a real LuCI: the LuCI kit's
//! `run-luci` (upstream ubusd, rpcd, uhttpd, cgi-io, LuCI's JS and the
//! bootstrap theme in a throwaway namespace) and headless Chromium through
//! its `luci-shot`. Our real ecmp4/ecmp6 run there on dials made of veth
//! pairs; only netifd's dump comes from a stand-in (`option ubus` in the
//! config: the kit has no netifd). Needs root and Debian's chromium; see
//! [`luci_kit`]. The screenshots stay in target/luci-shots.

use sim::{dump_of, Dial, TempDir};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// One Chromium at a time: this machine has two CPUs.
static ONE: Mutex<()> = Mutex::new(());

/// The LuCI kit (`$OPENWRT_LUCI_KIT`, else `shared/openwrt-luci` beside
/// the repository), when it can run here: root and chromium too. Missing:
/// under `CI=true` a failure that says why; elsewhere skipped (None).
fn luci_kit() -> Option<PathBuf> {
    let p = std::env::var_os("OPENWRT_LUCI_KIT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/openwrt-luci"));
    // SAFETY: getuid has no preconditions.
    let why = if !p.join("run-luci").exists() {
        format!(
            "the LuCI kit is not at {} (set OPENWRT_LUCI_KIT to its folder)",
            p.display()
        )
    } else if unsafe { libc::getuid() } != 0 {
        "run-luci needs root (namespaces and overlay mounts)".into()
    } else if !Path::new("/usr/lib/chromium/chromium").exists() {
        "no chromium (apt-get install chromium)".into()
    } else {
        return Some(p);
    };
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{why}: CI runs the LuCI tests");
    }
    eprintln!("skipped: {why}");
    None
}

/// The dials: VWAN1-VWAN3 up (IPv4, and IPv6 on VWAN1 and VWAN2), VWAN4
/// still connecting (down in netifd, no device).
fn dials() -> Vec<Dial> {
    (1..=4)
        .map(|i| Dial {
            name: format!("VWAN{i}"),
            idx: i,
            up: i < 4,
            ipv6: i < 3,
        })
        .collect()
}

/// A LuCI session's files: our app, and a test app dir with the binaries,
/// the config, the dump stand-in and the namespace setup.
struct Session {
    kit: PathBuf,
    dir: TempDir,
}

impl Session {
    fn new(kit: PathBuf) -> Session {
        Session::with(kit, None, None)
    }

    /// `lang`: LuCI set to that language (e.g. zh_cn) with our catalog for
    /// it, compiled from po/<po_dir>/ecmp.po as the package ships it.
    /// `silent`: tracked, each dial's far end an "ISP" namespace
    /// answering 192.0.2.1 but for the dials named; ecmp-track runs,
    /// probing every second, until it calls one of them dead.
    fn with(kit: PathBuf, lang: Option<(&str, &str)>, silent: Option<&[&str]>) -> Session {
        let tracked = silent.is_some();
        let dir = TempDir::new("luci");
        // What the namespace sees: run-luci binds only the state dir and
        // the app dirs, so the stand-in, dump and setup live in state/.
        let d = &dir.0;
        let st = d.join("state");
        std::fs::create_dir_all(&st).unwrap();
        let sbin = d.join("fixture/root/usr/sbin");
        std::fs::create_dir_all(&sbin).unwrap();
        std::fs::create_dir_all(d.join("fixture/root/etc/config")).unwrap();
        for b in ["ecmp4", "ecmp6", "ecmp-track"] {
            std::fs::copy(sim::bin(b), sbin.join(b)).unwrap();
        }
        // The shipped config, with netifd's dump from the stand-in.
        let shipped = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../openwrt/files/ecmp.config"),
        )
        .unwrap();
        let cfg = shipped.replacen(
            "config globals 'globals'\n",
            &format!(
                "config globals 'globals'\n\toption ubus '{}'\n",
                st.join("ubus").display()
            ),
            1,
        );
        assert_ne!(cfg, shipped);
        let cfg = if tracked {
            let at = cfg.find("config track 'track'").unwrap();
            format!(
                "{}config track 'track'\n\toption enabled '1'\n\tlist track_ip '192.0.2.1'\n\
                 \toption interval '1'\n\toption failure_interval '1'\n\toption recovery_interval '1'\n\
                 \toption timeout '1'\n\toption down '2'\n\toption up '1'\n",
                &cfg[..at]
            )
        } else {
            cfg
        };
        std::fs::write(d.join("fixture/root/etc/config/ecmp"), cfg).unwrap();
        std::fs::write(st.join("dump.json"), dump_of(&dials(), &[])).unwrap();
        sim::script(
            &st.join("ubus"),
            &format!("exec cat '{}'", st.join("dump.json").display()),
        );
        // A kit whose files were copied without their symlinks has plain
        // files for /www/cgi-bin/cgi-exec & co. (uhttpd answers 403 for
        // them): put the links OpenWrt's cgi-io package makes on top.
        let cgi = kit.join("root/www/cgi-bin/cgi-exec");
        if !cgi.is_symlink() {
            let bin = d.join("fixture/htdocs/cgi-bin");
            std::fs::create_dir_all(&bin).unwrap();
            for n in ["cgi-exec", "cgi-upload", "cgi-download", "cgi-backup"] {
                std::os::unix::fs::symlink("../../usr/libexec/cgi-io", bin.join(n)).unwrap();
            }
        }
        if let Some((lang, po_dir)) = lang {
            let i18n = d.join("fixture/root/usr/lib/lua/luci/i18n");
            std::fs::create_dir_all(&i18n).unwrap();
            let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            let lmo = i18n.join(format!("ecmp.{}.lmo", lang.replace('_', "-")));
            let o = Command::new(repo.join("tools/luci-i18n"))
                .arg("lmo")
                .arg(repo.join(format!("openwrt/luci-app-ecmp/po/{po_dir}/ecmp.po")))
                .arg(&lmo)
                .output()
                .unwrap();
            assert!(o.status.success(), "{o:?}");
            let luci = std::fs::read_to_string(kit.join("root/etc/config/luci")).unwrap();
            let set = luci
                .replacen("option lang 'auto'", &format!("option lang '{lang}'"), 1)
                .replacen(
                    "config internal 'languages'\n",
                    &format!("config internal 'languages'\n\toption {lang} '{po_dir}'\n"),
                    1,
                );
            assert_ne!(set, luci);
            std::fs::write(d.join("fixture/root/etc/config/luci"), set).unwrap();
        }
        // The dials' devices, point to point as pppd leaves them, and the
        // hash policy as the package's sysctl.d file sets it.
        let mut setup = String::from(
            "set -u\nip link set lo up\n\
             for v in 4 6; do echo 1 > /proc/sys/net/ipv$v/fib_multipath_hash_policy; done\n",
        );
        for x in dials().iter().filter(|x| x.up) {
            let (dev, peer) = (x.dev(), format!("peer{}", x.idx));
            // Tracked: Ethernet as veth is, ARP answered by the ISP. Else
            // no ARP (the far end has no address; pppd's devices have
            // none either), so what the router sends leaves at once.
            if tracked {
                // nsenter, not `ip netns exec`: that remounts /sys, which the
                // kit's namespace does not allow.
                let isp = format!("nsenter --net=/run/netns/isp{}", x.idx);
                setup += &format!(
                    "ip netns add isp{i}\nip link add name {dev} type veth peer name {peer}\n\
                     ip link set {peer} netns isp{i}\n\
                     echo 0 > /proc/sys/net/ipv6/conf/{dev}/accept_dad; ip link set {dev} up\n\
                     {isp} sh -c 'echo 0 > /proc/sys/net/ipv6/conf/{peer}/accept_dad; ip link set lo up; ip link set {peer} up'\n\
                     {isp} ip addr add {p} peer {l} dev {peer}\n",
                    i = x.idx,
                    p = x.peer4(),
                    l = x.local4()
                );
                if !silent.unwrap_or_default().contains(&x.name.as_str()) {
                    setup += &format!("{isp} ip addr add 192.0.2.1/32 dev lo\n");
                }
            } else {
                setup += &format!(
                    "ip link add {dev} type veth peer name {peer}\n\
                     for d in {dev} {peer}; do echo 0 > /proc/sys/net/ipv6/conf/$d/accept_dad; ip link set $d arp off up; done\n",
                );
            }
            setup += &format!("ip addr add {} peer {} dev {dev}\n", x.local4(), x.peer4());
        }
        setup +=
            "/usr/sbin/ecmp4 sync; echo \"sync4=$?\"\n/usr/sbin/ecmp6 sync; echo \"sync6=$?\"\n";
        if tracked {
            // Until the tracker has called a dial dead (down 2 x 1 s + 1 s).
            setup += "/usr/sbin/ecmp-track & \n\
                for i in $(seq 50); do\n\
                  /usr/sbin/ecmp4 status --json | grep -q '\"state\": \"dead\"' && break; sleep 0.2\n\
                done\necho \"tracker: dead after $i polls\"\n";
        }
        std::fs::write(st.join("setup.sh"), setup).unwrap();
        Session { kit, dir }
    }

    /// A file in the state dir (`$S` inside).
    fn path(&self, f: &str) -> PathBuf {
        self.dir.0.join("state").join(f)
    }

    /// run-luci with our app and the fixture; `script` (bash) runs inside
    /// after the setup, with $S the session dir and $SHOT luci-shot.
    /// Returns (exit status, stdout + stderr).
    fn run(&self, script: &str) -> (i32, String) {
        let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
        let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("../openwrt/luci-app-ecmp");
        let o = Command::new(self.kit.join("run-luci"))
            .arg("--state")
            .arg(self.dir.0.join("state"))
            .arg("--app-dir")
            .arg(app)
            .arg("--app-dir")
            .arg(self.dir.0.join("fixture"))
            .args(["--", "bash", "-c"])
            .arg(format!(
                "S='{}'; SHOT=\"$LUCI_KIT/luci-shot\"; . \"$S/setup.sh\"\n{script}",
                self.path("").display()
            ))
            .output()
            .unwrap();
        let out = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        (o.status.code().unwrap_or(-1), out)
    }

    /// Keep a screenshot as a test artefact: target/luci-shots/NAME.
    fn keep(&self, name: &str) {
        let to = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/luci-shots");
        std::fs::create_dir_all(&to).unwrap();
        let png = std::fs::read(self.path(name)).unwrap_or_default();
        assert!(png.starts_with(b"\x89PNG"), "{name} is not a PNG");
        std::fs::write(to.join(name), png).unwrap();
    }

    /// `script` with its one luci-shot of `page` into $S/`png` (echoing
    /// "shot=$?"): it ran, the page rendered with no console error, the
    /// PNG is kept. Returns the output.
    fn shoot(&self, script: &str, page: &str, png: &str) -> String {
        let (code, out) = self.run(script);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("shot=0"), "{out}");
        self.keep(png);
        clean(&out, page);
        out
    }
}

/// The `== EVAL n:` value luci-shot printed, as JSON.
fn eval(out: &str, n: u32) -> serde_json::Value {
    let tag = format!("== EVAL {n}: ");
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix(&tag))
        .unwrap_or_else(|| panic!("no {tag}in:\n{out}"));
    serde_json::from_str(line).unwrap()
}

/// The page rendered with no console error (luci-shot --strict: exit 3).
fn clean(out: &str, page: &str) {
    assert!(
        out.contains(&format!(
            "== URL: http://127.0.0.1:8080/cgi-bin/luci/{page}"
        )),
        "{out}"
    );
    assert!(
        out.contains("== RENDERED: yes"),
        "{page} did not render:\n{out}"
    );
    assert!(out.contains("== CONSOLE ERRORS (0):"), "{page}:\n{out}");
}

/// `js` as one bash word.
fn sq(js: &str) -> String {
    format!("'{}'", js.replace('\'', "'\\''"))
}

/// The form as a user fills it: a member VWAN2 of weight 3 (through the
/// grid's Add and its dialog), two invalid values (each field marked, and
/// the Map's save() refused: what Save does first), then good ones, Save,
/// and Save & Apply's apply. Returns the six verdicts.
const FORM: &str = r#"(async function() {
  function set(id, v) {
    var i = document.getElementById('widget.cbid.ecmp.' + id);
    i.value = v;
    i.dispatchEvent(new Event('input', { bubbles: true }));
    i.dispatchEvent(new Event('change', { bubbles: true }));
    return i.classList.contains('cbi-input-invalid') ? 'invalid' : 'valid';
  }
  function sleep(ms) { return new Promise(function(x) { setTimeout(x, ms); }); }
  // A member: its name, Add, the weight in the dialog, the dialog's Save.
  var name = document.querySelector('.cbi-section-create-name');
  name.value = 'VWAN2';
  name.dispatchEvent(new Event('keyup', { bubbles: true }));
  document.querySelector('.cbi-section-create .cbi-button-add').click();
  await sleep(1000);
  var w = Array.prototype.filter.call(document.querySelectorAll('[id="widget.cbid.ecmp.VWAN2.weight"]'), function(i) { return i.offsetParent; })[0];
  w.value = '3';
  w.dispatchEvent(new Event('input', { bubbles: true }));
  w.dispatchEvent(new Event('change', { bubbles: true }));
  Array.prototype.filter.call(document.querySelectorAll('.cbi-button-positive.important'), function(b) { return b.offsetParent; })[0].click();
  await sleep(1000);
  var map = L.dom.findClassInstance(document.querySelector('.cbi-map'));
  var r = [ set('ipv4.buckets', '1'), set('ipv4.rule_priority', '1100') ];
  r.push(await map.save().then(function() { return 'saved'; }, function(e) { return e.message; }));
  r.push(set('ipv4.buckets', '256'), set('ipv4.rule_priority', '4300'), set('ipv4.metric', '7'));
  // Quality: its thresholds appear with the flag; recovery above
  // failure is refused, as ecmp4 refuses it.
  var q = document.querySelector('[data-widget-id="widget.cbid.ecmp.track.check_quality"]');
  q.checked = true;
  q.dispatchEvent(new Event('change', { bubbles: true }));
  await sleep(500);
  r.push(set('track.failure_latency', '300'), set('track.recovery_latency', '400'), set('track.recovery_latency', '200'));
  document.querySelector('.cbi-button-save').click();
  await new Promise(function(x) { setTimeout(x, 2000); });
  (await L.require('ui')).changes.apply(true);
  return r;
})()"#;

/// Rates need two polls (5 s apart): wait until every IPv4 row has one,
/// then return { device: [rx, tx] } in bytes per second.
const RATES: &str = r#"new Promise(function(res) {
  var t0 = Date.now();
  (function w() {
    var rows = document.querySelectorAll('[data-family="ipv4"] tr[data-device]');
    var done = rows.length && Array.prototype.every.call(rows, function(r) { return r.querySelector('.tx').dataset.rate !== ''; });
    if (!done && Date.now() - t0 < 20000) return setTimeout(w, 250);
    var o = {};
    rows.forEach(function(r) { o[r.dataset.device] = [ +r.querySelector('.rx').dataset.rate, +r.querySelector('.tx').dataset.rate ]; });
    res(o);
  })();
})"#;

/// Each IPv4 row's tracking chart: its rounds, lossy rounds (red bars)
/// and the length of its round-trip line's path.
const CHARTS: &str = r#"Array.prototype.reduce.call(document.querySelectorAll('[data-family="ipv4"] tr[data-interface]'), function(o, r) {
  var c = r.querySelector('.ecmp-chart');
  o[r.dataset.interface] = c && { rounds: +c.dataset.rounds, lossy: +c.dataset.lossy,
    bars: c.querySelectorAll('rect').length, line: c.querySelector('path').getAttribute('d').length };
  return o;
}, {})"#;

/// Status > Load balancing on a router with 3 of 4 dials up and traffic
/// on one: the members of both families, "3 of 4 dials online", the rate
/// bars telling the busy dial from the idle ones, and "Sync now" putting
/// back a route someone deleted.
#[test]
fn status_page_shows_the_members_and_where_traffic_goes() {
    let Some(kit) = luci_kit() else { return };
    let s = Session::new(kit);
    let (code, out) = s.run(
        r#"
# ~1.9 Mbit/s out of VWAN1 only.
python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"pppoe-VWAN1")
while True:
    s.sendto(b"x" * 1200, ("100.64.0.2", 9)); time.sleep(0.005)
' & gen=$!
"$SHOT" --strict --eval $RATES admin/status/ecmp "$S/status.png"; echo "shot1=$?"
kill $gen
# Someone deletes our route: the page says so, and its button syncs.
ip route del default metric 1 && echo deleted
"$SHOT" --strict --eval "document.querySelector('[data-family=\"ipv4\"] .ecmp-sync').textContent" \
  --eval "document.querySelector('[data-family=\"ipv4\"] .ecmp-diff button').click(), 1" --after 3 \
  --eval "document.querySelector('[data-family=\"ipv4\"] .ecmp-sync').textContent" \
  admin/status/ecmp "$S/sync.png"; echo "shot2=$?"
echo "route after: $(ip -4 route show default metric 1 | head -c 60)"
"#
        .replace("$RATES", &sq(RATES))
        .as_str(),
    );
    assert_eq!(code, 0, "{out}");
    for want in ["sync4=0", "sync6=0", "shot1=0", "deleted", "shot2=0"] {
        assert!(out.contains(want), "no {want}:\n{out}");
    }
    s.keep("status.png");
    s.keep("sync.png");
    let first = out.split("shot1=").next().unwrap();
    clean(first, "admin/status/ecmp");
    for want in [
        "3 of 4 dials online",
        "Down: VWAN4",
        "VWAN1\tpppoe-VWAN1\t100.64.0.2",
        "VWAN3\tpppoe-VWAN3\t100.64.0.4",
        "VWAN1_6\tpppoe-VWAN1\tfe80::b:1",
        "VWAN2_6\tpppoe-VWAN2\tfe80::b:2",
        "in sync",
        "resilient",
        "default, table main, metric 1",
    ] {
        assert!(
            first.contains(want),
            "the status page lacks {want:?}:\n{first}"
        );
    }
    assert!(!first.contains("differs from the kernel"), "{first}");
    assert!(!first.contains("Warnings"), "{first}");
    // Where the traffic goes: VWAN1 sends (~240 KB/s), the others idle.
    let rates = eval(first, 1);
    let tx = |d: &str| rates[d][1].as_f64().unwrap_or(-1.0);
    assert!(tx("pppoe-VWAN1") > 50_000.0, "{rates}");
    for d in ["pppoe-VWAN2", "pppoe-VWAN3"] {
        assert!(
            (0.0..tx("pppoe-VWAN1") / 20.0).contains(&tx(d)),
            "{d}: {rates}"
        );
    }
    // The deleted route: shown, then synced back by the button.
    let second = out.split("shot1=").nth(1).unwrap();
    clean(second, "admin/status/ecmp");
    assert_eq!(eval(second, 1), "differs from the kernel", "{second}");
    assert_eq!(eval(second, 3), "in sync", "{second}");
    assert!(out.contains("route after: default nhid"), "{out}");
}

/// The page in Simplified Chinese, from po/zh_Hans/ecmp.po compiled by
/// tools/luci-i18n into the .lmo catalog LuCI loads: the real LuCI
/// finds every string we look for by its hash.
#[test]
fn status_page_in_chinese() {
    let Some(kit) = luci_kit() else { return };
    let s = Session::with(kit, Some(("zh_cn", "zh_Hans")), None);
    let out = s.shoot(
        r#"echo 0 > /proc/sys/net/ipv6/fib_multipath_hash_policy
"$SHOT" --strict admin/status/ecmp "$S/status-zh.png"; echo "shot=$?""#,
        "admin/status/ecmp",
        "status-zh.png",
    );
    for want in [
        "负载均衡",
        "3 / 4 个拨号在线",
        "离线：VWAN4",
        "当前模式\t弹性",
        "已同步",
        "在路由中",
        "接口\t设备\t网关\t权重\t层级",
        // The binary's warning (English) under the page's heading.
        "警告\nnet.ipv6.fib_multipath_hash_policy is 0",
    ] {
        assert!(out.contains(want), "the page lacks {want:?}:\n{out}");
    }
    assert!(!out.contains("dials online"), "{out}");
}

/// Tracking on the page: ecmp-track calls VWAN3 dead (its ISP does not
/// answer), so the page shows it held out with its verdict, the others
/// alive with their round-trip time, the tracker running, and two dials
/// carrying traffic.
#[test]
fn status_page_shows_tracking() {
    let Some(kit) = luci_kit() else { return };
    let s = Session::with(kit, None, Some(&["VWAN3"]));
    let out = s.shoot(
        &format!(
            r#""$SHOT" --strict --eval {} admin/status/ecmp "$S/tracking.png"; echo "shot=$?""#,
            sq(CHARTS)
        ),
        "admin/status/ecmp",
        "tracking.png",
    );
    // Each tracked row's chart of its last rounds: VWAN3's every round
    // lost (a loss bar each, no round-trip line); the others' answered.
    let charts = eval(&out, 1);
    let vwan3 = &charts["VWAN3"];
    assert!(vwan3["rounds"].as_u64().is_some_and(|n| n >= 2), "{charts}");
    assert_eq!(vwan3["lossy"], vwan3["rounds"], "{charts}");
    assert_eq!(vwan3["line"], 0, "{charts}");
    for alive in ["VWAN1", "VWAN2"] {
        let c = &charts[alive];
        assert!(c["rounds"].as_u64().is_some_and(|n| n >= 1), "{charts}");
        assert_eq!(c["lossy"], 0, "{charts}");
        assert!(c["line"].as_u64().is_some_and(|n| n > 0), "{charts}");
    }
    assert!(out.contains("tracker: dead after"), "{out}");
    for want in [
        "3 of 4 dials online",
        "2 carrying traffic (IPv4)",
        "Link tracking\trunning",
        "VWAN3\tpppoe-VWAN3\t100.64.0.4\t1\t1\t",
        "\theld out: dead\tdead, 100% loss",
    ] {
        assert!(out.contains(want), "the page lacks {want:?}:\n{out}");
    }
    let row = |iface: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{iface}\tpppoe-")))
            .unwrap_or_else(|| panic!("no row {iface}:\n{out}"))
            .to_string()
    };
    for alive in ["VWAN1", "VWAN2"] {
        let r = row(alive);
        assert!(r.contains("\tin the route\talive, "), "{r}");
        assert!(r.contains(" ms, 0% loss"), "{r}");
    }
}

/// Every dial's ISP silent: tracking calls them all dead, and all stay in
/// the route (the targets may be what is down). The page says exactly
/// that: in the route, dead, and the binary's warning.
#[test]
fn status_page_when_tracking_calls_every_dial_dead() {
    let Some(kit) = luci_kit() else { return };
    let s = Session::with(kit, None, Some(&["VWAN1", "VWAN2", "VWAN3"]));
    let out = s.shoot(
        r#"sleep 2; "$SHOT" --strict admin/status/ecmp "$S/all-dead.png"; echo "shot=$?""#,
        "admin/status/ecmp",
        "all-dead.png",
    );
    for want in [
        "3 carrying traffic (IPv4)",
        "tracking calls every member dead (3); all kept",
        "VWAN1\tpppoe-VWAN1\t100.64.0.2\t1\t1\t",
    ] {
        assert!(out.contains(want), "the page lacks {want:?}:\n{out}");
    }
    for dial in ["VWAN1", "VWAN2", "VWAN3"] {
        let r = out
            .lines()
            .find(|l| l.starts_with(&format!("{dial}\tpppoe-")))
            .unwrap_or_else(|| panic!("no row {dial}:\n{out}"));
        assert!(r.contains("\tin the route\tdead, 100% loss"), "{r}");
    }
}

/// Network > Load balancing: an invalid value is refused in the form and
/// never reaches the file; a valid one is saved and applied as LuCI does,
/// lands in /etc/config/ecmp as uci writes it, and `ecmp4 sync` (run after
/// the apply) moves the kernel's route to the new metric.
#[test]
fn config_form_refuses_bad_values_and_applies_good_ones() {
    let Some(kit) = luci_kit() else { return };
    let s = Session::new(kit);
    let script = format!(
        r#"
"$SHOT" --strict --eval {} --after 12 admin/network/ecmp "$S/config.png"; echo "shot=$?"
echo "route after: $(ip -4 route show default | grep -c 'metric 7')"
/usr/sbin/ecmp4 status --json | python3 -c 'import json,sys; m=[m for m in json.load(sys.stdin)["members"] if m["interface"]=="VWAN2"][0]; print("VWAN2 after: weight %d in_kernel %s" % (m["weight"], m["in_kernel"]))'
"#,
        sq(FORM)
    );
    let out = s.shoot(&script, "admin/network/ecmp", "config.png");
    for want in [
        "IPv4",
        "IPv6",
        "Members",
        "Link tracking",
        "Probe method",
        "Resilient group",
        // The grid row of the new member; an unset tier reads 1.
        "VWAN2\t3\t1\tYes",
    ] {
        assert!(out.contains(want), "the form lacks {want:?}:\n{out}");
    }
    // 1 bucket and a priority among mwan3's are refused, as the binaries
    // refuse them, and the save with them fails; the good values pass.
    let r = eval(&out, 1);
    assert_eq!(r[0], "invalid", "{r}");
    assert_eq!(r[1], "invalid", "{r}");
    assert!(
        r[2].as_str()
            .is_some_and(|t| t.contains("Buckets") && t.contains("invalid")),
        "saving with invalid fields: {r}"
    );
    for n in [3, 4, 5, 6, 8] {
        assert_eq!(r[n], "valid", "{r}");
    }
    assert_eq!(
        r[7], "invalid",
        "recovery_latency 400 over failure's 300: {r}"
    );
    let saved = std::fs::read_to_string(s.path("etc-config/ecmp")).unwrap();
    let ipv4 = saved
        .split("config ")
        .find(|x| x.starts_with("ecmp 'ipv4'"))
        .unwrap_or_default();
    for want in [
        "\toption metric '7'\n",
        "\toption buckets '256'\n",
        "\toption rule_priority '4300'\n",
    ] {
        assert!(ipv4.contains(want), "{want:?} not saved:\n{saved}\n{out}");
    }
    assert!(!saved.contains("'1100'"), "{saved}");
    for want in [
        "\toption check_quality '1'\n",
        "\toption failure_latency '300'\n",
        "\toption recovery_latency '200'\n",
    ] {
        assert!(saved.contains(want), "{want:?} not saved:\n{saved}");
    }
    // What uci writes: the real uci reads the saved file back.
    let uci = Command::new(s.kit.join("bin/uci"))
        .arg("-c")
        .arg(s.path("etc-config"))
        .args(["get", "ecmp.ipv4.metric"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&uci.stdout).trim(), "7", "{uci:?}");
    // The apply ran `ecmp4 sync`: the route moved to metric 7, and the
    // new member's weight is the kernel's.
    assert!(out.contains("route after: 1"), "{out}");
    assert!(
        saved.contains("config member 'VWAN2'\n\toption weight '3'\n"),
        "{saved}"
    );
    assert!(
        out.contains("VWAN2 after: weight 3 in_kernel True"),
        "{out}"
    );
}

/// The ACL grants exactly `ecmp4|ecmp6 status --json` and `... sync`,
/// and multidial's `plan --from-config`, `apply --from-config`, `remove`:
/// over cgi-io (what LuCI's fs.exec_direct uses) and rpcd's file.exec,
/// every other command line of our binaries (and a shell) is refused, and
/// the refused `--flush` leaves the route in place.
#[test]
fn acl_allows_only_the_exact_commands() {
    let Some(kit) = luci_kit() else { return };
    let s = Session::new(kit);
    std::fs::copy(
        sim::bin("multidial"),
        s.dir.0.join("fixture/root/usr/sbin/multidial"),
    )
    .unwrap();
    let (code, out) = s.run(
        r#"
base="http://127.0.0.1:$LUCI_PORT"
sid=$(curl -s "$base/ubus" -H 'Content-Type: application/json' -d \
  '{"jsonrpc":"2.0","id":1,"method":"call","params":["00000000000000000000000000000000","session","login",{"username":"root","password":"test"}]}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["result"][1]["ubus_rpc_session"])')
exe() {
  code=$(curl -s -o "$S/body" -w '%{http_code}' --data-urlencode "sessionid=$sid" --data-urlencode "command=$1" "$base/cgi-bin/cgi-exec")
  echo "cgi-exec [$1] -> $code $(head -c 40 "$S/body" | tr -d '\n')"
}
exe '/usr/sbin/ecmp4 status --json'
exe '/usr/sbin/ecmp6 status --json'
exe '/usr/sbin/ecmp4 sync'
exe '/usr/sbin/ecmp6 sync'
exe '/usr/sbin/ecmp4'
exe '/usr/sbin/ecmp4 --flush'
exe '/usr/sbin/ecmp6 --flush'
exe '/usr/sbin/ecmp4 status'
exe '/usr/sbin/ecmp4 status --json --flush'
exe '/usr/sbin/ecmp4 sync --flush'
exe '/usr/sbin/ecmp4 --config /tmp/x sync'
exe '/bin/sh -c id'
exe '/usr/sbin/multidial plan --from-config'
exe '/usr/sbin/multidial apply --from-config'
exe '/usr/sbin/multidial remove'
exe '/usr/sbin/multidial up --from-config'
exe '/usr/sbin/multidial plan --from-config --show-password'
exe '/usr/sbin/multidial apply --from-config --up'
exe '/usr/sbin/multidial apply --line eth0.2 --username u --password-file /etc/shadow'
exe '/usr/sbin/multidial remove --config-dir /tmp'
exe '/usr/sbin/multidial up'
rpc() {
  r=$(curl -s "$base/ubus" -H 'Content-Type: application/json' -d \
    '{"jsonrpc":"2.0","id":2,"method":"call","params":["'"$sid"'","file","exec",{"command":"'"$1"'","params":'"$2"'}]}' |
    python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["result"][0] if "result" in j else j["error"]["message"])')
  echo "file.exec [$1 $2] -> $r"
}
rpc /usr/sbin/ecmp4 '["--flush"]'
rpc /usr/sbin/ecmp4 '["status","--json"]'
echo "route after: $(ip -4 route show default metric 1 | head -c 20)"
"#,
    );
    assert_eq!(code, 0, "{out}");
    let line = |cmd: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("cgi-exec [{cmd}] -> ")))
            .unwrap_or_else(|| panic!("no line for {cmd}:\n{out}"))
            .to_string()
    };
    for ok in [
        "/usr/sbin/ecmp4 status --json",
        "/usr/sbin/ecmp6 status --json",
    ] {
        assert!(
            line(ok).contains("-> 200 {  \"schema\": 2,"),
            "{}",
            line(ok)
        );
    }
    for ok in [
        "/usr/sbin/ecmp4 sync",
        "/usr/sbin/ecmp6 sync",
        "/usr/sbin/multidial plan --from-config",
        "/usr/sbin/multidial apply --from-config",
        "/usr/sbin/multidial up --from-config",
        "/usr/sbin/multidial remove",
    ] {
        assert!(line(ok).contains("-> 200"), "{}", line(ok));
    }
    for denied in [
        "/usr/sbin/ecmp4",
        "/usr/sbin/ecmp4 --flush",
        "/usr/sbin/ecmp6 --flush",
        "/usr/sbin/ecmp4 status",
        "/usr/sbin/ecmp4 status --json --flush",
        "/usr/sbin/ecmp4 sync --flush",
        "/usr/sbin/ecmp4 --config /tmp/x sync",
        "/bin/sh -c id",
        "/usr/sbin/multidial plan --from-config --show-password",
        "/usr/sbin/multidial apply --from-config --up",
        "/usr/sbin/multidial apply --line eth0.2 --username u --password-file /etc/shadow",
        "/usr/sbin/multidial remove --config-dir /tmp",
        "/usr/sbin/multidial up",
    ] {
        assert!(line(denied).contains("-> 403"), "{}", line(denied));
    }
    // rpcd's file.exec (ubus; LuCI's fs.exec) matches the same command
    // lines: the exact one runs (0), --flush is refused (6,
    // UBUS_STATUS_PERMISSION_DENIED).
    for l in [
        "[/usr/sbin/ecmp4 [\"--flush\"]] -> 6",
        "[/usr/sbin/ecmp4 [\"status\",\"--json\"]] -> 0",
    ] {
        assert!(out.contains(&format!("file.exec {l}\n")), "no {l}:\n{out}");
    }
    assert!(out.contains("route after: default nhid"), "{out}");
}

/// What fights our route, on the status page as `status` warns of it: a
/// firewall4 zone listing the dials by name (each ifup reloads the
/// firewall), and an enabled mwan3, each with its fix.
#[test]
fn status_page_shows_what_fights_the_route() {
    let Some(kit) = luci_kit() else { return };
    let s = Session::new(kit);
    let root = s.dir.0.join("fixture/root");
    for dir in ["sbin", "etc/init.d", "etc/rc.d"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    for f in ["sbin/fw4", "etc/init.d/mwan3"] {
        sim::script(&root.join(f), "exit 0");
    }
    std::os::unix::fs::symlink("../init.d/mwan3", root.join("etc/rc.d/S19mwan3")).unwrap();
    std::fs::write(
        root.join("etc/config/firewall"),
        "config zone\n\toption name 'lan'\n\tlist network 'lan'\nconfig zone\n\toption name 'wan'\n\tlist network 'VWAN1'\n\tlist network 'VWAN2'\n\tlist network 'VWAN3'\n\toption masq '1'\n",
    )
    .unwrap();
    let out = s.shoot(
        r#""$SHOT" --strict admin/status/ecmp "$S/fights.png"; echo "shot=$?""#,
        "admin/status/ecmp",
        "fights.png",
    );
    for want in [
        "mwan3 is enabled: its marks and rules send connections around our route; fix: /etc/init.d/mwan3 stop; /etc/init.d/mwan3 disable",
        "firewall zone wan lists 3 dials by name: the ifup of each (at boot, on every redial) reloads the whole firewall; move them to a device pattern: uci add_list firewall.@zone[1].device='pppoe-VWAN+'",
    ] {
        assert!(out.contains(want), "the page lacks {want:?}:\n{out}");
    }
}

/// The Multi-dial page as a user fills it: the section created, one
/// line, 4 dials, the account, IPv6 on dial 1; Save & Apply. Returns the
/// five fields' verdicts (a bad dial count first).
/// Remove, then its confirmation; the command's output once it is there.
const REMOVE: &str = r#"(async function() {
  document.getElementById('multidial-output').replaceChildren();
  document.getElementById('multidial-remove').click();
  await new Promise(function(x) { setTimeout(x, 500); });
  var c = document.getElementById('multidial-remove-confirm');
  if (!c) return [ 'no confirmation', '' ];
  c.click();
  for (var i = 0; i < 100 && !document.querySelector('#multidial-output pre'); i++)
    await new Promise(function(x) { setTimeout(x, 200); });
  var p = document.querySelector('#multidial-output pre');
  return p ? [ p.dataset.code, p.textContent ] : [ 'none', '' ];
})()"#;

const MULTIDIAL_FORM: &str = r#"(async function() {
  function sleep(ms) { return new Promise(function(x) { setTimeout(x, ms); }); }
  function set(id, v) {
    var i = document.getElementById('widget.cbid.ecmp.multidial.' + id);
    i.value = v;
    i.dispatchEvent(new Event('input', { bubbles: true }));
    i.dispatchEvent(new Event('change', { bubbles: true }));
    return i.classList.contains('cbi-input-invalid') ? 'invalid' : 'valid';
  }
  document.querySelector('.cbi-section .cbi-button-add').click();
  await sleep(1500);
  var map = L.dom.findClassInstance(document.querySelector('.cbi-map'));
  var line = map.lookupOption('line', 'multidial')[0];
  line.getUIElement('multidial').setValue([ 'eth0.2' ]);
  var r = [ set('dials', '0'), set('dials', '4'), set('username', 'u1'), set('password', 'pw-Zq8!x y'), set('ipv6', '1') ];
  await map.save();
  (await L.require('ui')).changes.apply(true);
  return r;
})()"#;

/// A button of the page, then the command's output once it is there.
fn press(button: &str) -> String {
    format!(
        r#"(async function() {{
  document.getElementById('multidial-output').replaceChildren();
  document.getElementById('{button}').click();
  for (var i = 0; i < 100 && !document.querySelector('#multidial-output pre'); i++)
    await new Promise(function(x) {{ setTimeout(x, 200); }});
  var p = document.querySelector('#multidial-output pre');
  return p ? [ p.dataset.code, p.textContent ] : [ 'none', '' ];
}})()"#
    )
}

/// Network > Multi-dial in the real LuCI, with our real multidial and the
/// kit's real uci: the setup saved by the form is what `multidial apply`
/// records; the plan the page shows is `multidial plan --from-config`'s,
/// word for word, in words first, the password masked; Apply writes the
/// 4 dials; Remove (after its confirmation) takes them away.
#[test]
fn multidial_page_saves_plans_applies_and_removes() {
    let Some(kit) = luci_kit() else { return };
    let s = Session::new(kit);
    let root = s.dir.0.join("fixture/root");
    std::fs::copy(sim::bin("multidial"), root.join("usr/sbin/multidial")).unwrap();
    std::fs::write(
        root.join("etc/config/network"),
        "config interface 'lan'\n\toption device 'br-lan'\n\toption proto 'static'\n\toption ipaddr '192.168.1.1'\n\toption netmask '255.255.255.0'\n\nconfig interface 'wan'\n\toption device 'eth0.2'\n\toption proto 'pppoe'\n\toption username 'stock'\n\toption password 'stockpw'\n",
    )
    .unwrap();
    std::fs::write(
        root.join("etc/config/firewall"),
        "config zone\n\toption name 'lan'\n\tlist network 'lan'\n\nconfig zone\n\toption name 'wan'\n\tlist network 'wan'\n\toption masq '1'\n",
    )
    .unwrap();
    // One session (one router) for the whole story: the form, then the
    // plan and apply buttons, then remove, each a luci-shot of its own.
    let (code, all) = s.run(&format!(
        r#""$SHOT" --strict --eval {} --after 12 admin/network/multidial "$S/multidial.png"; echo "shot=$?"
echo "== SAVED"; cat /etc/config/ecmp
echo "== CLI PLAN BEFORE"; /usr/sbin/multidial plan --from-config 2>&1; echo "== END"
echo "== SHOT 2"
"$SHOT" --strict --eval {} --after 1 --eval {} --after 1 admin/network/multidial "$S/multidial-applied.png"; echo "shot=$?"
echo "== NETWORK"; cat /etc/config/network
echo "== CLI PLAN"; /usr/sbin/multidial plan --from-config 2>&1; echo "cli plan=$?"
echo "== SHOT 3"
"$SHOT" --strict --eval {} --after 1 admin/network/multidial "$S/multidial-removed.png"; echo "shot=$?"
echo "== REMOVED"; cat /etc/config/network
"#,
        sq(MULTIDIAL_FORM),
        sq(&press("multidial-plan")),
        sq(&press("multidial-apply")),
        sq(REMOVE),
    ));
    assert_eq!(code, 0, "{all}");
    let (out, rest) = all.split_once("== SHOT 2").expect("three shots");
    let (second, third) = rest.split_once("== SHOT 3").expect("three shots");
    for (shot, png) in [
        (out, "multidial.png"),
        (second, "multidial-applied.png"),
        (third, "multidial-removed.png"),
    ] {
        assert!(shot.contains("shot=0"), "{all}");
        clean(shot, "admin/network/multidial");
        s.keep(png);
    }
    for want in [
        "Multi-dial",
        "Lines",
        "Dials per line",
        "PPPoE password",
        "Show plan",
    ] {
        assert!(out.contains(want), "the page lacks {want:?}:\n{out}");
    }
    // A dial count multidial refuses is refused here; the rest pass.
    assert_eq!(
        eval(&out, 1),
        serde_json::json!(["invalid", "valid", "valid", "valid", "valid"]),
        "{out}"
    );
    let saved = &out[out.find("== SAVED").unwrap()..];
    for o in [
        "config multidial 'multidial'",
        "list line 'eth0.2'",
        "option dials '4'",
        "option username 'u1'",
        "option password 'pw-Zq8!x y'",
        "option ipv6 '1'",
    ] {
        assert!(saved.contains(o), "{o} not saved:\n{saved}");
    }
    // The plan as the page showed it: in words, the password masked.
    let out = second;
    let plan = eval(out, 1);
    assert_eq!(plan[0], "0", "{plan}");
    let text = plan[1].as_str().unwrap();
    assert!(
        text.starts_with("multidial: plan: adds VWAN1\u{2013}VWAN4, removes nothing, "),
        "{text}"
    );
    assert!(
        text.contains("set network.VWAN4.password='********'"),
        "{text}"
    );
    assert!(!text.contains("pw-Zq8"), "{text}");
    // What `multidial plan --from-config` says there, word for word.
    let cli = all
        .split_once("== CLI PLAN BEFORE\n")
        .and_then(|(_, r)| r.split_once("== END"))
        .map(|(p, _)| p.trim())
        .expect("the command line's plan");
    assert_eq!(text, cli);
    // Apply: the four dials in the real uci's files, committed.
    let applied = eval(out, 2);
    assert_eq!(applied[0], "0", "{applied}");
    assert!(
        applied[1]
            .as_str()
            .unwrap()
            .contains("multidial: 4 dials on 1 line (eth0.2)"),
        "{applied}"
    );
    let network = &out[out.find("== NETWORK").unwrap()..out.find("== CLI PLAN").unwrap()];
    for i in 1..=4 {
        assert!(
            network.contains(&format!("config interface 'VWAN{i}'")),
            "VWAN{i}:\n{network}"
        );
    }
    assert!(
        network.contains("option password 'pw-Zq8!x y'"),
        "{network}"
    );
    // The command line agrees: the same setup now plans nothing.
    assert!(
        out.contains("nothing to do: the config already matches"),
        "{out}"
    );
    // Remove, after its confirmation.
    let removed = eval(third, 1);
    assert_eq!(removed[0], "0", "{removed}");
    assert!(
        removed[1]
            .as_str()
            .unwrap()
            .starts_with("multidial: removed: "),
        "{removed}"
    );
    let network = &third[third.find("== REMOVED").unwrap()..];
    assert!(!network.contains("VWAN"), "{network}");
    assert!(network.contains("config interface 'wan'"), "{network}");
}

/// The Multi-dial page in Chinese, with a setup saved and dials made (so
/// every field, button and note shows): no English string of ours. The
/// catalog's every msgid is looked for in the page's text.
#[test]
fn multidial_page_in_chinese() {
    let Some(kit) = luci_kit() else { return };
    let s = Session::with(kit, Some(("zh_cn", "zh_Hans")), None);
    let root = s.dir.0.join("fixture/root");
    let ecmp = root.join("etc/config/ecmp");
    let mut cfg = std::fs::read_to_string(&ecmp).unwrap();
    cfg += "\nconfig multidial 'multidial'\n\tlist line 'eth0.2'\n\toption dials '2'\n\toption username 'u1'\n\toption password 'pw'\n\toption multidial '1'\n";
    std::fs::write(&ecmp, cfg).unwrap();
    std::fs::write(
        root.join("etc/config/network"),
        "config interface 'VWAN1'\n\toption proto 'pppoe'\n\toption multidial '1'\n",
    )
    .unwrap();
    let out = s.shoot(
        r#""$SHOT" --strict admin/network/multidial "$S/multidial-zh.png"; echo "shot=$?""#,
        "admin/network/multidial",
        "multidial-zh.png",
    );
    for want in [
        "多拨",
        "线路",
        "每条线路的拨号数",
        "查看计划",
        "应用多拨",
        "开始拨号",
        "重拨 VWAN1",
        "全部重拨，每批 4 个",
    ] {
        assert!(out.contains(want), "the page lacks {want:?}:\n{out}");
    }
    // Every English string of the page's source, none on the page.
    let js = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../openwrt/luci-app-ecmp/htdocs/luci-static/resources/view/ecmp/multidial.js"),
    )
    .unwrap();
    let text = out.split("== TEXT:").nth(1).unwrap_or(&out);
    for msg in js.split("_('").skip(1).filter_map(|x| x.split("')").next()) {
        let plain = msg.split('%').next().unwrap_or(msg).trim();
        if plain.len() > 3 && plain != "mwan3" {
            assert!(!text.contains(plain), "{plain:?} untranslated:\n{text}");
        }
    }
}

/// Start and redial on the Multi-dial page, over netifd's ubus (a
/// stand-in records the calls: the kit has no netifd): Start dials brings
/// every dial up `batch` at a time; Redial takes one dial down and up with
/// the others untouched, then all in batches `delay` seconds apart.
#[test]
fn multidial_page_starts_and_redials_dials() {
    let Some(kit) = luci_kit() else { return };
    let s = Session::new(kit);
    let root = s.dir.0.join("fixture/root");
    std::fs::copy(sim::bin("multidial"), root.join("usr/sbin/multidial")).unwrap();
    std::fs::write(
        root.join("etc/config/firewall"),
        "config zone\n\toption name 'wan'\n\tlist network 'wan'\n\toption masq '1'\n",
    )
    .unwrap();
    let mut net =
        String::from("config interface 'wan'\n\toption proto 'pppoe'\n\toption device 'eth0.2'\n");
    for i in 1..=3 {
        net += &format!(
            "\nconfig interface 'VWAN{i}'\n\toption proto 'pppoe'\n\toption device 'veth{i}'\n\toption multidial '1'\n"
        );
    }
    std::fs::write(root.join("etc/config/network"), net).unwrap();
    let ecmp = root.join("etc/config/ecmp");
    let mut cfg = std::fs::read_to_string(&ecmp).unwrap();
    cfg += "\nconfig multidial 'multidial'\n\toption batch '2'\n\toption delay '1'\n\toption multidial '1'\n";
    std::fs::write(&ecmp, cfg).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/netifd-interface.uc"),
        s.path("netifd.uc"),
    )
    .unwrap();
    let one = r#"(async function() {
  document.querySelector('.multidial-redial[data-interface="VWAN2"]').click();
  for (var i = 0; i < 50 && document.getElementById('multidial-redial-state').textContent != 'Redialled VWAN2'; i++)
    await new Promise(function(x) { setTimeout(x, 200); });
  return document.getElementById('multidial-redial-state').textContent;
})()"#;
    let all = r#"(async function() {
  var t0 = Date.now();
  document.getElementById('multidial-redial-all').click();
  for (var i = 0; i < 100 && !/^Redialled VWAN1, /.test(document.getElementById('multidial-redial-state').textContent); i++)
    await new Promise(function(x) { setTimeout(x, 200); });
  return [ document.getElementById('multidial-redial-state').textContent, Date.now() - t0 ];
})()"#;
    let out = s.shoot(
        &format!(
            r#"ucode "$S/netifd.uc" "$S/calls.log" VWAN1 VWAN2 VWAN3 & for i in $(seq 50); do ubus list network.interface.VWAN3 >/dev/null 2>&1 && break; sleep 0.1; done
"$SHOT" --strict --eval {} --after 0 --eval {} --after 0 --eval {} --after 0 admin/network/multidial "$S/multidial-redial.png"; echo "shot=$?"
echo "== CALLS"; cat "$S/calls.log"; kill %1; wait
"#,
            sq(&press("multidial-up")),
            sq(one),
            sq(all)
        ),
        "admin/network/multidial",
        "multidial-redial.png",
    );
    // Start dials: `multidial up --from-config`, 2 at a time as saved.
    let started = eval(&out, 1);
    assert_eq!(started[0], "0", "{started}");
    let text = started[1].as_str().unwrap();
    assert!(
        text.contains("multidial: up VWAN1 VWAN2\nmultidial: up VWAN3\nmultidial: 3 of 3 up"),
        "{text}"
    );
    assert_eq!(eval(&out, 2), "Redialled VWAN2", "{out}");
    let done = eval(&out, 3);
    assert_eq!(done[0], "Redialled VWAN1, VWAN2, VWAN3", "{out}");
    // The second batch waited `delay` (1 s) after the first.
    assert!(done[1].as_u64().is_some_and(|ms| ms >= 1000), "{done}");
    let calls: Vec<&str> = out[out.find("== CALLS").unwrap()..]
        .lines()
        .skip(1)
        .take(11)
        .collect();
    assert_eq!(calls[..3], ["up VWAN1", "up VWAN2", "up VWAN3"], "{out}");
    let calls = &calls[3..];
    // One dial: only VWAN2, down then up.
    assert_eq!(calls[..2], ["down VWAN2", "up VWAN2"], "{out}");
    // All: VWAN1 and VWAN2 (each down before up), then VWAN3.
    let batch1 = &calls[2..6];
    for d in ["VWAN1", "VWAN2"] {
        let down = batch1.iter().position(|c| *c == format!("down {d}"));
        let up = batch1.iter().position(|c| *c == format!("up {d}"));
        assert!(down.is_some() && up > down, "{d}: {calls:?}");
    }
    assert_eq!(calls[6..], ["down VWAN3", "up VWAN3"], "{calls:?}");
}

/// The rules grid as a user fills it: a rule `bank` through Add and its
/// dialog, ports refused without tcp or udp and out of range (as ecmp4
/// refuses them), then good values, Save & Apply: the file holds the
/// rule, ecmp4 pins with it, and Status shows it with its counter.
const RULE_FORM: &str = r#"(async function() {
  function sleep(ms) { return new Promise(function(x) { setTimeout(x, ms); }); }
  function field(id) {
    return Array.prototype.filter.call(document.querySelectorAll('[id="widget.cbid.ecmp.bank.' + id + '"]'), function(i) { return i.offsetParent; })[0];
  }
  function set(id, v) {
    var i = field(id);
    i.value = v;
    i.dispatchEvent(new Event('input', { bubbles: true }));
    i.dispatchEvent(new Event('change', { bubbles: true }));
    return i.classList.contains('cbi-input-invalid') ? 'invalid' : 'valid';
  }
  var names = document.querySelectorAll('.cbi-section-create-name');
  var name = Array.prototype.filter.call(names, function(n) { return n.closest('#cbi-ecmp-rule'); })[0];
  name.value = 'bank';
  name.dispatchEvent(new Event('keyup', { bubbles: true }));
  name.closest('.cbi-section-create').querySelector('.cbi-button-add').click();
  await sleep(1000);
  var r = [ set('dest_port', '443') ];
  set('proto', 'tcp');
  r.push(set('dest_port', '70000'), set('dest_port', '443'), set('use', 'tier:0'), set('use', 'tier:2'), set('use', 'VWAN2'));
  Array.prototype.filter.call(document.querySelectorAll('.cbi-button-positive.important'), function(b) { return b.offsetParent; })[0].click();
  await sleep(1000);
  document.querySelector('.cbi-button-save').click();
  await sleep(2000);
  (await L.require('ui')).changes.apply(true);
  return r;
})()"#;

#[test]
fn rules_grid_saves_a_pin_and_status_shows_it() {
    let Some(kit) = luci_kit() else { return };
    let s = Session::new(kit);
    let script = format!(
        r#"
"$SHOT" --strict --eval {} --after 12 admin/network/ecmp "$S/rules.png"; echo "shot=$?"
/usr/sbin/ecmp4 status --json | python3 -c 'import json,sys; r=json.load(sys.stdin)["rules"]; print("rules after: %s" % [(x["name"], x["target"], x["state"], x["connections"]) for x in r])'
"$SHOT" --strict --eval "document.querySelector('[data-family=\"ipv4\"] tr[data-rule=\"bank\"]').innerText" admin/status/ecmp "$S/rules-status.png"; echo "shot2=$?"
"#,
        sq(RULE_FORM)
    );
    let out = s.shoot(&script, "admin/network/ecmp", "rules.png");
    s.keep("rules-status.png");
    assert!(out.contains("shot=0") && out.contains("shot2=0"), "{out}");
    for want in ["Policy rules", "Add rule"] {
        assert!(out.contains(want), "the form lacks {want:?}:\n{out}");
    }
    let r = eval(&out, 1);
    assert_eq!(
        r,
        serde_json::json!(["invalid", "invalid", "valid", "invalid", "valid", "valid"]),
        "{out}"
    );
    let saved = std::fs::read_to_string(s.path("etc-config/ecmp")).unwrap();
    let rule = saved
        .split("config ")
        .find(|x| x.starts_with("rule 'bank'"))
        .unwrap_or_else(|| panic!("no rule saved:\n{saved}"));
    for want in [
        "\toption proto 'tcp'\n",
        "\toption dest_port '443'\n",
        "\toption use 'VWAN2'\n",
    ] {
        assert!(rule.contains(want), "{want:?}: {rule}");
    }
    // The apply's sync loaded it: VWAN2 is up, so the rule pins.
    assert!(
        out.contains("rules after: [('bank', 'VWAN2', 'pinned', 0)]"),
        "{out}"
    );
    let second = out.split("shot=0").nth(1).unwrap();
    let row = eval(second, 1);
    let row = row.as_str().unwrap_or_default();
    assert!(row.starts_with("bank\tVWAN2\tpinned\t0"), "{row:?}\n{out}");
}
