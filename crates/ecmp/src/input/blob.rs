//! ubus's wire format as bytes, a pure codec apart from the socket
//! (`ubus.rs`): the 8-byte message header, libubox's blob attributes
//! (big-endian `id_len`: extended bit, 7-bit id, 24-bit length including
//! the 4-byte header, 4-byte padding) and blobmsg (a blob attribute with
//! the extended bit, a big-endian name length and a NUL-terminated name
//! before the value). References: ubus's ubusmsg.h and libubus-io.c,
//! libubox's blob.h and blobmsg.h.

use crate::input::value::{Tree, Value, MAX_DEPTH};
use std::borrow::Cow;

pub const MSG_HELLO: u8 = 0;
pub const MSG_STATUS: u8 = 1;
pub const MSG_DATA: u8 = 2;
pub const MSG_LOOKUP: u8 = 4;
pub const MSG_INVOKE: u8 = 5;

pub const ATTR_STATUS: u8 = 1;
pub const ATTR_OBJPATH: u8 = 2;
pub const ATTR_OBJID: u8 = 3;
pub const ATTR_METHOD: u8 = 4;
pub const ATTR_DATA: u8 = 7;

/// ubusd refuses messages larger than this (UBUS_MAX_MSGLEN); so do we.
pub const MAX_MSGLEN: usize = 1 << 20;
pub const HDR_LEN: usize = 8;

const EXTENDED: u32 = 0x8000_0000;
const ID_MASK: u32 = 0x7f00_0000;
const LEN_MASK: u32 = 0x00ff_ffff;

const BLOBMSG_UNSPEC: u8 = 0;
const BLOBMSG_ARRAY: u8 = 1;
const BLOBMSG_TABLE: u8 = 2;
const BLOBMSG_STRING: u8 = 3;
const BLOBMSG_INT64: u8 = 4;
const BLOBMSG_INT32: u8 = 5;
const BLOBMSG_INT16: u8 = 6;
const BLOBMSG_INT8: u8 = 7;

fn pad4(n: usize) -> usize {
    (n + 3) & !3
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// A message header: (type, seq, peer), or why it is not one.
pub fn parse_header(h: &[u8]) -> Result<(u8, u16, u32), String> {
    if h.len() < HDR_LEN {
        return Err("short ubus header".into());
    }
    if h[0] != 0 {
        return Err(format!("ubus message version {}", h[0]));
    }
    Ok((
        h[1],
        u16::from_be_bytes([h[2], h[3]]),
        be32(h, 4).unwrap_or(0),
    ))
}

/// The length of the container attribute that starts at `b` (its 4-byte
/// header included), checked against [`MAX_MSGLEN`].
pub fn container_len(b: &[u8]) -> Result<usize, String> {
    let len = (be32(b, 0).ok_or("short ubus message")? & LEN_MASK) as usize;
    if len < 4 {
        return Err(format!("ubus message attribute length {len}"));
    }
    if pad4(len) > MAX_MSGLEN {
        return Err(format!(
            "ubus message of {len} bytes, more than {MAX_MSGLEN}"
        ));
    }
    Ok(len)
}

/// One attribute: (extended, id, payload).
pub type Attr<'a> = (bool, u8, &'a [u8]);

/// The one blob walker: each well-formed attribute of `b`; it stops at
/// the first whose length does not fit, never reading past `b`.
pub fn attrs(mut b: &[u8]) -> impl Iterator<Item = Attr<'_>> {
    std::iter::from_fn(move || {
        let id_len = be32(b, 0)?;
        let len = (id_len & LEN_MASK) as usize;
        if len < 4 || len > b.len() {
            return None;
        }
        let a = (
            id_len & EXTENDED != 0,
            ((id_len & ID_MASK) >> 24) as u8,
            &b[4..len],
        );
        b = &b[pad4(len).min(b.len())..];
        Some(a)
    })
}

/// Why a blob is refused: small on the hot path (a `String` in every
/// `Result` of the walk cost more than the walk), worded only when it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bad {
    Truncated,
    /// An attribute's length, and the room left for it.
    Length(usize, usize),
    /// A plain attribute of this type where blobmsg is expected.
    Unnamed(u8),
    ShortHeader,
    /// A name of this length that does not fit.
    Name(usize),
    /// An integer of this many bytes.
    Int(usize),
    Deep,
}

