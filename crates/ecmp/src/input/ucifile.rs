//! UCI config files read by us, as libuci's parser (file.c) reads them:
//! `package`, `config TYPE ['NAME']`, `option`, `list` (and their
//! one-letter forms), single quotes, double quotes with backslash escapes,
//! unquoted words, backslash-newline continuations, values across lines,
//! `#` comments, `;` between commands, CRLF. It works the way libuci
//! does, on one line buffer rewritten in place, so that odd input means
//! the same to us as to `uci`; a differential test against the real
//! `uci show` keeps it so.
//!
//! This reads the committed file, as procd services do: changes staged
//! with `uci set` and not committed (in /tmp/.uci) are not seen until
//! `uci commit`.

use crate::input::uci::Section;

struct P<'a> {
    src: &'a [u8],
    next: usize,
    buf: Vec<u8>,
    pos: usize,
    line: usize,
}

fn isspace(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

type R<T> = Result<T, String>;

impl P<'_> {
    fn ch(&self, i: usize) -> u8 {
        self.buf.get(i).copied().unwrap_or(0)
    }

    fn cur(&self) -> u8 {
        self.ch(self.pos)
    }

    fn set(&mut self, i: usize, c: u8) {
        if i >= self.buf.len() {
            self.buf.resize(i + 1, 0);
        }
        self.buf[i] = c;
    }

    fn err(&self, what: &str) -> String {
        format!("line {}: {what}", self.line.max(1))
    }

    /// Read the next line into the buffer at `offset` (uci_getln).
    fn getln(&mut self, offset: usize) {
        self.buf.truncate(offset);
        if self.next >= self.src.len() {
            return;
        }
        let end = self.src[self.next..]
            .iter()
            .position(|c| *c == b'\n')
            .map_or(self.src.len(), |i| self.next + i + 1);
        self.buf.extend_from_slice(&self.src[self.next..end]);
        if self.src[end - 1] == b'\n' {
            self.line += 1;
        }
        self.next = end;
    }

    fn skip_whitespace(&mut self) {
        while self.cur() != 0 && isspace(self.cur()) {
            self.pos += 1;
        }
    }

    /// After a backslash: false when it ends the line (the next line is
    /// read in its place), true when the next character is taken as is.
    fn backslash(&mut self) -> bool {
        self.pos += 1;
        let c = self.cur();
        if c == 0
            || c == b'\n'
            || (c == b'\r' && self.ch(self.pos + 1) == b'\n' && self.ch(self.pos + 2) == 0)
        {
            let p = self.pos;
            self.getln(p);
            return false;
        }
        true
    }

    fn addc(&mut self, target: &mut usize) {
        let c = self.cur();
        self.set(*target, c);
        *target += 1;
        self.pos += 1;
    }

    /// A quoted part (libuci's parse_double_quote and parse_single_quote:
    /// the same loop, backslash escapes only between double quotes).
    fn quoted(&mut self, target: &mut usize, quote: u8) -> R<()> {
        self.pos += 1;
        loop {
            match self.cur() {
                c if c == quote => {
                    self.pos += 1;
                    return Ok(());
                }
                0 => {
                    let p = self.pos;
                    self.getln(p);
                    if self.cur() == 0 {
                        return Err(self.err(if quote == b'"' {
                            "EOF with unterminated \""
                        } else {
                            "EOF with unterminated '"
                        }));
                    }
                }
                b'\\' if quote == b'"' => {
                    if self.backslash() {
                        self.addc(target);
                    }
                }
                _ => self.addc(target),
            }
        }
    }

    fn parse_str(&mut self, target: &mut usize) -> R<()> {
        let mut next = true;
        loop {
            match self.cur() {
                q @ (b'\'' | b'"') => self.quoted(target, q)?,
                b'#' => {
                    let p = self.pos;
                    self.set(p, 0);
                    break;
                }
                0 => break,
                b';' => {
                    next = false;
                    break;
                }
                b'\\' => {
                    if self.backslash() {
                        self.addc(target);
                    }
                }
                _ => self.addc(target),
            }
            if self.cur() == 0 || isspace(self.cur()) {
                break;
            }
        }
        if self.cur() != 0 && next {
            self.pos += 1;
        }
        let t = *target;
        self.set(t, 0);
        Ok(())
    }

    /// The string that starts at `at` (up to its NUL).
    fn str_at(&self, at: usize) -> Vec<u8> {
        let rest = self.buf.get(at..).unwrap_or(&[]);
        rest[..rest.iter().position(|c| *c == 0).unwrap_or(rest.len())].to_vec()
    }

    fn next_arg(&mut self, required: bool, name: bool, package: bool) -> R<Vec<u8>> {
        self.skip_whitespace();
        let val = self.pos;
        let mut ptr = self.pos;
        if self.cur() == b';' {
            let p = self.pos;
            self.set(p, 0);
            self.pos += 1;
        } else {
            self.parse_str(&mut ptr)?;
        }
        let s = self.str_at(val);
        if s.is_empty() {
            if required {
                return Err(self.err("insufficient arguments"));
            }
            return Ok(s);
        }
        if name && !valid(&s, true, package) {
            return Err(self.err("invalid character in name field"));
        }
        Ok(s)
    }

    fn assert_eol(&mut self) -> R<()> {
        self.skip_whitespace();
        if !self.next_arg(false, false, false)?.is_empty() {
            return Err(self.err("too many arguments"));
        }
        Ok(())
    }

    /// Past the command word (NUL-terminated in place, as strtok left it).
    fn past_word(&mut self, what: &str) -> R<()> {
        let add = self.str_at(self.pos).len() + 1;
        if self.pos + add > self.buf.len() {
            return Err(self.err(&format!("{what} without name")));
        }
        self.pos += add;
        Ok(())
    }
}

