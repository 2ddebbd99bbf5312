//! `verify-chain`: the hash chain of exported files.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;

use super::usage;
use crate::chain::verify;
use crate::cli::VerifyChainArgs;

pub fn verify(args: &VerifyChainArgs) -> anyhow::Result<ExitCode> {
    let json = match args.format.as_str() {
        "text" => false,
        "json" => true,
        other => return Err(usage(format!("--format {other:?}: use text or json"))),
    };
    let pubkey = args.pubkey.as_deref().map(crate::signing::verifying_key).transpose().map_err(usage)?;
    let outcome = verify::verify(&args.files, pubkey.as_ref()).map_err(anyhow::Error::new)?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &outcome).context("cannot write to stdout")?;
        writeln!(out).context("cannot write to stdout")?;
    } else {
        out.write_all(verify::text(&outcome).as_bytes()).context("cannot write to stdout")?;
    }
    if outcome.chains.is_empty() && outcome.ok() {
        anyhow::bail!("no record in these files carries a hash chain (exported with --no-chain, or not an export)");
    }
    Ok(if outcome.ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