impl Bad {
    fn text(self) -> String {
        match self {
            Bad::Truncated => "truncated blob attribute".into(),
            Bad::Length(len, room) => format!("blob attribute of {len} bytes in {room}"),
            Bad::Unnamed(ty) => format!("blobmsg attribute of type {ty} without a name header"),
            Bad::ShortHeader => "short blobmsg header".into(),
            Bad::Name(n) => format!("blobmsg name of {n} bytes does not fit"),
            Bad::Int(n) => format!("blobmsg integer of {n} bytes"),
            Bad::Deep => "blobmsg nested too deep".into(),
        }
    }
}

/// The first blobmsg attribute of `b`, checked (it fits, and so does its
/// name header): (type, name, value, the rest), or None at the end. Both
/// readers, [`entries`] and [`check`], walk with it in one pass, so they
/// refuse the same input with the same words.
#[allow(clippy::type_complexity)]
#[inline(always)]
fn next_checked(b: &[u8]) -> Result<Option<(u8, &[u8], &[u8], &[u8])>, Bad> {
    if b.is_empty() {
        return Ok(None);
    }
    let id_len = be32(b, 0).ok_or(Bad::Truncated)?;
    let len = (id_len & LEN_MASK) as usize;
    if len < 4 || len > b.len() {
        return Err(Bad::Length(len, b.len()));
    }
    let ty = ((id_len & ID_MASK) >> 24) as u8;
    if id_len & EXTENDED == 0 {
        return Err(Bad::Unnamed(ty));
    }
    let (_, name, data) = name_and_value(ty, &b[4..len])?;
    Ok(Some((ty, name, data, &b[pad4(len).min(b.len())..])))
}

fn put(out: &mut Vec<u8>, id: u8, extended: bool, payload: &[u8]) {
    let len = (4 + payload.len()) as u32;
    let mut id_len = (u32::from(id) << 24) | len;
    if extended {
        id_len |= EXTENDED;
    }
    out.extend(id_len.to_be_bytes());
    out.extend(payload);
    out.resize(pad4(out.len()), 0);
}

/// A message: header, then a container attribute holding `attrs`.
fn message(ty: u8, seq: u16, peer: u32, attrs: &[u8]) -> Vec<u8> {
    let mut m = vec![0, ty];
    m.extend(seq.to_be_bytes());
    m.extend(peer.to_be_bytes());
    put(&mut m, 0, false, attrs);
    m
}

fn string(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// LOOKUP of the object `path` (ubusd answers, peer 0).
pub fn lookup(seq: u16, path: &str) -> Vec<u8> {
    let mut a = Vec::new();
    put(&mut a, ATTR_OBJPATH, false, &string(path));
    message(MSG_LOOKUP, seq, 0, &a)
}

/// INVOKE of `method` on object `obj`, with an empty table of arguments.
pub fn invoke(seq: u16, obj: u32, method: &str) -> Vec<u8> {
    let mut a = Vec::new();
    put(&mut a, ATTR_OBJID, false, &obj.to_be_bytes());
    put(&mut a, ATTR_METHOD, false, &string(method));
    put(&mut a, ATTR_DATA, false, &[]);
    message(MSG_INVOKE, seq, obj, &a)
}

/// The top-level attribute `id` of a message's container payload.
pub fn find(payload: &[u8], id: u8) -> Option<&[u8]> {
    attrs(payload).find(|a| !a.0 && a.1 == id).map(|a| a.2)
}

pub fn int32(b: &[u8]) -> Option<u32> {
    be32(b, 0)
}

pub fn str_of(b: &[u8]) -> &str {
    std::str::from_utf8(b.split(|c| *c == 0).next().unwrap_or(b)).unwrap_or("")
}

/// A blobmsg table's content (what UBUS_ATTR_DATA holds) as an object.
pub fn table(b: &[u8]) -> Result<Value<'_>, String> {
    entries(b, true, 0)
}

/// One blobmsg attribute's (type, name, value bytes).
type Member<'a> = (u8, &'a [u8], &'a [u8]);

