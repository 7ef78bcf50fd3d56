//! Function logs: each environment's stdout and stderr, framed by the platform's
//! `START` / `END` / `REPORT` lines, appended to the function's log group
//! (`/aws/lambda/<function>`) in the CloudWatch Logs store (`nimbus-logs`),
//! under the environment's log stream. Logs are not acknowledged writes, so
//! appends are not fsynced.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, oneshot};

/// Lambda returns at most the last 4 KB of an invocation's log.
pub const TAIL_BYTES: usize = 4096;

/// Where functions' output goes: their log groups in the logs store, and
/// the metrics its embedded-metric-format lines declare.
pub struct LogStore {
    logs: Arc<nimbus_logs::Logs>,
    metrics: std::sync::OnceLock<Arc<nimbus_metrics::Metrics>>,
}

impl LogStore {
    pub fn new(logs: Arc<nimbus_logs::Logs>) -> LogStore {
        LogStore {
            logs,
            metrics: std::sync::OnceLock::new(),
        }
    }

    /// Read embedded-metric-format lines into `m` from now on.
    pub fn set_metrics(&self, m: Arc<nimbus_metrics::Metrics>) {
        let _ = self.metrics.set(m);
    }

    /// The store the log groups are in (the CloudWatch Logs API reads it).
    pub fn logs(&self) -> &Arc<nimbus_logs::Logs> {
        &self.logs
    }

    /// Append a line to log group `group` (a function's `log_group()`).
    pub fn append(&self, group: &str, stream: &str, message: &str) {
        self.append_lines(group, stream, &[message]);
    }

    /// Append several lines with one write.
    pub fn append_lines(&self, group: &str, stream: &str, messages: &[&str]) {
        self.logs.append_lines(group, stream, messages);
        if let Some(m) = self.metrics.get() {
            let now = nimbus_model::time::now_millis();
            let points: Vec<_> = messages
                .iter()
                .filter(|l| l.trim_start().starts_with('{'))
                .flat_map(|l| nimbus_metrics::emf::extract(l, now))
                .collect();
            if !points.is_empty() {
                m.record_points(points);
            }
        }
    }

    /// The function was deleted or made again: its log group stays, as on
    /// Lambda.
    pub fn forget(&self, _function: &str) {}
}

/// A platform line (`START`, `END`, `REPORT`) as Lambda's JSON-format
/// record (`platform.start`, `platform.runtimeDone`, `platform.report`);
/// `None` for any other line.
fn platform_record(line: &str) -> Option<String> {
    use serde_json::json;
    let time =
        nimbus_model::time::Utc::from_millis(nimbus_model::time::now_millis()).rfc3339_millis();
    if let Some(rest) = line.strip_prefix("START RequestId: ") {
        let (id, version) = rest.split_once(" Version: ").unwrap_or((rest, "$LATEST"));
        return Some(
            json!({"time": time, "type": "platform.start",
            "record": {"requestId": id.trim(), "version": version.trim()}})
            .to_string(),
        );
    }
    if let Some(id) = line.strip_prefix("END RequestId: ") {
        return Some(
            json!({"time": time, "type": "platform.runtimeDone",
            "record": {"requestId": id.trim(), "status": "success"}})
            .to_string(),
        );
    }
    let rest = line.strip_prefix("REPORT RequestId: ")?;
    let mut fields = rest.split('\t');
    let id = fields.next().unwrap_or_default().trim();
    let mut metrics = serde_json::Map::new();
    let mut status = "success".to_string();
    let number = |v: &str, unit: &str| {
        v.trim()
            .strip_suffix(unit)
            .and_then(|n| n.trim().parse::<f64>().ok())
    };
    for f in fields {
        let Some((k, v)) = f.split_once(": ") else {
            continue;
        };
        let (key, unit) = match k {
            "Duration" => ("durationMs", "ms"),
            "Billed Duration" => ("billedDurationMs", "ms"),
            "Memory Size" => ("memorySizeMB", "MB"),
            "Max Memory Used" => ("maxMemoryUsedMB", "MB"),
            "Init Duration" => ("initDurationMs", "ms"),
            "Status" => {
                status = v.trim().to_string();
                continue;
            }
            _ => continue,
        };
        if let Some(n) = number(v, unit) {
            metrics.insert(key.into(), json!(n));
        }
    }
    Some(
        json!({"time": time, "type": "platform.report",
        "record": {"requestId": id, "metrics": metrics, "status": status}})
        .to_string(),
    )
}

