//! A simulated OpenWrt router for tests, the demo and the benchmark.
//!
//! Each [`in_netns`] call runs its closure on a fresh thread moved into a
//! private network namespace (unshare(CLONE_NEWNET) is per thread), so
//! tests run in parallel and never see the host's tables. Programs spawned
//! from that thread (ip, ecmp4, ecmp6) inherit the namespace.
//!
//! A PPPoE dial is a veth pair: `pppoe-<name>` with `ip addr add LOCAL
//! peer PEER` (what pppd configures), so it has carrier like a live
//! session. netifd is a stand-in `ubus` that prints a dump generated from
//! the simulated state; it counts its calls.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Run `f` in a new network namespace (on its own thread).
pub fn in_netns<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::spawn(move || {
        // SAFETY: unshare only changes this thread's namespace.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            panic!(
                "unshare(CLONE_NEWNET): {} -- run as root, or as a user through `unshare -rn` (make test does)",
                std::io::Error::last_os_error()
            );
        }
        ip(&["link", "set", "lo", "up"]);
        f()
    })
    .join()
    .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// Run `ip ARGS`, panicking with its stderr on failure.
pub fn ip(args: &[&str]) -> String {
    let o = Command::new("ip")
        .args(args)
        .output()
        .expect("ip (iproute2) is needed");
    assert!(
        o.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `ip` with its arguments written as one line: `ip_line("route add ...")`.
pub fn ip_line(args: &str) -> String {
    ip(&args.split_whitespace().collect::<Vec<_>>())
}

/// Where the built binaries are: $ECMP_BIN_DIR, else target/debug.
pub fn bin(name: &str) -> PathBuf {
    let dir = std::env::var_os("ECMP_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug"));
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} is missing: build first (`make test` does)",
        p.display()
    );
    p
}

/// The OpenWrt userland kit (real uci, ubus, netifd, opkg, apk): the
/// folder `$OPENWRT_KIT`, else `shared/openwrt` beside the repository.
/// Missing: under `CI=true` the calling test fails and says why;
/// elsewhere it is skipped with a one-line reason (None).
pub fn kit() -> Option<PathBuf> {
    let p = kit_dir("OPENWRT_KIT", "openwrt");
    if p.join("bin/uci").exists() {
        return Some(p);
    }
    skip(
        format!(
            "the OpenWrt kit is not at {} (set OPENWRT_KIT to its folder)",
            p.display()
        ),
        "CI runs this test against the real OpenWrt programs",
    )
}

/// A kit's folder: `$env`, else `shared/<name>` beside the repository.
fn kit_dir(env: &str, name: &str) -> PathBuf {
    std::env::var_os(env).map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared")
            .join(name)
    })
}

/// A test that cannot run here: skipped with one line, or under `CI=true`
/// a failure that says why (`ci`: what CI does instead).
fn skip<T>(why: String, ci: &str) -> Option<T> {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{why}: {ci}");
    }
    eprintln!("skipped: {why}");
    None
}

/// `run-router` from the kit ([`kit`]) when it can run: it needs root
/// (namespaces, overlay mounts). None: skipped with a one-line reason,
/// or under `CI=true` a failure that says why.
pub fn run_router() -> Option<PathBuf> {
    let k = kit()?;
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        return skip(
            "run-router needs root (namespaces and overlay mounts)".into(),
            "CI runs as root",
        );
    }
    Some(k.join("run-router"))
}

/// `run-fw4` of the firewall4 kit (OpenWrt's real fw4 over run-router):
/// `$OPENWRT_FW4_KIT`, else `shared/openwrt-fw4` beside the repository.
/// Needs root and nft. None: skipped with a one-line reason, or under
/// `CI=true` a failure that says why.
pub fn run_fw4() -> Option<PathBuf> {
    run_router()?;
    let p = kit_dir("OPENWRT_FW4_KIT", "openwrt-fw4");
    let why = if !p.join("run-fw4").exists() {
        format!(
            "the firewall4 kit is not at {} (set OPENWRT_FW4_KIT to its folder)",
            p.display()
        )
    } else if !Path::new("/usr/sbin/nft").exists() {
        "run-fw4 needs Debian's nft (apt-get install nftables)".to_string()
    } else {
        return Some(p.join("run-fw4"));
    };
    skip(why, "CI runs this test against the real firewall4")
}

/// `run-router-vm` of the VM kit (real kernel PPP, Debian's pppd and a
/// pppoe-server BRAS, in qemu): `$OPENWRT_VM_KIT`, else
/// `shared/openwrt-vm` beside the repository. Needs root, and qemu, ppp
/// and pppoe (the kit installs them with apt when missing). None: skipped
/// with a one-line reason, or under `CI=true` a failure that says why.
pub fn run_router_vm() -> Option<PathBuf> {
    run_router()?;
    let p = kit_dir("OPENWRT_VM_KIT", "openwrt-vm");
    if p.join("run-router-vm").exists() {
        return Some(p.join("run-router-vm"));
    }
    skip(
        format!(
            "the VM kit is not at {} (set OPENWRT_VM_KIT to its folder)",
            p.display()
        ),
        "CI runs this test on real PPPoE",
    )
}

