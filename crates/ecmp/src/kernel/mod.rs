//! Kernel: what the core needs from the kernel, and nothing of how it is
//! asked: the [`Kernel`] trait (as netifd's system.h), the data it deals
//! in, and [`State`], the kernel read once per attempt.
//!
//! - `program`: the one writer: the write sequence of each mode with its
//!   undo, and `apply`, which drives them.
//! - `tables`: the member tables' routes and rules, written with undo.
//! - `netlink`: the rtnetlink messages as bytes (a pure codec).
//! - `rtnetlink`: the real kernel, the only code that speaks to it.
//! - `dummy`: an in-memory kernel writing `ip` commands (--dry-run, tests).
//! - `nft`: the port-forward marks' table, loaded by `nft` (or written
//!   down, in a dry run).

pub mod dummy;
pub mod netlink;
pub mod nft;
pub mod program;
pub mod rtnetlink;
pub mod tables;

pub use crate::error::{KernelError, EEXIST, EINVAL, ENETDOWN, ENODEV, ENOENT, EOPNOTSUPP, EPERM};
pub use crate::plan::link::{seek, ByName, Link};
use crate::plan::nexthop::{NhObject, Write};
use crate::plan::route::{self, Route};
use crate::plan::rule::Rule;
use crate::{Error, Family};

/// What the core needs from the kernel.
pub trait Kernel {
    fn links(&mut self) -> Result<Vec<Link>, Error>;
    /// The links named `names` and those of ifindex `indexes`, each once,
    /// as far as they exist: what an event needs. A dump makes the kernel
    /// fill every link's attributes and counters, and with 64 dials there
    /// are three links for each member; the real kernel asks for these
    /// alone (one RTM_GETLINK each, batched), the others filter a dump.
    fn links_of(&mut self, names: &[&str], indexes: &[u32]) -> Result<Vec<Link>, Error> {
        Ok(self
            .links()?
            .into_iter()
            .filter(|l| names.contains(&l.name.as_str()) || indexes.contains(&l.index))
            .collect())
    }
    /// Default routes (dst /0) of `family` in every table: ours and
    /// others' in our table, and the member tables. One dump serves them
    /// all. Nexthops carry their ifindex; [`State::read`] names them from
    /// the links it read.
    fn default_routes(&mut self, family: Family) -> Result<Vec<Route>, Error>;
    /// RTM_NEWROUTE with CREATE|REPLACE, acknowledged.
    fn replace(&mut self, route: &Route) -> Result<(), KernelError>;
    /// RTM_DELROUTE of a route of ours, acknowledged.
    fn delete(&mut self, route: &Route) -> Result<(), KernelError>;
    /// net.ipv{4,6}.fib_multipath_hash_policy, if readable.
    fn hash_policy(&self, family: Family) -> Option<u32>;
    /// Every nexthop object in the namespace; None when the kernel has no
    /// nexthop objects (before 5.3: RTM_GETNEXTHOP is EOPNOTSUPP).
    fn nexthops(&mut self) -> Result<Option<Vec<NhObject>>, Error>;
    /// RTM_NEWNEXTHOP, CREATE and EXCL or REPLACE as `how` says.
    fn write_nexthop(&mut self, obj: &NhObject, how: Write) -> Result<(), KernelError>;
    /// RTM_DELNEXTHOP of one of our objects.
    fn del_nexthop(&mut self, id: u32) -> Result<(), KernelError>;
    /// Every lookup rule of `family`; None when the kernel has no policy
    /// routing (RTM_GETRULE is EOPNOTSUPP: no CONFIG_IP_MULTIPLE_TABLES,
    /// or qemu-user's netlink emulation).
    fn rules(&mut self, family: Family) -> Result<Option<Vec<Rule>>, Error>;
    /// RTM_NEWRULE (CREATE|EXCL), acknowledged.
    fn add_rule(&mut self, rule: &Rule) -> Result<(), KernelError>;
    /// RTM_DELRULE of a rule of ours, acknowledged.
    fn del_rule(&mut self, rule: &Rule) -> Result<(), KernelError>;
}

/// What the kernel holds, read once per attempt: the links, one route
/// dump, one nexthop dump, one rule dump. Every part of an event plans
/// from it (the route, the groups, the member tables and their rules), and
/// `status` and `check` compare against the same.
pub struct State {
    /// Every link ([`State::read`]), or the members' (in their order)
    /// and those the routes use ([`State::read_for`]).
    pub links: Vec<Link>,
    /// Default routes in our table, every protocol's.
    pub routes: Vec<Route>,
    /// None: no nexthop objects in this kernel.
    pub objs: Option<Vec<NhObject>>,
    /// Default routes of ours in the other tables (the member tables).
    pub tables: Vec<Route>,
    /// Every rule of the family; None: no policy routing in this kernel.
    pub rules: Option<Vec<Rule>>,
}

