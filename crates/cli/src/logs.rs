//! `nimbus logs FUNCTION|GROUP [--follow]`: print a function's (or any log
//! group's) log from the data directory's log store.

use anyhow::{Context, Result};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    /// The function's name, or a log group's (starting with `/`).
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
    let root = args.data_dir.join("logs");
    // A log group's name, or a function's (whose group is /aws/lambda/NAME).
    let group = if args.function.starts_with('/') {
        args.function.clone()
    } else {
        format!("/aws/lambda/{}", args.function)
    };
    let mut out = std::io::stdout().lock();
    // How far each segment has been printed.
    let mut offsets: std::collections::HashMap<PathBuf, u64> = std::collections::HashMap::new();
    loop {
        let segments = nimbus_logs::store::segments(&root, &group);
        if segments.is_empty() && !args.follow {
            if args.function.starts_with('/') {
                anyhow::bail!(
                    "no log group '{}' with events in {}",
                    args.function,
                    args.data_dir.display()
                );
            }
            anyhow::bail!(
                "no log for function '{}' in {} (has it been invoked?)",
                args.function,
                args.data_dir.display()
            );
        }
        for path in segments {
            let offset = offsets.entry(path.clone()).or_insert(0);
            let Ok(mut f) = std::fs::File::open(&path) else {
                continue; // Expired between the listing and now.
            };
            f.seek(SeekFrom::Start(*offset))
                .context("seek in log file")?;
            let mut reader = BufReader::new(f);
            let mut line = String::new();
            loop {
                line.clear();
                let n = reader.read_line(&mut line).context("read log file")?;
                if n == 0 || !line.ends_with('\n') {
                    break; // A partial line is printed once it is complete.
                }
                *offset += n as u64;
                let text = line.trim_end_matches('\n');
                match nimbus_logs::store::parse_line(text) {
                    Some((ts, _, stream, msg)) if args.timestamps => {
                        let t = nimbus_model::time::Utc::from_millis(ts).rfc3339_millis();
                        writeln!(out, "{t} {stream} {msg}")?;
                    }
                    Some((_, _, _, msg)) => writeln!(out, "{msg}")?,
                    None => writeln!(out, "{text}")?,
                }
            }
        }
        out.flush()?;
        if !args.follow {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
