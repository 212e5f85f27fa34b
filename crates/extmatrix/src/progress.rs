//! Progress on the terminal, drawn from the engine's events: one spinner
//! per interpreter build (phase, elapsed, the build's last output line), a
//! bar for harness and target builds with a spinner per build under way
//! (a pip or cargo build takes minutes), a bar for cells. Where stderr is
//! not a terminal (CI logs) the bars are hidden and an interpreter build's
//! phases, and target builds that took a while, are printed as lines
//! instead.

use extmatrix_engine::{BuildItem, Event, InterpreterProgress, Observer};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Draws an engine run.
pub struct Bars {
    multi: MultiProgress,
    interpreters: Mutex<HashMap<String, (ProgressBar, Instant)>>,
    /// The build bar, then the run bar: one at a time.
    current: Mutex<Option<ProgressBar>>,
    /// Harness and target builds under way, by what they build.
    builds: Mutex<HashMap<String, (ProgressBar, Instant)>>,
}

/// A target build that took longer is named in a CI log when it ends.
const SLOW_BUILD: Duration = Duration::from_secs(10);

fn build_name(item: BuildItem<'_>) -> String {
    match item {
        BuildItem::Harness { python } => format!("harness for {python}"),
        BuildItem::Target { target, python } => format!("{target} for {python}"),
    }
}

impl Bars {
    pub fn new() -> Self {
        Bars {
            multi: MultiProgress::new(),
            interpreters: Mutex::new(HashMap::new()),
            current: Mutex::new(None),
            builds: Mutex::new(HashMap::new()),
        }
    }

    fn build_started(&self, name: String) {
        let style = ProgressStyle::with_template("  {spinner} {elapsed:>4} {wide_msg}")
            .expect("valid template");
        let bar = self.multi.add(ProgressBar::new_spinner().with_style(style));
        bar.set_message(name.clone());
        bar.enable_steady_tick(Duration::from_millis(200));
        let mut builds = self.builds.lock().expect("progress lock");
        builds.insert(name, (bar, Instant::now()));
    }

    fn build_finished(&self, name: String, ok: bool) {
        let started = self.builds.lock().expect("progress lock").remove(&name);
        if let Some((bar, started)) = started {
            let took = started.elapsed();
            if bar.is_hidden() && (took >= SLOW_BUILD || !ok) {
                let verdict = if ok { "ready" } else { "FAILED" };
                eprintln!("[build] {name}: {verdict} in {:.0}s", took.as_secs_f64());
            }
            bar.finish_and_clear();
        }
        self.advance(name);
    }

    fn interpreter(&self, id: &str, progress: InterpreterProgress<'_>) {
        let mut bars = self.interpreters.lock().expect("progress lock");
        let (bar, started) = bars.entry(id.to_owned()).or_insert_with(|| {
            let style =
                ProgressStyle::with_template("{spinner} {prefix.bold} {elapsed:>4} {wide_msg}")
                    .expect("valid template");
            let bar = self.multi.add(ProgressBar::new_spinner().with_style(style));
            bar.enable_steady_tick(Duration::from_millis(200));
            (bar, Instant::now())
        });
        let at = started.elapsed().as_secs_f64();
        let log = |line: String| {
            if bar.is_hidden() {
                eprintln!("[{id}] {line}");
            }
        };
        match progress {
            InterpreterProgress::Queued => bar.set_prefix(format!("{id:<8} {:<9}", "queued")),
            InterpreterProgress::Phase(phase) => {
                bar.set_prefix(format!("{id:<8} {:<9}", phase.name()));
                log(format!("{} (at {at:.0}s)", phase.name()));
            }
            InterpreterProgress::Line(line) => {
                bar.set_message(line.chars().take(100).collect::<String>())
            }
            InterpreterProgress::Waiting => {
                bar.set_prefix(format!("{id:<8} waiting  "));
                bar.set_message("another extmatrix is building this interpreter");
                log("waiting for another extmatrix run that is building it".into());
            }
            InterpreterProgress::Finished { fresh } => {
                let verdict = if fresh {
                    format!("built in {at:.0}s")
                } else {
                    "cached".to_owned()
                };
                if fresh {
                    log(verdict.clone());
                }
                bar.finish_with_message(verdict);
            }
            InterpreterProgress::Failed => bar.finish_with_message("FAILED"),
        }
    }

    fn start(&self, len: usize, what: &str) {
        let bar = self.multi.add(ProgressBar::new(len as u64));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>5.bold} [{bar:30}] {pos}/{len} {elapsed:>4} {wide_msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(what.to_owned());
        if let Some(old) = self.current.lock().expect("progress lock").replace(bar) {
            old.finish_and_clear();
        }
    }

    fn advance(&self, message: String) {
        if let Some(bar) = &*self.current.lock().expect("progress lock") {
            bar.set_message(message);
            bar.inc(1);
        }
    }
}

impl Observer for Bars {
    fn on(&self, event: Event<'_>) {
        match event {
            Event::Interpreter { id, progress } => self.interpreter(id, progress),
            Event::ProvisionStarted { builds } => self.start(builds, "build"),
            Event::BuildStarted { item } => self.build_started(build_name(item)),
            Event::BuildFinished { item, ok } => self.build_finished(build_name(item), ok),
            Event::ExecuteStarted { cells } => self.start(cells, "run"),
            Event::CellStarted { .. } => {}
            Event::CellFinished { key, outcome, .. } => self.advance(format!(
                "{} · {} · {}: {outcome}",
                key.target, key.python, key.scenario
            )),
            Event::BaselinesStarted { runs } => self.start(runs, "base"),
            Event::BaselineFinished {
                python,
                scenario,
                ok,
            } => self.advance(format!(
                "baseline · {python} · {scenario}{}",
                if ok { "" } else { ": failed (a control may)" }
            )),
            Event::AloneRunsStarted { runs } => self.start(runs, "alone"),
            Event::AloneRunFinished { key } => self.advance(format!(
                "alone · {} · {} · {}",
                key.target, key.python, key.scenario
            )),
            Event::RunFinished { .. } => {
                if let Some(bar) = self.current.lock().expect("progress lock").take() {
                    bar.finish_and_clear();
                }
            }
        }
    }
}
