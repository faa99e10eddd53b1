//! Report: what is balanced and what is wrong, compared against the same
//! plan an event writes.
//!
//! - `status`: the route, the members, the inbound tables and tracking,
//!   and every difference from the plan (text and JSON).
//! - `check`: a newcomer's checklist, each failure with its fix.
//! - `fights`: what else on the router fights our route (mwan3, syncdial,
//!   rc.local macvlans, sysctl.conf), each with its fix.

pub mod check;
pub mod fights;
pub mod status;
