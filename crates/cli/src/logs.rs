//! `nimbus logs FUNCTION [--follow]`: print a function's log from the data directory.

use anyhow::{Context, Result};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    /// The function's name.
    function: String,
    /// Keep printing new lines as they are written.
    #[arg(short, long)]
    follow: bool,
    /// Prefix each line with its UTC timestamp and log stream.
    #[arg(long)]
    timestamps: bool,
    /// The server's data directory.
    #[arg(long, default_value = ".nimbus", env = "NIMBUS_DATA_DIR")]
    data_dir: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let path = nimbus_functions::logs::log_path(&args.data_dir.join("logs"), &args.function);
    let mut out = std::io::stdout().lock();
    let mut offset = 0u64;
    loop {
        match std::fs::File::open(&path) {
            Ok(mut f) => {
                let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                if len < offset {
                    offset = 0; // The log was recreated (function deleted and created again).
                }
                f.seek(SeekFrom::Start(offset))
                    .context("seek in log file")?;
                let mut reader = BufReader::new(f);
                let mut line = String::new();
                loop {
                    line.clear();
                    let n = reader.read_line(&mut line).context("read log file")?;
                    if n == 0 || !line.ends_with('\n') {
                        break; // A partial line is printed once it is complete.
                    }
                    offset += n as u64;
                    let text = line.trim_end_matches('\n');
                    match nimbus_functions::logs::parse_line(text) {
                        Some((ts, stream, msg)) if args.timestamps => {
                            let t = nimbus_model::time::Utc::from_millis(ts).rfc3339_millis();
                            writeln!(out, "{t} {stream} {msg}")?;
                        }
                        Some((_, _, msg)) => writeln!(out, "{msg}")?,
                        None => writeln!(out, "{text}")?,
                    }
                }
                out.flush()?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !args.follow {
                    anyhow::bail!(
                        "no log for function '{}' in {} (has it been invoked?)",
                        args.function,
                        args.data_dir.display()
                    );
                }
            }
            Err(e) => return Err(e).with_context(|| format!("open {}", path.display())),
        }
        if !args.follow {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
