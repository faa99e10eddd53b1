//! A ubus client of one call: connect to ubusd's socket, take its HELLO,
//! LOOKUP `network.interface`, INVOKE `dump`, and return netifd's answer,
//! a blobmsg table that [`blob::table`] reads as a
//! [`Value`](crate::input::value::Value) borrowing from it. No program is spawned and nothing is converted to JSON
//! on the way. The one deadline covers the connection, every partial
//! read and write, and every reply; replies are matched on (seq, peer),
//! and every status code ends the call with its name.

use crate::input::blob::{self, HDR_LEN};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// Where ubusd listens on OpenWrt (since 21.02; 19.07: /var/run/ubus.sock).
pub const DEFAULT_SOCKET: &str = "/var/run/ubus/ubus.sock";
pub const OLD_SOCKET: &str = "/var/run/ubus.sock";

/// ubus's status codes, as `ubus` prints them.
pub fn status_name(code: u32) -> &'static str {
    match code {
        0 => "Success",
        1 => "Invalid command",
        2 => "Invalid argument",
        3 => "Method not found",
        4 => "Not found",
        5 => "No response",
        6 => "Permission denied",
        7 => "Request timed out",
        8 => "Operation not supported",
        9 => "Unknown error",
        10 => "Connection failed",
        11 => "Out of memory",
        12 => "Parsing message data failed",
        13 => "System error",
        _ => "unknown status",
    }
}

/// Errors that mean ubusd went away: EOF's cousins.
fn closed(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), BrokenPipe | ConnectionReset | ConnectionAborted)
}

struct Conn {
    s: UnixStream,
    deadline: Instant,
    timeout: Duration,
}

impl Conn {
    fn left(&self) -> Result<Duration, String> {
        let l = self.deadline.saturating_duration_since(Instant::now());
        if l.is_zero() {
            let ms = self.timeout.as_secs() * 1000 + u64::from(self.timeout.subsec_millis());
            return Err(format!(
                "no answer within {}.{} s",
                ms / 1000,
                ms % 1000 / 100
            ));
        }
        Ok(l)
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), String> {
        let mut got = 0;
        while got < buf.len() {
            let left = self.left()?;
            self.s
                .set_read_timeout(Some(left))
                .map_err(|e| e.to_string())?;
            match self.s.read(&mut buf[got..]) {
                Ok(0) => return Err("ubusd closed the connection".into()),
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    self.left()?;
                }
                // A peer that closes with our request unread resets the
                // connection instead of giving EOF: the same hang-up.
                Err(e) if closed(&e) => return Err("ubusd closed the connection".into()),
                Err(e) => return Err(format!("read: {e}")),
            }
        }
        Ok(())
    }

    fn send(&mut self, m: &[u8]) -> Result<(), String> {
        let left = self.left()?;
        self.s
            .set_write_timeout(Some(left))
            .map_err(|e| e.to_string())?;
        self.s.write_all(m).map_err(|e| {
            if closed(&e) {
                "ubusd closed the connection".to_string()
            } else {
                format!("write: {e}")
            }
        })
    }

    /// The next message: (type, seq, peer, the container's attributes).
    fn recv(&mut self) -> Result<(u8, u16, u32, Vec<u8>), String> {
        let mut head = [0u8; HDR_LEN + 4];
        self.read_exact(&mut head)?;
        let (ty, seq, peer) = blob::parse_header(&head)?;
        // As libubus: the container's raw length, nothing after it.
        let len = blob::container_len(&head[HDR_LEN..])?;
        let mut rest = vec![0u8; len - 4];
        self.read_exact(&mut rest)?;
        Ok((ty, seq, peer, rest))
    }

    /// Send `req` (seq, peer) and collect its DATA payloads up to the
    /// STATUS; other messages are not ours and are passed over.
    fn call(
        &mut self,
        req: &[u8],
        seq: u16,
        peer: u32,
        what: &str,
    ) -> Result<Vec<Vec<u8>>, String> {
        self.send(req)?;
        self.replies(seq, peer, what)
    }

    /// The DATA payloads answering (seq, peer), up to its STATUS.
    fn replies(&mut self, seq: u16, peer: u32, what: &str) -> Result<Vec<Vec<u8>>, String> {
        let mut data = Vec::new();
        loop {
            let (ty, s, p, payload) = self.recv()?;
            if s != seq || p != peer {
                continue;
            }
            match ty {
                blob::MSG_DATA => data.push(payload),
                blob::MSG_STATUS => {
                    let code = blob::find(&payload, blob::ATTR_STATUS)
                        .and_then(blob::int32)
                        .unwrap_or(2);
                    if code != 0 {
                        return Err(format!("{what}: {} (status {code})", status_name(code)));
                    }
                    return Ok(data);
                }
                _ => {}
            }
        }
    }
}