/// uci_validate_str: letters, digits, `_` (and `-` in a package name)
/// for names; any printable character for a type.
pub(crate) fn valid(s: &[u8], name: bool, package: bool) -> bool {
    !s.is_empty()
        && s.iter().all(|&c| {
            c.is_ascii_alphanumeric()
                || c == b'_'
                || (c == b'-' && package)
                || (!name && (33..=126).contains(&c))
        })
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The sections of a UCI file, as `uci show` would list them: named ones
/// by name, anonymous ones as `@type[n]`. Err: libuci's parse error, with
/// the line.
pub fn parse(src: &[u8]) -> Result<Vec<Section>, String> {
    let mut p = P {
        src,
        next: 0,
        buf: Vec::new(),
        pos: 0,
        line: 0,
    };
    let mut secs: Vec<Section> = Vec::new();
    let mut current: Option<usize> = None;
    while p.next < src.len() {
        p.pos = 0;
        p.getln(0);
        p.skip_whitespace();
        loop {
            // strtok(cur, " \\t"): the command word, NUL-terminated in place.
            let mut s = p.pos;
            while matches!(p.ch(s), b' ' | b'\t') {
                s += 1;
            }
            if p.ch(s) == 0 {
                break;
            }
            let mut e = s;
            while !matches!(p.ch(e), 0 | b' ' | b'\t') {
                e += 1;
            }
            if e < p.buf.len() {
                p.set(e, 0);
            }
            let word = p.buf[s..e].to_vec();
            p.pos = s;
            match word.as_slice() {
                [b'#', ..] => break,
                b"p" | b"package" => {
                    p.past_word("package")?;
                    p.next_arg(true, true, true)?;
                    p.assert_eol()?;
                }
                b"c" | b"config" => {
                    p.past_word("config")?;
                    let ty = p.next_arg(true, false, false)?;
                    if !valid(&ty, false, false) {
                        return Err(p.err("invalid character in type field"));
                    }
                    let name = p.next_arg(false, true, false)?;
                    p.assert_eol()?;
                    let (ty, name) = (text(&ty), text(&name));
                    if name.is_empty() {
                        let n = secs
                            .iter()
                            .filter(|x| x.kind == ty && x.name.starts_with('@'))
                            .count();
                        secs.push(Section {
                            name: format!("@{ty}[{n}]"),
                            kind: ty,
                            options: Default::default(),
                        });
                        current = Some(secs.len() - 1);
                    } else {
                        match secs.iter().position(|x| x.name == name) {
                            Some(i) if secs[i].kind != ty => return Err(p.err(
                                "section of different type overwrites prior section with same name",
                            )),
                            Some(i) => current = Some(i),
                            None => {
                                secs.push(Section {
                                    name,
                                    kind: ty,
                                    options: Default::default(),
                                });
                                current = Some(secs.len() - 1);
                            }
                        }
                    }
                }
                b"o" | b"option" | b"l" | b"list" => {
                    let list = word[0] == b'l';
                    let Some(i) = current else {
                        return Err(p.err("option/list command found before the first section"));
                    };
                    p.past_word(if list { "list" } else { "option" })?;
                    let name = text(&p.next_arg(true, true, false)?);
                    let value = text(&p.next_arg(false, false, false)?);
                    p.assert_eol()?;
                    let opts = &mut secs[i].options;
                    // An empty value changes nothing, in a list too
                    // (`uci show` lists it as '', we keep it as libuci
                    // stores it).
                    if value.is_empty() && !list {
                    } else if list {
                        opts.entry(name).or_default().push(value);
                    } else {
                        opts.insert(name, vec![value]);
                    }
                }
                _ => return Err(p.err("invalid command")),
            }
        }
    }
    Ok(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(src: &str) -> Vec<(String, String, Vec<(String, Vec<String>)>)> {
        parse(src.as_bytes())
            .unwrap()
            .into_iter()
            .map(|s| (s.name, s.kind, s.options.into_iter().collect()))
            .collect()
    }

    #[test]
    fn quoting_forms() {
        let got = one(
            "config ecmp 'ipv4'\n\toption a plain\n\toption b 'single # not a comment'\n\toption c \"dq \\\"x\\\" \\\\ \\n\"\n\toption d 'it'\\''s'\n\toption e a'b'\"c\" # comment\n\tlist f 1\n\tlist f '2 two'\r\n",
        );
        let o = &got[0].2;
        let get = |k: &str| {
            o.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(get("a"), ["plain"]);
        assert_eq!(get("b"), ["single # not a comment"]);
        assert_eq!(get("c"), ["dq \"x\" \\ n"]);
        assert_eq!(get("d"), ["it's"]);
        assert_eq!(get("e"), ["abc"]);
        assert_eq!(get("f"), ["1", "2 two"]);
    }

    #[test]
    fn anonymous_sections_and_abbreviations() {
        let got = one("c member\no weight 2\nc member\n\to interface wan\nconfig globals g\n");
        assert_eq!(got[0].0, "@member[0]");
        assert_eq!(got[1].0, "@member[1]");
        assert_eq!(got[2].0, "g");
    }

    #[test]
    fn errors_name_the_line() {
        for (src, what) in [
            ("config ecmp ipv4\nbogus x\n", "line 2: invalid command"),
            (
                "option a b\n",
                "line 1: option/list command found before the first section",
            ),
            ("config ecmp 'ip v4'\n", "invalid character in name field"),
            ("config ecmp ipv4\noption a 'b\n", "unterminated '"),
            ("config ecmp ipv4 extra\n", "too many arguments"),
            ("config\n", "invalid command"),
            ("config ecmp x\nconfig other x\n", "different type"),
        ] {
            let e = parse(src.as_bytes()).unwrap_err();
            assert!(e.contains(what), "{src:?}: {e}");
        }
    }
}
