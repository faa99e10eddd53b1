//! The two forms netifd's dump arrives in, as one [`Tree`] that `dump`
//! reads its typed model from, once, for both: JSON (`ubus` printing it,
//! a file) parsed by [`parse_json`] into a loose [`Value`] tree, and blobmsg
//! (ubusd's own encoding, from its socket) read in place by
//! [`crate::input::blob::Node`] (which [`crate::input::blob::table`] can
//! also decode to a [`Value`], for the tests and the fuzz target that hold
//! the two readings equal).
//!
//! Numbers are kept as integers only: no field we read is fractional.
//! Anything else numeric is [`Value::Other`], an error only where a field
//! is read.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Strings and keys borrow from the input where they can (blobmsg always,
/// JSON without escapes): a 64-dial dump has thousands of them, and
/// copying and freeing each one was most of an event's time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Str(Cow<'a, str>),
    Array(Vec<Value<'a>>),
    /// Keys in the order they came; of a repeated key, [`Value::get`]
    /// finds the first (kept, not searched for on every insert).
    Object(Vec<(Cow<'a, str>, Value<'a>)>),
    /// A number we do not read (fractional, or beyond i64).
    Other,
}

/// Nesting deeper than this is refused (a dump is 4 levels deep; a
/// pathological input must not exhaust the stack).
pub const MAX_DEPTH: usize = 32;

impl<'a> Value<'a> {
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        match self {
            Value::Object(kv) => kv.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// What it is, for an error message.
    pub fn kind(&self) -> String {
        match self {
            Value::Null => "null".into(),
            Value::Bool(b) => format!("boolean `{b}`"),
            Value::Int(i) => format!("integer `{i}`"),
            Value::Str(s) => {
                let mut o = String::from("string \"");
                for c in s.chars().take(40) {
                    let _ = write!(o, "{}", c.escape_debug());
                }
                o.push('"');
                o
            }
            Value::Array(_) => "an array".into(),
            Value::Object(_) => "an object".into(),
            Value::Other => "a number out of range".into(),
        }
    }
}

/// What `dump` reads its typed model from: a [`Value`] tree (JSON), or
/// ubusd's blobmsg read in place ([`crate::input::blob::Node`], nothing copied).
pub trait Tree<'a>: Copy {
    /// An object's member (the first of a repeated key).
    fn get(self, key: &str) -> Option<Self>;
    /// The members named `keys` (the first of each) into `got`, in one
    /// pass over the object where the form allows it: `dump` reads a
    /// dozen fields of objects with two dozen members, and a pass per
    /// field was most of reading netifd's blobmsg.
    fn fields(self, keys: &[&str], got: &mut [Option<Self>]) {
        for (k, g) in keys.iter().zip(got) {
            *g = self.get(k);
        }
    }
    fn is_object(self) -> bool;
    fn is_null(self) -> bool;
    fn str(self) -> Option<Cow<'a, str>>;
    fn bool(self) -> Option<bool>;
    fn int(self) -> Option<i64>;
    /// An array's items.
    fn items(self) -> Option<impl Iterator<Item = Self>>;
    /// How many items an array has (0 for anything else): what the typed
    /// list is sized to, so it is not copied as it grows.
    fn count(self) -> usize {
        self.items().map_or(0, Iterator::count)
    }
    /// What it is, for an error message ([`Value::kind`]).
    fn kind(self) -> String;
}

/// A value's strings keep the input's lifetime `'a` (not the tree's):
/// borrowed ones are handed on, the few a JSON escape made owned are
/// copied.
impl<'v, 'a> Tree<'a> for &'v Value<'a> {
    fn get(self, key: &str) -> Option<Self> {
        Value::get(self, key)
    }
    fn is_object(self) -> bool {
        matches!(self, Value::Object(_))
    }
    fn is_null(self) -> bool {
        *self == Value::Null
    }
    fn str(self) -> Option<Cow<'a, str>> {
        match self {
            Value::Str(Cow::Borrowed(s)) => Some(Cow::Borrowed(s)),
            Value::Str(Cow::Owned(s)) => Some(Cow::Owned(s.clone())),
            _ => None,
        }
    }
    fn bool(self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    fn int(self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
    fn items(self) -> Option<impl Iterator<Item = Self>> {
        match self {
            Value::Array(a) => Some(a.iter()),
            _ => None,
        }
    }
    fn kind(self) -> String {
        Value::kind(self)
    }
}

/// Parse JSON text (RFC 8259, strictly). Errors say what and where
/// ("line 3 column 7"). Strings without escapes borrow from `b`.
///
/// Our own reader, not serde_json's: its deserializer (the visitor, float
/// parsing and its tables) was 11 KB of each router binary on x86_64, for
/// a tree we read integers and strings from; this one is a fifth of that
/// (docs/performance.md). serde_json still writes our JSON, and the tests
/// hold the two readers equal.
pub fn parse_json(b: &[u8]) -> Result<Value<'_>, String> {
    let s = std::str::from_utf8(b).map_err(|e| {
        Reader {
            s: "",
            b,
            i: e.valid_up_to(),
        }
        .err("invalid unicode code point")
    })?;
    let mut r = Reader { s, b, i: 0 };
    let v = r.value(0)?;
    r.ws();
    if r.i < b.len() {
        return Err(r.err("trailing characters"));
    }
    Ok(v)
}

