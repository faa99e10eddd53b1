//! An in-memory [`Kernel`] that refuses what Linux refuses and writes each
//! change down as the `ip route` / `ip nexthop` command that would make
//! it (as netifd's system-dummy.c prints what it would do). `--dry-run`
//! starts one from the real kernel's state and runs the real `apply`
//! through it, so it prints exactly what a run would write, cleanup
//! included; the unit tests start one from scratch and script failures.

use crate::kernel::netlink::Write;
use crate::kernel::{Kernel, KernelError, Link, EEXIST, EINVAL, ENODEV, EOPNOTSUPP};
use crate::plan::inbound::Rule;
use crate::plan::nexthop::{NhKind, NhObject};
use crate::plan::route::Route;
use crate::{Error, Family};

/// A write the dummy can be told to refuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Replace,
    Delete,
    WriteNexthop,
    DelNexthop,
    AddRule,
    DelRule,
}

#[derive(Clone, Debug, Default)]
pub struct Dummy {
    pub links: Vec<Link>,
    pub routes: Vec<Route>,
    pub rules: Vec<Rule>,
    /// A kernel without policy routing.
    pub no_rules: bool,
    /// None: a kernel without nexthop objects (before 5.3).
    pub objs: Option<Vec<NhObject>>,
    /// A 5.3-5.12 kernel: resilient groups are EINVAL.
    pub no_resilient: bool,
    pub policy: Option<u32>,
    /// The writes, as `ip` commands.
    pub commands: Vec<String>,
    /// The writes it refused, as `ip` commands.
    pub refused: Vec<String>,
    /// Scripted refusals: (operation, errno, every time or once).
    pub refuse: Vec<(Op, i32, bool)>,
    /// Links after the first write attempt (a device vanishing mid-way).
    pub links_after_write: Option<Vec<Link>>,
    /// The reads, in order ("route dump", "nexthop dump", "rule dump",
    /// "links"): an unchanged event reads each once.
    pub reads: Vec<&'static str>,
}

impl Dummy {
    /// The real kernel's state, with a link (up, with carrier) for each of
    /// `devices` it lacks: a dump read from a file may come from another
    /// machine, and the dry run should still show the route it calls for.
    pub fn from_state(
        k: &mut dyn Kernel,
        family: Family,
        table: u32,
        devices: &[&str],
    ) -> Result<Dummy, Error> {
        let st = crate::kernel::State::read(k, family, table)?;
        let mut links = st.links;
        let mut next = links
            .iter()
            .map(|l| l.index)
            .max()
            .unwrap_or(0)
            .max(1 << 20);
        for d in devices {
            if !links.iter().any(|l| l.name == *d) {
                next += 1;
                links.push(Link {
                    index: next,
                    name: d.to_string(),
                    carrier: true,
                    bytes: None,
                });
            }
        }
        let mut routes = st.routes;
        routes.extend(st.tables);
        Ok(Dummy {
            links,
            no_rules: st.rules.is_none(),
            rules: st.rules.unwrap_or_default(),
            routes,
            objs: st.objs,
            policy: k.hash_policy(family),
            ..Dummy::default()
        })
    }

    /// A kernel with nexthop objects and nothing else: what a dry run
    /// plans against when it cannot read the real one.
    pub fn empty() -> Dummy {
        Dummy {
            objs: Some(Vec::new()),
            ..Dummy::default()
        }
    }

    /// Refuse the next `op` with `errno`.
    pub fn refuse_once(&mut self, op: Op, errno: i32) {
        self.refuse.push((op, errno, false));
    }

    /// Refuse every `op` with `errno`.
    pub fn refuse_always(&mut self, op: Op, errno: i32) {
        self.refuse.push((op, errno, true));
    }

    fn scripted(&mut self, op: Op) -> Result<(), KernelError> {
        let Some(i) = self.refuse.iter().position(|r| r.0 == op) else {
            return Ok(());
        };
        let (_, errno, always) = self.refuse[i];
        if !always {
            self.refuse.remove(i);
        }
        Err(KernelError::refused(errno, "scripted"))
    }

    fn vanish(&mut self) {
        if let Some(l) = self.links_after_write.take() {
            self.links = l;
            // Like the kernel: objects on a gone device are flushed.
            let idx: Vec<u32> = self.links.iter().map(|l| l.index).collect();
            if let Some(objs) = &mut self.objs {
                objs.retain(|o| match o.kind {
                    NhKind::Gateway { ifindex, .. } => idx.contains(&ifindex),
                    _ => true,
                });
            }
        }
    }

    fn dev(&self, i: u32) -> String {
        Link::name_of(&self.links, i)
    }
}

fn refused(errno: i32) -> Result<(), KernelError> {
    Err(KernelError::refused(errno, "refused by the dummy kernel"))
}

impl Kernel for Dummy {
    fn links(&mut self) -> Result<Vec<Link>, Error> {
        self.reads.push("links");
        Ok(self.links.clone())
    }

