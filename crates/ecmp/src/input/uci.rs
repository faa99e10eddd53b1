//! `uci show` output as data, and values quoted for `uci batch`: what
//! multidial reads the configs with (through OpenWrt's `uci`) and plans
//! its changes with. The files themselves, when we read them directly
//! (/etc/config/ecmp, firewall, network), go through `ucifile`, our own
//! parser, held equal to libuci's by a differential test.

use std::collections::BTreeMap;

/// One section of `uci show` output.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Section {
    pub name: String,
    pub kind: String,
    pub options: BTreeMap<String, Vec<String>>,
}

impl Section {
    /// An option's first value. One copy, not inlined at each of the
    /// readers' forty options: each inlined map lookup cost the router
    /// binaries about 150 bytes.
    #[inline(never)]
    pub fn first(&self, k: &str) -> Option<&str> {
        self.options
            .get(k)
            .and_then(|v| v.first())
            .map(String::as_str)
    }

    /// Every value of an option (a list); none when it is not set.
    #[inline(never)]
    pub fn all(&self, k: &str) -> &[String] {
        self.options.get(k).map_or(&[], Vec::as_slice)
    }
}

/// Split a `uci show` value: `'a' 'b'` (a list), `'it'\''s'`, or a bare word.
pub fn split_values(v: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = v.chars().peekable();
    let mut in_quote = false;
    let mut have = false;
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_quote = !in_quote;
                have = true;
            }
            '\\' if !in_quote && chars.peek() == Some(&'\'') => {
                chars.next();
                cur.push('\'');
            }
            ' ' if !in_quote => {
                if have {
                    out.push(std::mem::take(&mut cur));
                    have = false;
                }
            }
            c => {
                cur.push(c);
                have = true;
            }
        }
    }
    if in_quote {
        return Err(format!("unbalanced quote in {v}"));
    }
    if have {
        out.push(cur);
    }
    Ok(out)
}

/// Lines of `uci show` output; a value with a newline in it spans lines
/// (its quote still open at the line's end), and is joined back here.
fn show_lines(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut open = false;
    for l in text.lines() {
        match out.last_mut() {
            Some(prev) if open => {
                prev.push('\n');
                prev.push_str(l);
            }
            _ => out.push(l.to_string()),
        }
        // Quotes toggle; `'\''` (an escaped quote) toggles three times.
        open ^= l.matches('\'').count() % 2 == 1;
    }
    out
}

pub fn parse_show(text: &str) -> Result<Vec<Section>, String> {
    let mut sections: Vec<Section> = Vec::new();
    let lines = show_lines(text);
    for line in lines.iter().filter(|l| !l.trim().is_empty()) {
        let bad = || format!("unexpected uci output: {line}");
        let (key, value) = line.split_once('=').ok_or_else(bad)?;
        let mut parts = key.splitn(3, '.');
        let (_package, section, option) =
            (parts.next(), parts.next().ok_or_else(bad)?, parts.next());
        let values = split_values(value)?;
        match option {
            None => sections.push(Section {
                name: section.to_string(),
                kind: values.into_iter().next().unwrap_or_default(),
                options: BTreeMap::new(),
            }),
            Some(opt) => {
                let s = sections
                    .iter_mut()
                    .rev()
                    .find(|s| s.name == section)
                    .ok_or_else(bad)?;
                s.options.insert(opt.to_string(), values);
            }
        }
    }
    Ok(sections)
}

/// A value as `uci batch` reads it: single-quoted, `'` as `'\''`.
pub fn quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', "'\\''"))
}
