//! `extmatrix run`: the whole flow, one arrow per step, each owned by a crate.
//!
//! spec (load) → pythons (discover) → cpython-build (interpreters the matrix
//! builds from source) → plan (resolve, expand) → provision (harness and
//! targets per interpreter) → runner (cells in parallel) → judge (verdicts)
//! → report (table, JSON).

use crate::{RunArgs, UsageError};
use anyhow::{Context, Result};
use extmatrix_cpython_build::BuildCache;
use extmatrix_judge::Verdict;
use extmatrix_plan::{Cell, Filters, Plan};
use extmatrix_provision::{BuildFailure, BuiltTarget, Store};
use extmatrix_pythons::{Discovery, SearchPlaces};
use extmatrix_report::{CellResult, Report, TableStyle};
use extmatrix_runner::{parallel_map, CellCommand};
use extmatrix_spec::PythonSelector;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub fn run(args: RunArgs) -> Result<u8> {
    let started = Instant::now();
    let matrix = extmatrix_spec::load(&args.matrix).map_err(|e| UsageError(e.to_string()))?;

    let filters = Filters {
        pythons: args.python,
        scenarios: args.scenario,
        targets: args.target,
    };
    let cache = Store::from_env(args.cache_dir)?;
    let jobs = args
        .jobs
        .map(usize::from)
        .or(matrix.options.jobs)
        .unwrap_or_else(extmatrix_runner::cores);

    let needs_discovery = matrix
        .pythons
        .iter()
        .any(|p| matches!(p, PythonSelector::Auto | PythonSelector::Id { .. }));
    let discovery = if needs_discovery {
        extmatrix_pythons::discover(&SearchPlaces::from_env())
    } else {
        Discovery::default()
    };
    extmatrix_plan::check_filters(&matrix, &discovery, &filters)
        .map_err(|e| UsageError(e.to_string()))?;
    if let Some(json) = &args.json {
        check_writable_dir(json)?;
    }
    let wanted_builds = extmatrix_plan::builds_needed(&matrix, &filters);
    let built = crate::builds::ensure_all(
        &matrix,
        &wanted_builds,
        &BuildCache::new(cache.root()),
        jobs,
    )?;
    let pythons = extmatrix_plan::resolve_pythons(
        &matrix,
        &discovery,
        &crate::builds::by_id(&built),
        |path, id| extmatrix_pythons::probe(path, "matrix", Some(id)),
        &filters,
    )
    .map_err(|e| UsageError(e.to_string()))?;
    let mut plan = extmatrix_plan::expand(&matrix, pythons, &filters);
    if let Some(secs) = args.timeout {
        plan.options.timeout_s = secs;
    }

    let provisioned = provision(&plan, &cache, jobs);
    let results = run_cells(&plan, &provisioned, jobs);

    let report = Report::new(
        &args.matrix,
        &plan.pythons,
        results,
        started.elapsed().as_millis() as u64,
    );
    let style = TableStyle {
        color: args.color.enabled(),
        width: extmatrix_report::terminal_width(),
    };
    // The table first: whatever happens to the JSON file, the run is not lost.
    print!("{}", extmatrix_report::render_terminal(&report, style));
    if let Some(path) = &args.json {
        report
            .write_json(path)
            .with_context(|| format!("could not write the JSON report to {}", path.display()))?;
        println!("JSON report: {}", path.display());
    }
    Ok(report.exit_code() as u8)
}

/// Fail early (a usage error) when the JSON report could not be written.
fn check_writable_dir(json: &std::path::Path) -> Result<()> {
    let dir = extmatrix_report::json_dir(json);
    if !dir.is_dir() {
        return Err(UsageError(format!(
            "--json {}: the directory {} does not exist",
            json.display(),
            dir.display()
        ))
        .into());
    }
    Ok(())
}

/// What provisioning produced: a harness per interpreter, a build per target
/// × interpreter (`targets[t][p]`).
struct Provisioned {
    harnesses: Vec<Result<PathBuf, BuildFailure>>,
    targets: Vec<Vec<Result<BuiltTarget, BuildFailure>>>,
}

