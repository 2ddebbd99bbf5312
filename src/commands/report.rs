//! `report` (and the short form `--framework … --range …`) and `verify`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::analyze::anomalies::store::Store;
use crate::analyze::anomalies::Window;
use crate::cli::{ReportArgs, VerifyArgs};
use crate::model::time;
use crate::range::TimeRange;
use crate::redact::mask_url;
use crate::report::catalog::Catalog;
use crate::report::evidence::Evidence;
use crate::report::manifest::{self, FileHash, Manifest};
use crate::report::render::{self, Format};
use crate::report::{self as rep, Meta};
use crate::sources::SourceSpec;

use super::export::{filter, read_options, source};
use super::usage;

fn formats(list: &str) -> anyhow::Result<Vec<Format>> {
    let mut out = Vec::new();
    for name in list.split(',').filter(|s| !s.trim().is_empty()) {
        let f = Format::parse(name).ok_or_else(|| {
            let names: Vec<&str> = Format::ALL.iter().map(|(n, _)| *n).collect();
            usage(format!("--format: {name:?} is not one of {}", names.join(", ")))
        })?;
        if !out.contains(&f) {
            out.push(f);
        }
    }
    if out.is_empty() {
        return Err(usage("--format names no format"));
    }
    out.sort();
    Ok(out)
}

/// The default sample seed: stable for a framework and period.
fn default_seed(framework: &str, period: &Window) -> u64 {
    let h =
        manifest::sha256(format!("{framework}|{}|{}", time::format(&period.from), time::format(&period.to)).as_bytes());
    u64::from_str_radix(&h[..16], 16).expect("hex")
}

pub fn run(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    report(args).map(|(code, _evidence)| code)
}

/// [`run`] as the last work of the process (the command line; the scheduler, which runs job
/// after job, calls `run`): the evidence is left to the process's end instead of being freed
/// row by row, which took 0.14 s of 10 on the benchmark's month.
pub fn run_and_exit(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    report(args).map(|(code, evidence)| {
        std::mem::forget(evidence);
        code
    })
}

