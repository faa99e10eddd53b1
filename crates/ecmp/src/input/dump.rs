//! Typed model of `ubus call network.interface dump`, read in place from
//! netifd's blobmsg (a [`Tree`]): ubusd's answer as it arrived, or a JSON
//! dump (from `--dump-file` or `--ubus PROGRAM`) encoded to blobmsg first,
//! so both forms go through one reader and can never disagree.
//!
//! Only the fields ecmp4/ecmp6 use are modelled; unknown fields are ignored
//! and every field may be missing (a down interface carries almost
//! nothing). A field that is present with the wrong type is an error: it
//! means the input is not netifd's, and guessing would risk the route.

use crate::input::value::{self, Tree, Value};
use crate::Error;
use std::borrow::Cow;

/// Dumps larger than this are refused before parsing (a router with 256
/// dials and IPv6 dumps well under 1 MiB).
pub const MAX_DUMP: usize = 8 << 20;

/// The whole dump: a top-level object whose `interface` array is
/// required. `[]`, `{}` or one interface's status (what `ifstatus X`
/// prints) are not a dump, and acting on them as "no live links" would
/// delete the route.
///
/// Strings borrow from what the dump was read from (netifd's blobmsg as
/// ubusd delivered it, or JSON text): copying 1,700 of them at 64 dials,
/// and freeing them, was a sixth of reading it.
#[derive(Debug, Default, PartialEq)]
pub struct Dump<'a> {
    pub interface: Vec<Interface<'a>>,
}

#[derive(Debug, Default, PartialEq)]
pub struct Interface<'a> {
    pub interface: Cow<'a, str>,
    pub up: bool,
    pub proto: Cow<'a, str>,
    pub device: Option<Cow<'a, str>>,
    pub l3_device: Option<Cow<'a, str>>,
    pub metric: Option<u32>,
    /// Seconds since the interface came up.
    pub uptime: Option<u64>,
    pub ipv4_address: Vec<Address<'a>>,
    pub ipv6_address: Vec<Address<'a>>,
    /// Prefixes delegated to this interface (`ipv6-prefix`).
    pub ipv6_prefix: Vec<Address<'a>>,
    pub route: Vec<RouteEntry<'a>>,
    pub inactive: Inactive<'a>,
}

#[derive(Debug, Default, PartialEq)]
pub struct Inactive<'a> {
    pub route: Vec<RouteEntry<'a>>,
}

#[derive(Debug, Default, PartialEq)]
pub struct Address<'a> {
    pub address: Cow<'a, str>,
    pub mask: Option<u32>,
    pub ptpaddress: Option<Cow<'a, str>>,
}

/// One entry of an interface's `route` array. netifd writes `valid` only
/// for routes with a lifetime (odhcp6c's), `metric` only when set, and
/// `table` only for routes outside main.
#[derive(Debug, Default, PartialEq)]
pub struct RouteEntry<'a> {
    pub target: Cow<'a, str>,
    pub mask: u32,
    pub nexthop: Option<Cow<'a, str>>,
    pub source: Option<Cow<'a, str>>,
    pub metric: Option<u32>,
    pub valid: Option<i64>,
    pub table: Option<u32>,
}

impl RouteEntry<'_> {
    /// Is this the family's default route (0.0.0.0/0 or ::/0)?
    pub fn is_default(&self, any: &str) -> bool {
        self.mask == 0 && self.target == any
    }

    /// netifd reports the remaining lifetime; 0 (or a wrapped negative)
    /// means the route has expired and odhcp6c will drop it.
    pub fn is_live(&self) -> bool {
        match self.valid {
            None => true,
            Some(v) => v > 0 && v <= i64::from(i32::MAX),
        }
    }
}

/// Where a value is in the dump (`dump.interface[3].route[0]`), spelled
/// out only for an error: formatting it for every entry was a tenth of an
/// event's time at 64 dials.
#[derive(Clone, Copy)]
enum At<'p> {
    Root,
    Key(&'p At<'p>, &'p str),
    Index(&'p At<'p>, usize),
}

impl std::fmt::Display for At<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            At::Root => f.write_str("dump"),
            At::Key(p, k) => write!(f, "{p}.{k}"),
            At::Index(p, i) => write!(f, "{p}[{i}]"),
        }
    }
}

/// Reading one object's fields, each error naming where it is: the
/// members named `keys`, found in one pass ([`Tree::fields`]).
struct Fields<'p, T> {
    keys: &'static [&'static str],
    got: [Option<T>; MAX_KEYS],
    at: At<'p>,
}

/// The most fields read of one object (an interface's).
const MAX_KEYS: usize = 12;

fn bad<'a>(at: &At, v: impl Tree<'a>, want: &str) -> Error {
    Error::Input(format!(
        "dump is not netifd's: {at}: invalid type: {}, expected {want}",
        v.kind()
    ))
}

