//! Map Runs of distributed Map states, as the engine reports them
//! ([`MapRunReport`]): `DescribeMapRun`, `ListMapRuns`, `UpdateMapRun` and
//! `ListExecutions` / `DescribeExecution` of a Map Run's child executions.
//! The newest [`KEPT`] are remembered and stored: the run's record when it
//! starts and ends, each child's record (and a STANDARD child's history) when
//! the child ends, so nothing is rewritten as a run grows. A restart reads them
//! back; a run the restart interrupted is `ABORTED` (the Map state runs again
//! as a new Map Run).

use super::*;
use crate::engine::{ChildExecution, MapRunReport};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Map Runs by ARN (without their children), and their children under
/// `<run ARN>\0<child ARN>`.
const MAP_RUNS: Table = Table("sfn_map_runs");

fn child_key(run: &str, child: &str) -> Vec<u8> {
    let mut k = run.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(child.as_bytes());
    k
}

/// How many Map Runs are remembered.
pub const KEPT: usize = 1000;

/// One Map Run (stored without its children, which are stored one by one).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MapRun {
    pub map_run_arn: String,
    pub execution_arn: String,
    pub state_machine_arn: String,
    /// `RUNNING`, `SUCCEEDED`, `FAILED` or `ABORTED`.
    #[serde(with = "crate::engine::status_text")]
    pub status: crate::engine::status_text::Status,
    pub start_ms: u64,
    pub stop_ms: Option<u64>,
    pub max_concurrency: usize,
    pub tolerated_percentage: f64,
    pub tolerated_count: u64,
    pub items: usize,
    /// Its child executions, in the order they started.
    #[serde(skip)]
    pub children: Vec<ChildExecution>,
}

/// Counts of a Map Run's items or child executions by status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub pending: u64,
    pub running: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub total: u64,
}

impl MapRun {
    /// Counts of items (`by_items`) or of child executions.
    pub fn counts(&self, by_items: bool) -> Counts {
        let weight = |c: &ChildExecution| if by_items { c.items as u64 } else { 1 };
        let mut out = Counts::default();
        for c in &self.children {
            match c.status {
                "RUNNING" => out.running += weight(c),
                "SUCCEEDED" => out.succeeded += weight(c),
                _ => out.failed += weight(c),
            }
        }
        let started = out.running + out.succeeded + out.failed;
        out.total = if by_items {
            (self.items as u64).max(started)
        } else {
            started
        };
        out.pending = out.total - started;
        out
    }
}

#[derive(Default)]
pub(crate) struct MapRuns {
    runs: HashMap<String, MapRun>,
    order: VecDeque<String>,
    /// Each child's run and place in its `children`.
    children: HashMap<String, (String, usize)>,
    /// Runs in progress: what `UpdateMapRun` changes them through.
    controls: HashMap<String, Arc<crate::engine::MapRunControl>>,
}

impl MapRuns {
    fn insert(&mut self, run: MapRun) {
        for (i, c) in run.children.iter().enumerate() {
            self.children
                .insert(c.arn.clone(), (run.map_run_arn.clone(), i));
        }
        self.order.push_back(run.map_run_arn.clone());
        self.runs.insert(run.map_run_arn.clone(), run);
    }

    /// Drop the oldest run when [`KEPT`] are remembered; it is returned.
    fn evict(&mut self) -> Option<MapRun> {
        if self.order.len() < KEPT {
            return None;
        }
        let run = self.order.pop_front().and_then(|a| self.runs.remove(&a))?;
        for c in &run.children {
            self.children.remove(&c.arn);
        }
        Some(run)
    }
}

impl MapRuns {
    /// The stored Map Runs, the newest [`KEPT`] (older ones are deleted); a
    /// run the last stop interrupted is `ABORTED`.
    pub(crate) fn load(kv: &dyn KvEngine) -> Result<MapRuns> {
        let mut runs: HashMap<String, MapRun> = HashMap::new();
        let mut children: Vec<(String, ChildExecution)> = Vec::new();
        for (k, v) in kv.scan_prefix(MAP_RUNS, b"")? {
            match k.iter().position(|b| *b == 0) {
                None => {
                    if let Ok(r) = serde_json::from_slice::<MapRun>(&v) {
                        runs.insert(r.map_run_arn.clone(), r);
                    }
                }
                Some(i) => {
                    if let Ok(c) = serde_json::from_slice::<ChildExecution>(&v) {
                        children.push((String::from_utf8_lossy(&k[..i]).into_owned(), c));
                    }
                }
            }
        }
        for (run, c) in children {
            if let Some(r) = runs.get_mut(&run) {
                r.children.push(c);
            }
        }
        let mut runs: Vec<MapRun> = runs.into_values().collect();
        let mut b = WriteBatch::new();
        for r in &mut runs {
            r.children.sort_by_key(|c| (c.start_ms, c.arn.clone()));
            if r.status == "RUNNING" {
                r.status = "ABORTED";
                r.stop_ms = Some(
                    r.children
                        .iter()
                        .filter_map(|c| c.stop_ms)
                        .max()
                        .unwrap_or(r.start_ms),
                );
                b.put(
                    MAP_RUNS,
                    r.map_run_arn.as_bytes().to_vec(),
                    serde_json::to_vec(&*r).expect("map runs serialize"),
                );
            }
        }
        runs.sort_by_key(|r| (r.start_ms, r.map_run_arn.clone()));
        let excess = runs.len().saturating_sub(KEPT);
        for r in runs.drain(..excess) {
            forget(kv, &r, &mut b)?;
        }
        if !b.ops.is_empty() {
            kv.commit(b)?;
        }
        let mut out = MapRuns::default();
        for r in runs {
            out.insert(r);
        }
        Ok(out)
    }
}