fn report(args: &ReportArgs) -> anyhow::Result<(ExitCode, Evidence)> {
    let catalog = Catalog::load(&args.framework, args.template_dir.as_deref()).map_err(usage)?;
    let formats = formats(&args.format)?;
    let filter = filter(&args.filter)?;
    if !args.filter.events.is_empty() {
        return Err(usage("a report looks at all events; --event is for export"));
    }
    let (Some(from), Some(to)) = (filter.range.from, filter.range.to) else {
        return Err(usage(
            "a report needs a closed --range, e.g. --range 2026-10-01..2026-10-31 or --range last-month",
        ));
    };
    let settings = super::anomalies::settings(&args.detect, &args.filter.tz)?;
    let baseline_len = chrono::Duration::from_std(args.detect.baseline).map_err(|_| usage("--baseline is too long"))?;
    let period = Window { from, to };
    let baseline = Window { from: from - baseline_len, to: from };
    let generated_at = match &args.generated_at {
        Some(t) => time::parse(t).ok_or_else(|| usage(format!("--generated-at {t:?} is not an RFC 3339 time")))?,
        None => chrono::Utc::now(),
    };
    let seed = args.seed.unwrap_or_else(|| default_seed(&catalog.framework, &period));
    // The key is read before the source, so a bad key fails fast.
    let key = args.sign_key.as_deref().map(crate::signing::signing_key).transpose().map_err(usage)?;
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("report-{}-{}", catalog.framework, from.format("%Y-%m-%d"))));

    let redact = crate::export::RedactOptions { mode: args.redact.mode(), key: args.redact.redact_key.clone() };
    let redactor = super::export::redactor(&redact, &crate::checkpoint::default_state_dir())?;
    let spec = source(&args.source.source)?;
    let mut read = read_options(&args.source, &filter);
    read.range = TimeRange { from: Some(baseline.from), to: Some(to) };
    let started = std::time::Instant::now();
    let store: Option<Box<dyn Store>> = match &spec {
        SourceSpec::ClickHouse(url) if !args.local => {
            let store = super::anomalies::open_store(url, &read)
                .with_context(|| format!("cannot open {} for the report's questions", mask_url(url)))?;
            tracing::info!("heuristics and checks run inside ClickHouse; the period's events stream by");
            Some(Box::new(store))
        }
        _ => None,
    };
    read.range.from = Some(Evidence::read_from(store.as_deref(), &period, &baseline));
    // What the report keeps of each event is taken where the source builds it.
    let condense = Evidence::condense(period, baseline, redactor.clone(), store.as_deref());
    read.prepare = Some(Evidence::prepare(&condense));
    let stream = spec.open(&read).with_context(|| format!("cannot open source {}", spec.describe()))?;
    let stream = crate::logging::counted(stream, crate::logging::progress("events read"));
    let mut ev = Evidence::collect(stream, &condense, settings.clone(), store)
        .with_context(|| format!("cannot read {}", spec.describe()))?;
    ev.signed = key.is_some();
    if let Some(earliest) = spec.earliest(&read).with_context(|| format!("cannot read {}", spec.describe()))? {
        ev.earliest = Some(ev.earliest.map_or(earliest, |e| e.min(earliest)));
    }
    tracing::info!(
        events = ev.stats.events,
        sessions = ev.sessions.len(),
        findings = ev.findings.len(),
        seconds = format!("{:.2}", started.elapsed().as_secs_f64()),
        "evidence read"
    );
    let meta = Meta {
        organisation: args.org.clone(),
        generated_at,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        source: spec.describe(),
        sample_seed: seed,
    };
    let report = rep::build(&catalog, &ev, meta, args.sample, args.matrix_rows);
    if let Some(e) = ev.store.failure() {
        return Err(anyhow::Error::new(e).context(format!("a question to {} failed", spec.describe())));
    }

    std::fs::create_dir_all(&out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    // Each format rendered and written on a thread of its own, beside the whole traceability
    // matrix (streamed: the report itself shows at most MATRIX_SHOWN); the files are listed in
    // the order of the formats asked for, the matrix last.
    let matrix = out_dir.join(rep::MATRIX_FILE);
    let (evidence, written, entry) = std::thread::scope(|s| {
        let matrix = s.spawn(|| {
            crate::files::write_atomic_with(&matrix, crate::files::PRIVATE, |w| {
                let mut w = manifest::Hashing::new(w);
                render::matrix_csv(ev.period_sessions(), &mut w)?;
                w.finish(rep::MATRIX_FILE)
            })
            .with_context(|| format!("cannot write {}", matrix.display()))
        });
        let (report, out_dir) = (&report, &out_dir);
        let write = |f: Format, bytes: &[u8]| -> anyhow::Result<FileHash> {
            write_atomic(&out_dir.join(f.file_name()), bytes)?;
            Ok(FileHash { name: f.file_name().into(), bytes: bytes.len() as u64, sha256: manifest::sha256(bytes) })
        };
        let others: Vec<_> = formats
            .iter()
            .filter(|f| **f != Format::Json)
            .map(|&f| {
                s.spawn(move || {
                    let bytes =
                        render::render(report, f, args.template_dir.as_deref()).context("cannot render the report")?;
                    write(f, &bytes)
                })
            })
            .collect();
        let evidence = render::render(report, Format::Json, None).context("cannot render the evidence");
        let mut others = others.into_iter().map(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        // Formats are listed once each: JSON's file is the evidence, written here.
        let written: Vec<anyhow::Result<FileHash>> = formats
            .iter()
            .map(|f| match (f, &evidence) {
                (Format::Json, Ok(bytes)) => write(Format::Json, bytes),
                (Format::Json, Err(_)) => Err(anyhow::anyhow!("the evidence was not rendered")),
                _ => others.next().expect("a thread per format"),
            })
            .collect();
        (evidence, written, matrix.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
    });
    let evidence = evidence?;
    let mut files = written.into_iter().collect::<anyhow::Result<Vec<FileHash>>>()?;
    files.push(entry?);
    let mut options = BTreeMap::new();
    options.insert("range".to_string(), format!("{}..{}", time::format(&period.from), time::format(&period.to)));
    options.insert("baseline".to_string(), format!("{}..{}", time::format(&baseline.from), time::format(&baseline.to)));
    options.insert("business_hours".to_string(), format!("{:?} {}", settings.business_hours, settings.tz));
    options.insert("stuck_after_hours".to_string(), settings.stuck_after.num_hours().to_string());
    options.insert("sample".to_string(), format!("{} sessions, seed {seed}", args.sample));
    options.insert("matrix_rows".to_string(), args.matrix_rows.to_string());
    options.insert(
        "templates".to_string(),
        args.template_dir.as_ref().map_or("bundled".to_string(), |d| d.display().to_string()),
    );
    options.insert("formats".to_string(), formats.iter().map(|f| f.file_name()).collect::<Vec<_>>().join(","));
    let m = Manifest {
        schema: manifest::SCHEMA.into(),
        framework: catalog.framework.clone(),
        period: report.period_text.clone(),
        generated_at: time::format(&generated_at),
        tool_version: report.meta.tool_version.clone(),
        source: report.meta.source.clone(),
        options,
        evidence_sha256: manifest::sha256(&evidence),
        files,
        chain: ev.chain.as_ref().map(|h| manifest::ChainHead {
            chain_id: h.id.clone(),
            chain_seq: h.seq,
            chain_hash: h.hash.clone(),
            reproduce: export_command(&spec, args.source.schema.as_deref(), &period, &redactor),
        }),
    };
    let mut text = serde_json::to_vec_pretty(&m).expect("manifests serialize");
    text.push(b'\n');
    write_atomic(&out_dir.join(manifest::FILE), &text)?;
    let sig_path = out_dir.join(manifest::SIGNATURE_FILE);
    match &key {
        Some(key) => write_atomic(&sig_path, &crate::signing::sign(key, &text))?,
        // A signature of an earlier package in the same directory would not match.
        None => match std::fs::remove_file(&sig_path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("cannot remove {}", sig_path.display()))
            }
            _ => {}
        },
    }

    let s = &report.summary;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} {}: {} controls — {} satisfied, {} with exceptions, {} with insufficient evidence",
        catalog.name, report.period_text, s.controls, s.satisfied, s.exceptions, s.insufficient_evidence
    )
    .and_then(|_| {
        for f in m.files.iter().map(|f| &f.name).chain(std::iter::once(&manifest::FILE.to_string())) {
            writeln!(out, "{}", out_dir.join(f).display())?;
        }
        if key.is_some() {
            writeln!(out, "{}", sig_path.display())?;
        }
        Ok(())
    })
    .context("cannot write to stdout")?;
    Ok((ExitCode::SUCCESS, ev))
}