impl<'a, 'p, T: Tree<'a>> Fields<'p, T> {
    fn of(v: T, at: At<'p>, keys: &'static [&'static str]) -> Result<Self, Error> {
        debug_assert!(keys.len() <= MAX_KEYS);
        match v.is_object() {
            true => {
                let mut got = [None; MAX_KEYS];
                v.fields(keys, &mut got);
                Ok(Fields { keys, got, at })
            }
            false => Err(bad(&at, v, "an object")),
        }
    }

    /// Field `i` (of the keys), when present and not null. By index: a
    /// search of the keys by name for each field was a tenth of reading
    /// the dump.
    fn get(&self, i: usize) -> Option<T> {
        self.got.get(i).copied().flatten().filter(|x| !x.is_null())
    }

    fn path(&self, i: usize) -> At<'_> {
        At::Key(&self.at, self.keys.get(i).copied().unwrap_or("?"))
    }

    fn string(&self, k: usize) -> Result<Option<Cow<'a, str>>, Error> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => match v.str() {
                Some(s) => Ok(Some(s)),
                None => Err(bad(&self.path(k), v, "a string")),
            },
        }
    }

    fn boolean(&self, k: usize) -> Result<bool, Error> {
        match self.get(k) {
            None => Ok(false),
            Some(v) => v.bool().ok_or_else(|| bad(&self.path(k), v, "a boolean")),
        }
    }

    fn int<I: TryFrom<i64>>(&self, k: usize, what: &str) -> Result<Option<I>, Error> {
        let Some(v) = self.get(k) else {
            return Ok(None);
        };
        let Some(i) = v.int() else {
            return Err(bad(&self.path(k), v, what));
        };
        I::try_from(i).map(Some).map_err(|_| {
            Error::Input(format!(
                "dump is not netifd's: {}: invalid value: {i}, expected {what}",
                self.path(k)
            ))
        })
    }

    fn list<X>(&self, k: usize, each: impl Fn(T, At) -> Result<X, Error>) -> Result<Vec<X>, Error> {
        let at = self.path(k);
        match self.get(k) {
            None => Ok(Vec::new()),
            Some(v) => match v.items() {
                Some(items) => {
                    let mut out = Vec::with_capacity(v.count());
                    for (i, x) in items.enumerate() {
                        out.push(each(x, At::Index(&at, i))?);
                    }
                    Ok(out)
                }
                None => Err(bad(&at, v, "an array")),
            },
        }
    }
}

// Each reader names its keys once; the fields are read by their index
// in that list.

fn address<'a>(v: impl Tree<'a>, at: At) -> Result<Address<'a>, Error> {
    let f = Fields::of(v, at, &["address", "mask", "ptpaddress"])?;
    Ok(Address {
        address: f.string(0)?.unwrap_or_default(),
        mask: f.int(1, "u32")?,
        ptpaddress: f.string(2)?,
    })
}

fn route<'a>(v: impl Tree<'a>, at: At) -> Result<RouteEntry<'a>, Error> {
    const KEYS: [&str; 7] = [
        "target", "mask", "nexthop", "source", "metric", "valid", "table",
    ];
    let f = Fields::of(v, at, &KEYS)?;
    Ok(RouteEntry {
        target: f.string(0)?.unwrap_or_default(),
        mask: f.int(1, "u32")?.unwrap_or(0),
        nexthop: f.string(2)?,
        source: f.string(3)?,
        metric: f.int(4, "u32")?,
        valid: f.int(5, "i64")?,
        table: f.int(6, "u32")?,
    })
}

fn interface<'a>(v: impl Tree<'a>, at: At) -> Result<Interface<'a>, Error> {
    const KEYS: [&str; 12] = [
        "interface",    // 0
        "up",           // 1
        "proto",        // 2
        "device",       // 3
        "l3_device",    // 4
        "metric",       // 5
        "uptime",       // 6
        "ipv4-address", // 7
        "ipv6-address", // 8
        "ipv6-prefix",  // 9
        "route",        // 10
        "inactive",     // 11
    ];
    let f = Fields::of(v, at, &KEYS)?;
    let inactive = match f.get(11) {
        None => Inactive::default(),
        Some(x) => Inactive {
            route: Fields::of(x, f.path(11), &["route"])?.list(0, route)?,
        },
    };
    Ok(Interface {
        interface: f.string(0)?.unwrap_or_default(),
        up: f.boolean(1)?,
        proto: f.string(2)?.unwrap_or_default(),
        device: f.string(3)?,
        l3_device: f.string(4)?,
        metric: f.int(5, "u32")?,
        uptime: f.int(6, "u64")?,
        ipv4_address: f.list(7, address)?,
        ipv6_address: f.list(8, address)?,
        ipv6_prefix: f.list(9, address)?,
        route: f.list(10, route)?,
        inactive,
    })
}

