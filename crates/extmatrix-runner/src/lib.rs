//! Run cells: one harness process per cell, in its own process group, with a
//! timeout, and turn what it reported into an [`Observation`].
//!
//! The harness writes JSON lines to fd 3, which is an anonymous file here, not
//! a pipe: nothing has to drain it while the child runs, and every line
//! written before a crash is still there afterwards. stdout and stderr go to
//! files too; only their tails are kept. A child that outlives its timeout is
//! killed with its whole process group. Nothing in this crate judges: see
//! `extmatrix-judge`.

pub use extmatrix_protocol::{Attempt, Observation, Termination};

use extmatrix_core::Scenario;
use extmatrix_process::{signal_name, Supervised};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Everything one harness process needs.
#[derive(Debug, Clone)]
pub struct CellCommand {
    pub harness: PathBuf,
    pub scenario: Scenario,
    pub module: String,
    pub module_dir: PathBuf,
    pub smoke: Option<String>,
    pub python_exe: PathBuf,
    pub cycles: u32,
    /// Threads running the smoke code at once in `free-threading`.
    pub threads: u32,
    pub timeout: Duration,
}

/// How much of stdout/stderr a cell keeps.
const TAIL_BYTES: u64 = 4096;
/// How often a running child is checked on.
const POLL: Duration = Duration::from_millis(10);

/// Run one cell to completion or timeout.
pub fn run_cell(cmd: &CellCommand) -> std::io::Result<Observation> {
    let mut obs = tempfile::tempfile()?;
    let mut stdout = tempfile::tempfile()?;
    let mut stderr = tempfile::tempfile()?;

    let mut command = Command::new(&cmd.harness);
    command
        .arg("--scenario")
        .arg(cmd.scenario.id())
        .arg("--module")
        .arg(&cmd.module)
        .arg("--module-dir")
        .arg(&cmd.module_dir)
        .arg("--python-exe")
        .arg(&cmd.python_exe)
        .arg("--cycles")
        .arg(cmd.cycles.to_string())
        .arg("--threads")
        .arg(cmd.threads.to_string())
        .arg("--smoke")
        .arg(cmd.smoke.as_deref().unwrap_or(""))
        .arg("--obs-fd")
        .arg("3")
        .stdin(Stdio::null())
        .stdout(stdout.try_clone()?)
        .stderr(stderr.try_clone()?);
    let obs_fd = obs.as_raw_fd();
    // SAFETY: only async-signal-safe calls (dup2, fcntl) between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if obs_fd == 3 {
                // dup2 onto itself keeps FD_CLOEXEC; clear it by hand.
                if libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(obs_fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }

    let start = Instant::now();
    // Its own group, so a timeout can kill whatever the target spawned too.
    let mut child = Supervised::spawn(&mut command)?;
    let termination = loop {
        if child.has_exited()? {
            // Still a zombie, so its pid (the group's id) cannot be reused
            // yet: kill whatever the target left running in the group, then reap.
            child.kill_group();
            let status = child.wait()?;
            break match status.signal() {
                Some(signal) => Termination::Signaled {
                    signal,
                    name: signal_name(signal),
                },
                None => Termination::Exited {
                    code: status.code().unwrap_or(-1),
                },
            };
        }
        if start.elapsed() >= cmd.timeout {
            child.kill_group();
            child.wait()?;
            break Termination::TimedOut {
                after_ms: start.elapsed().as_millis() as u64,
            };
        }
        std::thread::sleep(POLL);
    };

    let (events, protocol_errors) = extmatrix_protocol::parse(&read_all(&mut obs)?);
    Ok(Observation {
        events,
        protocol_errors,
        termination,
        stdout_tail: tail(&mut stdout)?,
        stderr_tail: tail(&mut stderr)?,
        retries: Vec::new(),
    })
}

/// Run a cell up to `attempts` times while the interpreter itself fails
/// before the target is imported (free-threaded 3.13 builds, for one, can
/// deadlock in their own start-up). Earlier attempts are kept in
/// [`Observation::retries`]; the last one is what gets judged.
pub fn run_cell_retrying(cmd: &CellCommand, attempts: u32) -> std::io::Result<Observation> {
    let mut retries = Vec::new();
    loop {
        let mut obs = run_cell(cmd)?;
        let attempted = retries.len() as u32 + 1;
        if obs.failed_before_target() && attempted < attempts {
            retries.push(Attempt {
                last_step: obs.last_step(),
                termination: obs.termination,
            });
            continue;
        }
        obs.retries = retries;
        return Ok(obs);
    }
}

fn read_all(file: &mut File) -> std::io::Result<String> {
    file.seek(SeekFrom::Start(0))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn tail(file: &mut File) -> std::io::Result<String> {
    let len = file.seek(SeekFrom::End(0))?;
    let from = len.saturating_sub(TAIL_BYTES);
    file.seek(SeekFrom::Start(from))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    // Start at a line boundary when the tail was cut.
    let text = match (from > 0, text.find('\n')) {
        (true, Some(i)) => &text[i + 1..],
        _ => &text[..],
    };
    Ok(text.to_owned())
}

/// The default parallelism: the number of cores.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Map `work` over `items` on `jobs` threads, calling `on_done` as each item
/// finishes (for progress). Results come back in item order.
pub fn parallel_map<T, R, W, D>(items: &[T], jobs: usize, work: W, on_done: D) -> Vec<R>
where
    T: Sync,
    R: Send,
    W: Fn(&T) -> R + Sync,
    D: Fn(&T, &R) + Sync,
{
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<R>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    let slots = std::sync::Mutex::new(&mut results);
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1).min(items.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = work(item);
                on_done(item, &r);
                slots.lock().expect("a worker panicked")[i] = Some(r);
            });
        }
    });
    results
        .into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_map_keeps_order_and_reports_each() {
        let items: Vec<u32> = (0..50).collect();
        let done = AtomicUsize::new(0);
        // Early items take longest, so they finish out of order.
        let work = |x: &u32| {
            std::thread::sleep(Duration::from_millis(u64::from(50 - x) / 5));
            x * 2
        };
        let out = parallel_map(&items, 4, work, |_, _| {
            done.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(out, items.iter().map(|x| x * 2).collect::<Vec<_>>());
        assert_eq!(done.load(Ordering::Relaxed), 50);
    }
}
