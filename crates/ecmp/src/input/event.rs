//! The hotplug event: what netifd hands /sbin/hotplug-call in the
//! environment (ACTION, INTERFACE), possibly overridden by flags. DEVICE
//! is not read: netifd sets it only on ifup/ifupdate, and the dump names
//! every member's device anyway.

use crate::Error;
use std::ffi::OsString;

/// netifd hotplug actions. Only the first five change which links are live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Ifup,
    Ifupdate,
    Ifdown,
    IfupFailed,
    Free,
    /// reload, create, or anything else: nothing to do.
    Other,
}

impl Action {
    pub fn parse(s: &str) -> Action {
        match s {
            "ifup" => Action::Ifup,
            "ifupdate" => Action::Ifupdate,
            "ifdown" => Action::Ifdown,
            "ifup-failed" => Action::IfupFailed,
            "free" => Action::Free,
            _ => Action::Other,
        }
    }

    /// Whether this action can change the set of live links.
    pub fn acts(self) -> bool {
        self != Action::Other
    }

    /// After these the event's interface is gone, whatever the dump says
    /// (netifd may dump it as still up while it tears it down).
    pub fn removes(self) -> bool {
        matches!(self, Action::Ifdown | Action::IfupFailed | Action::Free)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The action as given (for the log line).
    pub action_name: String,
    pub action: Action,
    /// The interface the event is about; empty for a manual run.
    pub interface: String,
}

/// Longest value we accept from the environment or a flag. netifd interface
/// names are far shorter; anything longer is not from netifd.
const MAX_VALUE: usize = 64;

fn value(name: &str, v: Option<OsString>) -> Result<String, Error> {
    let Some(v) = v else { return Ok(String::new()) };
    let s = v
        .into_string()
        .map_err(|_| Error::Usage(format!("{name} is not valid UTF-8")))?;
    if s.len() > MAX_VALUE {
        return Err(Error::Usage(format!(
            "{name} is {} bytes long, more than {MAX_VALUE}",
            s.len()
        )));
    }
    if s.chars().any(|c| c.is_control()) {
        return Err(Error::Usage(format!("{name} holds control characters")));
    }
    Ok(s)
}

impl Event {
    /// Build the event from flags (which win) and environment values.
    /// A run with neither ACTION nor --action is a manual "sync" (treated as
    /// ifupdate: recompute from the dump and write if needed).
    pub fn new(
        flag_action: Option<String>,
        flag_interface: Option<String>,
        env_action: Option<OsString>,
        env_interface: Option<OsString>,
    ) -> Result<Event, Error> {
        let action_name = match flag_action {
            Some(a) => value("--action", Some(a.into()))?,
            None => value("ACTION", env_action)?,
        };
        let interface = match flag_interface {
            Some(i) => value("--interface", Some(i.into()))?,
            None => value("INTERFACE", env_interface)?,
        };
        let (action_name, action) = if action_name.is_empty() {
            ("sync".to_string(), Action::Ifupdate)
        } else {
            let a = Action::parse(&action_name);
            (action_name, a)
        };
        Ok(Event {
            action_name,
            action,
            interface,
        })
    }

    /// A run with no event (`status`, `check`, a sync): what the members
    /// call for now, as an ifupdate of no interface would.
    pub fn sync() -> Event {
        Event {
            action_name: "sync".into(),
            action: Action::Ifupdate,
            interface: String::new(),
        }
    }

    /// Name used in the log line: `ifup VWAN3`.
    pub fn label(&self) -> String {
        if self.interface.is_empty() {
            self.action_name.clone()
        } else {
            format!("{} {}", self.action_name, self.interface)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt;

    #[test]
    fn env_values_and_flag_override() {
        let e = Event::new(None, None, Some("ifup".into()), Some("VWAN1".into())).unwrap();
        assert_eq!(e.action, Action::Ifup);
        assert_eq!(e.label(), "ifup VWAN1");
        let e = Event::new(
            Some("ifdown".into()),
            Some("wan".into()),
            Some("ifup".into()),
            Some("VWAN1".into()),
        )
        .unwrap();
        assert_eq!(e.action, Action::Ifdown);
        assert_eq!(e.interface, "wan");
    }

    #[test]
    fn actions() {
        for (a, acts, removes) in [
            ("ifup", true, false),
            ("ifupdate", true, false),
            ("ifdown", true, true),
            ("ifup-failed", true, true),
            ("free", true, true),
            ("reload", false, false),
            ("create", false, false),
            ("IFUP", false, false),
        ] {
            assert_eq!(Action::parse(a).acts(), acts, "{a}");
            assert_eq!(Action::parse(a).removes(), removes, "{a}");
        }
    }

    #[test]
    fn no_action_is_a_manual_sync() {
        let e = Event::new(None, None, None, None).unwrap();
        assert_eq!(e.action, Action::Ifupdate);
        assert_eq!(e.label(), "sync");
    }

    #[test]
    fn odd_environment_is_refused() {
        let bad = OsString::from_vec(vec![b'i', 0xff, b'f']);
        let e = Event::new(None, None, Some(bad), None).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("ACTION is not valid UTF-8"), "{e}");
        let long = "x".repeat(100_000);
        let e = Event::new(None, None, Some("ifup".into()), Some(long.into())).unwrap_err();
        assert!(e.to_string().contains("INTERFACE is 100000 bytes"), "{e}");
        let e = Event::new(None, None, Some("ifup\n".into()), None).unwrap_err();
        assert!(e.to_string().contains("control"), "{e}");
    }
}
