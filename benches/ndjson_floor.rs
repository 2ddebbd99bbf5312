//! The floor under any run that reads gzip NDJSON: the CPU time to decompress and split every
//! line, to check each line's JSON syntax, and to build each line's JSON tree, on one thread,
//! with nothing else done. Divided by the cores, it bounds from below the wall time of any
//! reader of that data on that machine (`bash bench/floor.sh` runs it).
//!
//! Usage: cargo bench --bench ndjson_floor -- DIR_OR_FILE...

use std::io::BufRead;
use std::path::PathBuf;

use compliance_report::sources::ndjson::{expand, Input};

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone, Copy)]
enum Stage {
    Lines,
    Syntax,
    Tree,
}

impl Stage {
    fn label(self) -> &'static str {
        match self {
            Stage::Lines => "decompress and split lines",
            Stage::Syntax => "+ check JSON syntax (serde IgnoredAny)",
            Stage::Tree => "+ build the JSON tree (serde_json::Value)",
        }
    }
}

/// (lines, bytes, CPU seconds of this thread).
fn run(files: &[Input], stage: Stage) -> (u64, u64, f64) {
    let cpu = cpu_seconds();
    let (mut lines, mut bytes) = (0u64, 0u64);
    let mut line = Vec::new();
    for input in files {
        // The reader the tool reads with (gzip by extension, 256 KiB buffer).
        let mut r = input.open().unwrap_or_else(|e| panic!("{e}"));
        loop {
            line.clear();
            if r.read_until(b'\n', &mut line).expect("read") == 0 {
                break;
            }
            lines += 1;
            bytes += line.len() as u64;
            match stage {
                Stage::Lines => {}
                Stage::Syntax => {
                    serde_json::from_slice::<serde::de::IgnoredAny>(&line).expect("a JSON line");
                }
                Stage::Tree => {
                    std::hint::black_box(serde_json::from_slice::<serde_json::Value>(&line).expect("a JSON line"));
                }
            }
        }
    }
    (lines, bytes, cpu_seconds() - cpu)
}

/// CPU time of the calling thread.
fn cpu_seconds() -> f64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid, writable timespec; the clock id is a constant Linux knows.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } == 0;
    assert!(ok, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

fn main() {
    // `cargo bench` passes `--bench` along: not a path.
    let paths: Vec<PathBuf> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).map(PathBuf::from).collect();
    let files = expand(&paths).unwrap_or_else(|e| panic!("{e}"));
    assert!(!files.is_empty(), "usage: cargo bench --bench ndjson_floor -- DIR_OR_FILE...");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("| stage (one thread) | lines | bytes | CPU seconds | bound on {cores} cores (s) |");
    println!("|---|---:|---:|---:|---:|");
    for stage in [Stage::Lines, Stage::Syntax, Stage::Tree] {
        let (lines, bytes, cpu) = run(&files, stage);
        println!("| {} | {lines} | {bytes} | {cpu:.2} | {:.2} |", stage.label(), cpu / cores as f64);
    }
}