/// Write through a temporary file and rename, so a package never holds a half-written file.
fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    crate::files::write_atomic(path, bytes, crate::files::PRIVATE)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The `export` command line that links the period's events into the chain the manifest names.
fn export_command(
    spec: &crate::sources::SourceSpec,
    schema: Option<&str>,
    period: &Window,
    redactor: &crate::secrets::redactor::Redactor,
) -> String {
    use crate::secrets::redactor::Mode;
    use crate::sources::SourceSpec;
    let quote = |s: &str| {
        if s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./:@*=?&%+,".contains(&b)) {
            s.to_string()
        } else {
            format!("'{}'", s.replace('\'', "'\\''"))
        }
    };
    let mut cmd = "compliance-report export".to_string();
    match spec {
        SourceSpec::Demo => {}
        SourceSpec::Files(paths) => {
            paths.iter().for_each(|p| cmd += &format!(" --source {}", quote(&p.display().to_string())))
        }
        SourceSpec::Postgres(_) | SourceSpec::ClickHouse(_) => cmd += &format!(" --source {}", quote(&spec.describe())),
    }
    if let Some(schema) = schema {
        cmd += &format!(" --schema {}", quote(schema));
    }
    cmd += &format!(" --range {}..{} --format json", time::format(&period.from), time::format(&period.to));
    match redactor.mode() {
        Mode::Prompts => {}
        Mode::All => cmd += " --redact-all",
        Mode::Off => cmd += " --no-redact",
    }
    // The state directory's key is found again by an export on the same host.
    if let Some(key) = redactor.given_key() {
        cmd += &format!(" --redact-key {}", quote(&key.display().to_string()));
    }
    cmd
}

pub fn verify(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let pubkey = args.pubkey.as_deref().map(crate::signing::verifying_key).transpose().map_err(usage)?;
    let (m, problems, signature) = manifest::verify(&args.dir, pubkey.as_ref()).map_err(anyhow::Error::new)?;
    let mut out = std::io::stdout().lock();
    if problems.is_empty() {
        let signed = match signature {
            manifest::Signature::Unsigned => "unsigned",
            manifest::Signature::NotChecked => "signed, signature not checked: pass --pubkey",
            manifest::Signature::Valid => "signature valid",
        };
        writeln!(
            out,
            "OK: {} files match {} ({} report, {}, generated {}; {signed})",
            m.files.len(),
            args.dir.join(manifest::FILE).display(),
            m.framework,
            m.period,
            m.generated_at
        )
        .context("cannot write to stdout")?;
        Ok(ExitCode::SUCCESS)
    } else {
        for p in &problems {
            writeln!(out, "MODIFIED: {p}").context("cannot write to stdout")?;
        }
        Ok(ExitCode::from(1))
    }
}
