//! `extmatrix`: does a CPython extension module survive the modern
//! interpreter? The thin binary on top of the crates: argument parsing,
//! progress bars drawn from the engine's events, printing, exit codes. The
//! run itself (prepare → provision → execute → judge) is the
//! `extmatrix-engine` library; each arrow belongs to its own crate.

mod cache_cmd;
mod github;
mod init_cmd;
mod merge_cmd;
mod outputs;
mod plan_cmd;
mod progress;
mod pythons_cmd;
mod report_cmd;
mod resume;
mod run;

use clap::{Parser, Subcommand};
use extmatrix_core::Scenario;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "extmatrix",
    version,
    about = "Run CPython extension modules through a matrix of interpreter builds and embedding scenarios",
    long_about = "Run CPython extension modules through a matrix of interpreter builds and embedding \
scenarios: repeated Py_Initialize/Py_FinalizeEx, re-import, legacy and isolated subinterpreters \
(shared and own GIL), free-threading. Interpreters are found on the machine or built from source \
(debug, free-threaded). Each target is compiled against every interpreter, a C harness runs each \
scenario in its own process, and every cell gets a verdict: pass, refused, n/a, shared-state, state-clobbered, \
leak, gil-enabled, declaration-mismatch, import-error, crash, hang, build-failed or \
harness-error (docs/outcomes.md).",
    after_help = "Examples:\n  extmatrix init && extmatrix run         # your project, every interpreter and scenario\n  extmatrix pythons                       # which interpreters can be used here\n  extmatrix run matrices/default.yaml     # run the matrix, print the table\n  extmatrix run matrices/default.yaml --json report.json --python cp313 --scenario reinit\n  extmatrix run --expect ci/expected.yaml --baseline main.json --fail-on regression\n  extmatrix plan m.yaml --shards 4         # how a CI job matrix splits it\n  extmatrix run m.yaml --shard 2/4 -o s2.json && extmatrix merge s*.json -o all.json --html all.html\n\nThe matrix file format is described in docs/matrix-format.md."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a matrix file and report a verdict for every cell.
    ///
    /// Exit status: 0 when the run passes by --fail-on (by default: no cell
    /// is declaration-mismatch, crash, hang, import-error, build-failed or
    /// harness-error, unless an expectation allows it, and none breaks an
    /// expectation); 1 when it fails, with the reasons after the summary;
    /// 2 for a bad matrix file, expectations file or command line, a
    /// baseline that cannot be compared with, a --json, --junit or
    /// --markdown path that cannot take a report, or a cache directory that cannot be used (checked
    /// before anything runs), or a journal of another run to --resume
    /// (checked before any cell runs). SIGINT,
    /// SIGTERM or SIGHUP stop the run: running cells and builds are killed,
    /// the table and the JSON report hold the cells that finished (the rest
    /// are listed as not run), and the status is 130, 143 or 129.
    ///
    /// With --json FILE (or --journal PATH) every cell is kept in a journal
    /// as it ends, so a run killed at a CI time limit loses nothing:
    /// `extmatrix run m.yaml --json r.json --resume` runs only the cells it
    /// had not finished (and, with no journal there, everything).
    Run(Box<RunArgs>),
    /// List the CPython interpreters found on this machine that can be embedded.
    Pythons(PythonsArgs),
    /// List or prune the build cache (interpreter, harness and target builds).
    Cache(cache_cmd::CacheArgs),
    /// Write a starter extmatrix.yaml for the repository in a directory.
    ///
    /// Every project in it that builds extension modules is a target: the
    /// root, uv and Cargo workspace members, Python projects in
    /// subdirectories. A Python project (pyproject.toml, setup.py or
    /// setup.cfg) whose build compiles something is a `pip` target (built
    /// from source by each interpreter's pip); a crate that depends on pyo3,
    /// builds a cdylib and no Python project builds is a `cargo` target.
    /// What was left out (a uv root that is no package, pure-Python
    /// projects, crates without pyo3, projects under tests/ or examples/)
    /// is listed in the file with why. The file runs every interpreter found
    /// here and every scenario, tests every extension module of each build
    /// but those of tests/test packages (`exclude:`), and has smoke lines
    /// to fill in. Then `extmatrix run` (no argument) runs it.
    Init(InitArgs),
    /// Render JSON reports of earlier runs (`run --json`) as one HTML page.
    ///
    /// Several reports are shown together: each keeps its own run details
    /// and findings, and the grid has a row group per report (a distributor
    /// publishing the results of several matrices, or of several nights).
    /// Every file must be a report of this extmatrix's schema_version.
    /// Exit status: 0 when the page is written; 2 for a file that cannot be
    /// read as such a report, or a path that cannot take the page.
    ///
    /// Example: extmatrix report nightly.json pypi.json --html site/index.html
    Report(report_cmd::ReportArgs),
    /// Show what a run would do, and how it splits into shards for a CI
    /// engine's job matrix; nothing is built or run.
    ///
    /// Prints the cells, the builds ((target, interpreter) pairs), the
    /// interpreters (and whether those built from source are cached) and a
    /// rough estimate; with --shards N each shard's builds, cells and
    /// interpreters. A shard is run by `extmatrix run MATRIX --shard I/N`
    /// and the shards' reports are joined by `extmatrix merge`.
    ///
    /// Example (a GitHub Actions step; ci/github/extmatrix-nightly.yml):
    /// matrix=$(extmatrix plan extmatrix.yaml --shards 4 --github-matrix) &&
    /// echo "matrix=$matrix" >> "$GITHUB_OUTPUT"
    Plan(plan_cmd::PlanArgs),
    /// Join the JSON reports of a run's shards into the report of the
    /// whole run: the one an unsharded run makes, cell for cell.
    ///
    /// Findings, the comparison with --baseline and the run's status are
    /// concluded again over all the cells (each cell keeps its verdict and
    /// the expectation check its shard made); the table, --json, --junit,
    /// --markdown, --html, the step summary and annotations are those of
    /// `run`. Refused (exit 2, nothing written): a file that is no shard's
    /// report, shards of different runs (matrix, filters, options,
    /// expectations), of different extmatrix binaries or schema versions,
    /// of another split, a shard given twice, a missing shard. An
    /// interrupted shard is merged; the merged report lists its cells as
    /// not run. Exit status as for `run`: 0, 1 by --fail-on, 2.
    ///
    /// Example: extmatrix merge shard-*.json --json all.json --html report.html
    Merge(merge_cmd::MergeArgs),
}

