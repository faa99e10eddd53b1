//! Links as the kernel names them, and finding them by name: plain data
//! the kernel trait, the codec and the planners share.

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
