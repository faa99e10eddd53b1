//! Plan: pure functions from the input and the kernel's [`State`] to what
//! we want the kernel to hold. Nothing here does I/O, except `track`
//! (ecmp-track's state file) and `nft` (the text last loaded, and the
//! real `nft` behind its trait).
//!
//! - `members`: which interfaces carry the route, through which gateway.
//! - `route`, `link`, `rule`: routes, links and policy rules as data; the
//!   desired route and the single change it needs.
//! - `nexthop`: nexthop objects as data, our ID scheme, the group plan.
//! - `inbound`: per-member tables, source rules and their guards, so
//!   replies leave by the dial they came in on; `nft`: the marks for port
//!   forwards (IPv4).
//! - `track`: link tracking as data: options, verdicts, the state file.
//!
//! [`State`]: crate::kernel::State

pub mod inbound;
pub mod link;
pub mod members;
pub mod nexthop;
pub mod nft;
pub mod route;
pub mod rule;
pub mod track;
