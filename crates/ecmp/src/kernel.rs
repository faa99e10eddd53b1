//! What the core needs from the kernel, and nothing of how it is asked:
//! the [`Kernel`] trait (as netifd's system.h), the data it deals in, and
//! [`State`], the kernel read once per attempt. Implementations:
//! `rtnetlink::Netlink` (the real one, the only code that speaks
//! netlink) and `dummy::Dummy` (in memory: it records what it would
//! write as `ip` commands, for `--dry-run` and the unit tests).

use crate::inbound::Rule;
use crate::netlink::Write;
use crate::nexthop::NhObject;
use crate::route::{self, Route};
use crate::{Error, Family};

// The target's own errno values: they differ between architectures (MIPS).
pub const ENOENT: i32 = libc::ENOENT;
pub const EPERM: i32 = libc::EPERM;
pub const ENODEV: i32 = libc::ENODEV;
pub const EINVAL: i32 = libc::EINVAL;
pub const EEXIST: i32 = libc::EEXIST;
pub const ENETDOWN: i32 = libc::ENETDOWN;
pub const EOPNOTSUPP: i32 = libc::EOPNOTSUPP;

/// A link as the kernel names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// Up with carrier (IFF_UP and IFF_LOWER_UP, never IFF_RUNNING, the
    /// operstate, which lags the carrier by up to a second): the kernel
    /// refuses a nexthop object on a device without it.
    pub carrier: bool,
    /// (received, sent) bytes, from IFLA_STATS64 (status: LuCI's rates).
    pub bytes: Option<(u64, u64)>,
}

/// The index of the first of `items` that `hit` accepts, looked for from
/// `*at` on and then from the start; `*at` moves past it. For lists
/// matched against each other in mostly the same order (members and
/// their links, wanted rules and the kernel's, a group's members and our
/// objects): each search is then a step, not a scan, and nothing is
/// sorted (a sort is kilobytes of code per element type).
pub fn seek<T>(items: &[T], at: &mut usize, hit: impl Fn(&T) -> bool) -> Option<usize> {
    let from = (*at).min(items.len());
    let k = (from..items.len())
        .chain(0..from)
        .find(|k| hit(&items[*k]))?;
    *at = k + 1;
    Some(k)
}

/// Links found by name, for names that mostly come in the links' own
/// order (an event reads its members' links in the members' order).
pub struct ByName<'l> {
    links: &'l [Link],
    at: usize,
}

impl<'l> ByName<'l> {
    pub fn new(links: &'l [Link]) -> ByName<'l> {
        ByName { links, at: 0 }
    }

    pub fn find(&mut self, name: &str) -> Option<&'l Link> {
        let k = seek(self.links, &mut self.at, |l| l.name == name)?;
        Some(&self.links[k])
    }
}

impl Link {
    /// The name of ifindex `i` among `links`, or `if<i>` for one we did
    /// not see (it went between two dumps).
    pub fn name_of(links: &[Link], i: u32) -> String {
        links
            .iter()
            .find(|l| l.index == i)
            .map(|l| l.name.clone())
            .unwrap_or_else(|| format!("if{i}"))
    }
}

/// Why a write did not happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelError {
    /// The kernel refused: errno and its extended-ACK text.
    Refused { errno: i32, text: String },
    /// The socket failed (send, receive): errno and what was done.
    Socket { errno: i32, text: String },
    /// The message could not be built (larger than netlink's lengths):
    /// nothing was sent; no errno.
    Encode(String),
}

impl KernelError {
    /// The errno of a refusal or a socket error; 0 for an encode error.
    pub fn errno(&self) -> i32 {
        match self {
            KernelError::Refused { errno, .. } | KernelError::Socket { errno, .. } => *errno,
            KernelError::Encode(_) => 0,
        }
    }

    /// A refusal, as a test kernel scripts one.
    pub fn refused(errno: i32, text: &str) -> KernelError {
        KernelError::Refused {
            errno,
            text: text.into(),
        }
    }
}

impl std::fmt::Display for KernelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let os = |errno: i32| {
            let s = std::io::Error::from_raw_os_error(errno).to_string();
            s.split(" (os error").next().unwrap_or(&s).to_string()
        };
        match self {
            KernelError::Refused { errno, text } if text.is_empty() => {
                write!(f, "{} (errno {errno})", os(*errno))
            }
            KernelError::Refused { errno, text } => {
                write!(f, "{} (errno {errno}): {text}", os(*errno))
            }
            KernelError::Socket { errno, text } => {
                write!(f, "{text}: {} (errno {errno})", os(*errno))
            }
            KernelError::Encode(text) => write!(f, "cannot encode the request: {text}"),
        }
    }
}

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
    /// Default routes (dst /0) of `family` in `table`. Nexthops carry
    /// their ifindex; [`State::read`] names them from the links it read.
    fn default_routes(&mut self, family: Family, table: u32) -> Result<Vec<Route>, Error>;
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
    /// Our default routes (protocol 236) of `family` in every table (the
    /// member tables).
    fn our_default_routes(&mut self, family: Family) -> Result<Vec<Route>, Error>;
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
/// dump, one nexthop dump.
pub struct State {
    /// Every link ([`State::read`]), or the members' (in their order)
    /// and those the routes use ([`State::read_for`]).
    pub links: Vec<Link>,
    pub routes: Vec<Route>,
    /// None: no nexthop objects in this kernel.
    pub objs: Option<Vec<NhObject>>,
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
        let mut routes = route::merge_siblings(k.default_routes(family, table)?);
        let objs = k.nexthops()?;
        let links = match devs {
            None => k.links()?,
            Some(devs) => {
                let mut unnamed: Vec<u32> = routes
                    .iter()
                    .flat_map(|r| &r.nexthops)
                    .filter(|n| n.dev.is_empty())
                    .map(|n| n.ifindex)
                    .collect();
                unnamed.sort_unstable();
                unnamed.dedup();
                k.links_of(devs, &unnamed)?
            }
        };
        for n in routes.iter_mut().flat_map(|r| r.nexthops.iter_mut()) {
            if n.dev.is_empty() {
                n.dev = Link::name_of(&links, n.ifindex);
            }
        }
        Ok(State {
            links,
            routes,
            objs,
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