/// struct blobmsg_hdr: be16 name length, the name, NUL, padding; then the
/// value.
#[inline(always)]
fn name_and_value(ty: u8, p: &[u8]) -> Result<Member<'_>, Bad> {
    let [a, b, ..] = *p else {
        return Err(Bad::ShortHeader);
    };
    let nlen = usize::from(u16::from_be_bytes([a, b]));
    let start = pad4(2 + nlen + 1);
    match (p.get(2..2 + nlen), p.get(start..)) {
        (Some(n), Some(d)) if p.get(2 + nlen) == Some(&0) => Ok((ty, n, d)),
        _ => Err(Bad::Name(nlen)),
    }
}

/// A blobmsg integer (INT64/32/16) or boolean (INT8, as netifd sends its
/// booleans), or why it is refused (too short); None: not one of those.
#[inline]
fn integer(ty: u8, data: &[u8]) -> Option<Result<i64, Bad>> {
    let short = Err(Bad::Int(data.len()));
    Some(match (ty, data) {
        (BLOBMSG_INT64, [a, b, c, d, e, f, g, h, ..]) => {
            Ok(i64::from_be_bytes([*a, *b, *c, *d, *e, *f, *g, *h]))
        }
        (BLOBMSG_INT32, [a, b, c, d, ..]) => Ok(i64::from(i32::from_be_bytes([*a, *b, *c, *d]))),
        (BLOBMSG_INT16, [a, b, ..]) => Ok(i64::from(i16::from_be_bytes([*a, *b]))),
        (BLOBMSG_INT8, [a, ..]) => Ok(i64::from(*a)),
        (BLOBMSG_INT64 | BLOBMSG_INT32 | BLOBMSG_INT16 | BLOBMSG_INT8, _) => short,
        _ => return None,
    })
}

/// A blobmsg string: up to its NUL, lossy where it is not UTF-8.
fn text(data: &[u8]) -> Cow<'_, str> {
    let b = data.split(|c| *c == 0).next().unwrap_or(data);
    // The check first (netifd's strings are UTF-8): the lossy walk is the
    // slow path.
    match std::str::from_utf8(b) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(b),
    }
}

/// A scalar blobmsg value (containers are read by the caller).
fn scalar(ty: u8, data: &[u8]) -> Result<Value<'_>, Bad> {
    Ok(match ty {
        BLOBMSG_UNSPEC => Value::Null,
        BLOBMSG_STRING => Value::Str(text(data)),
        BLOBMSG_INT8 => Value::Bool(integer(ty, data).unwrap_or(Ok(0))? != 0),
        _ => match integer(ty, data) {
            Some(i) => Value::Int(i?),
            None => Value::Other,
        },
    })
}

fn entries(b: &[u8], named: bool, depth: usize) -> Result<Value<'_>, String> {
    if depth > MAX_DEPTH {
        return Err(Bad::Deep.text());
    }
    let mut kv: Vec<(Cow<str>, Value)> = Vec::new();
    let mut list = Vec::new();
    let mut b = b;
    while let Some((ty, name, data, rest)) = next_checked(b).map_err(Bad::text)? {
        b = rest;
        let v = match ty {
            BLOBMSG_TABLE => entries(data, true, depth + 1)?,
            BLOBMSG_ARRAY => entries(data, false, depth + 1)?,
            _ => scalar(ty, data).map_err(Bad::text)?,
        };
        if named {
            kv.push((String::from_utf8_lossy(name), v));
        } else {
            list.push(v);
        }
    }
    Ok(if named {
        Value::Object(kv)
    } else {
        Value::Array(list)
    })
}

/// What [`entries`] checks, without building anything: one pass, the
/// same errors.
fn check(mut b: &[u8], depth: usize) -> Result<(), Bad> {
    if depth > MAX_DEPTH {
        return Err(Bad::Deep);
    }
    while let Some((ty, _, data, rest)) = next_checked(b)? {
        match ty {
            BLOBMSG_TABLE | BLOBMSG_ARRAY => check(data, depth + 1)?,
            // Only integers can be refused (strings are read lossily).
            _ => {
                if let Some(Err(e)) = integer(ty, data) {
                    return Err(e);
                }
            }
        }
        b = rest;
    }
    Ok(())
}