/// The kit's real `uci` ([`kit`]).
pub fn real_uci() -> Option<PathBuf> {
    kit().map(|k| k.join("bin/uci"))
}

/// A throwaway directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("ecmp-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[derive(Clone, Debug)]
pub struct Dial {
    /// netifd interface: wan, VWAN1, VWAN2...
    pub name: String,
    pub idx: u32,
    /// What netifd reports.
    pub up: bool,
    /// netifd's dynamic `<name>_6` (proto dhcpv6) rides on this dial.
    pub ipv6: bool,
}

impl Dial {
    pub fn dev(&self) -> String {
        format!("pppoe-{}", self.name)
    }
    pub fn peer4(&self) -> String {
        format!("100.64.{}.{}", self.idx / 250, self.idx % 250 + 1)
    }
    pub fn local4(&self) -> String {
        format!("100.66.{}.{}", self.idx / 250, self.idx % 250 + 1)
    }
    pub fn gw6(&self) -> String {
        format!("fe80::b:{:x}", self.idx)
    }
}

/// The config every event gets unless a test names its own: the defaults,
/// but for the per-member tables and source rules (`inbound`, on by
/// default), which the suites of the main route leave out so each checks
/// one thing; `tests/inbound.rs` tests them.
pub const BASE_CONFIG: &str =
    "config ecmp 'ipv4'\n\toption inbound '0'\nconfig ecmp 'ipv6'\n\toption inbound '0'\n";

/// The simulated router: dials, the ubus stand-in and its dump.
pub struct Router {
    pub dir: TempDir,
    pub dials: Vec<Dial>,
    /// Extra interface JSON objects appended to the dump.
    pub extra: Vec<String>,
    /// `--mode` every event gets unless it passes its own. The classic
    /// suites (ecmp4.rs, ecmp6.rs) pin multipath; nexthop.rs sets others.
    pub mode: &'static str,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The run ended with `code` and said `text` on stderr.
    pub fn says(&self, code: i32, text: &str) {
        assert_eq!(self.code, code, "{}", self.stderr);
        assert!(
            self.stderr.contains(text),
            "stderr lacks {text:?}: {}",
            self.stderr
        );
    }
}

impl Router {
    /// `n` dials named wan, VWAN1..VWAN(n-1), all down, no devices yet.
    /// Call inside [`in_netns`].
    pub fn new(n: u32) -> Router {
        let dir = TempDir::new("router");
        let dials = (0..n)
            .map(|i| Dial {
                name: if i == 0 {
                    "wan".into()
                } else {
                    format!("VWAN{i}")
                },
                idx: i,
                up: false,
                ipv6: true,
            })
            .collect();
        let stub = dir.0.join("ubus");
        std::fs::write(
            &stub,
            format!(
                "#!/bin/sh\n[ \"$*\" = 'call network.interface dump' ] || {{ echo \"bad args: $*\" >&2; exit 9; }}\n\
                 echo >> '{0}/ubus.calls'\nexec cat '{0}/dump.json'\n",
                dir.0.display()
            ),
        )
        .unwrap();
        set_exec(&stub);
        // The base config (an explicit --config that does not exist is an
        // error).
        std::fs::write(dir.0.join("no-config"), BASE_CONFIG).unwrap();
        let r = Router {
            dir,
            dials,
            extra: Vec::new(),
            mode: "multipath",
        };
        r.write_dump();
        r
    }

    /// `n` dials, every one of them up.
    pub fn all_up(n: u32) -> Router {
        let mut r = Router::new(n);
        for i in 0..n as usize {
            r.dial_up(i);
        }
        r
    }

    pub fn path(&self, f: &str) -> PathBuf {
        self.dir.0.join(f)
    }

    /// pppd came up: create `pppoe-<name>` and report the dial up.
    pub fn dial_up(&mut self, i: usize) {
        let d = self.dials[i].clone();
        let peer = format!("peer{}", d.idx);
        if !Path::new(&format!("/sys/class/net/{}", d.dev())).exists() {
            ip(&[
                "link",
                "add",
                &d.dev(),
                "type",
                "veth",
                "peer",
                "name",
                &peer,
            ]);
            // No DAD: the fe80:: gateway must be usable at once, and no
            // link-local route may appear later in the middle of a test.
            for dev in [d.dev(), peer.clone()] {
                let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{dev}/accept_dad"), "0");
            }
            ip(&["link", "set", &d.dev(), "up"]);
            ip(&["link", "set", &peer, "up"]);
            ip(&[
                "addr",
                "add",
                &d.local4(),
                "peer",
                &d.peer4(),
                "dev",
                &d.dev(),
            ]);
        }
        self.dials[i].up = true;
        self.write_dump();
    }

    /// pppd exited: the device is gone. netifd's report is unchanged
    /// until [`Router::set_up`] (the ifdown event comes later).
    pub fn device_gone(&mut self, i: usize) {
        ip(&["link", "del", &self.dials[i].dev()]);
    }

    pub fn set_up(&mut self, i: usize, up: bool) {
        self.dials[i].up = up;
        self.write_dump();
    }

