//! Graceful stop on SIGTERM / SIGINT: the signal only sets a flag; the export loop sees it,
//! delivers the batch in hand, saves the checkpoint and stops.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

static REQUESTED: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();

fn flag() -> &'static Arc<AtomicBool> {
    REQUESTED.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

/// Route SIGTERM and SIGINT to the flag (a second signal of either kind still ends the
/// process at once, for a run that does not stop by itself).
pub fn install() -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    for sig in [SIGTERM, SIGINT] {
        signal_hook::flag::register_conditional_shutdown(sig, 130, flag().clone())?;
        signal_hook::flag::register(sig, flag().clone())?;
    }
    Ok(())
}

/// Whether a stop was requested.
pub fn requested() -> bool {
    flag().load(Ordering::Relaxed)
}

/// Ask for a stop (tests, and the scheduler's own shutdown).
pub fn request() {
    flag().store(true, Ordering::Relaxed);
}