struct Target {
    store: Arc<LogStore>,
    group: String,
    stream: String,
    /// Lambda's JSON log format: the platform's lines as `platform.*`
    /// records, kept when the system log level lets INFO through.
    json: std::sync::OnceLock<bool>,
    capture: Mutex<Option<Vec<u8>>>,
    /// False while the reader holds bytes it has read but not yet logged.
    drained: std::sync::atomic::AtomicBool,
}

impl Target {
    fn emit_many(&self, messages: &[&str]) {
        self.store.append_lines(&self.group, &self.stream, messages);
        if let Some(buf) = self.capture.lock().expect("capture lock").as_mut() {
            for m in messages {
                buf.extend_from_slice(m.as_bytes());
                buf.push(b'\n');
            }
        }
    }
}

/// The runtime's output pipe's capacity (Linux's default limit for it).
const PIPE_BYTES: libc::c_int = 1 << 20;

/// One environment's log: reads the runtime's output pipe and writes platform lines.
pub struct EnvLog {
    target: Arc<Target>,
    sync_tx: mpsc::UnboundedSender<oneshot::Sender<()>>,
    reader: tokio::task::JoinHandle<()>,
    /// The pipe's descriptor (owned by the reader task), for `FIONREAD`.
    pipe_fd: std::os::fd::RawFd,
}

impl Drop for EnvLog {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl EnvLog {
    /// Start reading `pipe` (the read end of the runtime's stdout/stderr).
    pub fn start(
        store: Arc<LogStore>,
        group: &str,
        stream: &str,
        pipe: OwnedFd,
    ) -> std::io::Result<EnvLog> {
        set_nonblocking(&pipe)?;
        // A function that logs a lot per invocation should not wait for the
        // reader every 64 KiB (the default pipe size): 1 MiB, where allowed.
        // SAFETY: F_SETPIPE_SZ on a pipe descriptor we own; no memory is passed.
        unsafe { libc::fcntl(pipe.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_BYTES) };
        let pipe_fd = pipe.as_raw_fd();
        // SAFETY: `pipe` is an open descriptor the AsyncFd takes ownership of; OwnedFd
        // always returns that same descriptor and closes it only when dropped.
        let fd = unsafe { AsyncFd::register_with_interest(pipe, tokio::io::Interest::READABLE) }
            .map_err(std::io::Error::from)?;
        let target = Arc::new(Target {
            store,
            group: group.to_string(),
            stream: stream.to_string(),
            json: std::sync::OnceLock::new(),
            capture: Mutex::new(None),
            drained: std::sync::atomic::AtomicBool::new(true),
        });
        let (sync_tx, sync_rx) = mpsc::unbounded_channel();
        let reader = tokio::spawn(read_loop(fd, target.clone(), sync_rx));
        Ok(EnvLog {
            target,
            sync_tx,
            reader,
            pipe_fd,
        })
    }

    pub fn stream(&self) -> &str {
        &self.target.stream
    }

    /// A line written by the platform itself (START, END, REPORT, warnings).
    pub fn platform(&self, line: &str) {
        self.platform_lines(&[line]);
    }

    /// Several platform lines, written together (as `platform.*` JSON
    /// records for a function with Lambda's JSON log format).
    pub fn platform_lines(&self, lines: &[&str]) {
        match self.target.json.get() {
            Some(&keep) => {
                let records: Vec<String> = lines
                    .iter()
                    .filter_map(|l| match platform_record(l) {
                        Some(r) => keep.then_some(r),
                        None => Some((*l).to_string()),
                    })
                    .collect();
                let refs: Vec<&str> = records.iter().map(String::as_str).collect();
                if !refs.is_empty() {
                    self.target.emit_many(&refs);
                }
            }
            None => self.target.emit_many(lines),
        }
    }

    /// Write the platform's lines in Lambda's JSON format from now on;
    /// `system_level` (`DEBUG`, `INFO`, `WARN`) says whether they are kept.
    pub fn use_json(&self, system_level: Option<&str>) {
        let _ = self.target.json.set(!matches!(system_level, Some("WARN")));
    }