/// A position in JSON text being read.
struct Reader<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    /// `what` at the current byte (at the end: the last one), as serde_json
    /// says it: line and column counted from 1.
    fn err(&self, what: &str) -> String {
        let i = self.i.min(self.b.len().saturating_sub(1));
        let line_start = self.b[..i]
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |p| p + 1);
        let line = 1 + self.b[..i].iter().filter(|&&c| c == b'\n').count();
        format!("{what} at line {line} column {}", i - line_start + 1)
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    /// The next byte after whitespace, not taken.
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, String> {
        let Some(c) = self.peek() else {
            return Err(self.err("EOF while parsing a value"));
        };
        if matches!(c, b'[' | b'{') {
            if depth >= MAX_DEPTH {
                return Err(format!("nested too deep (more than {MAX_DEPTH} levels)"));
            }
            return self.container(c == b'{', depth + 1);
        }
        Ok(match c {
            b'"' => Value::Str(self.string()?),
            b'-' | b'0'..=b'9' => self.number()?,
            _ => {
                for (word, v) in [
                    ("null", Value::Null),
                    ("true", Value::Bool(true)),
                    ("false", Value::Bool(false)),
                ] {
                    if word.as_bytes()[0] == c {
                        for &w in word.as_bytes() {
                            match self.b.get(self.i) {
                                None => return Err(self.err("EOF while parsing a value")),
                                Some(&x) if x != w => return Err(self.err("expected ident")),
                                _ => self.i += 1,
                            }
                        }
                        return Ok(v);
                    }
                }
                return Err(self.err("expected value"));
            }
        })
    }

    /// An array or (`object`) an object, from its opening bracket.
    fn container(&mut self, object: bool, depth: usize) -> Result<Value<'a>, String> {
        let (close, what) = match object {
            true => (b'}', "an object"),
            false => (b']', "a list"),
        };
        self.i += 1;
        let (mut items, mut kv) = (Vec::new(), Vec::new());
        if self.peek() == Some(close) {
            self.i += 1;
        } else {
            loop {
                if object {
                    match self.peek() {
                        Some(b'"') => {}
                        None => return Err(self.err(&format!("EOF while parsing {what}"))),
                        Some(b'}') => return Err(self.err("trailing comma")),
                        _ => return Err(self.err("key must be a string")),
                    }
                    let k = self.string()?;
                    if self.peek() != Some(b':') {
                        return Err(self.err("expected `:`"));
                    }
                    self.i += 1;
                    kv.push((k, self.value(depth)?));
                } else {
                    if self.peek() == Some(b']') {
                        return Err(self.err("trailing comma"));
                    }
                    items.push(self.value(depth)?);
                }
                match self.peek() {
                    Some(b',') => self.i += 1,
                    Some(c) if c == close => {
                        self.i += 1;
                        break;
                    }
                    None => return Err(self.err(&format!("EOF while parsing {what}"))),
                    _ => {
                        let c = close as char;
                        return Err(self.err(&format!("expected `,` or `{c}`")));
                    }
                }
            }
        }
        Ok(match object {
            true => Value::Object(kv),
            false => Value::Array(items),
        })
    }

    /// A string, from its opening quote: borrowed when it has no escape.
    fn string(&mut self) -> Result<Cow<'a, str>, String> {
        self.i += 1;
        let start = self.i;
        let mut owned: Option<String> = None;
        let mut run = start;
        loop {
            let Some(&c) = self.b.get(self.i) else {
                return Err(self.err("EOF while parsing a string"));
            };
            match c {
                b'"' => {
                    let tail = &self.s[run..self.i];
                    self.i += 1;
                    return Ok(match owned {
                        None => Cow::Borrowed(tail),
                        Some(mut o) => {
                            o.push_str(tail);
                            Cow::Owned(o)
                        }
                    });
                }
                0..=0x1f => {
                    return Err(self
                        .err("control character (\\u0000-\\u001F) found while parsing a string"))
                }
                b'\\' => {
                    let o = owned.get_or_insert_with(String::new);
                    o.push_str(&self.s[run..self.i]);
                    self.i += 1;
                    let e = self.b.get(self.i).copied();
                    self.i += 1;
                    o.push(match e {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => self.unicode()?,
                        None => return Err(self.err("EOF while parsing a string")),
                        _ => {
                            self.i -= 1;
                            return Err(self.err("invalid escape"));
                        }
                    });
                    run = self.i;
                }
                _ => self.i += 1,
            }
        }
    }

    /// The character of a `\uXXXX` escape (after the `u`), a surrogate
    /// pair taking two.
    fn unicode(&mut self) -> Result<char, String> {
        let hex = |r: &mut Self| -> Result<u32, String> {
            let h =
                r.b.get(r.i..r.i + 4)
                    .ok_or_else(|| r.err("EOF while parsing a string"))?;
            let n = std::str::from_utf8(h)
                .ok()
                .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .ok_or_else(|| r.err("invalid escape"))?;
            r.i += 4;
            Ok(n)
        };
        let hi = hex(self)?;
        let c = match hi {
            0xd800..=0xdbff => {
                if self.b.get(self.i..self.i + 2) != Some(b"\\u") {
                    return Err(self.err("unexpected end of hex escape"));
                }
                self.i += 2;
                let lo = hex(self)?;
                if !(0xdc00..=0xdfff).contains(&lo) {
                    return Err(self.err("lone leading surrogate in hex escape"));
                }
                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
            }
            0xdc00..=0xdfff => return Err(self.err("lone leading surrogate in hex escape")),
            n => n,
        };
        char::from_u32(c).ok_or_else(|| self.err("invalid unicode code point"))
    }

    /// A number: an integer that fits i64, else [`Value::Other`] (after
    /// checking its form: -? int frac? exp?).
    fn number(&mut self) -> Result<Value<'a>, String> {
        let start = self.i;
        let digits = |r: &mut Self| {
            let from = r.i;
            while r.b.get(r.i).is_some_and(u8::is_ascii_digit) {
                r.i += 1;
            }
            r.i - from
        };
        if self.b[self.i] == b'-' {
            self.i += 1;
        }
        let lead = self.b.get(self.i).copied();
        let n = digits(self);
        if n == 0 {
            return Err(self.err(if lead.is_none() {
                "EOF while parsing a value"
            } else {
                "invalid number"
            }));
        }
        if lead == Some(b'0') && n > 1 {
            return Err(self.err("invalid number"));
        }
        let mut whole = true;
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            whole = false;
            if digits(self) == 0 {
                return Err(self.err("invalid number"));
            }
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
            whole = false;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            if digits(self) == 0 {
                return Err(self.err("invalid number"));
            }
        }
        let text = &self.s[start..self.i];
        // "-0" is a float to serde_json, and so to us.
        Ok(match whole && text != "-0" {
            true => text.parse::<i64>().map_or(Value::Other, Value::Int),
            false => Value::Other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_values() {
        let v = parse_json(br#" {"a": [1, -2, true, false, null, "x\"\\\/\n\u00e9\ud83d\ude00"], "b": {}, "c": 1.5, "d": 99999999999999999999, "a": 7} "#).unwrap();
        assert_eq!(
            v.get("a"),
            Some(&Value::Array(vec![
                Value::Int(1),
                Value::Int(-2),
                Value::Bool(true),
                Value::Bool(false),
                Value::Null,
                Value::Str("x\"\\/\né😀".into())
            ]))
        );
        assert_eq!(v.get("b"), Some(&Value::Object(vec![])));
        assert_eq!(v.get("c"), Some(&Value::Other));
        assert_eq!(v.get("d"), Some(&Value::Other));
        assert_eq!(v.get("zz"), None);
    }

    #[test]
    fn plain_strings_borrow_escaped_ones_are_decoded() {
        let text = "{\"device\": \"pppoe-VWAN1\", \"e\": \"a\\tb\", \"u\": \"é\"}";
        let v = parse_json(text.as_bytes()).unwrap();
        assert!(matches!(
            v.get("device"),
            Some(Value::Str(Cow::Borrowed("pppoe-VWAN1")))
        ));
        assert!(matches!(
            v.get("u"),
            Some(Value::Str(Cow::Borrowed("\u{e9}")))
        ));
        assert_eq!(v.get("e"), Some(&Value::Str(Cow::Owned("a\tb".into()))));
        let Value::Object(kv) = &v else { panic!() };
        assert!(kv.iter().all(|(k, _)| matches!(k, Cow::Borrowed(_))));
        assert!(parse_json(b"\"\xff\"").unwrap_err().contains("unicode"));
        assert!(parse_json(b"\"a\nb\"").unwrap_err().contains("control"));
    }

    /// Ours as serde_json's tree (a repeated key: the last wins in both).
    fn to_serde(v: &Value) -> serde_json::Value {
        use serde_json::Value as J;
        match v {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Str(s) => J::String(s.to_string()),
            Value::Array(a) => J::Array(a.iter().map(to_serde).collect()),
            Value::Object(kv) => J::Object(
                kv.iter()
                    .map(|(k, v)| (k.to_string(), to_serde(v)))
                    .collect(),
            ),
            Value::Other => J::String("<other>".into()),
        }
    }

    /// serde_json's reading, with the numbers we do not keep as Other.
    fn serde_reading(b: &[u8]) -> Option<serde_json::Value> {
        fn norm(v: serde_json::Value) -> serde_json::Value {
            use serde_json::Value as J;
            match v {
                J::Number(n) if n.as_i64().is_none() => J::String("<other>".into()),
                J::Array(a) => J::Array(a.into_iter().map(norm).collect()),
                J::Object(m) => J::Object(m.into_iter().map(|(k, v)| (k, norm(v))).collect()),
                v => v,
            }
        }
        match serde_json::from_slice::<serde_json::Value>(b) {
            Ok(v) => Some(norm(v)),
            // Beyond f64 (1e400): serde_json refuses it; to us it is a
            // number like any other we do not read.
            Err(e) if e.to_string().starts_with("number out of range") => {
                Some(norm(parse_json(b).map(|v| to_serde(&v)).ok()?))
            }
            Err(_) => None,
        }
    }

    /// Our reader agrees with serde_json's on every input it is given: a
    /// dump-like text and every mutation of it by one deleted, doubled or
    /// replaced byte (accepted by both with the same tree, or by neither).
    #[test]
    fn agrees_with_serde_json() {
        let seeds: [&[u8]; 4] = [
            br#"{"interface":[{"interface":"wan","up":true,"metric":-3,"uptime":5000000000,"ipv4-address":[{"address":"100.64.0.2","mask":32,"ptpaddress":"100.64.0.1"}],"route":[{"target":"0.0.0.0","mask":0,"valid":-1}],"data":{},"x":null,"f":1.5e3}]}"#,
            b"[\"a\\u00e9\\ud83d\\ude00\\n\", -0, 0.25, 1E+2, 18446744073709551615, false, {\"k\": [ ]}]",
            b" {\"a\" : { \"b\" : [ 1 , 2 ] } }\n",
            "{\"\u{e9}t\u{e9}\":\"\u{4e2d}\u{6587}\",\"e\":\"\\t\\\"\\/\"}".as_bytes(),
        ];
        let subs = b" \t\n\"\\/,:[]{}-+.0159eEuntrfl\x01\x7f\xc3\xff";
        let mut n = 0;
        for seed in seeds {
            let mut inputs = vec![seed.to_vec()];
            for i in 0..seed.len() {
                let mut d = seed.to_vec();
                d.remove(i);
                inputs.push(d);
                let mut d = seed.to_vec();
                d.insert(i, seed[i]);
                inputs.push(d);
                for &c in subs {
                    let mut d = seed.to_vec();
                    d[i] = c;
                    inputs.push(d);
                }
            }
            for input in inputs {
                n += 1;
                let ours = parse_json(&input).map(|v| to_serde(&v));
                let theirs = serde_reading(&input);
                assert_eq!(
                    ours.as_ref().ok(),
                    theirs.as_ref(),
                    "{:?}: ours {ours:?}",
                    String::from_utf8_lossy(&input)
                );
            }
        }
        assert_eq!(n, 12_478, "every mutation tried");
    }

    #[test]
    fn bad_json_says_where() {
        for (input, what) in [
            (&b""[..], "EOF"),
            (b"{\"a\":", "EOF while parsing a value at line 1 column 5"),
            (b"{\"a\" 1}", "expected `:` at line 1 column 6"),
            (b"[1,]", "trailing comma"),
            (b"{\n  \"a\": tru", "EOF while parsing a value at line 2"),
            (b"{\"a\": 01x}", "invalid number"),
            (b"\"\\ud800\"", "hex escape"),
            (b"\"a\x01\"", "control character"),
            (b"[] x", "trailing characters"),
            (b"{1: 2}", "key must be a string"),
            (b"-", "EOF while parsing a value"),
            (b"\"\xff\"", "invalid unicode code point"),
        ] {
            let e = parse_json(input).unwrap_err();
            assert!(
                e.contains(what),
                "{:?}: {e}",
                String::from_utf8_lossy(input)
            );
        }
        let deep = "[".repeat(MAX_DEPTH + 2) + &"]".repeat(MAX_DEPTH + 2);
        assert!(parse_json(deep.as_bytes())
            .unwrap_err()
            .contains("nested too deep"));
    }
}