/// A reply's blobmsg table (UBUS_ATTR_DATA), where it arrived: in the
/// message it came in, not copied out of it (146 KB at 64 dials).
#[derive(Debug)]
pub struct Data {
    msg: Vec<u8>,
    at: std::ops::Range<usize>,
}

/// A table that did not come from ubusd (a JSON dump encoded).
impl From<Vec<u8>> for Data {
    fn from(msg: Vec<u8>) -> Data {
        Data {
            at: 0..msg.len(),
            msg,
        }
    }
}

impl std::ops::Deref for Data {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.msg[self.at.clone()]
    }
}

/// `ubus call network.interface dump`, over ubusd's socket at `path`: the
/// reply's blobmsg table, for [`blob::table`] (which borrows from it).
pub fn dump(path: &Path, timeout: Duration) -> Result<Data, String> {
    call(path, "network.interface", "dump", timeout)?
        .ok_or_else(|| "network.interface dump: no data in the answer".into())
}

/// `ubus call OBJECT METHOD` with no arguments, over ubusd's socket at
/// `path`, all within `timeout`: the reply's blobmsg table, if it sent one
/// (`network.interface.X down` sends none).
pub fn call(
    path: &Path,
    object: &str,
    method: &str,
    timeout: Duration,
) -> Result<Option<Data>, String> {
    let s = UnixStream::connect(path).map_err(|e| format!("connect {}: {e}", path.display()))?;
    let mut c = Conn {
        s,
        deadline: Instant::now() + timeout,
        timeout,
    };
    // The LOOKUP goes out with the connection, before ubusd's HELLO is
    // read: ubusd reads it once it has sent HELLO, and both answers come
    // in one wakeup instead of two.
    // What the peer said first is the better diagnosis when the send
    // failed too (something that is not ubusd answers and hangs up).
    let sent = c.send(&blob::lookup(1, object));
    let (ty, _, id, _) = c.recv()?;
    if ty != blob::MSG_HELLO || id == 0 {
        return Err(format!("ubusd's first message is of type {ty}, not HELLO"));
    }
    sent?;
    let found = c.replies(1, 0, &format!("lookup {object}"))?;
    let obj = found
        .iter()
        .filter(|p| blob::find(p, blob::ATTR_OBJPATH).map(blob::str_of) == Some(object))
        .find_map(|p| blob::find(p, blob::ATTR_OBJID).and_then(blob::int32))
        .ok_or_else(|| format!("lookup {object}: no such object (is netifd running?)"))?;
    let replies = c.call(
        &blob::invoke(2, obj, method),
        2,
        obj,
        &format!("{object} {method}"),
    )?;
    Ok(replies.into_iter().find_map(|msg| {
        let d = blob::find(&msg, blob::ATTR_DATA)?;
        let start = d.as_ptr() as usize - msg.as_ptr() as usize;
        Some(Data {
            at: start..start + d.len(),
            msg,
        })
    }))
}

