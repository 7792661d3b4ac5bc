//! Progress reports of a fragmentation run.

use std::fmt;
use std::sync::Arc;

/// What a progress hook is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FragmentEvent {
    /// Before any cell is written: the number of selected cells, and how
    /// many of them a resumed run found finished.
    Started {
        /// Cells selected.
        total: usize,
        /// Cells already finished (skipped).
        skipped: usize,
    },
    /// A cell's file is in place. Sent from worker threads, in completion
    /// order; `done` counts finished cells, skipped ones included.
    CellWritten {
        /// Cells finished so far (skipped included), this one counted.
        done: usize,
        /// Cells selected.
        total: usize,
        /// Bytes of the file just written.
        bytes: u64,
    },
}

/// A callback for progress reports; it runs on worker threads, so it should
/// be quick (an atomic add, a progress bar's `inc`).
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use impart::fragment::{FragmentEvent, ProgressHook};
///
/// let written = Arc::new(AtomicUsize::new(0));
/// let count = written.clone();
/// let hook = ProgressHook::new(move |e| {
///     if let FragmentEvent::CellWritten { .. } = e {
///         count.fetch_add(1, Ordering::Relaxed);
///     }
/// });
/// # let _ = hook;
/// ```
#[derive(Clone)]
pub struct ProgressHook(Arc<dyn Fn(&FragmentEvent) + Send + Sync>);

impl ProgressHook {
    /// Wraps a callback.
    pub fn new(f: impl Fn(&FragmentEvent) + Send + Sync + 'static) -> Self {
        ProgressHook(Arc::new(f))
    }

    pub(super) fn call(&self, event: &FragmentEvent) {
        (self.0)(event)
    }
}

impl fmt::Debug for ProgressHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProgressHook(..)")
    }
}
