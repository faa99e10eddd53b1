//! The two forms netifd's dump arrives in, as one [`Tree`] that `dump`
//! reads its typed model from, once, for both: JSON (`ubus` printing it,
//! a file) parsed by serde_json into a loose [`Value`] tree, and blobmsg
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

/// Parse JSON text (serde_json's parser). Errors say where ("line 3
/// column 7"). Strings without escapes borrow from `b`.
pub fn parse_json(b: &[u8]) -> Result<Value<'_>, String> {
    let v: Value = serde_json::from_slice(b).map_err(|e| e.to_string())?;
    if depth(&v) > MAX_DEPTH {
        return Err(format!("nested too deep (more than {MAX_DEPTH} levels)"));
    }
    Ok(v)
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(kv) => 1 + kv.iter().map(|(_, v)| depth(v)).max().unwrap_or(0),
        _ => 0,
    }
}

/// A string, borrowed from the input when it has no escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Text<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> serde::Deserialize<'de> for Value<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Value<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Value<'de>, E> {
                Ok(Value::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Value<'de>, E> {
                Ok(Value::Bool(b))
            }
            fn visit_i64<E>(self, i: i64) -> Result<Value<'de>, E> {
                Ok(Value::Int(i))
            }
            fn visit_u64<E>(self, u: u64) -> Result<Value<'de>, E> {
                Ok(i64::try_from(u).map_or(Value::Other, Value::Int))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Value<'de>, E> {
                Ok(Value::Other)
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Value<'de>, E> {
                Ok(Value::Str(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Value<'de>, E> {
                Ok(Value::Str(Cow::Owned(s.to_string())))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Value<'de>, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = a.next_element()? {
                    v.push(x);
                }
                Ok(Value::Array(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Value<'de>, A::Error> {
                let mut kv = Vec::new();
                while let Some(Text(k)) = a.next_key()? {
                    kv.push((k, a.next_value()?));
                }
                Ok(Value::Object(kv))
            }
        }
        d.deserialize_any(V)
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