    pub fn ubus_calls(&self) -> usize {
        std::fs::read_to_string(self.path("ubus.calls"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }

    pub fn dump_json(&self) -> String {
        dump_of(&self.dials, &self.extra)
    }

    /// The dump with interface `name` (and its `_6`) reported down.
    pub fn clone_dump_without(&self, name: &str) -> String {
        let mut dials = self.dials.clone();
        for d in dials.iter_mut().filter(|d| d.name == name) {
            d.up = false;
        }
        dump_of(&dials, &self.extra)
    }

    pub fn write_dump(&self) {
        std::fs::write(self.path("dump.json"), self.dump_json()).unwrap();
    }

    /// Run `bin` as netifd's hotplug would: ACTION/INTERFACE (and DEVICE
    /// for ifup) in the environment; our ubus stand-in; no config file.
    /// An empty `action` runs it by hand (no ACTION: a sync, or a
    /// subcommand at the end of `extra`).
    pub fn event(&self, bin: &str, action: &str, iface: &str, extra: &[&str]) -> Run {
        self.event_under(&[], bin, action, iface, extra)
    }

    /// [`Router::event`] run by `wrapper` (`strace -o FILE`, say).
    pub fn event_under(
        &self,
        wrapper: &[&str],
        bin: &str,
        action: &str,
        iface: &str,
        extra: &[&str],
    ) -> Run {
        let mut c = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(self::bin(bin));
                c
            }
            None => Command::new(self::bin(bin)),
        };
        c.env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("HOTPLUG_TYPE", "iface")
            .stdin(Stdio::null());
        if !action.is_empty() {
            c.env("ACTION", action).env("INTERFACE", iface);
        }
        for (flag, file) in [
            ("--ubus", "ubus"),
            ("--config", "no-config"),
            ("--syslog-socket", "no-syslog"),
            ("--lock-file", "lock"),
            ("--state-dir", "."),
        ] {
            // A test that names the socket asks for it, not the stand-in.
            let socket = flag == "--ubus" && extra.contains(&"--ubus-socket");
            if !extra.contains(&flag) && !socket {
                c.arg(flag).arg(self.path(file));
            }
        }
        if !extra.contains(&"--mode") {
            c.args(["--mode", self.mode]);
        }
        c.args(extra);
        if let Some(d) = self
            .dials
            .iter()
            .find(|d| d.name == iface || format!("{}_6", d.name) == iface)
        {
            if action == "ifup" || action == "ifupdate" {
                c.env("DEVICE", d.dev());
            }
        }
        let o: Output = c.output().expect("run binary");
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// netifd's `network.interface dump` for `dials` (and `extra` objects).
pub fn dump_of(dials: &[Dial], extra: &[String]) -> String {
    let mut j = String::from("{\"interface\":[");
    let mut items: Vec<String> = vec![
        r#"{"interface":"lan","up":true,"proto":"static","device":"br-lan","l3_device":"br-lan","metric":0,"ipv4-address":[{"address":"192.168.1.1","mask":24}],"route":[],"inactive":{"route":[]},"data":{}}"#.into(),
        r#"{"interface":"loopback","up":true,"proto":"static","device":"lo","l3_device":"lo","metric":0,"ipv4-address":[{"address":"127.0.0.1","mask":8}],"route":[]}"#.into(),
    ];
    for d in dials {
        if !d.up {
            items.push(format!(
                r#"{{"interface":"{}","up":false,"pending":false,"available":true,"autostart":true,"dynamic":false,"proto":"pppoe","device":"vwan{}","data":{{}}}}"#,
                d.name, d.idx
            ));
            continue;
        }
        items.push(format!(
            r#"{{"interface":"{n}","up":true,"pending":false,"available":true,"autostart":true,"dynamic":false,"uptime":5,"l3_device":"{dev}","proto":"pppoe","device":"vwan{i}","metric":{m},"dns_metric":0,"delegation":true,"ipv4-address":[{{"address":"{l}","mask":32,"ptpaddress":"{p}"}}],"ipv6-address":[],"route":[{{"target":"0.0.0.0","mask":0,"nexthop":"{p}","source":"0.0.0.0/0"}}],"dns-server":["{dns}"],"inactive":{{"ipv4-address":[],"route":[]}},"data":{{}}}}"#,
            dns = TARGETS4[1],
            n = d.name,
            dev = d.dev(),
            i = d.idx,
            m = 40 + d.idx,
            l = d.local4(),
            p = d.peer4()
        ));
        if d.ipv6 {
            items.push(format!(
                r#"{{"interface":"{n}_6","up":true,"dynamic":true,"l3_device":"{dev}","proto":"dhcpv6","device":"{dev}","metric":0,"ipv6-address":[{{"address":"2001:db8:ff:{i:x}::a","mask":64,"preferred":3500,"valid":7100}}],"route":[{{"target":"2001:db8:ff:{i:x}::","mask":64,"nexthop":"::","metric":256,"valid":7100,"source":"::/0"}},{{"target":"::","mask":0,"nexthop":"{g}","metric":512,"valid":1700,"source":"2001:db8:{i:x}00::/56"}},{{"target":"::","mask":0,"nexthop":"{g}","metric":512,"valid":1700,"source":"2001:db8:ff:{i:x}::a/64"}}],"inactive":{{"route":[]}},"data":{{}}}}"#,
                n = d.name,
                dev = d.dev(),
                i = d.idx,
                g = d.gw6()
            ));
        }
    }
    // netifd dumps interfaces sorted by name (an AVL tree, strcmp).
    items.sort_by_key(|i| i.split('"').nth(3).unwrap_or_default().to_string());
    items.extend(extra.iter().cloned());
    let _ = write!(j, "{}]}}", items.join(","));
    j
}

/// A binary as a Command with a lock file of the test's own, so tests
/// never wait on each other (or need /var/run) through the default lock.
pub fn command(name: &str) -> Command {
    let mut c = Command::new(bin(name));
    // One file under target/, reused by every run: nothing left in /tmp.
    c.arg("--lock-file").arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../target/ecmp-test.lock"
    ));
    c
}