/// A blobmsg value read in place: what [`table`] would decode, without
/// building a tree (the dump's hot path: at 64 dials the tree was most of
/// an event's time). Made by [`read`], which checks all of it first, so
/// reading a node cannot fail.
#[derive(Clone, Copy, Debug)]
pub struct Node<'a> {
    ty: u8,
    data: &'a [u8],
}

/// A blobmsg table's content, checked as [`table`] checks it.
pub fn read(b: &[u8]) -> Result<Node<'_>, String> {
    check(b, 0).map_err(Bad::text)?;
    Ok(Node {
        ty: BLOBMSG_TABLE,
        data: b,
    })
}

impl<'a> Node<'a> {
    /// The members of a checked table or array (the walk cannot fail).
    fn children(self) -> impl Iterator<Item = (&'a [u8], Node<'a>)> {
        let mut b = self.data;
        std::iter::from_fn(move || {
            let (ty, name, data, rest) = next_checked(b).ok()??;
            b = rest;
            Some((name, Node { ty, data }))
        })
    }
}

impl<'a> Tree<'a> for Node<'a> {
    fn get(self, key: &str) -> Option<Self> {
        if self.ty != BLOBMSG_TABLE {
            return None;
        }
        // Bytes compared: our keys are ASCII, so this is the lossy
        // comparison the tree makes.
        let mut b = self.data;
        while let Some(id_len) = be32(b, 0) {
            let len = (id_len & LEN_MASK) as usize;
            let p = b.get(4..len)?;
            let named = |n: &[u8]| p.get(2..2 + n.len()) == Some(n);
            if p.len() >= 2
                && usize::from(u16::from_be_bytes([p[0], p[1]])) == key.len()
                && named(key.as_bytes())
            {
                let (ty, _, data) = name_and_value(((id_len & ID_MASK) >> 24) as u8, p).ok()?;
                return Some(Node { ty, data });
            }
            b = b.get(pad4(len)..).unwrap_or_default();
        }
        None
    }
    fn fields(self, keys: &[&str], out: &mut [Option<Self>]) {
        if self.ty != BLOBMSG_TABLE {
            return;
        }
        let mut left = keys.len().min(out.len());
        for (name, node) in self.children() {
            // Length and first byte before the bytes: most members are
            // not wanted.
            // Compared here, byte by byte: the library's compare is a
            // call (and on musl a byte loop behind it) for a dozen bytes.
            let wanted =
                |k: &&str| k.len() == name.len() && k.bytes().zip(name).all(|(a, b)| a == *b);
            if let Some(i) = keys.iter().position(wanted) {
                if out[i].is_none() {
                    out[i] = Some(node);
                    left -= 1;
                    if left == 0 {
                        break;
                    }
                }
            }
        }
    }
    fn is_object(self) -> bool {
        self.ty == BLOBMSG_TABLE
    }
    fn is_null(self) -> bool {
        self.ty == BLOBMSG_UNSPEC
    }
    fn str(self) -> Option<Cow<'a, str>> {
        (self.ty == BLOBMSG_STRING).then(|| text(self.data))
    }
    fn bool(self) -> Option<bool> {
        match self.ty {
            BLOBMSG_INT8 => integer(self.ty, self.data)?.ok().map(|i| i != 0),
            _ => None,
        }
    }
    fn int(self) -> Option<i64> {
        match self.ty {
            BLOBMSG_INT8 => None,
            _ => integer(self.ty, self.data)?.ok(),
        }
    }
    fn items(self) -> Option<impl Iterator<Item = Self>> {
        (self.ty == BLOBMSG_ARRAY).then(|| self.children().map(|(_, v)| v))
    }
    fn kind(self) -> String {
        match self.ty {
            BLOBMSG_TABLE => "an object".into(),
            BLOBMSG_ARRAY => "an array".into(),
            _ => scalar(self.ty, self.data).unwrap_or(Value::Other).kind(),
        }
    }
}

/// blobmsg encoding of a value (what netifd sends): how a JSON dump (a
/// file, a program's output) is read by the one reader of blobmsg
/// ([`checked`](encode::checked)), and the tests' and fuzz targets' ubusd.
pub mod encode {
    use super::*;

