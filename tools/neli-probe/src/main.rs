// One IPv4 route dump of every table, N times: the default routes counted
// and the time per dump. Built raw (as rtnetlink.rs reads) and with neli.
fn main() {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let t = std::time::Instant::now();
    let mut msgs = 0;
    #[cfg(feature = "neli")]
    {
        use neli::{consts::{nl::*, rtnl::*, socket::*}, nl::{NlPayload, Nlmsghdr}, router::synchronous::NlRouter, rtnl::*, types::Buffer, utils::Groups};
        let (s, _) = NlRouter::connect(NlFamily::Route, None, Groups::empty()).unwrap();
        for _ in 0..n {
            let m = RtmsgBuilder::default().rtm_family(RtAddrFamily::Inet).rtm_dst_len(0).rtm_src_len(0).rtm_tos(0)
                .rtm_table(RtTable::Unspec).rtm_protocol(Rtprot::Unspec).rtm_scope(RtScope::Universe).rtm_type(Rtn::Unspec).build().unwrap();
            let recv = s.send::<_, _, NlTypeWrapper, Buffer>(Rtm::Getroute, NlmF::DUMP, NlPayload::Payload(m)).unwrap();
            for r in recv { let r: Nlmsghdr<NlTypeWrapper, Buffer> = r.unwrap(); if let NlPayload::Payload(p) = r.nl_payload() { msgs += usize::from(p.as_ref()[1] == 0); } }
        }
    }
    #[cfg(not(feature = "neli"))]
    unsafe {
        let fd = libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::NETLINK_ROUTE);
        let mut sa: libc::sockaddr_nl = std::mem::zeroed();
        sa.nl_family = libc::AF_NETLINK as u16;
        libc::bind(fd, &sa as *const _ as *const libc::sockaddr, std::mem::size_of::<libc::sockaddr_nl>() as u32);
        let mut buf = vec![0u8; 64 << 10];
        for seq in 1..=n as u32 {
            let mut req = Vec::with_capacity(28);
            req.extend(28u32.to_ne_bytes()); req.extend(26u16.to_ne_bytes()); req.extend((1u16 | 0x300).to_ne_bytes());
            req.extend(seq.to_ne_bytes()); req.extend(0u32.to_ne_bytes()); req.extend([2u8, 0,0,0,0,0,0,0,0,0,0,0]);
            libc::send(fd, req.as_ptr() as *const _, req.len(), 0);
            'outer: loop {
                let k = libc::recv(fd, buf.as_mut_ptr() as *mut _, buf.len(), 0) as usize;
                let mut i = 0;
                while i + 16 <= k {
                    let len = u32::from_ne_bytes(buf[i..i+4].try_into().unwrap()) as usize;
                    let ty = u16::from_ne_bytes(buf[i+4..i+6].try_into().unwrap());
                    if ty == 3 || ty == 2 { break 'outer; }
                    msgs += usize::from(buf[i + 17] == 0);
                    i += (len + 3) & !3;
                }
            }
        }
    }
    let us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    println!("{msgs} default routes seen; {us:.1} us per dump");
}