pub fn set_exec(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Write an executable shell script.
pub fn script(p: &Path, body: &str) {
    std::fs::write(p, format!("#!/bin/sh\n{body}\n")).unwrap();
    set_exec(p);
}

/// Default routes of a family in every table, one per line, whitespace
/// normalised (nexthop lines joined), for exact comparisons.
pub fn default_routes(v6: bool) -> Vec<String> {
    let fam = if v6 { "-6" } else { "-4" };
    let out = ip(&[fam, "route", "show", "table", "all", "default"]);
    let mut lines: Vec<String> = Vec::new();
    for l in out.lines() {
        if l.starts_with(char::is_whitespace) {
            if let Some(last) = lines.last_mut() {
                last.push_str(" | ");
                last.push_str(l.trim());
            }
        } else {
            lines.push(l.trim().to_string());
        }
    }
    lines
        .iter()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// Our default routes (proto 236), as [`default_routes`] prints them.
pub fn ours(v6: bool) -> Vec<String> {
    default_routes(v6)
        .into_iter()
        .filter(|l| l.contains("proto 236"))
        .collect()
}

/// How [`default_routes`] prints our multipath route (metric 1) over
/// `hops` (gateway, device), each of weight 1.
pub fn multipath(v6: bool, hops: &[(&str, &str)]) -> String {
    let h: Vec<String> = hops
        .iter()
        .map(|(gw, dev)| format!("nexthop via {gw} dev {dev} weight 1"))
        .collect();
    let pref = if v6 { " pref medium" } else { "" };
    format!("default proto 236 metric 1{pref} | {}", h.join(" | "))
}

/// Every route of the namespace (both families, all tables), for
/// "left exactly as it was" checks.
pub fn all_routes() -> String {
    ip(&["-4", "route", "show", "table", "all"]) + &ip(&["-6", "route", "show", "table", "all"])
}

/// Every nexthop object of the namespace as `ip nexthop show` prints it.
pub fn nexthops() -> Vec<String> {
    ip(&["nexthop", "show"])
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// Our nexthop objects (proto 236).
pub fn ours_nh() -> Vec<String> {
    nexthops()
        .into_iter()
        .filter(|l| l.ends_with("proto 236"))
        .collect()
}

/// Counts route and nexthop changes the kernel announces
/// (RTM_NEWROUTE/DELROUTE, RTM_NEWNEXTHOP/DELNEXTHOP) on the rtnetlink
/// multicast groups, to prove that a run wrote nothing.
pub struct RouteWatch(i32);

impl RouteWatch {
    pub fn new() -> RouteWatch {
        // SAFETY: plain socket calls on a zeroed sockaddr_nl.
        unsafe {
            let fd = libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            );
            assert!(fd >= 0);
            let mut sa: libc::sockaddr_nl = std::mem::zeroed();
            sa.nl_family = libc::AF_NETLINK as u16;
            sa.nl_groups = (libc::RTMGRP_IPV4_ROUTE | libc::RTMGRP_IPV6_ROUTE) as u32;
            let r = libc::bind(
                fd,
                &sa as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            );
            assert_eq!(r, 0, "bind rtnetlink groups");
            // RTNLGRP_NEXTHOP (32) is past the 32-bit nl_groups mask.
            let grp: libc::c_int = 32;
            let r = libc::setsockopt(
                fd,
                libc::SOL_NETLINK,
                libc::NETLINK_ADD_MEMBERSHIP,
                &grp as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as u32,
            );
            assert_eq!(r, 0, "join RTNLGRP_NEXTHOP");
            RouteWatch(fd)
        }
    }

    /// Route messages received since the last call (non-blocking).
    pub fn count(&self) -> usize {
        let mut n = 0;
        let mut buf = vec![0u8; 65536];
        loop {
            // SAFETY: buf is valid for its length.
            let r = unsafe {
                libc::recv(
                    self.0,
                    buf.as_mut_ptr() as *mut _,
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if r <= 0 {
                return n;
            }
            let mut off = 0usize;
            while off + 16 <= r as usize {
                let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
                let ty = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().unwrap());
                // 104/105: RTM_NEWNEXTHOP/RTM_DELNEXTHOP.
                if ty == libc::RTM_NEWROUTE || ty == libc::RTM_DELROUTE || ty == 104 || ty == 105 {
                    n += 1;
                }
                if len < 16 {
                    break;
                }
                off += (len + 3) & !3;
            }
        }
    }
}

impl Drop for RouteWatch {
    fn drop(&mut self) {
        // SAFETY: we own the fd.
        unsafe { libc::close(self.0) };
    }
}

/// The track targets every ISP namespace holds on its loopback.
pub const TARGETS4: [&str; 2] = ["192.0.2.1", "192.0.2.2"];
pub const TARGETS6: [&str; 2] = ["2001:db8:eeee::1", "2001:db8:eeee::2"];

/// An ISP's far end in a network namespace of its own: a thread parked
/// there keeps it alive until the Isp is dropped.
pub struct Isp {
    pub ns: String,
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Isp {
    /// A new namespace with its loopback up. Call inside [`in_netns`].
    pub fn new() -> Isp {
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let (stop, parked) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            // SAFETY: unshare only changes this thread's namespace.
            assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0);
            ip(&["link", "set", "lo", "up"]);
            // SAFETY: gettid has no preconditions.
            tid_tx.send(unsafe { libc::gettid() }).unwrap();
            let _ = parked.recv();
        });
        let tid = tid_rx.recv().expect("ISP namespace");
        Isp {
            ns: format!("/proc/{}/task/{tid}/ns/net", std::process::id()),
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The thread id that names the namespace for `ip link set .. netns`.
    pub fn tid(&self) -> String {
        self.ns.split('/').nth(4).unwrap().to_string()
    }

    /// `ip ARGS` (one line) inside the ISP.
    pub fn ip(&self, args: &str) -> String {
        let o = Command::new("nsenter")
            .arg(format!("--net={}", self.ns))
            .arg("ip")
            .args(args.split_whitespace())
            .output()
            .expect("nsenter (util-linux) is needed");
        assert!(
            o.status.success(),
            "isp: ip {args}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Run `f` on a thread inside the ISP's namespace.
    pub fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> std::thread::JoinHandle<R> {
        let ns = self.ns.clone();
        std::thread::spawn(move || {
            let fd = std::fs::File::open(&ns).expect("ISP namespace");
            use std::os::fd::AsRawFd;
            // SAFETY: setns on this thread with an open namespace fd.
            assert_eq!(
                unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) },
                0
            );
            f()
        })
    }
}

impl Drop for Isp {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Router {
    /// Give dial `i` (up) an ISP namespace of its own: its far end moves
    /// there with the peer addresses, and the ISP's loopback holds
    /// [`TARGETS4`] and [`TARGETS6`]. The dial gets the IPv6 address and
    /// the source-specific default netifd would install for it.
    pub fn isp(&self, i: usize) -> Isp {
        let d = &self.dials[i];
        let isp = Isp::new();
        let peer = format!("peer{}", d.idx);
        ip(&["link", "set", &peer, "netns", &isp.tid()]);
        isp.ip(&format!("link set {peer} up"));
        isp.ip(&format!(
            "addr add {} peer {} dev {peer}",
            d.peer4(),
            d.local4()
        ));
        isp.ip(&format!("-6 addr add {}/64 dev {peer} nodad", d.gw6()));
        isp.ip(&format!(
            "-6 addr add 2001:db8:ff:{:x}::1/64 dev {peer} nodad",
            d.idx
        ));
        for t in TARGETS4 {
            isp.ip(&format!("addr add {t}/32 dev lo"));
        }
        for t in TARGETS6 {
            isp.ip(&format!("-6 addr add {t}/128 dev lo"));
        }
        let dev = d.dev();
        ip_line(&format!("-6 addr add {} dev {dev} nodad", d.addr6()));
        ip_line(&format!(
            "-6 route add default from 2001:db8:ff:{:x}::/64 via {} dev {dev} metric 512",
            d.idx,
            d.gw6()
        ));
        isp
    }
}

/// A LAN host, 192.168.1.10, in a namespace of its own behind the
/// router's `br-lan` (192.168.1.1), its default route the router.
pub fn lan_host() -> Isp {
    let lan = Isp::new();
    ip_line("link add br-lan type veth peer name lan0");
    ip(&["link", "set", "lan0", "netns", &lan.tid()]);
    ip_line("link set br-lan up");
    ip_line("addr add 192.168.1.1/24 dev br-lan");
    lan.ip("link set lan0 up");
    lan.ip("addr add 192.168.1.10/24 dev lan0");
    lan.ip("route add default via 192.168.1.1");
    lan
}

/// The client of [`Router::internet`], on that namespace's loopback.
pub const CLIENT4: &str = "198.51.100.10";
pub const CLIENT6: &str = "2001:db8:cccc::10";

impl Router {
    /// One "internet" namespace behind every dial (up): the far ends move
    /// there with the peer addresses, the dials get their IPv6 address, and
    /// the internet's loopback holds [`CLIENT4`] and [`CLIENT6`].
    pub fn internet(&self) -> Isp {
        let net = Isp::new();
        for d in &self.dials {
            let peer = format!("peer{}", d.idx);
            // A PPP link has no ARP or neighbour discovery; these veths
            // do. A reply routed out of the wrong dial (the very thing the
            // inbound tests provoke) makes the router solicit its peer
            // with that reply's foreign source, which the internet's
            // drop rules discard; the neighbour then sits unresolved for
            // seconds and takes the next, correctly routed replies with
            // it. Fixed neighbours, as on PPP, keep that artefact out.
            let mac = json(&["link", "show", &peer])[0]["address"]
                .as_str()
                .expect("a veth has an address")
                .to_string();
            ip(&[
                "neigh",
                "replace",
                &d.peer4(),
                "lladdr",
                &mac,
                "dev",
                &d.dev(),
                "nud",
                "permanent",
            ]);
            ip(&[
                "-6",
                "neigh",
                "replace",
                &d.gw6(),
                "lladdr",
                &mac,
                "dev",
                &d.dev(),
                "nud",
                "permanent",
            ]);
            ip(&["link", "set", &peer, "netns", &net.tid()]);
            net.ip(&format!("link set {peer} up"));
            net.ip(&format!(
                "addr add {} peer {} dev {peer}",
                d.peer4(),
                d.local4()
            ));
            net.ip(&format!("-6 addr add {}/64 dev {peer} nodad", d.gw6()));
            net.ip(&format!(
                "-6 addr add 2001:db8:ff:{:x}::1/64 dev {peer} nodad",
                d.idx
            ));
            ip_line(&format!("-6 addr add {} dev {} nodad", d.addr6(), d.dev()));
        }
        net.ip(&format!("addr add {CLIENT4}/32 dev lo"));
        net.ip(&format!("-6 addr add {CLIENT6}/128 dev lo nodad"));
        net
    }
}

impl Dial {
    /// The address netifd reports in `ipv6-address` (with its /64).
    pub fn addr6(&self) -> String {
        format!("2001:db8:ff:{:x}::a/64", self.idx)
    }

    /// Cut (or restore) this dial's upstream: the ISP blackholes its
    /// addresses, so the session stays up and forwards nothing.
    pub fn blackhole(&self, isp: &Isp, on: bool) {
        let verb = if on { "add" } else { "del" };
        isp.ip(&format!(
            "rule {verb} to {} blackhole prio 100",
            self.local4()
        ));
        isp.ip(&format!(
            "-6 rule {verb} to 2001:db8:ff:{:x}::a blackhole prio 100",
            self.idx
        ));
    }
}

/// `ip -j ARGS` as JSON (an empty array for no output).
pub fn json(args: &[&str]) -> serde_json::Value {
    let mut a = vec!["-j"];
    a.extend(args);
    let out = ip(&a);
    if out.trim().is_empty() {
        return serde_json::Value::Array(vec![]);
    }
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("ip {a:?}: {e}: {out}"))
}

/// The devices our default route (proto 236) forwards over, sorted; empty
/// when there is no such route.
pub fn route_devs(v6: bool) -> Vec<String> {
    let fam = if v6 { "-6" } else { "-4" };
    let routes = json(&[fam, "route", "show", "default", "proto", "236"]);
    let Some(r) = routes.as_array().and_then(|a| a.first()) else {
        return vec![];
    };
    let mut devs: Vec<String> = if let Some(id) = r["nhid"].as_u64() {
        let o = Command::new("ip")
            .args(["-j", "nexthop", "show", "id", &id.to_string()])
            .output()
            .unwrap();
        let g: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
        g[0]["group"]
            .as_array()
            .map_or(&[][..], |v| &v[..])
            .iter()
            .map(|m| nh_dev(m["id"].as_u64().unwrap()))
            .collect()
    } else if let Some(hops) = r["nexthops"].as_array() {
        hops.iter()
            .map(|h| h["dev"].as_str().unwrap().to_string())
            .collect()
    } else {
        vec![r["dev"].as_str().unwrap().to_string()]
    };
    devs.sort();
    devs
}

/// A nexthop object's device; "?" when it is gone (read between a group
/// and its members, a sweep may have removed it: the caller reads again).
pub fn nh_dev(id: u64) -> String {
    let o = Command::new("ip")
        .args(["-j", "nexthop", "show", "id", &id.to_string()])
        .output()
        .unwrap();
    serde_json::from_slice::<serde_json::Value>(&o.stdout)
        .ok()
        .and_then(|v| v[0]["dev"].as_str().map(String::from))
        .unwrap_or_else(|| "?".into())
}

/// A router's files for the kits' runners (run-router, run-fw4,
/// run-router-vm): our binaries at /usr/sbin, the init scripts, the hooks,
/// and a config dir with a wan zone that masquerades.
pub struct RouterFiles {
    pub d: crate::TempDir,
}

impl RouterFiles {
    pub fn new() -> RouterFiles {
        let d = crate::TempDir::new("router");
        let root = env!("CARGO_MANIFEST_DIR");
        for dir in ["files/usr/sbin", "files/etc/init.d", "config", "hooks"] {
            std::fs::create_dir_all(d.0.join(dir)).unwrap();
        }
        for b in ["ecmp4", "ecmp6", "ecmp-track", "multidial"] {
            std::fs::copy(crate::bin(b), d.0.join("files/usr/sbin").join(b)).unwrap();
        }
        for init in ["multidial", "ecmp-track"] {
            std::fs::copy(
                Path::new(root).join(format!("../openwrt/files/{init}.init")),
                d.0.join("files/etc/init.d").join(init),
            )
            .unwrap();
        }
        for h in ["97-ecmp4", "98-ecmp6"] {
            std::fs::copy(
                Path::new(root).join("../hotplug.d/iface").join(h),
                d.0.join("hooks").join(h),
            )
            .unwrap();
        }
        std::fs::write(
            d.0.join("config/firewall"),
            "config zone\n\toption name 'wan'\n\tlist network 'wan'\n\toption masq '1'\n",
        )
        .unwrap();
        std::fs::write(d.0.join("files/etc/pw"), "pw\n").unwrap();
        RouterFiles { d }
    }

    /// run-router --dials N with our files; `script` runs inside (sh -c).
    pub fn run(&self, rr: &Path, dials: u32, extra: &[&str], script: &str) -> (i32, String) {
        let o = Command::new(rr)
            .args(["--dials", &dials.to_string()])
            .arg("--config-dir")
            .arg(self.d.0.join("config"))
            .arg("--files")
            .arg(self.d.0.join("files"))
            .arg("--hotplug-dir")
            .arg(self.d.0.join("hooks"))
            .arg("--state")
            .arg(self.d.0.join("state"))
            .args(extra)
            .args(["--", "sh", "-c", script])
            // Into a file, and the runner waited for, not its pipes: a
            // helper it leaves behind (run-vm's watchdog) would hold a
            // pipe open until its own timeout.
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(self.d.0.join("out.txt")).unwrap())
            .stderr(std::fs::File::create(self.d.0.join("err.txt")).unwrap())
            .status()
            .unwrap();
        let read = |f: &str| std::fs::read_to_string(self.d.0.join(f)).unwrap_or_default();
        (o.code().unwrap_or(-1), read("out.txt") + &read("err.txt"))
    }
}

/// One TCP connection from `from` (a port of its own) to `to` within
/// `wait`, and the first `n` bytes of its answer. On failure, the step
/// that failed and the time it took.
pub fn exchange(
    from: std::net::IpAddr,
    to: std::net::SocketAddr,
    wait: std::time::Duration,
    n: usize,
) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::net::SocketAddr;
    let domain = if from.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    let t0 = std::time::Instant::now();
    let took = || format!("{} ms", t0.elapsed().as_millis());
    // std has no bind-then-connect with a timeout: a raw socket made into
    // a TcpStream after connect.
    // SAFETY: a socket of our own, owned by Sock from here on.
    let sock: socket2_like::Sock = unsafe {
        let fd = libc::socket(domain, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        std::os::fd::FromRawFd::from_raw_fd(fd)
    };
    // Every connection its own source port: a 5-tuple of an earlier
    // failed attempt would find its conntrack entry.
    static PORTS: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(10000);
    let port = PORTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    sock.bind(SocketAddr::new(from, port))
        .map_err(|e| format!("bind port {port}: {e}"))?;
    let mut stream = sock
        .connect(to, wait)
        .map_err(|e| format!("port {port}: connect: {e} after {}", took()))?;
    let _ = stream.set_read_timeout(Some(wait));
    let mut b = vec![0u8; n];
    stream
        .read_exact(&mut b)
        .map_err(|e| format!("port {port}: read: {e} after {}", took()))?;
    Ok(b)
}

/// Just enough of a socket to bind a source and connect with a timeout.
mod socket2_like {
    use std::net::{SocketAddr, TcpStream};
    use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
    use std::time::Duration;

    pub struct Sock(OwnedFd);

    impl FromRawFd for Sock {
        unsafe fn from_raw_fd(fd: i32) -> Sock {
            Sock(OwnedFd::from_raw_fd(fd))
        }
    }

    fn sockaddr(a: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
        // SAFETY: all-zero is valid for sockaddr_storage and the structs.
        unsafe {
            let mut ss: libc::sockaddr_storage = std::mem::zeroed();
            let len = match a {
                SocketAddr::V4(v) => {
                    let mut s: libc::sockaddr_in = std::mem::zeroed();
                    s.sin_family = libc::AF_INET as u16;
                    s.sin_port = v.port().to_be();
                    s.sin_addr.s_addr = u32::from_ne_bytes(v.ip().octets());
                    std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), s);
                    std::mem::size_of::<libc::sockaddr_in>()
                }
                SocketAddr::V6(v) => {
                    let mut s: libc::sockaddr_in6 = std::mem::zeroed();
                    s.sin6_family = libc::AF_INET6 as u16;
                    s.sin6_port = v.port().to_be();
                    s.sin6_addr.s6_addr = v.ip().octets();
                    std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), s);
                    std::mem::size_of::<libc::sockaddr_in6>()
                }
            };
            (ss, len as libc::socklen_t)
        }
    }

    impl Sock {
        pub fn bind(&self, at: SocketAddr) -> std::io::Result<()> {
            let (ss, len) = sockaddr(at);
            // SAFETY: ss holds len bytes of a sockaddr.
            let r = unsafe {
                libc::bind(
                    self.0.as_raw_fd(),
                    (&ss as *const libc::sockaddr_storage).cast(),
                    len,
                )
            };
            if r == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        }

        pub fn connect(self, to: SocketAddr, timeout: Duration) -> std::io::Result<TcpStream> {
            let fd = self.0.as_raw_fd();
            let (ss, len) = sockaddr(to);
            // SAFETY: fcntl, connect and poll on our own descriptor.
            unsafe {
                let fl = libc::fcntl(fd, libc::F_GETFL);
                libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
                let r = libc::connect(fd, (&ss as *const libc::sockaddr_storage).cast(), len);
                if r != 0
                    && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINPROGRESS)
                {
                    return Err(std::io::Error::last_os_error());
                }
                let mut p = libc::pollfd {
                    fd,
                    events: libc::POLLOUT,
                    revents: 0,
                };
                if libc::poll(&mut p, 1, timeout.as_millis() as i32) != 1 {
                    return Err(std::io::ErrorKind::TimedOut.into());
                }
                let mut err: libc::c_int = 0;
                let mut l = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
                libc::getsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_ERROR,
                    (&mut err as *mut libc::c_int).cast(),
                    &mut l,
                );
                if err != 0 {
                    return Err(std::io::Error::from_raw_os_error(err));
                }
                libc::fcntl(fd, libc::F_SETFL, fl);
                Ok(TcpStream::from_raw_fd(self.0.into_raw_fd()))
            }
        }
    }
}