/// The socket to use: `configured`, else the default, else (OpenWrt 19.07)
/// the old default when only it exists.
pub fn socket_path(configured: Option<&Path>) -> std::path::PathBuf {
    match configured {
        Some(p) => p.to_path_buf(),
        None if !Path::new(DEFAULT_SOCKET).exists() && Path::new(OLD_SOCKET).exists() => {
            OLD_SOCKET.into()
        }
        None => DEFAULT_SOCKET.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::blob::encode;
    use crate::input::value::parse_json;
    use std::os::unix::net::UnixListener;

    /// A ubusd of a script: sends `msgs` after HELLO as the client's
    /// requests arrive (one batch per request).
    fn fake(
        script: Vec<Vec<Vec<u8>>>,
        hello: Vec<u8>,
    ) -> (std::path::PathBuf, std::thread::JoinHandle<()>) {
        let dir = std::env::temp_dir().join(format!("ecmp-ubus-{}-{}", std::process::id(), rand()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ubus.sock");
        let l = UnixListener::bind(&path).unwrap();
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.write_all(&hello).unwrap();
            for batch in script {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                for m in batch {
                    // Byte by byte: every partial read must add up.
                    for b in m {
                        if s.write_all(&[b]).is_err() {
                            return;
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(300));
        });
        (path, h)
    }

    fn rand() -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        N.fetch_add(1, Ordering::Relaxed)
    }

    #[test]
    fn lookup_then_dump() {
        let v = parse_json(br#"{"interface":[{"interface":"wan","up":true}]}"#).unwrap();
        let (path, h) = fake(
            vec![
                vec![
                    // Not ours (another seq), then ours.
                    encode::status(9, 0, 4),
                    encode::lookup_reply(1, "network.interface", 77),
                    encode::status(1, 0, 0),
                ],
                vec![encode::data_reply(2, 77, 77, &v), encode::status(2, 77, 0)],
            ],
            encode::hello(5),
        );
        let raw = dump(&path, Duration::from_secs(5)).unwrap();
        assert_eq!(blob::table(&raw).unwrap(), v);
        h.join().unwrap();
    }

    #[test]
    fn every_status_is_an_error_with_its_name() {
        let (path, h) = fake(vec![vec![encode::status(1, 0, 4)]], encode::hello(5));
        let e = dump(&path, Duration::from_secs(5)).unwrap_err();
        assert_eq!(e, "lookup network.interface: Not found (status 4)");
        h.join().unwrap();
        let (path, h) = fake(
            vec![
                vec![
                    encode::lookup_reply(1, "network.interface", 77),
                    encode::status(1, 0, 0),
                ],
                vec![encode::status(2, 77, 6)],
            ],
            encode::hello(5),
        );
        let e = dump(&path, Duration::from_secs(5)).unwrap_err();
        assert_eq!(e, "network.interface dump: Permission denied (status 6)");
        h.join().unwrap();
        assert_eq!(status_name(13), "System error");
    }

    #[test]
    fn silence_and_garbage_end_in_time() {
        let (path, h) = fake(vec![vec![]], encode::hello(5));
        let t = Instant::now();
        let e = dump(&path, Duration::from_millis(200)).unwrap_err();
        assert!(e.contains("no answer within 0.2 s"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(2));
        h.join().unwrap();
        let (path, h) = fake(vec![], vec![1, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 4]);
        assert!(dump(&path, Duration::from_secs(1))
            .unwrap_err()
            .contains("version 1"));
        h.join().unwrap();
        let mut big = encode::hello(5);
        big[8..12].copy_from_slice(&0x00ff_ffffu32.to_be_bytes());
        let (path, h) = fake(vec![], big);
        assert!(dump(&path, Duration::from_secs(1))
            .unwrap_err()
            .contains("more than"));
        h.join().unwrap();
        let e = dump(Path::new("/nonexistent/ubus.sock"), Duration::from_secs(1)).unwrap_err();
        assert!(e.starts_with("connect /nonexistent/ubus.sock: "), "{e}");
    }

    /// ubusd going away after HELLO is one error, whether the kernel
    /// tells it as EOF (our request was read) or as a reset (it was not).
    #[test]
    fn a_hang_up_is_named_whether_eof_or_reset() {
        for read_first in [true, false] {
            let dir =
                std::env::temp_dir().join(format!("ecmp-ubus-{}-{}", std::process::id(), rand()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("ubus.sock");
            let l = UnixListener::bind(&path).unwrap();
            let h = std::thread::spawn(move || {
                let (mut s, _) = l.accept().unwrap();
                s.write_all(&encode::hello(5)).unwrap();
                if read_first {
                    let _ = s.read(&mut [0u8; 4096]);
                } else {
                    // Let the request arrive, then close with it unread.
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
            let e = dump(&path, Duration::from_secs(5)).unwrap_err();
            assert_eq!(e, "ubusd closed the connection", "read first: {read_first}");
            h.join().unwrap();
        }
    }
}