    /// Start collecting this invocation's lines for `X-Amz-Log-Result`.
    pub fn begin_capture(&self) {
        *self.target.capture.lock().expect("capture lock") = Some(Vec::new());
    }

    /// Stop collecting and return the last [`TAIL_BYTES`] of what was collected.
    pub fn end_capture(&self) -> Vec<u8> {
        let buf = self
            .target
            .capture
            .lock()
            .expect("capture lock")
            .take()
            .unwrap_or_default();
        if buf.len() <= TAIL_BYTES {
            return buf;
        }
        let mut start = buf.len() - TAIL_BYTES;
        // Do not cut a UTF-8 sequence in half.
        while start < buf.len() && (buf[start] & 0xC0) == 0x80 {
            start += 1;
        }
        buf[start..].to_vec()
    }

    /// Wait until everything the runtime wrote so far has been logged. Runtimes
    /// flush before posting a response, so after `sync` the log is complete.
    pub async fn sync(&self) {
        // Nothing in the pipe and nothing half-processed by the reader: already in order.
        let mut pending: libc::c_int = 0;
        // SAFETY: FIONREAD writes an int we own; the descriptor lives as long as `self`.
        let rc = unsafe { libc::ioctl(self.pipe_fd, libc::FIONREAD, &mut pending) };
        if rc == 0
            && pending == 0
            && self
                .target
                .drained
                .load(std::sync::atomic::Ordering::SeqCst)
        {
            return;
        }
        let (tx, rx) = oneshot::channel();
        if self.sync_tx.send(tx).is_ok() {
            let _ = rx.await;
        }
    }
}

fn set_nonblocking(fd: &OwnedFd) -> std::io::Result<()> {
    // SAFETY: fcntl on a file descriptor we own; no memory is passed.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    if flags < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

enum Read {
    Data(usize),
    WouldBlock,
    Eof,
}

fn read_now(fd: &OwnedFd, buf: &mut [u8]) -> Read {
    loop {
        // SAFETY: reading into a live, correctly sized buffer from an fd we own.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            return Read::Data(n as usize);
        }
        if n == 0 {
            return Read::Eof;
        }
        match std::io::Error::last_os_error().kind() {
            std::io::ErrorKind::Interrupted => continue,
            std::io::ErrorKind::WouldBlock => return Read::WouldBlock,
            _ => return Read::Eof,
        }
    }
}

/// Emit complete lines from `pending`, keeping a trailing partial line. The
/// lines of one read go to the store together: one write for all of them.
/// The text is checked as UTF-8 once for the whole read (lossily: a bad byte
/// becomes U+FFFD) and cut at newlines with the library's `memchr` search.
fn emit_lines(target: &Target, pending: &mut Vec<u8>, flush_partial: bool) {
    const RUNAWAY: usize = 256 * 1024;
    let complete = pending
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    // A runaway line without newlines is cut rather than buffered forever.
    let take = if flush_partial || pending.len() - complete > RUNAWAY {
        pending.len()
    } else {
        complete
    };
    if take == 0 {
        return;
    }
    {
        let text = String::from_utf8_lossy(&pending[..take]);
        let body = text.strip_suffix('\n').unwrap_or(&text);
        let lines: Vec<&str> = body
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .collect();
        target.emit_many(&lines);
    }
    pending.drain(..take);
}

async fn read_loop(
    fd: AsyncFd<OwnedFd>,
    target: Arc<Target>,
    mut sync_rx: mpsc::UnboundedReceiver<oneshot::Sender<()>>,
) {
    let mut buf = vec![0u8; 256 * 1024];
    let mut pending = Vec::new();
    let mut eof = false;
    loop {
        tokio::select! {
            ready = fd.readable(), if !eof => {
                let Ok(mut guard) = ready else { eof = true; continue };
                target.drained.store(false, std::sync::atomic::Ordering::SeqCst);
                match read_now(fd.get_ref(), &mut buf) {
                    Read::Data(n) => {
                        pending.extend_from_slice(&buf[..n]);
                        emit_lines(&target, &mut pending, false);
                    }
                    Read::WouldBlock => guard.clear_ready(),
                    Read::Eof => {
                        emit_lines(&target, &mut pending, true);
                        eof = true;
                    }
                }
                target.drained.store(pending.is_empty(), std::sync::atomic::Ordering::SeqCst);
            }
            ack = sync_rx.recv() => {
                let Some(ack) = ack else { return };
                while !eof {
                    match read_now(fd.get_ref(), &mut buf) {
                        Read::Data(n) => pending.extend_from_slice(&buf[..n]),
                        Read::WouldBlock => break,
                        Read::Eof => eof = true,
                    }
                }
                emit_lines(&target, &mut pending, true);
                target.drained.store(true, std::sync::atomic::Ordering::SeqCst);
                let _ = ack.send(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn platform_lines_become_lambdas_json_records() {
        let start: serde_json::Value =
            serde_json::from_str(&platform_record("START RequestId: r1 Version: 3").unwrap())
                .unwrap();
        assert_eq!(start["type"], "platform.start");
        assert_eq!(start["record"]["version"], "3");
        let report: serde_json::Value = serde_json::from_str(
            &platform_record("REPORT RequestId: r1\tDuration: 1.50 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\tInit Duration: 90.00 ms\t")
                .unwrap(),
        )
        .unwrap();
        assert_eq!(report["record"]["metrics"]["durationMs"], 1.5);
        assert_eq!(report["record"]["metrics"]["initDurationMs"], 90.0);
        assert_eq!(report["record"]["status"], "success");
        assert!(platform_record("hello").is_none());
    }

    fn logs(dir: &std::path::Path) -> Arc<nimbus_logs::Logs> {
        let kv: Arc<dyn nimbus_storage::KvEngine> =
            Arc::new(nimbus_storage_embedded::EmbeddedKv::open(&dir.join("kv.redb")).unwrap());
        Arc::new(
            nimbus_logs::Logs::open(dir.join("logs"), kv, "000000000000", "us-east-1").unwrap(),
        )
    }

    #[tokio::test]
    async fn lines_are_stored_and_captured_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(LogStore::new(logs(dir.path())));
        let (r, mut w) = std::io::pipe().unwrap();
        let log = EnvLog::start(
            store.clone(),
            "/aws/lambda/fn",
            "2026/11/27/[$LATEST]abc",
            OwnedFd::from(r),
        )
        .unwrap();
        log.begin_capture();
        log.platform("START RequestId: 1 Version: $LATEST");
        w.write_all(b"hello\nwor").unwrap();
        w.write_all(b"ld\npartial").unwrap();
        log.sync().await;
        log.platform("END RequestId: 1");
        let tail = String::from_utf8(log.end_capture()).unwrap();
        assert_eq!(
            tail,
            "START RequestId: 1 Version: $LATEST\nhello\nworld\npartial\nEND RequestId: 1\n"
        );
        let events = store
            .logs()
            .events("/aws/lambda/fn", &nimbus_logs::Query::default())
            .unwrap();
        let msgs: Vec<&str> = events.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            msgs,
            [
                "START RequestId: 1 Version: $LATEST",
                "hello",
                "world",
                "partial",
                "END RequestId: 1"
            ]
        );
        assert_eq!(events[0].stream, "2026/11/27/[$LATEST]abc");
    }

    #[tokio::test]
    async fn crlf_empty_lines_and_bad_bytes_are_kept_as_lines() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(LogStore::new(logs(dir.path())));
        let (r, mut w) = std::io::pipe().unwrap();
        let log = EnvLog::start(store.clone(), "/aws/lambda/g", "s", OwnedFd::from(r)).unwrap();
        w.write_all(b"dos\r\n\nbad \xff byte\nlast").unwrap();
        log.sync().await;
        let events = store
            .logs()
            .events("/aws/lambda/g", &nimbus_logs::Query::default())
            .unwrap();
        let msgs: Vec<&str> = events.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(msgs, ["dos", "", "bad \u{fffd} byte", "last"]);
    }

    #[tokio::test]
    async fn tail_keeps_the_last_4k() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(LogStore::new(logs(dir.path())));
        let (r, _w) = std::io::pipe().unwrap();
        let log = EnvLog::start(store, "/aws/lambda/fn", "s", OwnedFd::from(r)).unwrap();
        log.begin_capture();
        for i in 0..1000 {
            log.platform(&format!("line {i} é"));
        }
        let tail = log.end_capture();
        assert!(tail.len() <= TAIL_BYTES);
        let text = String::from_utf8(tail).unwrap();
        assert!(text.ends_with("line 999 é\n"));
    }
}