/// A running ecmp-track of a [`Router`], killed when dropped.
pub struct Tracker {
    pub child: std::process::Child,
    log: PathBuf,
}

impl Tracker {
    /// What it said on stderr so far (it runs with -v).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Router {
    /// ecmp-track with `config`, this router's state directory, stand-in
    /// ubus and lock; its stderr in `track.log`.
    pub fn tracker(&self, config: &Path) -> Tracker {
        let log = self.path("track.log");
        let child = Command::new(bin("ecmp-track"))
            .arg("-v")
            .arg("--config")
            .arg(config)
            .arg("--state-dir")
            .arg(&self.dir.0)
            .arg("--ubus")
            .arg(self.path("ubus"))
            .arg("--ubus-socket")
            .arg(self.path("ubus.sock"))
            .arg("--lock-file")
            .arg(self.path("lock"))
            .arg("--syslog-socket")
            .arg(self.path("no-syslog"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("ecmp-track");
        Tracker { child, log }
    }
}

/// CPU per forwarded packet, for the data-plane benchmarks: the sender's
/// thread pinned to CPU 0, where the whole path runs in its softirq.
pub mod dataplane {
    use crate::Isp;
    use std::net::UdpSocket;
    use std::time::{Duration, Instant};

    const PORTS: u16 = 1024;

    /// CPU time (user + system) of ksoftirqd/0, in nanoseconds.
    pub fn ksoftirqd0() -> u64 {
        static PID: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
        let pid = PID.get_or_init(|| {
            std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
                let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
                (comm.trim() == "ksoftirqd/0").then(|| e.file_name().to_string_lossy().into_owned())
            })
        });
        let Some(pid) = pid else { return 0 };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the command's closing parenthesis: utime is the 14th
        // field of the line, stime the 15th (12th and 13th after it).
        let rest = stat.rsplit(')').next().unwrap_or("");
        let f: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        f.get(10)
            .zip(f.get(11))
            .map_or(0, |(u, s)| (u + s) * 1_000_000_000 / hz)
    }

