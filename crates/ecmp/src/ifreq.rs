//! One link by its name or index, the cheap way: the SIOCGIF* ioctls
//! (netdevice(7)), on any socket (ours is the rtnetlink one). An event
//! needs only its members' links; RTM_GETLINK fills a link's every
//! attribute and counter (1.5 KB), and at 64 dials that was 0.3 ms of
//! kernel time per event, dumped or asked for one by one. These answer
//! from the device table alone.

use crate::kernel::{Link, ENODEV};

/// SIOCGIFNAME (0x8910) is not in every libc's constants.
const SIOCGIFNAME: libc::c_ulong = 0x8910;

/// One ioctl on `r`; the errno when refused.
fn ioctl(fd: libc::c_int, req: libc::c_ulong, r: &mut libc::ifreq) -> Result<(), i32> {
    // SAFETY: every SIOCGIF* request used here reads and writes a struct
    // ifreq, which `r` is.
    let n = unsafe { libc::ioctl(fd, req as _, r as *mut libc::ifreq) };
    match n {
        0.. => Ok(()),
        _ => Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0)),
    }
}

fn zeroed() -> libc::ifreq {
    // SAFETY: struct ifreq is plain data; all zero is a valid value.
    unsafe { std::mem::zeroed() }
}

fn failed(what: &str, errno: i32) -> String {
    let e = std::io::Error::from_raw_os_error(errno).to_string();
    let e = e.split(" (os error").next().unwrap_or(&e).to_string();
    format!("links: {what}: {e} (errno {errno})")
}

/// The flags of the link named in `r`, then the link. Carrier is IFF_UP
/// and IFF_RUNNING: ifr_flags is 16 bits, so IFF_LOWER_UP (bit 16) does
/// not fit; RUNNING is the operational state, which the kernel gives a
/// link only with carrier (and not while it is dormant, when it carries
/// nothing either).
fn finish(
    fd: libc::c_int,
    r: &mut libc::ifreq,
    index: u32,
    name: String,
) -> Result<Option<Link>, String> {
    match ioctl(fd, libc::SIOCGIFFLAGS as libc::c_ulong, r) {
        Ok(()) => {}
        Err(ENODEV) => return Ok(None),
        Err(e) => return Err(failed(&format!("SIOCGIFFLAGS {name}"), e)),
    }
    // SAFETY: SIOCGIFFLAGS filled the union's flags.
    let f = i32::from(unsafe { r.ifr_ifru.ifru_flags });
    let want = libc::IFF_UP | libc::IFF_RUNNING;
    Ok(Some(Link {
        index,
        name,
        carrier: f & want == want,
        bytes: None,
    }))
}

/// The link named `name`; None when there is none.
pub fn by_name(fd: libc::c_int, name: &str) -> Result<Option<Link>, String> {
    let mut r = zeroed();
    // A name the kernel cannot hold (IFNAMSIZ, with its NUL) names no
    // link; nor does an empty one or one with a NUL inside.
    if name.is_empty() || name.len() >= r.ifr_name.len() || name.contains('\0') {
        return Ok(None);
    }
    for (d, s) in r.ifr_name.iter_mut().zip(name.bytes()) {
        *d = s as libc::c_char;
    }
    match ioctl(fd, libc::SIOCGIFINDEX as libc::c_ulong, &mut r) {
        Ok(()) => {}
        Err(ENODEV) => return Ok(None),
        Err(e) => return Err(failed(&format!("SIOCGIFINDEX {name}"), e)),
    }
    // SAFETY: SIOCGIFINDEX filled the union's index.
    let index = unsafe { r.ifr_ifru.ifru_ifindex } as u32;
    finish(fd, &mut r, index, name.to_string())
}

/// The link of ifindex `index`; None when there is none.
pub fn by_index(fd: libc::c_int, index: u32) -> Result<Option<Link>, String> {
    let mut r = zeroed();
    r.ifr_ifru.ifru_ifindex = index as libc::c_int;
    match ioctl(fd, SIOCGIFNAME, &mut r) {
        Ok(()) => {}
        Err(ENODEV) => return Ok(None),
        Err(e) => return Err(failed(&format!("SIOCGIFNAME {index}"), e)),
    }
    let name: Vec<u8> = r
        .ifr_name
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    let name = String::from_utf8_lossy(&name).into_owned();
    finish(fd, &mut r, index, name)
}