fn progress(len: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>5.bold} [{bar:30}] {pos}/{len} {elapsed:>4} {wide_msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(what.to_owned());
    bar
}

fn provision(plan: &Plan, cache: &Store, jobs: usize) -> Provisioned {
    let pairs: Vec<(usize, usize)> = (0..plan.targets.len())
        .flat_map(|t| (0..plan.pythons.len()).map(move |p| (t, p)))
        .collect();
    let bar = progress(plan.pythons.len() + pairs.len(), "build");

    let harnesses = parallel_map(
        &plan.pythons,
        jobs,
        |py| extmatrix_provision::harness(cache, py),
        |py, _| {
            bar.set_message(format!("harness for {}", py.id));
            bar.inc(1);
        },
    );
    let built = parallel_map(
        &pairs,
        jobs,
        |&(t, p)| extmatrix_provision::build_target(cache, &plan.targets[t], &plan.pythons[p]),
        |&(t, p), _| {
            bar.set_message(format!(
                "{} for {}",
                plan.targets[t].name, plan.pythons[p].id
            ));
            bar.inc(1);
        },
    );
    bar.finish_and_clear();

    let mut targets: Vec<Vec<Result<BuiltTarget, BuildFailure>>> =
        plan.targets.iter().map(|_| Vec::new()).collect();
    for ((t, _), b) in pairs.into_iter().zip(built) {
        targets[t].push(b);
    }
    Provisioned { harnesses, targets }
}

fn run_cells(plan: &Plan, provisioned: &Provisioned, jobs: usize) -> Vec<CellResult> {
    let bar = progress(plan.cells.len(), "run");
    let timeout = Duration::from_secs(plan.options.timeout_s);
    let results = parallel_map(
        &plan.cells,
        jobs,
        |cell| {
            let started = Instant::now();
            let verdict = run_cell(plan, provisioned, cell, timeout);
            let py = &plan.pythons[cell.python];
            CellResult {
                target: plan.targets[cell.target].name.clone(),
                python: py.id.clone(),
                scenario: cell.scenario,
                outcome: verdict.outcome,
                duration_ms: started.elapsed().as_millis() as u64,
                details: verdict.details,
            }
        },
        |_, r| {
            bar.set_message(format!(
                "{} · {} · {}: {}",
                r.target, r.python, r.scenario, r.outcome
            ));
            bar.inc(1);
        },
    );
    bar.finish_and_clear();
    results
}

/// Runs of a cell whose interpreter fails before the target is imported.
const ATTEMPTS: u32 = 3;

fn run_cell(plan: &Plan, provisioned: &Provisioned, cell: &Cell, timeout: Duration) -> Verdict {
    let py = &plan.pythons[cell.python];
    let target = &plan.targets[cell.target];
    if let Some(reason) = cell
        .scenario
        .unsupported_reason(py.version, py.free_threaded)
    {
        return extmatrix_judge::not_applicable(reason);
    }
    let harness = match &provisioned.harnesses[cell.python] {
        Ok(path) => path,
        Err(f) => {
            return extmatrix_judge::harness_unbuilt(
                &py.id,
                &f.summary,
                f.command.clone(),
                f.output.clone(),
            )
        }
    };
    let built = match &provisioned.targets[cell.target][cell.python] {
        Ok(b) => b,
        Err(f) => {
            return extmatrix_judge::build_failed(
                f.summary.clone(),
                f.command.clone(),
                f.output.clone(),
            )
        }
    };
    let command = CellCommand {
        harness: harness.clone(),
        scenario: cell.scenario,
        module: target.module.clone(),
        module_dir: built.module_dir.clone(),
        smoke: target.smoke.clone(),
        python_exe: py.path.clone(),
        cycles: plan.options.cycles,
        threads: plan.options.threads,
        timeout,
    };
    match extmatrix_runner::run_cell_retrying(&command, ATTEMPTS) {
        Ok(obs) => extmatrix_judge::judge(
            &extmatrix_judge::CellFacts {
                scenario: cell.scenario,
                free_threaded: py.free_threaded,
                timeout,
            },
            &obs,
        ),
        Err(e) => extmatrix_judge::harness_error(format!(
            "could not run the harness {}: {e}",
            harness.display()
        )),
    }
}
