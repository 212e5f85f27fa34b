//! Provision interpreters that a matrix describes as builds: in parallel up
//! to `--jobs`, one progress bar per build (phase, elapsed, last log line).

use anyhow::{bail, Result};
use extmatrix_cpython_build::{BuildCache, Built, Phase, Progress};
use extmatrix_pythons::Python;
use extmatrix_runner::parallel_map;
use extmatrix_spec::{BuildSpec, Matrix};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A progress bar for one build; on a terminal it shows the phase and the
/// build's latest output line, elsewhere (CI logs) each phase is a line on stderr.
struct BuildBar {
    id: String,
    bar: ProgressBar,
    started: Instant,
}

impl Progress for BuildBar {
    fn phase(&self, phase: Phase) {
        self.bar
            .set_prefix(format!("{:<8} {:<9}", self.id, phase.name()));
        if self.bar.is_hidden() {
            eprintln!(
                "[{}] {} (at {:.0}s)",
                self.id,
                phase.name(),
                self.started.elapsed().as_secs_f64()
            );
        }
    }

    fn line(&self, line: &str) {
        self.bar
            .set_message(line.chars().take(100).collect::<String>());
    }

    fn waiting(&self) {
        self.bar.set_prefix(format!("{:<8} waiting  ", self.id));
        self.bar
            .set_message("another extmatrix is building this interpreter");
        if self.bar.is_hidden() {
            eprintln!(
                "[{}] waiting for another extmatrix run that is building it",
                self.id
            );
        }
    }
}

/// Build (or find in the cache) every interpreter in `specs`; their
/// `Python` descriptions by id. Any failure is an error naming the log.
pub fn ensure_all(
    matrix: &Matrix,
    specs: &[&BuildSpec],
    cache: &BuildCache,
    jobs: usize,
) -> Result<Vec<Built>> {
    if specs.is_empty() {
        return Ok(Vec::new());
    }
    let multi = MultiProgress::new();
    let style = ProgressStyle::with_template("{spinner} {prefix.bold} {elapsed:>4} {wide_msg}")
        .expect("valid template");
    let make_jobs = extmatrix_runner::cores();
    let bars: Vec<BuildBar> = specs
        .iter()
        .map(|s| {
            let bar = multi.add(ProgressBar::new_spinner().with_style(style.clone()));
            bar.set_prefix(format!("{:<8} {:<9}", s.id, "queued"));
            bar.enable_steady_tick(Duration::from_millis(200));
            BuildBar {
                id: s.id.clone(),
                bar,
                started: Instant::now(),
            }
        })
        .collect();
    let indexed: Vec<usize> = (0..specs.len()).collect();
    let results = parallel_map(
        &indexed,
        jobs,
        |&i| {
            let whence = format!("{}:{}", matrix.source.display(), specs[i].at);
            extmatrix_cpython_build::ensure(cache, specs[i], &whence, make_jobs, &bars[i])
        },
        |&i, r| {
            let b = &bars[i];
            let verdict = match r {
                Ok(built) if built.fresh => {
                    format!("built in {:.0}s", b.started.elapsed().as_secs_f64())
                }
                Ok(_) => "cached".to_owned(),
                Err(_) => "FAILED".to_owned(),
            };
            if b.bar.is_hidden() && matches!(r, Ok(built) if built.fresh) {
                eprintln!("[{}] {verdict}", b.id);
            }
            b.bar.finish_with_message(verdict);
        },
    );
    let mut built = Vec::new();
    let mut failures = Vec::new();
    let mut all_input = true;
    for r in results {
        match r {
            Ok(b) => built.push(b),
            Err(e) => {
                all_input &= e.input;
                failures.push(e.to_string());
            }
        }
    }
    if failures.is_empty() {
        Ok(built)
    } else if all_input {
        Err(crate::UsageError(failures.join("\n")).into())
    } else {
        bail!("{}", failures.join("\n"))
    }
}

/// By id, the interpreters that `ensure_all` produced.
pub fn by_id(built: &[Built]) -> HashMap<String, Python> {
    built
        .iter()
        .map(|b| (b.meta.id.clone(), b.meta.python.clone()))
        .collect()
}