/// Delete a stored Map Run, its children and their histories.
fn forget(kv: &dyn KvEngine, run: &MapRun, b: &mut WriteBatch) -> Result<()> {
    b.delete(MAP_RUNS, run.map_run_arn.as_bytes().to_vec());
    for (k, _) in kv.scan_prefix(MAP_RUNS, &child_key(&run.map_run_arn, ""))? {
        b.delete(MAP_RUNS, k);
    }
    for c in &run.children {
        let mut prefix = c.arn.as_bytes().to_vec();
        prefix.push(0);
        for (k, _) in kv.scan_prefix(HISTORY, &prefix)? {
            b.delete(HISTORY, k);
        }
    }
    Ok(())
}

impl StepFunctions {
    fn map_runs(&self) -> std::sync::MutexGuard<'_, MapRuns> {
        self.map_runs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Commit `b` off the async workers; a failure is logged (the run is
    /// answered for from memory meanwhile).
    fn store(&self, b: WriteBatch, what: &str) {
        let kv = self.kv.clone();
        if let Err(e) = blocking(move || kv.commit(b)) {
            tracing::warn!(error = %e, "could not store {what}");
        }
    }

    /// Store a Map Run's own record, serialized (without its children, which
    /// are stored as they end) while the caller held the lock.
    fn store_map_run(&self, arn: &str, record: Vec<u8>) {
        let mut b = WriteBatch::new();
        b.put(MAP_RUNS, arn.as_bytes().to_vec(), record);
        self.store(b, "a Map Run");
    }

    /// Take the engine's news of a Map Run.
    pub fn record_map_run(&self, report: MapRunReport) {
        let mut all = self.map_runs();
        match report {
            MapRunReport::Started {
                map_run_arn,
                execution_arn,
                machine_arn,
                start_ms,
                max_concurrency,
                tolerated_percentage,
                tolerated_count,
                items,
            } => {
                let evicted = all.evict();
                let run = MapRun {
                    map_run_arn,
                    execution_arn,
                    state_machine_arn: machine_arn,
                    status: "RUNNING",
                    start_ms,
                    stop_ms: None,
                    max_concurrency,
                    tolerated_percentage,
                    tolerated_count,
                    items,
                    children: Vec::new(),
                };
                let (arn, record) = (
                    run.map_run_arn.clone(),
                    serde_json::to_vec(&run).expect("map runs serialize"),
                );
                all.insert(run);
                drop(all);
                self.store_map_run(&arn, record);
                // The oldest Map Run goes from the store too.
                if let Some(old) = evicted {
                    let kv = self.kv.clone();
                    let forgotten = blocking(move || {
                        let mut b = WriteBatch::new();
                        forget(kv.as_ref(), &old, &mut b)?;
                        Ok::<_, Error>(kv.commit(b)?)
                    });
                    if let Err(e) = forgotten {
                        tracing::warn!(error = %e, "could not forget a Map Run");
                    }
                }
            }
            MapRunReport::Child {
                map_run_arn,
                child,
                history,
            } => {
                if !all.runs.contains_key(&map_run_arn) {
                    return;
                }
                let ended = child.status != "RUNNING";
                // An ended child's record, and a STANDARD one's history under
                // its ARN as an execution's, in one commit.
                let stored = ended.then(|| {
                    let mut b = WriteBatch::new();
                    b.put(
                        MAP_RUNS,
                        child_key(&map_run_arn, &child.arn),
                        serde_json::to_vec(&child).expect("children serialize"),
                    );
                    for e in &history {
                        b.put(
                            HISTORY,
                            history_key(&child.arn, e.id),
                            e.to_json().to_string(),
                        );
                    }
                    b
                });
                match all.children.get(&child.arn).cloned() {
                    Some((_, i)) => {
                        if let Some(c) = all
                            .runs
                            .get_mut(&map_run_arn)
                            .and_then(|r| r.children.get_mut(i))
                        {
                            *c = child;
                        }
                    }
                    None => {
                        let arn = child.arn.clone();
                        if let Some(r) = all.runs.get_mut(&map_run_arn) {
                            r.children.push(child);
                            let i = r.children.len() - 1;
                            all.children.insert(arn, (map_run_arn, i));
                        }
                    }
                }
                drop(all);
                if let Some(b) = stored {
                    self.store(b, "a child execution");
                }
            }
            MapRunReport::Control {
                map_run_arn,
                control,
            } => {
                all.controls.insert(map_run_arn, control);
            }
            MapRunReport::Items { map_run_arn, items } => {
                if let Some(run) = all.runs.get_mut(&map_run_arn) {
                    run.items = items;
                }
            }
            MapRunReport::Ended {
                map_run_arn,
                status,
                stop_ms,
            } => {
                all.controls.remove(&map_run_arn);
                if let Some(run) = all.runs.get_mut(&map_run_arn) {
                    run.status = status;
                    run.stop_ms = Some(stop_ms);
                    let stored = serde_json::to_vec(&*run).expect("map runs serialize");
                    drop(all);
                    self.store_map_run(&map_run_arn, stored);
                }
            }
        }
    }

    /// `DescribeMapRun`.
    pub fn describe_map_run(&self, arn: &str) -> Result<MapRun> {
        if !arn.contains(":mapRun:") {
            return Err(Error::InvalidArn(format!(
                "Invalid Arn: 'Resource type not valid in this context: {arn}'"
            )));
        }
        self.map_runs()
            .runs
            .get(arn)
            .cloned()
            .ok_or_else(|| Error::ResourceNotFound(format!("Map Run Does Not Exist: {arn}")))
    }

    /// `ListMapRuns`: an execution's Map Runs, newest first.
    pub fn list_map_runs(&self, execution_arn: &str, p: &Page) -> Result<Listed<MapRun>> {
        self.execution(execution_arn)?;
        let mut runs: Vec<MapRun> = self
            .map_runs()
            .runs
            .values()
            .filter(|r| r.execution_arn == execution_arn)
            .cloned()
            .collect();
        runs.sort_by_key(|r| std::cmp::Reverse(r.start_ms));
        page(runs, p)
    }

    /// `UpdateMapRun`: the settings are recorded and, while the run is in
    /// progress, applied to it (more children start at once under a higher
    /// `MaxConcurrency`; the tolerated failures count from now on).
    pub fn update_map_run(
        &self,
        arn: &str,
        max_concurrency: Option<usize>,
        tolerated_percentage: Option<f64>,
        tolerated_count: Option<u64>,
    ) -> Result<()> {
        self.describe_map_run(arn)?;
        if tolerated_percentage.is_some_and(|p| !(0.0..=100.0).contains(&p)) {
            return Err(Error::Validation(
                "toleratedFailurePercentage must be between 0 and 100".into(),
            ));
        }
        let mut all = self.map_runs();
        if let Some(control) = all.controls.get(arn) {
            control.update(max_concurrency, tolerated_percentage, tolerated_count);
        }
        if let Some(run) = all.runs.get_mut(arn) {
            if let Some(m) = max_concurrency {
                run.max_concurrency = m;
            }
            if let Some(p) = tolerated_percentage {
                run.tolerated_percentage = p;
            }
            if let Some(c) = tolerated_count {
                run.tolerated_count = c;
            }
            let stored = serde_json::to_vec(&*run).expect("map runs serialize");
            drop(all);
            self.store_map_run(arn, stored);
        }
        Ok(())
    }

    /// A Map Run's child executions as `ListExecutions` lists them.
    pub(crate) fn map_run_executions(
        &self,
        arn: &str,
        status: Option<ExecutionStatus>,
        p: &Page,
    ) -> Result<Listed<Execution>> {
        let run = self.describe_map_run(arn)?;
        let items: Vec<Execution> = run
            .children
            .iter()
            .rev()
            .map(|c| child_record(&run, c))
            .filter(|e| status.is_none_or(|s| e.status == s))
            .collect();
        page(items, p)
    }

    /// A child execution of a remembered Map Run, by its ARN.
    pub(crate) fn child_execution(&self, arn: &str) -> Option<Execution> {
        let all = self.map_runs();
        let (run, i) = all.children.get(arn)?;
        let run = all.runs.get(run)?;
        run.children.get(*i).map(|c| child_record(run, c))
    }
}

/// A child execution as `DescribeExecution` and `ListExecutions` show it.
fn child_record(run: &MapRun, c: &ChildExecution) -> Execution {
    Execution {
        execution_arn: c.arn.clone(),
        state_machine_arn: run.state_machine_arn.clone(),
        name: c.name.clone(),
        status: ExecutionStatus::parse(c.status).unwrap_or(ExecutionStatus::Failed),
        start_date: c.start_ms,
        stop_date: c.stop_ms,
        input: c.input.clone(),
        output: c.output.clone(),
        error: c.error.clone(),
        cause: c.cause.clone(),
        definition: String::new(),
        role_arn: String::new(),
        state_machine_version_arn: None,
        state_machine_alias_arn: None,
        last_event_id: 0,
        cursor: None,
        trace_header: None,
        map_run: Some((run.map_run_arn.clone(), c.items)),
    }
}