#[derive(clap::Args)]
struct InitArgs {
    /// The repository's (or project's) directory.
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Replace an existing extmatrix.yaml.
    #[arg(long)]
    force: bool,
    /// The cache holding built interpreters, which the file may name [default: as for `run`].
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
}

#[derive(clap::Args)]
struct RunArgs {
    /// The matrix file (YAML); paths in it are relative to it [default:
    /// ./extmatrix.yaml, as `extmatrix init` writes it].
    matrix: Option<PathBuf>,
    #[command(flatten)]
    outputs: outputs::OutputArgs,
    /// Cells (and builds) run at once [default: the matrix's options.jobs, else the number of cores].
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
    /// Per-cell timeout in seconds, overriding the matrix's options.timeout_s. Counted in the
    /// cell's own time: what it waited for a CPU other processes held does not count, up to
    /// three timeouts in all (then it is harness-error, reason machine-busy).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    timeout: Option<u64>,
    /// Run every cell N times and report its worst run, with how many of
    /// the N failed ("failed 2 of 5 runs"): a race fails a stress cell only
    /// sometimes. Overrides the matrix's options.repeat [default: 3 for
    /// subinterp-parallel and free-threading, 1 for the rest].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    repeat: Option<u32>,
    #[command(flatten)]
    filters: FilterArgs,
    /// Run only slice I of N (1 ≤ I ≤ N), for one job of a CI engine's job
    /// matrix: each (target, interpreter) build with all its scenarios is
    /// in exactly one shard, decided from the matrix alone, so N jobs
    /// running 1/N … N/N run every cell once between them; a shard builds
    /// and provisions only the interpreters its builds use. The --json
    /// report names the run it is a slice of; `extmatrix merge` joins the
    /// N reports into the one an unsharded run makes. `extmatrix plan
    /// --shards N` shows the slices.
    #[arg(long, value_name = "I/N")]
    shard: Option<extmatrix_plan::Shard>,
    /// Where builds are cached [default: $EXTMATRIX_CACHE_DIR, else $XDG_CACHE_HOME/extmatrix, else ~/.cache/extmatrix].
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Expectations of some cells, from a YAML file beside your CI workflow
    /// (repeatable): target name → {cell pattern: outcome or [outcomes]},
    /// the same as a target's `expect:` in the matrix, e.g.
    /// `crash_on_reinit: {"*/reinit": crash}`. A pattern is `scenario`,
    /// `python/scenario` or `module/python/scenario`, with `*` and `?`. A
    /// cell whose outcome is expected does not fail the run; one that does
    /// better is `fixed` (fails with --strict); another outcome fails it,
    /// even one that fails no run otherwise (shared-state, leak). A pattern
    /// that matches no cell of the matrix is an error (exit 2).
    #[arg(long = "expect", value_name = "FILE")]
    expect: Vec<PathBuf>,
    #[command(flatten)]
    conclusion: outputs::ConclusionArgs,
    /// Continue a run that was killed (a CI time limit's SIGKILL) or
    /// interrupted: the cells its journal holds are not run again, the rest
    /// run, and the report is the one an uninterrupted run would have made
    /// (but for durations). Without a journal to read it starts from the
    /// first cell and says so, so a CI job can always pass it. A journal of
    /// another matrix, filter, --timeout or extmatrix binary is refused
    /// (exit 2): remove it or run without --resume.
    #[arg(long)]
    resume: bool,
    /// Where the journal is kept: every cell that ran, written (and
    /// fsynced) as it ends. A run that ends normally removes it after the
    /// report is written; an interrupted or killed one leaves it for
    /// --resume. A run without --resume starts a new one [default:
    /// <json>.journal beside the --json report; none without --json].
    #[arg(long, value_name = "PATH")]
    journal: Option<PathBuf>,
}

