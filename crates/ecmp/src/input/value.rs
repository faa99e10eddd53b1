//! The two forms netifd's dump arrives in, as one [`Tree`] that `dump`
//! reads its typed model from, once, for both: JSON (`ubus` printing it,
//! a file) parsed to a loose [`Value`] tree, and blobmsg (ubusd's own
//! encoding, from its socket) read in place by [`crate::input::blob::Node`]
//! (which [`crate::input::blob::table`] can also decode to a [`Value`], for the
//! tests and the fuzz target that hold the two readings equal).
//!
//! Numbers are kept as integers only: no field we read is fractional, and
//! float parsing would cost a router binary its tables. Anything else
//! numeric is [`Value::Other`], an error only where a field is read.

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

/// Parse JSON text. Errors say where ("line 3 column 7").
pub fn parse_json(b: &[u8]) -> Result<Value<'_>, String> {
    let mut p = Json { b, i: 0 };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i != b.len() {
        return Err(p.err("trailing characters"));
    }
    Ok(v)
}

struct Json<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Json<'a> {
    fn err(&self, what: &str) -> String {
        let upto = &self.b[..self.i.min(self.b.len())];
        let line = upto.iter().filter(|c| **c == b'\n').count() + 1;
        let col = upto.len() - upto.iter().rposition(|c| *c == b'\n').map_or(0, |p| p + 1) + 1;
        format!("{what} at line {line} column {col}")
    }

    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        match self.peek() {
            Some(x) if x == c => {
                self.i += 1;
                Ok(())
            }
            None => Err(self.err("EOF while parsing")),
            Some(_) => Err(self.err(&format!("expected `{}`", c as char))),
        }
    }

    fn word(&mut self, w: &str, v: Value<'a>) -> Result<Value<'a>, String> {
        if self.b[self.i..].starts_with(w.as_bytes()) {
            self.i += w.len();
            Ok(v)
        } else if self.b.len() - self.i < w.len() && w.as_bytes().starts_with(&self.b[self.i..]) {
            self.i = self.b.len();
            Err(self.err("EOF while parsing a value"))
        } else {
            Err(self.err("expected value"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, String> {
        if depth > MAX_DEPTH {
            return Err(self.err("nested too deep"));
        }
        self.ws();
        match self.peek() {
            None => Err(self.err("EOF while parsing a value")),
            Some(b'{') => {
                self.i += 1;
                let mut kv: Vec<(Cow<'a, str>, Value<'a>)> = Vec::new();
                self.ws();
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Ok(Value::Object(kv));
                }
                loop {
                    self.ws();
                    if self.peek() != Some(b'"') {
                        return Err(match self.peek() {
                            None => self.err("EOF while parsing an object"),
                            Some(_) => self.err("key must be a string"),
                        });
                    }
                    let k = self.string()?;
                    self.eat(b':')?;
                    let v = self.value(depth + 1)?;
                    kv.push((k, v));
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Value::Object(kv));
                        }
                        None => return Err(self.err("EOF while parsing an object")),
                        Some(_) => return Err(self.err("expected `,` or `}`")),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut a = Vec::new();
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(Value::Array(a));
                }
                loop {
                    a.push(self.value(depth + 1)?);
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Value::Array(a));
                        }
                        None => return Err(self.err("EOF while parsing a list")),
                        Some(_) => return Err(self.err("expected `,` or `]`")),
                    }
                }
            }
            Some(b'"') => self.string().map(Value::Str),
            Some(b't') => self.word("true", Value::Bool(true)),
            Some(b'f') => self.word("false", Value::Bool(false)),
            Some(b'n') => self.word("null", Value::Null),
            Some(c) if c == b'-' || c.is_ascii_digit() => self.number(),
            Some(_) => Err(self.err("expected value")),
        }
    }

    fn number(&mut self) -> Result<Value<'a>, String> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let digits = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        if self.i == digits {
            return Err(self.err("invalid number"));
        }
        let mut int = true;
        if self.peek() == Some(b'.') {
            int = false;
            self.i += 1;
            let d = self.i;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.i += 1;
            }
            if self.i == d {
                return Err(self.err("invalid number"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            int = false;
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            let d = self.i;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.i += 1;
            }
            if self.i == d {
                return Err(self.err("invalid number"));
            }
        }
        let text = std::str::from_utf8(&self.b[start..self.i]).unwrap_or("");
        Ok(match (int, text.parse::<i64>()) {
            (true, Ok(n)) => Value::Int(n),
            _ => Value::Other,
        })
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let h = self
            .b
            .get(self.i..self.i + 4)
            .ok_or_else(|| self.err("EOF while parsing a string"))?;
        let s = std::str::from_utf8(h).map_err(|_| self.err("invalid escape"))?;
        let v = u32::from_str_radix(s, 16).map_err(|_| self.err("invalid escape"))?;
        self.i += 4;
        Ok(v)
    }

    /// A string; `self.i` at its opening quote. Borrowed when it has no
    /// escape (netifd's never do).
    fn string(&mut self) -> Result<Cow<'a, str>, String> {
        self.i += 1;
        let start = self.i;
        let b: &'a [u8] = self.b;
        let plain = b[start..]
            .iter()
            .position(|c| matches!(c, b'"' | b'\\') || *c < 0x20)
            .map(|n| start + n);
        if let Some(end) = plain.filter(|e| b[*e] == b'"') {
            self.i = end + 1;
            return std::str::from_utf8(&b[start..end])
                .map(Cow::Borrowed)
                .map_err(|_| self.err("invalid UTF-8 in a string"));
        }
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.err("EOF while parsing a string"));
            };
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(e) = self.peek() else {
                        return Err(self.err("EOF while parsing a string"));
                    };
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi) {
                                if self.b.get(self.i..self.i + 2) != Some(b"\\u") {
                                    return Err(self.err("lone leading surrogate"));
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.err("invalid surrogate pair"));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            char::from_u32(cp).ok_or_else(|| self.err("invalid unicode escape"))?
                        }
                        _ => return Err(self.err("invalid escape")),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                c if c < 0x20 => return Err(self.err("control character in a string")),
                c => out.push(c),
            }
        }
        String::from_utf8(out)
            .map(Cow::Owned)
            .map_err(|_| self.err("invalid UTF-8 in a string"))
    }
}

/// `s` as a JSON string literal, appended to `o` (status --json,
/// track.json).
pub fn write_str(o: &mut String, s: &str) {
    use std::fmt::Write as _;
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
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
        // The fast path refuses what the slow one refuses.
        assert!(parse_json(b"\"\xff\"").unwrap_err().contains("UTF-8"));
        assert!(parse_json(b"\"a\nb\"").unwrap_err().contains("control"));
    }

    #[test]
    fn bad_json_says_where() {
        for (input, what) in [
            (&b""[..], "EOF"),
            (b"{\"a\":", "EOF while parsing a value at line 1 column 6"),
            (b"{\"a\" 1}", "expected `:`"),
            (b"[1,]", "expected value"),
            (b"{\n  \"a\": tru", "EOF while parsing a value at line 2"),
            (b"{\"a\": 01x}", "expected `,` or `}`"),
            (b"\"\\ud800\"", "lone leading surrogate"),
            (b"\"a\x01\"", "control character"),
            (b"[] x", "trailing characters"),
            (b"{1: 2}", "key must be a string"),
            (b"-", "invalid number"),
            (b"1.", "invalid number"),
            (b"\"\xff\"", "invalid UTF-8"),
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
