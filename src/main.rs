//! The `impart` command-line program: `info`, `grid`, `region`, `stats` and
//! `demo` over raw volumes (and, as they land, the other formats).

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
