//! The `compliance-report` binary: parse, set up logging, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: the export moves many small allocations between the reader and writer threads,
/// where glibc's allocator spent half the time (measured with perf; see README, Performance).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use compliance_report::schedule::lock::LockError;
use compliance_report::{cli::Cli, logging, UsageError};

/// The command line, with the short form of the main job expanded:
/// `compliance-report --framework soc2 --range …` is `compliance-report report --framework …`.
fn args() -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let global = |a: &str| {
        a == "--quiet"
            || a == "--verbose"
            || (a.starts_with('-') && !a.starts_with("--") && a[1..].chars().all(|c| c == 'v' || c == 'q'))
    };
    if let Some(i) = args.iter().skip(1).position(|a| !global(&a.to_string_lossy())) {
        if args[i + 1].to_string_lossy().starts_with("--framework") {
            args.insert(i + 1, "report".into());
        }
    }
    args
}

/// The error and its causes, joined by `: `; a cause its parent's message already ends with
/// (errors that show their source) is not repeated.
fn message(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Transparent huge pages off for this process. mimalloc asks for them on its arenas, and the
/// kernel then clears 2 MiB at each first touch and keeps whole huge pages resident however
/// little of them is used: in alternated runs, a month's report from files
/// (`bench/report.sh files`) peaked 6% lower without them, in no more time (see README,
/// Compliance reports). A kernel that refuses is no error: the tool only uses more memory.
///
/// Done here, not through mimalloc's own `allow_thp` option: mimalloc reads its options when it
/// starts, before `main`, and only from the environment (`MIMALLOC_ALLOW_THP=0` has the same
/// effect); the kernel's flag holds for every mapping of the process, the allocator's too.
fn no_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

fn main() -> ExitCode {
    no_huge_pages();
    let cli = Cli::parse_from(args());
    logging::init(&cli.log);
    if let Err(e) = compliance_report::shutdown::install() {
        eprintln!("warning: cannot install signal handlers ({e}); SIGTERM will stop the process at once");
    }
    match compliance_report::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", message(&err));
            if err.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else if matches!(err.downcast_ref::<LockError>(), Some(LockError::Busy { .. })) {
                ExitCode::from(3)
            } else {
                ExitCode::from(1)
            }
        }
    }
}