    fn default_routes(&mut self, family: Family) -> Result<Vec<Route>, Error> {
        self.reads.push("route dump");
        Ok(self
            .routes
            .iter()
            .filter(|r| r.family == family)
            .cloned()
            .collect())
    }

    fn replace(&mut self, r: &Route) -> Result<(), KernelError> {
        self.vanish();
        let line = r.to_ip("replace");
        let check = match r.nhid {
            Some(id) if !self.objs.iter().flatten().any(|o| o.id == id) => refused(EINVAL),
            Some(_) => Ok(()),
            None if r
                .nexthops
                .iter()
                .any(|n| !self.links.iter().any(|l| l.index == n.ifindex)) =>
            {
                refused(ENODEV)
            }
            None => Ok(()),
        };
        if let Err(e) = check.and_then(|()| self.scripted(Op::Replace)) {
            self.refused.push(line);
            return Err(e);
        }
        self.commands.push(line);
        self.routes
            .retain(|o| !(o.family == r.family && o.table == r.table && o.metric == r.metric));
        self.routes.push(r.clone());
        Ok(())
    }

    fn delete(&mut self, r: &Route) -> Result<(), KernelError> {
        self.scripted(Op::Delete)?;
        let mut c = format!("{} del default", r.family.ip_cmd());
        if r.table != 254 {
            c.push_str(&format!(" table {}", r.table));
        }
        c.push_str(&format!(" proto {} metric {}", r.protocol, r.metric));
        self.commands.push(c);
        self.routes.retain(|o| {
            !(o.family == r.family && o.table == r.table && o.metric == r.metric && o.is_ours())
        });
        Ok(())
    }

    fn hash_policy(&self, _: Family) -> Option<u32> {
        self.policy
    }

    fn nexthops(&mut self) -> Result<Option<Vec<NhObject>>, Error> {
        self.reads.push("nexthop dump");
        Ok(self.objs.clone())
    }

    fn write_nexthop(&mut self, o: &NhObject, how: Write) -> Result<(), KernelError> {
        self.vanish();
        let Some(objs) = &self.objs else {
            return refused(EOPNOTSUPP);
        };
        match &o.kind {
            NhKind::Gateway { ifindex, .. } => {
                if !self.links.iter().any(|l| l.index == *ifindex) {
                    return refused(ENODEV);
                }
            }
            NhKind::Group { entries, resilient } => {
                if self.no_resilient && resilient.is_some() {
                    return refused(EINVAL);
                }
                if entries
                    .iter()
                    .any(|(id, _)| !objs.iter().any(|x| x.id == *id))
                {
                    return refused(EINVAL);
                }
            }
            NhKind::Blackhole => {}
            NhKind::Other => return refused(EINVAL),
        }
        if how == Write::Create && objs.iter().any(|x| x.id == o.id) {
            return refused(EEXIST);
        }
        self.scripted(Op::WriteNexthop)?;
        let verb = match how {
            Write::Create => "add",
            Write::Replace => "replace",
        };
        let line = o.to_ip(verb, &|i| self.dev(i));
        self.commands.push(line);
        let objs = self.objs.get_or_insert_with(Vec::new);
        match objs.iter_mut().find(|x| x.id == o.id) {
            Some(x) => *x = o.clone(),
            None => objs.push(o.clone()),
        }
        Ok(())
    }

    fn del_nexthop(&mut self, id: u32) -> Result<(), KernelError> {
        if self.objs.is_none() {
            return refused(EOPNOTSUPP);
        }
        self.scripted(Op::DelNexthop)?;
        self.commands.push(format!("ip nexthop del id {id}"));
        let objs = self.objs.get_or_insert_with(Vec::new);
        objs.retain(|o| o.id != id);
        for o in objs.iter_mut() {
            if let NhKind::Group { entries, .. } = &mut o.kind {
                entries.retain(|e| e.0 != id);
            }
        }
        // Routes using a deleted object go with it.
        self.routes.retain(|r| r.nhid != Some(id));
        Ok(())
    }

    fn rules(&mut self, family: Family) -> Result<Option<Vec<Rule>>, Error> {
        self.reads.push("rule dump");
        Ok((!self.no_rules).then(|| {
            self.rules
                .iter()
                .filter(|r| r.family == family)
                .cloned()
                .collect()
        }))
    }

    fn add_rule(&mut self, r: &Rule) -> Result<(), KernelError> {
        if self.rules.contains(r) {
            return refused(EEXIST);
        }
        let line = r.to_ip("add");
        if let Err(e) = self.scripted(Op::AddRule) {
            self.refused.push(line);
            return Err(e);
        }
        self.commands.push(line);
        self.rules.push(r.clone());
        Ok(())
    }

    fn del_rule(&mut self, r: &Rule) -> Result<(), KernelError> {
        self.scripted(Op::DelRule)?;
        let Some(i) = self.rules.iter().position(|x| x == r) else {
            return refused(libc::ENOENT);
        };
        self.commands.push(r.to_ip("del"));
        self.rules.remove(i);
        Ok(())
    }
}
