//! Interpreters the matrix builds from source: in parallel, each through the
//! interpreter cache, their progress forwarded as events.

use crate::events::{Event, InterpreterProgress, Observer};
use crate::EngineError;
use extmatrix_cpython_build::{BuildCache, Built, Phase, Progress};
use extmatrix_runner::parallel_map;
use extmatrix_spec::{BuildSpec, Matrix};

/// A build's `Progress`, as events.
struct Forward<'a> {
    id: &'a str,
    observer: &'a dyn Observer,
}

impl Forward<'_> {
    fn send(&self, progress: InterpreterProgress<'_>) {
        self.observer.on(Event::Interpreter {
            id: self.id,
            progress,
        });
    }
}

impl Progress for Forward<'_> {
    fn phase(&self, phase: Phase) {
        self.send(InterpreterProgress::Phase(phase));
    }
    fn line(&self, line: &str) {
        self.send(InterpreterProgress::Line(line));
    }
    fn waiting(&self) {
        self.send(InterpreterProgress::Waiting);
    }
}

/// Build (or find in the cache) every interpreter in `specs`. Any failure
/// is an error naming the build log; a wrong matrix entry (missing tarball,
/// sha256 mismatch) is a usage error.
pub fn build_interpreters(
    matrix: &Matrix,
    specs: &[&BuildSpec],
    cache: &BuildCache,
    jobs: usize,
    observer: &dyn Observer,
) -> Result<Vec<Built>, EngineError> {
    if specs.is_empty() {
        // Most matrices build nothing: no pool to start.
        return Ok(Vec::new());
    }
    let forwards: Vec<Forward> = specs
        .iter()
        .map(|s| Forward {
            id: &s.id,
            observer,
        })
        .collect();
    for f in &forwards {
        f.send(InterpreterProgress::Queued);
    }
    let make_jobs = extmatrix_runner::cores();
    let indexed: Vec<usize> = (0..specs.len()).collect();
    let results = parallel_map(
        &indexed,
        jobs,
        |&i, _| {
            let whence = format!("{}:{}", matrix.source.display(), specs[i].at);
            extmatrix_cpython_build::ensure(cache, specs[i], &whence, make_jobs, &forwards[i])
        },
        |&i, r| {
            forwards[i].send(match r {
                Ok(built) => InterpreterProgress::Finished { fresh: built.fresh },
                Err(_) => InterpreterProgress::Failed,
            })
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
    match (failures.is_empty(), all_input) {
        (true, _) => Ok(built),
        (false, true) => Err(EngineError::Usage(failures.join("\n"))),
        (false, false) => Err(EngineError::Failed(anyhow::anyhow!(failures.join("\n")))),
    }
}