    fn entry(out: &mut Vec<u8>, name: &str, v: &Value) {
        let mut p = (name.len() as u16).to_be_bytes().to_vec();
        p.extend(name.as_bytes());
        p.push(0);
        p.resize(pad4(p.len()), 0);
        let ty = match v {
            Value::Null => BLOBMSG_UNSPEC,
            Value::Bool(b) => {
                p.push(u8::from(*b));
                BLOBMSG_INT8
            }
            Value::Int(i) if i32::try_from(*i).is_ok() => {
                p.extend((*i as i32).to_be_bytes());
                BLOBMSG_INT32
            }
            Value::Int(i) => {
                p.extend(i.to_be_bytes());
                BLOBMSG_INT64
            }
            Value::Str(s) => {
                p.extend(s.as_bytes());
                p.push(0);
                BLOBMSG_STRING
            }
            Value::Array(a) => {
                for x in a {
                    entry(&mut p, "", x);
                }
                BLOBMSG_ARRAY
            }
            Value::Object(kv) => {
                for (k, x) in kv {
                    entry(&mut p, k, x);
                }
                BLOBMSG_TABLE
            }
            Value::Other => 8, // a double
        };
        put(out, ty, true, &p);
    }

    /// The content of a blobmsg table holding `v`'s fields, when blobmsg
    /// can hold them: names of at most 65,535 bytes, attributes of less
    /// than 16 MiB (a JSON dump is at most 8 MiB, but its small numbers
    /// grow sixfold).
    pub fn checked(v: &Value) -> Result<Vec<u8>, String> {
        fn names_fit(v: &Value) -> bool {
            match v {
                Value::Array(a) => a.iter().all(names_fit),
                Value::Object(kv) => kv
                    .iter()
                    .all(|(k, x)| k.len() <= usize::from(u16::MAX) && names_fit(x)),
                _ => true,
            }
        }
        if !names_fit(v) {
            return Err("a name longer than 65535 bytes".into());
        }
        let t = table(v);
        match t.len() < LEN_MASK as usize {
            true => Ok(t),
            false => Err(format!(
                "{} bytes as blobmsg, more than it can hold",
                t.len()
            )),
        }
    }

    /// The content of a blobmsg table holding `v`'s fields.
    pub fn table(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        if let Value::Object(kv) = v {
            for (k, x) in kv {
                entry(&mut out, k, x);
            }
        }
        out
    }

    /// A DATA reply carrying `v` (as netifd's answer to `dump`).
    pub fn data_reply(seq: u16, peer: u32, objid: u32, v: &Value) -> Vec<u8> {
        let mut a = Vec::new();
        put(&mut a, ATTR_OBJID, false, &objid.to_be_bytes());
        put(&mut a, ATTR_DATA, false, &table(v));
        message(MSG_DATA, seq, peer, &a)
    }

    /// A STATUS message.
    pub fn status(seq: u16, peer: u32, code: u32) -> Vec<u8> {
        let mut a = Vec::new();
        put(&mut a, ATTR_STATUS, false, &code.to_be_bytes());
        message(MSG_STATUS, seq, peer, &a)
    }

    /// ubusd's answer to a LOOKUP: the object's path and id.
    pub fn lookup_reply(seq: u16, path: &str, objid: u32) -> Vec<u8> {
        let mut a = Vec::new();
        put(&mut a, ATTR_OBJPATH, false, &string(path));
        put(&mut a, ATTR_OBJID, false, &objid.to_be_bytes());
        message(MSG_DATA, seq, 0, &a)
    }

