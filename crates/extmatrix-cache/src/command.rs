//! The one way a build step runs: its command line and every line of its
//! output (stdout and stderr, interleaved) appended to a log, the last lines
//! kept for an error, each line handed to an optional callback (a progress
//! bar), and a timeout.
//!
//! The step runs in its own process group (`extmatrix-process`), so a
//! timeout (or Ctrl-C, through `extmatrix_process::kill_all`) kills whatever it started, not just the step
//! itself; the group is also killed once the step exits, before it is
//! reaped. On Linux the step dies with the thread that started it
//! (`PR_SET_PDEATHSIG`), so a killed extmatrix leaves no `make` running.

use extmatrix_process::Supervised;
use std::ffi::OsString;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

/// How often a running step is checked for exit and timeout.
const POLL: Duration = Duration::from_millis(20);

/// How long output is still read after the step's group was killed (a
/// process that left the group may hold the pipe open forever).
const DRAIN: Duration = Duration::from_secs(2);

/// Lines kept for an error unless [`Cmd::tail_lines`] says otherwise.
pub const DEFAULT_TAIL_LINES: usize = 30;

/// A build step: program, arguments, working directory, timeout.
#[derive(Debug, Clone)]
pub struct Cmd {
    program: String,
    args: Vec<String>,
    dir: Option<PathBuf>,
    /// Set in the step's environment, over what it inherits.
    env: Vec<(String, String)>,
    timeout: Duration,
    capture: bool,
    tail_lines: usize,
}

/// A step that succeeded.
#[derive(Debug, Clone)]
pub struct Ran {
    /// All of its output, with [`Cmd::capture`]; empty otherwise.
    pub output: String,
    /// Its last lines.
    pub tail: Vec<String>,
    pub elapsed: Duration,
}

/// A step that failed, could not start, or timed out.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{summary}")]
pub struct CommandError {
    /// One line: which program and what went wrong.
    pub summary: String,
    /// The command line, shell-quoted.
    pub command: String,
    /// All of its output with [`Cmd::capture`], else its last lines.
    pub output: String,
    /// Its last lines.
    pub tail: Vec<String>,
    pub timed_out: bool,
}

impl Cmd {
    /// `program args…`, killed (with its process group) after `timeout`.
    pub fn new<I, S>(program: impl Into<String>, args: I, timeout: Duration) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Cmd {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            dir: None,
            env: Vec::new(),
            timeout,
            capture: false,
            tail_lines: DEFAULT_TAIL_LINES,
        }
    }

    /// Run in `dir` (default: the current directory).
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Cmd {
        self.dir = Some(dir.into());
        self
    }

    /// Set `key=value` in the step's environment.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Cmd {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Keep all of the output in memory (for short steps whose output is
    /// wanted: `python3-config --cflags`, a compiler's errors).
    pub fn capture(mut self) -> Cmd {
        self.capture = true;
        self
    }

    /// How many of the last lines to keep for an error.
    pub fn tail_lines(mut self, n: usize) -> Cmd {
        self.tail_lines = n;
        self
    }

    /// The command line as a shell would take it.
    /// With its environment settings in front, as `KEY=value`.
    pub fn command_line(&self) -> String {
        let env = self
            .env
            .iter()
            .map(|(k, v)| format!("{k}={}", shell_words::quote(v)));
        let words = std::iter::once(&self.program)
            .chain(&self.args)
            .map(|a| shell_words::quote(a).into_owned());
        env.chain(words).collect::<Vec<_>>().join(" ")
    }

    /// Run the step; `$ <command line>` and its output are appended to
    /// `log`, each output line is also passed to `on_line`.
    pub fn run(
        &self,
        log: &mut dyn Write,
        on_line: Option<&dyn Fn(&str)>,
    ) -> Result<Ran, CommandError> {
        let command = self.command_line();
        let _ = writeln!(log, "$ {command}");
        let mut out = Collected {
            log,
            on_line,
            capture: self.capture,
            output: String::new(),
            tail: std::collections::VecDeque::new(),
            tail_lines: self.tail_lines,
        };
        let fail = |summary: String, out: Collected, timed_out: bool| {
            let _ = writeln!(out.log, "{summary}");
            let tail: Vec<String> = out.tail.into_iter().collect();
            CommandError {
                summary,
                command: command.clone(),
                output: if self.capture {
                    out.output
                } else {
                    tail.join("\n")
                },
                tail,
                timed_out,
            }
        };
        let started = Instant::now();
        let (status, timed_out) = match self.spawn_and_wait(&mut out) {
            Ok(r) => r,
            Err(e) => {
                return Err(fail(
                    format!("could not run `{}`: {e}", self.program),
                    out,
                    false,
                ))
            }
        };
        if timed_out {
            return Err(fail(
                format!(
                    "`{}` did not finish within {}s; killed with every process it started",
                    self.program,
                    self.timeout.as_secs()
                ),
                out,
                true,
            ));
        }
        if !status.success() {
            let how = match status.signal() {
                Some(signal) => format!("killed by signal {signal}"),
                None => status.to_string(),
            };
            return Err(fail(
                format!("`{}` failed ({how})", self.program),
                out,
                false,
            ));
        }
        Ok(Ran {
            output: out.output,
            tail: out.tail.into_iter().collect(),
            elapsed: started.elapsed(),
        })
    }

    /// Start the step, feed its output to `out`, wait for it or the timeout.
    /// `(status, timed out)`.
    fn spawn_and_wait(&self, out: &mut Collected) -> io::Result<(ExitStatus, bool)> {
        let (reader, writer) = io::pipe()?;
        let mut command = std::process::Command::new(&self.program);
        command
            .args(self.args.iter().map(OsString::from))
            .stdin(Stdio::null())
            .stdout(writer.try_clone()?)
            .stderr(writer);
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        if let Some(dir) = &self.dir {
            command.current_dir(dir);
        }
        extmatrix_process::die_with_parent(&mut command, libc::SIGKILL);
        let mut running = Supervised::spawn(&mut command)?;
        // Our copies of the pipe's write end go with `command`: the reader
        // sees end-of-file once the step's group has closed it.
        drop(command);

        let (tx, rx) = mpsc::channel::<Vec<u8>>();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(reader);
            loop {
                let mut buf = Vec::new();
                match lines.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if tx.send(buf).is_err() {
                            break;
                        }
                    }
                }
            }
        });

        let deadline = Instant::now() + self.timeout;
        let mut open = true;
        let (status, timed_out) = loop {
            if running.has_exited()? {
                // A zombie still: its pid (the group id) cannot be reused,
                // so kill what it left in the group, then reap.
                running.kill_group();
                break (running.wait()?, false);
            }
            if Instant::now() >= deadline {
                running.kill_group();
                break (running.wait()?, true);
            }
            if open {
                open = pump(&rx, out, POLL);
            } else {
                std::thread::sleep(POLL);
            }
        };
        if open {
            pump(&rx, out, DRAIN);
        }
        Ok((status, timed_out))
    }
}