/// JSON text, checked for size and emptiness, parsed.
fn json(bytes: &[u8]) -> Result<Value<'_>, Error> {
    if bytes.len() > MAX_DUMP {
        // Readers stop one byte past the cap: "more than" is all we know.
        return Err(Error::Input(format!(
            "dump is more than {MAX_DUMP} bytes (8 MiB)"
        )));
    }
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Error::Input("dump is empty".into()));
    }
    value::parse_json(bytes).map_err(|e| Error::Input(format!("dump is not netifd JSON: {e}")))
}

fn not_an_object() -> Error {
    Error::Input("dump is not netifd's: not a JSON object with an \"interface\" array".into())
}

impl<'a> Dump<'a> {
    /// The typed dump from a decoded one (its strings borrow what the
    /// value borrows).
    pub fn from_value(v: &Value<'a>) -> Result<Dump<'a>, Error> {
        Dump::from_tree(v)
    }

    /// The typed dump from either form: a [`Value`], or ubusd's blobmsg
    /// as [`crate::input::blob::read`] gives it (nothing copied but what we keep).
    pub fn from_tree(v: impl Tree<'a>) -> Result<Dump<'a>, Error> {
        if !v.is_object() {
            return Err(not_an_object());
        }
        let f = Fields::of(v, At::Root, &["interface"])?;
        if f.get(0).is_none() {
            return Err(Error::Input(
                "dump is not netifd's: missing field `interface`".into(),
            ));
        }
        let d = Dump {
            interface: f.list(0, interface)?,
        };
        // netifd always has loopback (and lan): an empty list is not a
        // real netifd's answer, and "no live links" would delete the route.
        if d.interface.is_empty() {
            return Err(Error::Input(
                "dump lists no interfaces, not even loopback: not netifd's; route kept".into(),
            ));
        }
        Ok(d)
    }

    /// Parse a JSON dump, refusing oversized input. Errors name the line
    /// and column the parser stopped at.
    pub fn parse(bytes: &'a [u8]) -> Result<Dump<'a>, Error> {
        Dump::from_value(&json(bytes)?)
    }

    /// A JSON dump as the blobmsg netifd would have sent (what ecmp4 and
    /// ecmp6 read, so that they hold one reader of the typed dump, not
    /// two): [`Dump::parse`]'s checks, then [`crate::input::blob::encode`].
    pub fn json_to_blob(bytes: &[u8]) -> Result<Vec<u8>, Error> {
        let v = json(bytes)?;
        if !v.is_object() {
            return Err(not_an_object());
        }
        crate::input::blob::encode::checked(&v)
            .map_err(|e| Error::Input(format!("dump is not netifd's: {e}")))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The shared fixtures, when the repository sits beside shared/; tests
    /// that use them also have copies under tests/fixtures.
    pub fn fixture(name: &str) -> Vec<u8> {
        let p = format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    #[test]
    fn parses_real_dump() {
        let text = fixture("netifd/dump-2dials-ipv6.json");
        let d = Dump::parse(&text).unwrap();
        let names: Vec<_> = d.interface.iter().map(|i| i.interface.as_ref()).collect();
        assert_eq!(
            names,
            ["VWAN1", "VWAN1_6", "lan", "loopback", "wan", "wan_6"]
        );
        let w = &d.interface[4];
        assert!(w.up);
        assert_eq!(w.l3_device.as_deref(), Some("pppoe-wan"));
        assert_eq!(w.ipv4_address[0].ptpaddress.as_deref(), Some("100.64.0.1"));
        assert!(w.route[0].is_default("0.0.0.0"));
        let w6 = &d.interface[5];
        assert_eq!(w6.route.iter().filter(|r| r.is_default("::")).count(), 2);
    }

    #[test]
    fn down_interface_with_almost_nothing() {
        let d =
            Dump::parse(br#"{"interface":[{"interface":"VWAN2","up":false,"proto":"pppoe"},{}]}"#)
                .unwrap();
        assert_eq!(d.interface.len(), 2);
        assert!(d.interface[0].l3_device.is_none());
        assert!(!d.interface[1].up);
    }

    #[test]
    fn escaped_slashes_from_ubus_cli() {
        let mut j = b"{\"interface\":[".to_vec();
        j.extend(fixture("field/wan-dhcp-escaped-slashes.json"));
        j.extend(b"]}");
        let d = Dump::parse(&j).unwrap();
        assert_eq!(
            d.interface[0].route[1].source.as_deref(),
            Some("192.168.2.162/32")
        );
    }

    #[test]
    fn bad_input_is_refused() {
        for (input, what) in [
            (&b""[..], "empty"),
            (b"  \n", "empty"),
            (
                b"{\"interface\":[{\"up\":\"yes\"}]}",
                "dump.interface[0].up: invalid type: string \"yes\", expected a boolean",
            ),
            (b"{\"interface\":{}}", "invalid type"),
            (
                b"{\"interface\":[{\"metric\":-1}]}",
                "invalid value: -1, expected u32",
            ),
            (
                b"{\"interface\":[{\"route\":[{\"mask\":1.5}]}]}",
                "dump.interface[0].route[0].mask: invalid type",
            ),
            (
                b"{\"interface\":[{},{\"inactive\":{\"route\":[{},{\"valid\":\"x\"}]}}]}",
                "dump.interface[1].inactive.route[1].valid: invalid type: string \"x\", expected i64",
            ),
            (b"{\"interface\":[", "EOF"),
            (b"not json", "expected ident at line 1 column 2"),
            (b"[]", "not a JSON object"),
            (
                b"[[{\"interface\":\"x\",\"up\":true}]]",
                "not a JSON object",
            ),
            (b"{}", "missing field `interface`"),
            (b"{\"interface\":[]}", "no interfaces"),
            (
                b"{\"up\":true,\"proto\":\"pppoe\",\"l3_device\":\"pppoe-VWAN1\"}",
                "missing field `interface`",
            ),
        ] {
            let e = Dump::parse(input).unwrap_err();
            assert_eq!(e.exit_code(), 4);
            assert!(e.to_string().contains(what), "{e} should mention {what}");
        }
        let big = vec![b' '; MAX_DUMP + 1];
        assert!(Dump::parse(&big)
            .unwrap_err()
            .to_string()
            .contains("more than"));
    }

    /// What ecmp4 and ecmp6 read a JSON dump as (blobmsg, by the one
    /// reader) gives what the JSON reader gives: the dump, or the words
    /// of its refusal.
    #[test]
    fn json_read_as_blobmsg_is_json_read_as_json() {
        let via_blob = |j: &[u8]| -> Result<String, String> {
            let b = Dump::json_to_blob(j).map_err(|e| e.to_string())?;
            let n = crate::input::blob::read(&b).map_err(|e| e.to_string())?;
            Dump::from_tree(n)
                .map(|d| format!("{d:?}"))
                .map_err(|e| e.to_string())
        };
        let direct = |j: &[u8]| {
            Dump::parse(j)
                .map(|d| format!("{d:?}"))
                .map_err(|e| e.to_string())
        };
        let mut inputs: Vec<Vec<u8>> = [
            "dump-2dials-ipv6.json",
            "dump-8dials-ipv6.json",
            "status-VWAN1-pppoe.json",
        ]
        .iter()
        .map(|f| fixture(&format!("netifd/{f}")))
        .collect();
        for bad in [
            &b""[..],
            b"[]",
            b"{}",
            b"{\"interface\":[]}",
            b"{\"interface\":{}}",
            b"{\"interface\":[{\"up\":\"yes\"}]}",
            b"{\"interface\":[{\"metric\":-1}]}",
            b"{\"interface\":[{\"route\":[{\"mask\":1.5}]}]}",
            b"{\"interface\":[{\"route\":[{\"mask\":99999999999}]}]}",
            b"{\"interface\":[{},{\"inactive\":{\"route\":[{},{\"valid\":\"x\"}]}}]}",
            b"{\"interface\":[{\"interface\":null,\"up\":true}]}",
            b"not json",
        ] {
            inputs.push(bad.to_vec());
        }
        for j in &inputs {
            assert_eq!(via_blob(j), direct(j), "{}", String::from_utf8_lossy(j));
        }
        // What blobmsg cannot hold is refused, not mangled.
        let long = format!("{{\"interface\":[{{\"{}\":1}}]}}", "k".repeat(70_000));
        let e = Dump::json_to_blob(long.as_bytes()).unwrap_err();
        assert_eq!(e.exit_code(), 4);
        assert!(e.to_string().contains("longer than 65535"), "{e}");
        let many = format!("{{\"interface\":[{}0]}}", "0,".repeat(1_500_000));
        let e = Dump::json_to_blob(many.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("more than it can hold"), "{e}");
    }

    #[test]
    fn one_interface_status_is_not_a_dump() {
        // What `ifstatus VWAN1` prints: one interface, no array.
        let text = fixture("netifd/status-VWAN1-pppoe.json");
        let e = Dump::parse(&text).unwrap_err();
        assert_eq!(e.exit_code(), 4, "{e}");
    }

    #[test]
    fn truncated_at_every_offset_never_panics() {
        let full = fixture("netifd/dump-2dials-ipv6.json");
        for n in 0..full.len() {
            // Every strict prefix is either invalid or (at the very end,
            // trailing whitespace only) the whole document.
            if let Ok(d) = Dump::parse(&full[..n]) {
                assert_eq!(
                    d.interface.len(),
                    6,
                    "prefix {n} parsed as a different dump"
                );
            }
        }
    }
}
