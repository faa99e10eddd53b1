//! A ubusd stand-in for roots without netifd (the package tests): it
//! listens on a unix socket and answers `network.interface dump` with the
//! JSON file it was given (re-read on every call), in ubusd's own wire
//! format, through the core's blob encoder.
//! Any other object it is asked for exists: a call of it (`ubus call
//! network.interface.VWAN3 down`) is answered with success and appended
//! as `OBJECT METHOD` to SOCKET.calls, for tests of the tracker's redial.
//! Usage: ecmp-fake-ubusd SOCKET DUMP.json

use ecmp::input::blob::{self, encode, HDR_LEN};
use ecmp::input::value::parse_json;
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;

fn serve(
    mut s: std::os::unix::net::UnixStream,
    dump: &std::path::Path,
    calls: &std::path::Path,
) -> std::io::Result<()> {
    s.write_all(&encode::hello(0x1234))?;
    let mut objects: Vec<String> = vec!["network.interface".into()];
    loop {
        let mut head = [0u8; HDR_LEN + 4];
        s.read_exact(&mut head)?;
        let (ty, seq, _) = blob::parse_header(&head).map_err(std::io::Error::other)?;
        let len = blob::container_len(&head[HDR_LEN..]).map_err(std::io::Error::other)?;
        let mut rest = vec![0u8; len - 4];
        s.read_exact(&mut rest)?;
        const OBJ: u32 = 0x77;
        match ty {
            blob::MSG_LOOKUP => {
                let path = blob::find(&rest, blob::ATTR_OBJPATH)
                    .map(blob::str_of)
                    .unwrap_or("network.interface")
                    .to_string();
                let id = match objects.iter().position(|o| *o == path) {
                    Some(i) => i,
                    None => {
                        objects.push(path.clone());
                        objects.len() - 1
                    }
                } as u32;
                s.write_all(&encode::lookup_reply(seq, &path, OBJ + id))?;
                s.write_all(&encode::status(seq, 0, 0))?;
            }
            blob::MSG_INVOKE
                if blob::find(&rest, blob::ATTR_OBJID).and_then(blob::int32) != Some(OBJ) =>
            {
                let id = blob::find(&rest, blob::ATTR_OBJID)
                    .and_then(blob::int32)
                    .unwrap_or(0);
                let object = objects
                    .get(id.wrapping_sub(OBJ) as usize)
                    .cloned()
                    .unwrap_or_default();
                let method = blob::find(&rest, blob::ATTR_METHOD)
                    .map(blob::str_of)
                    .unwrap_or("");
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(calls)?;
                writeln!(f, "{object} {method}")?;
                s.write_all(&encode::status(seq, id, 0))?;
            }
            blob::MSG_INVOKE => {
                let text = std::fs::read(dump)?;
                let v = parse_json(&text).map_err(std::io::Error::other)?;
                s.write_all(&encode::data_reply(seq, OBJ, OBJ, &v))?;
                s.write_all(&encode::status(seq, OBJ, 0))?;
            }
            _ => s.write_all(&encode::status(seq, 0, 1))?,
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(sock), Some(dump)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: ecmp-fake-ubusd SOCKET DUMP.json");
        std::process::exit(2);
    };
    let _ = std::fs::remove_file(sock);
    let l = UnixListener::bind(sock).unwrap_or_else(|e| {
        eprintln!("ecmp-fake-ubusd: {sock}: {e}");
        std::process::exit(1);
    });
    let dump = std::path::PathBuf::from(dump);
    let calls = std::path::PathBuf::from(format!("{sock}.calls"));
    for c in l.incoming().flatten() {
        let _ = serve(c, &dump, &calls);
    }
}
