//! `sightline audit`: verify the hash chain of the audit log and export it.

use crate::admin::DataDir;
use anyhow::{Context, bail};
use sightline_store::audit::{self, ChainBreak, GENESIS, hex};
use sightline_store::{AuditQuery, AuditStore};
use std::io::Write;

#[derive(Debug, clap::Subcommand)]
pub enum Which {
    /// Check that no entry was edited, deleted, inserted or reordered.
    Verify {
        #[command(flatten)]
        dir: DataDir,
        /// A head recorded earlier, `SEQ:HASH` (as printed by a previous verify or found
        /// in the server log): the chain must still contain it.
        #[arg(long)]
        expect_head: Option<String>,
    },
    /// Write every entry as NDJSON to standard output.
    Export {
        #[command(flatten)]
        dir: DataDir,
    },
}

const PAGE: usize = 5_000;

pub fn run(which: Which) -> anyhow::Result<()> {
    match which {
        Which::Verify { dir, expect_head } => verify(&dir, expect_head.as_deref()),
        Which::Export { dir } => {
            let store = dir.open(false)?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let mut after = 0;
            loop {
                let page =
                    store.list_audit(&AuditQuery { after_seq: Some(after), limit: PAGE, ..AuditQuery::default() })?;
                for r in &page {
                    serde_json::to_writer(&mut out, &sightline_server::wire::audit::record_json(r))?;
                    out.write_all(b"\n")?;
                }
                match page.last() {
                    Some(last) if page.len() == PAGE => after = last.seq,
                    _ => break,
                }
            }
            out.flush().context("writing the export")
        }
    }
}

fn parse_head(text: &str) -> anyhow::Result<(i64, String)> {
    let (seq, hash) = text.split_once(':').context("--expect-head must be SEQ:HASH")?;
    let seq = seq.parse().context("--expect-head: SEQ must be a number")?;
    Ok((seq, hash.to_lowercase()))
}

fn verify(dir: &DataDir, expect_head: Option<&str>) -> anyhow::Result<()> {
    let expected = expect_head.map(parse_head).transpose()?;
    let store = dir.open(false)?;
    let mut position = (0, GENESIS);
    let mut seen_expected = false;
    loop {
        // Read by sequence, including any gap, so deletions show as gaps.
        let page =
            store.list_audit(&AuditQuery { after_seq: Some(position.0), limit: PAGE, ..AuditQuery::default() })?;
        if page.is_empty() {
            break;
        }
        position = match audit::verify(position, &page) {
            Ok(p) => p,
            Err(e) => bail!("the audit log is broken: {e}"),
        };
        if let Some((seq, hash)) = &expected
            && let Some(r) = page.iter().find(|r| r.seq == *seq)
        {
            if hex(&r.hash) != *hash {
                bail!(
                    "the audit log is broken: {}",
                    ChainBreak::HeadMismatch { seq: *seq, detail: "its hash differs".into() }
                );
            }
            seen_expected = true;
        }
    }
    if let Some((seq, _)) = expected
        && !seen_expected
    {
        bail!(
            "the audit log is broken: {}",
            ChainBreak::HeadMismatch { seq, detail: "the chain ends before it (entries were removed)".into() }
        );
    }
    println!("audit log intact: {} entries; head {}:{}", position.0, position.0, hex(&position.1));
    Ok(())
}
