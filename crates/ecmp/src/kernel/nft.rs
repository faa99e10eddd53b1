//! Our nft table's writer: [`crate::plan::nft`] plans its text, loaded by
//! fw4's `nft -f -` only when it changed, with the text last loaded kept
//! in the state directory (the script goes from that to the new one, so
//! the sets dnsmasq fills survive). Behind the [`Marker`] trait, as the
//! routes are behind [`crate::kernel::Kernel`]: a dry run writes down the
//! command instead.

use crate::plan::nft::transition;
use crate::proc;
use crate::Family;
use std::path::Path;
use std::time::Duration;

/// Where the marks go: the real `nft` ([`Nft`]) or a dry run's record of
/// what it would load ([`DryNft`]). The event's one pass is the same for
/// both, as it is for the kernel.
pub trait Marker {
    /// Load `text` (a [`crate::plan::nft::ruleset`]) unless it is what was
    /// loaded last. True when it was (or would be) loaded.
    fn load(&mut self, family: Family, text: &str) -> Result<bool, String>;

    /// Remove our table whatever was loaded last (`--flush`: the state
    /// directory may be gone while the table is not).
    fn clear(&mut self, family: Family) -> Result<(), String>;
}

/// fw4's `nft`, with the text last loaded kept in the state directory.
pub struct Nft<'a> {
    /// None: no nft on this router (fw3); nothing is loaded.
    pub program: Option<std::path::PathBuf>,
    pub state_dir: &'a Path,
}

impl Marker for Nft<'_> {
    fn load(&mut self, family: Family, text: &str) -> Result<bool, String> {
        match &self.program {
            Some(nft) => load(nft, self.state_dir, family, text),
            None => Ok(false),
        }
    }

    fn clear(&mut self, family: Family) -> Result<(), String> {
        let _ = std::fs::remove_file(cache(self.state_dir, family));
        let Some(nft) = &self.program else {
            return Ok(());
        };
        run(nft, &transition(family, None, ""))
    }
}

/// `nft -f -` with `script`.
fn run(nft: &Path, script: &str) -> Result<(), String> {
    proc::run(
        nft,
        &["-f", "-"],
        Some(script.as_bytes()),
        Duration::from_secs(5),
        1 << 16,
    )
    .map(|_| ())
    .map_err(|e| format!("{} -f -: {e}", nft.display()))
}

/// A dry run: the `nft -f -` it would run, as a shell command.
pub struct DryNft<'a> {
    pub state_dir: &'a Path,
    pub commands: Vec<String>,
}

impl Marker for DryNft<'_> {
    fn load(&mut self, family: Family, text: &str) -> Result<bool, String> {
        let last = last(self.state_dir, family);
        let needed = needed(last.as_deref(), text);
        if needed {
            let script = transition(family, last.as_deref(), text);
            self.commands.push(format!("nft -f - <<EOF\n{script}EOF"));
        }
        Ok(needed)
    }

    fn clear(&mut self, family: Family) -> Result<(), String> {
        let script = transition(family, None, "");
        self.commands.push(format!("nft -f - <<EOF\n{script}EOF"));
        Ok(())
    }
}

/// Where the text last loaded is kept.
pub fn cache(state_dir: &Path, family: Family) -> std::path::PathBuf {
    state_dir.join(format!("nft-{}.rules", family.program()))
}

/// The text last loaded, if known.
pub fn last(state_dir: &Path, family: Family) -> Option<String> {
    std::fs::read_to_string(cache(state_dir, family)).ok()
}

/// Whether `text` differs from what was loaded last (nothing loaded since
/// boot and nothing to load is no difference).
pub fn needed(last: Option<&str>, text: &str) -> bool {
    match last {
        Some(t) => t != text,
        None => !text.is_empty(),
    }
}

/// Load `text` with `nft -f -` unless it is what was loaded last. True
/// when nft ran.
pub fn load(nft: &Path, state_dir: &Path, family: Family, text: &str) -> Result<bool, String> {
    let last = last(state_dir, family);
    if !needed(last.as_deref(), text) {
        return Ok(false);
    }
    let c = cache(state_dir, family);
    // Unknown until it loads: a failed load leaves no text to build on.
    let _ = std::fs::remove_file(&c);
    let run = |old: Option<&str>| run(nft, &transition(family, old, text));
    // The table not as we left it (someone removed it, or part): replaced
    // whole, its sets emptied.
    run(last.as_deref()).or_else(|e| match last {
        Some(_) => run(None),
        None => Err(e),
    })?;
    let _ = std::fs::create_dir_all(state_dir);
    let _ = std::fs::write(&c, text);
    Ok(true)
}