/// Hand `out` the lines that arrive within `wait`; false once the step's
/// output is closed.
fn pump(rx: &mpsc::Receiver<Vec<u8>>, out: &mut Collected, wait: Duration) -> bool {
    let until = Instant::now() + wait;
    loop {
        match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(line) => out.line(&line),
            Err(RecvTimeoutError::Timeout) => return true,
            Err(RecvTimeoutError::Disconnected) => return false,
        }
    }
}

/// Where output lines go.
struct Collected<'a> {
    log: &'a mut dyn Write,
    on_line: Option<&'a dyn Fn(&str)>,
    capture: bool,
    output: String,
    tail: std::collections::VecDeque<String>,
    tail_lines: usize,
}

impl Collected<'_> {
    fn line(&mut self, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        let line = text.trim_end();
        let _ = writeln!(self.log, "{line}");
        if self.capture {
            self.output.push_str(line);
            self.output.push('\n');
        }
        if self.tail_lines > 0 {
            if self.tail.len() == self.tail_lines {
                self.tail.pop_front();
            }
            self.tail.push_back(line.to_owned());
        }
        if let Some(f) = self.on_line {
            f(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    fn sh(script: &str, timeout: Duration) -> Cmd {
        Cmd::new("sh", ["-c", script], timeout)
    }

    #[test]
    fn output_goes_to_the_log_the_callback_and_the_tail() {
        let mut log = Vec::new();
        let seen = RefCell::new(Vec::new());
        let on_line = |l: &str| seen.borrow_mut().push(l.to_owned());
        let ran = sh(
            "for i in 1 2 3 4 5; do echo line $i; done; echo oops >&2",
            Duration::from_secs(30),
        )
        .tail_lines(2)
        .capture()
        .run(&mut log, Some(&on_line))
        .unwrap();
        let log = String::from_utf8(log).unwrap();
        assert!(log.starts_with("$ sh -c 'for i in"), "{log}");
        assert!(log.contains("line 3\n") && log.contains("oops\n"), "{log}");
        assert_eq!(ran.tail, ["line 5", "oops"]);
        assert_eq!(seen.borrow().len(), 6);
        assert!(ran.output.starts_with("line 1\nline 2\n"), "{}", ran.output);
    }

    #[test]
    fn a_failing_step_says_what_failed_with_its_last_lines() {
        let mut log = Vec::new();
        let e = sh("echo first; echo second; exit 3", Duration::from_secs(30))
            .tail_lines(1)
            .run(&mut log, None)
            .unwrap_err();
        assert_eq!(e.summary, "`sh` failed (exit status: 3)");
        assert_eq!(e.tail, ["second"]);
        assert_eq!(e.output, "second", "without capture: the tail");
        assert!(!e.timed_out);
        assert!(String::from_utf8(log)
            .unwrap()
            .contains("failed (exit status: 3)"));
    }

    #[test]
    fn a_missing_program_is_an_error_not_a_panic() {
        let e = Cmd::new(
            "/nonexistent/extmatrix-no-such-tool",
            ["x"],
            Duration::from_secs(5),
        )
        .run(&mut io::sink(), None)
        .unwrap_err();
        assert!(
            e.summary.starts_with("could not run `/nonexistent/"),
            "{}",
            e.summary
        );
    }

    #[test]
    fn a_hanging_step_is_killed_with_its_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        // A grandchild that would outlive a plain kill of `sh`, holding the pipe.
        let script = format!(
            "sleep 300 & echo $! > {}; echo started; wait",
            pidfile.display()
        );
        let started = Instant::now();
        let mut log = Vec::new();
        let e = sh(&script, Duration::from_secs(1))
            .run(&mut log, None)
            .unwrap_err();
        assert!(e.timed_out, "{e:?}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(e.tail, ["started"]);
        assert!(String::from_utf8(log)
            .unwrap()
            .contains("did not finish within 1s"));
        let pid: libc::pid_t = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Killed and reaped by init shortly after.
        let gone = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(50));
            // SAFETY: signal 0 only checks for existence.
            unsafe { libc::kill(pid, 0) != 0 }
        });
        assert!(gone, "the grandchild {pid} survived the timeout");
    }

    #[test]
    fn a_step_that_exits_takes_its_leftover_processes_with_it() {
        // The background sleep holds the pipe; the step itself exits at once.
        let started = Instant::now();
        let ran = sh("sleep 300 & echo done", Duration::from_secs(60))
            .run(&mut io::sink(), None)
            .unwrap();
        assert_eq!(ran.tail, ["done"]);
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