    pub fn hello(peer: u32) -> Vec<u8> {
        message(MSG_HELLO, 0, peer, &[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::value::parse_json;

    #[test]
    fn blobmsg_round_trip_of_a_dump_shape() {
        let v = parse_json(br#"{"interface":[{"interface":"wan","up":true,"metric":-3,"uptime":5000000000,"route":[{"target":"0.0.0.0","mask":0}],"data":{},"x":null}]}"#).unwrap();
        let b = encode::table(&v);
        assert_eq!(table(&b).unwrap(), v);
    }

    #[test]
    fn messages_and_headers() {
        let m = lookup(7, "network.interface");
        assert_eq!(parse_header(&m).unwrap(), (MSG_LOOKUP, 7, 0));
        let len = container_len(&m[HDR_LEN..]).unwrap();
        assert_eq!(HDR_LEN + pad4(len), m.len());
        let payload = &m[HDR_LEN + 4..HDR_LEN + len];
        assert_eq!(
            str_of(find(payload, ATTR_OBJPATH).unwrap()),
            "network.interface"
        );
        let m = invoke(8, 0x1234_5678, "dump");
        assert_eq!(parse_header(&m).unwrap(), (MSG_INVOKE, 8, 0x1234_5678));
        let payload = &m[HDR_LEN + 4..];
        assert_eq!(int32(find(payload, ATTR_OBJID).unwrap()), Some(0x1234_5678));
        assert_eq!(str_of(find(payload, ATTR_METHOD).unwrap()), "dump");
        assert_eq!(find(payload, ATTR_DATA), Some(&[][..]));
        assert!(
            parse_header(&[1, 0, 0, 0, 0, 0, 0, 0]).is_err(),
            "version 1"
        );
        let mut big = vec![0u8; 4];
        big[1] = 0x20; // 2 MiB
        assert!(container_len(&big).unwrap_err().contains("more than"));
    }

    #[test]
    fn bad_blobmsg_is_refused_not_misread() {
        let v = parse_json(br#"{"a":"x","b":[1,2],"c":{"d":true}}"#).unwrap();
        let b = encode::table(&v);
        for cut in 0..b.len() {
            // Every prefix is an error or a shorter, well-formed table.
            if let Ok(Value::Object(kv)) = table(&b[..cut]) {
                assert!(kv.len() < 3, "{cut}");
            }
        }
        // A plain (not extended) attribute where blobmsg is expected.
        let mut plain = Vec::new();
        put(&mut plain, BLOBMSG_STRING, false, b"x\0");
        assert!(table(&plain).is_err());
        // A name longer than its attribute.
        let mut long = Vec::new();
        put(&mut long, BLOBMSG_STRING, true, &[0, 200, b'a', 0]);
        assert!(table(&long).is_err());
        // Nested past the limit.
        let mut deep = Value::Null;
        for _ in 0..MAX_DEPTH + 3 {
            deep = Value::Object(vec![("a".into(), deep)]);
        }
        assert!(table(&encode::table(&deep))
            .unwrap_err()
            .contains("too deep"));
        // read() refuses exactly what table() refuses, with its words.
        for bad in [&plain, &long, &encode::table(&deep)] {
            assert_eq!(read(bad).unwrap_err(), table(bad).unwrap_err());
        }
        for cut in 0..b.len() {
            assert_eq!(read(&b[..cut]).is_ok(), table(&b[..cut]).is_ok(), "{cut}");
        }
    }

    #[test]
    fn read_in_place_gives_the_dump_the_tree_gives() {
        use crate::input::dump::Dump;
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/netifd");
        let mut n = 0;
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let json = std::fs::read(e.path()).unwrap();
            let Ok(v) = parse_json(&json) else { continue };
            let b = encode::table(&v);
            let node = read(&b).unwrap();
            let (a, t) = (Dump::from_tree(node), Dump::from_value(&v));
            match (a, t) {
                (Ok(a), Ok(t)) => assert_eq!(a, t, "{}", e.path().display()),
                (a, t) => assert_eq!(
                    a.map(|_| ()).unwrap_err().to_string(),
                    t.map(|_| ()).unwrap_err().to_string()
                ),
            }
            n += 1;
        }
        assert!(n >= 5, "fixtures read: {n}");
        // Wrong types name the same path and kind both ways.
        for bad in [
            r#"{"interface":[{"up":"yes"}]}"#,
            r#"{"interface":[{},{"metric":true}]}"#,
            r#"{"interface":[{"route":{}}]}"#,
            r#"{"interface":[{"ipv4-address":[7]}]}"#,
        ] {
            let v = parse_json(bad.as_bytes()).unwrap();
            let b = encode::table(&v);
            let a = Dump::from_tree(read(&b).unwrap()).unwrap_err().to_string();
            assert_eq!(a, Dump::from_value(&v).unwrap_err().to_string());
            assert!(a.contains("dump.interface["), "{a}");
        }
    }
}