    pub fn thread_cpu() -> u64 {
        let mut t = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: a valid timespec out-pointer.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
        t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
    }

    /// Nanoseconds of CPU per packet: `round` of 64-byte UDP from `from`
    /// (1,024 source ports from `sport`, the LAN host's namespace) to
    /// `to`, port 9.
    pub fn per_packet(
        lan: &Isp,
        from: &'static str,
        sport: u16,
        to: &'static str,
        round: Duration,
    ) -> f64 {
        lan.run(move || {
            // SAFETY: a cpu_set_t of CPU 0 for this thread.
            unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(0, &mut set);
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
            }
            let socks: Vec<UdpSocket> = (0..PORTS)
                .map(|i| UdpSocket::bind((from, sport + i)).unwrap())
                .collect();
            let b = [0u8; 22]; // 64 bytes on the wire with the headers
            let to = (to, 9);
            // Warm the conntrack entries and route caches.
            for s in &socks {
                let _ = s.send_to(&b, to);
            }
            let (cpu0, soft0, t0) = (thread_cpu(), ksoftirqd0(), Instant::now());
            let mut sent = 0u64;
            while t0.elapsed() < round {
                for s in &socks {
                    if s.send_to(&b, to).is_ok() {
                        sent += 1;
                    }
                }
            }
            let ns = (thread_cpu() - cpu0) + (ksoftirqd0() - soft0);
            ns as f64 / sent as f64
        })
        .join()
        .unwrap()
    }

    pub fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    }
}

/// `nft -f -` with `script`, panicking with it on failure.
pub fn nft(script: &str) {
    use std::io::Write;
    let mut c = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("nft (nftables) is needed");
    c.stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    assert!(c.wait().unwrap().success(), "nft -f - <<EOF\n{script}EOF");
}
