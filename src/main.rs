//! The `impart` command-line program: `info`, `grid`, `region`, `stats`,
//! `fragment` and `demo` over raw, NIfTI, Zarr and image inputs, and
//! `cache` for the decode cache.

#![deny(clippy::undocumented_unsafe_blocks)]

mod cli;

fn main() -> std::process::ExitCode {
    #[cfg(unix)]
    sigbus::install();
    cli::main()
}

/// A memory-mapped input that another process truncates while we read it
/// raises SIGBUS, which would kill the process without a word. The handler
/// says what happened and how to avoid it, then exits.
#[cfg(unix)]
mod sigbus {
    /// Exit status after SIGBUS (128 + the signal number on Linux).
    const STATUS: libc::c_int = 128 + libc::SIGBUS;

    const MESSAGE: &[u8] = b"impart: error: a memory-mapped input file was truncated or \
replaced while it was being read (SIGBUS); its data is gone. Re-run with --no-mmap \
to read with positioned reads, which report such a file as an I/O error.\n";

    extern "C" fn on_sigbus(_signal: libc::c_int) {
        // SAFETY: write(2) and _exit(2) are async-signal-safe; MESSAGE is a
        // static buffer of the given length, and fd 2 is stderr (a failed
        // write is ignored).
        unsafe {
            libc::write(2, MESSAGE.as_ptr().cast(), MESSAGE.len());
            libc::_exit(STATUS);
        }
    }

    pub fn install() {
        let handler: extern "C" fn(libc::c_int) = on_sigbus;
        // SAFETY: the handler only calls async-signal-safe functions and
        // never returns; replacing the default SIGBUS action (terminate) is
        // process-wide, which is what a command-line program wants.
        // Restoring SIGPIPE's default (the Rust runtime ignores it) makes
        // `impart ... | head` end quietly, like other Unix tools, instead of
        // panicking on a write to a closed pipe.
        unsafe {
            libc::signal(libc::SIGBUS, handler as libc::sighandler_t);
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
}
