//! The port-forward marks' writer: our nft table ([`crate::plan::nft`]
//! plans its text) loaded by fw4's `nft -f -`, only when it changed, with
//! the text last loaded kept in the state directory. Behind the [`Marker`]
//! trait, as the routes are behind [`crate::kernel::Kernel`]: a dry run
//! writes down the command instead.

use crate::plan::nft::ruleset;
use crate::proc;
use std::path::Path;
use std::time::Duration;

/// Where the port-forward marks go: the real `nft` ([`Nft`]) or a dry
/// run's record of what it would load ([`DryNft`]). The event's one pass
/// is the same for both, as it is for the kernel.
pub trait Marker {
    /// Load `text` unless it is what was loaded last. True when it was
    /// (or would be) loaded.
    fn load(&mut self, text: &str) -> Result<bool, String>;
}

/// fw4's `nft`, with the text last loaded kept in the state directory.
pub struct Nft<'a> {
    /// None: no nft on this router (fw3); nothing is loaded.
    pub program: Option<std::path::PathBuf>,
    pub state_dir: &'a Path,
}

impl Marker for Nft<'_> {
    fn load(&mut self, text: &str) -> Result<bool, String> {
        match &self.program {
            Some(nft) => load(nft, self.state_dir, text),
            None => Ok(false),
        }
    }
}

/// A dry run: the `nft -f -` it would run, as a shell command.
pub struct DryNft<'a> {
    pub state_dir: &'a Path,
    pub commands: Vec<String>,
}

impl Marker for DryNft<'_> {
    fn load(&mut self, text: &str) -> Result<bool, String> {
        let needed = needed(self.state_dir, text);
        if needed {
            self.commands.push(format!("nft -f - <<EOF\n{text}EOF"));
        }
        Ok(needed)
    }
}

/// Where the text last written is kept.
pub fn cache(state_dir: &Path) -> std::path::PathBuf {
    state_dir.join("nft-ecmp4.rules")
}

/// Whether `text` differs from what was loaded last (nothing loaded since
/// boot and nothing to load is no difference).
pub fn needed(state_dir: &Path, text: &str) -> bool {
    match std::fs::read_to_string(cache(state_dir)) {
        Ok(t) => t != text,
        Err(_) => text != ruleset(0, &[]),
    }
}

/// Load `text` with `nft -f -` unless it is what was loaded last. True
/// when nft ran.
pub fn load(nft: &Path, state_dir: &Path, text: &str) -> Result<bool, String> {
    if !needed(state_dir, text) {
        return Ok(false);
    }
    let c = cache(state_dir);
    proc::run(
        nft,
        &["-f", "-"],
        Some(text.as_bytes()),
        Duration::from_secs(5),
        1 << 16,
    )
    .map_err(|e| format!("{} -f -: {e}", nft.display()))?;
    let _ = std::fs::create_dir_all(state_dir);
    let _ = std::fs::write(&c, text);
    Ok(true)
}