impl State {
    /// With every link (status, check, a dry run).
    pub fn read(k: &mut dyn Kernel, family: Family, table: u32) -> Result<State, Error> {
        State::read_links(k, family, table, None)
    }

    /// With the links of `devs` (an event's members) and those its routes
    /// name: the event's path.
    pub fn read_for(
        k: &mut dyn Kernel,
        family: Family,
        table: u32,
        devs: &[&str],
    ) -> Result<State, Error> {
        State::read_links(k, family, table, Some(devs))
    }

    fn read_links(
        k: &mut dyn Kernel,
        family: Family,
        table: u32,
        devs: Option<&[&str]>,
    ) -> Result<State, Error> {
        let (mine, others): (Vec<Route>, Vec<Route>) = k
            .default_routes(family)?
            .into_iter()
            .partition(|r| r.table == table);
        let mut routes = route::merge_siblings(mine);
        let tables: Vec<Route> = others.into_iter().filter(Route::is_ours).collect();
        let objs = k.nexthops()?;
        let rules = k.rules(family)?;
        let links = match devs {
            None => k.links()?,
            Some(devs) => {
                let mut unnamed: Vec<u32> = routes
                    .iter()
                    .flat_map(|r| &r.nexthops)
                    .filter(|n| n.dev.is_empty())
                    .map(|n| n.ifindex)
                    .collect();
                // The members' links first; then only the ifindexes that
                // none of them has (a device the route still names but
                // no member does), usually none.
                let mut links = k.links_of(devs, &[])?;
                unnamed.retain(|i| !links.iter().any(|l| l.index == *i));
                unnamed.sort_unstable();
                unnamed.dedup();
                if !unnamed.is_empty() {
                    links.extend(k.links_of(&[], &unnamed)?);
                }
                links
            }
        };
        // The member tables' routes keep their ifindex alone: they are
        // matched to members by it.
        for n in routes.iter_mut().flat_map(|r| r.nexthops.iter_mut()) {
            if n.dev.is_empty() {
                n.dev = Link::name_of(&links, n.ifindex);
            }
        }
        Ok(State {
            links,
            routes,
            objs,
            tables,
            rules,
        })
    }

    /// The links again, as this state read them: whether one of them
    /// changed (went, or lost its carrier) since.
    pub fn links_changed(&self, k: &mut dyn Kernel) -> bool {
        let names: Vec<&str> = self.links.iter().map(|l| l.name.as_str()).collect();
        // In any order (the default reads them in the dump's).
        k.links_of(&names, &[])
            .is_ok_and(|l| l.len() != self.links.len() || l.iter().any(|x| !self.links.contains(x)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_by_name_in_any_order() {
        let link = |index: u32, name: &str| Link {
            index,
            name: name.into(),
            carrier: true,
            bytes: None,
        };
        let links = [link(3, "a"), link(1, "b"), link(2, "c")];
        let mut by = ByName::new(&links);
        let idx = |l: Option<&Link>| l.map(|l| l.index);
        // In order, then back to the start, a missing one, twice the same.
        assert_eq!(idx(by.find("a")), Some(3));
        assert_eq!(idx(by.find("c")), Some(2));
        assert_eq!(idx(by.find("b")), Some(1));
        assert_eq!(idx(by.find("zz")), None);
        assert_eq!(idx(by.find("b")), Some(1));
        assert_eq!(idx(by.find("b")), Some(1));
        assert_eq!(idx(ByName::new(&[]).find("a")), None);
    }

    #[test]
    fn kernel_error_text() {
        assert_eq!(
            KernelError::refused(19, "Nexthop device is not up").to_string(),
            "No such device (errno 19): Nexthop device is not up"
        );
        assert_eq!(
            KernelError::refused(1, "").to_string(),
            "Operation not permitted (errno 1)"
        );
        let enc = KernelError::Encode("attribute 9 of 70000 bytes does not fit".into());
        assert_eq!(enc.errno(), 0);
        assert!(!enc.to_string().contains("Success"), "{enc}");
        let sock = KernelError::Socket {
            errno: libc::ENOBUFS,
            text: "recv".into(),
        }
        .to_string();
        assert!(
            sock.starts_with("recv: ") && sock.ends_with(&format!("(errno {})", libc::ENOBUFS)),
            "{sock}"
        );
    }
}