/// The filters `run` and `plan` share.
#[derive(clap::Args)]
struct FilterArgs {
    /// Only these interpreter ids (repeat or comma-separate).
    #[arg(long, value_name = "ID", value_delimiter = ',')]
    python: Vec<String>,
    /// Only these scenarios (repeat or comma-separate).
    #[arg(long, value_name = "SCENARIO", value_delimiter = ',')]
    scenario: Vec<Scenario>,
    /// Only these targets, by name (repeat or comma-separate).
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    target: Vec<String>,
}

impl FilterArgs {
    fn into_filters(self, shard: Option<extmatrix_plan::Shard>) -> extmatrix_plan::Filters {
        extmatrix_plan::Filters {
            pythons: self.python,
            scenarios: self.scenario,
            targets: self.target,
            shard,
        }
    }
}

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
struct PythonsArgs {
    #[command(subcommand)]
    action: Option<PythonsAction>,
    /// Print the discovered and built interpreters as JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// The cache holding built interpreters [default: as for `run`].
    #[arg(long, value_name = "DIR", global = true)]
    cache_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum PythonsAction {
    /// Build (or find in the cache) the interpreters a matrix describes with `source:`.
    ///
    /// Builds run in parallel up to --jobs, each with `make -j<cores>`; logs
    /// stay in the cache. Nothing half-built is ever left in place.
    Build {
        /// The matrix whose build entries to provision.
        #[arg(long, value_name = "FILE", default_value = "matrices/full.yaml")]
        matrix: PathBuf,
        /// Only these ids [default: every build entry of the matrix].
        ids: Vec<String>,
        /// Builds at once [default: the matrix's options.jobs, else the number of cores].
        #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        jobs: Option<u16>,
    },
    /// The same as `extmatrix cache prune`: interpreter builds no given
    /// matrix uses, stale harness and target builds, leftovers.
    Prune(cache_cmd::PruneArgs),
}

/// A bad matrix file or command line: exit status 2.
#[derive(Debug)]
struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// SIGINT (Ctrl-C), SIGTERM (`timeout`, a cancelled CI job) and SIGHUP (a
/// closed terminal) stop the run the same way: every cell's and build's
/// process group is killed (they run in their own groups, out of the
/// terminal's reach), nothing new starts, and the run ends with the partial
/// report and exit status 128 + the signal. A second signal exits at once.
fn handle_signals() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    use std::io::Write;
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    std::thread::spawn(move || {
        let mut seen = false;
        for signal in signals.forever() {
            if seen {
                extmatrix_process::kill_all();
                std::process::exit(128 + signal);
            }
            seen = true;
            // Said first (the main thread may finish as soon as the cells
            // are killed), and never a panic: stderr may be a closed terminal.
            let _ = writeln!(
                std::io::stderr(),
                "\n{}: running cells and builds killed; finishing with a partial report (again to quit at once)",
                extmatrix_process::signal_name(signal)
            );
            extmatrix_process::interrupt(signal);
        }
    });
}

/// The exit status of an interrupted run: 128 + the signal.
fn interrupted_status() -> Option<u8> {
    extmatrix_process::interrupted().map(|signal| (128 + signal) as u8)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    handle_signals();
    let result = match cli.command {
        Command::Run(args) => run::run(*args),
        Command::Pythons(args) => pythons_cmd::pythons(args),
        Command::Cache(args) => cache_cmd::cache(args),
        Command::Init(args) => init_cmd::init(args),
        Command::Report(args) => report_cmd::report(args),
        Command::Plan(args) => plan_cmd::plan(args),
        Command::Merge(args) => merge_cmd::merge(args),
    };
    if let Some(status) = interrupted_status() {
        if let Err(e) = &result {
            eprintln!("error: {e:#}");
        }
        return ExitCode::from(status);
    }
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(if e.downcast_ref::<UsageError>().is_some() {
                2
            } else {
                1
            })
        }
    }
}
