//! ci/github/extmatrix-nightly.yml, the sharded nightly workflow of
//! docs/ci.md: GitHub's rules (actionlint, with shellcheck on its `run:`
//! scripts) and extmatrix's own: every `extmatrix` command line in it uses
//! only subcommands and flags the binary accepts, so the example cannot
//! drift from the command line it documents.

use crate::common::{extmatrix, repo_root};
use std::path::{Path, PathBuf};
use std::process::Command;

fn workflow_path() -> PathBuf {
    repo_root().join("ci/github/extmatrix-nightly.yml")
}

fn workflow() -> String {
    let path = workflow_path();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// actionlint and shellcheck as scripts/install-actionlint pins them (`just
/// setup` runs it): the same rules on every machine.
fn linters() -> (PathBuf, PathBuf) {
    let bin = repo_root().join("cache/actionlint/bin");
    let (actionlint, shellcheck) = (bin.join("actionlint"), bin.join("shellcheck"));
    for tool in [&actionlint, &shellcheck] {
        assert!(
            tool.is_file(),
            "{} is missing: run `just setup` (scripts/install-actionlint installs actionlint and \
             shellcheck into cache/actionlint)",
            tool.display()
        );
    }
    (actionlint, shellcheck)
}

/// actionlint's exit status and report on `file`.
fn actionlint(file: &Path) -> (i32, String) {
    let (actionlint, shellcheck) = linters();
    let out = Command::new(&actionlint)
        .arg("-no-color")
        .arg("-shellcheck")
        .arg(&shellcheck)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("{} does not run: {e}", actionlint.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// The workflow with `from` (present exactly once) replaced by `to`, in a
/// fresh directory.
fn broken_copy(dir: &Path, from: &str, to: &str) -> PathBuf {
    let text = workflow();
    assert_eq!(
        text.matches(from).count(),
        1,
        "the workflow should hold `{from}` once; update this test's mutation"
    );
    let path = dir.join("extmatrix-nightly.yml");
    std::fs::write(&path, text.replace(from, to)).unwrap();
    path
}

#[test]
fn actionlint_passes_on_the_nightly_workflow() {
    let (status, report) = actionlint(&workflow_path());
    assert_eq!(
        status,
        0,
        "actionlint on {}:\n{report}",
        workflow_path().display()
    );
}

#[test]
fn actionlint_fails_on_an_undefined_output_of_the_plan_job() {
    let dir = tempfile::tempdir().unwrap();
    let broken = broken_copy(
        dir.path(),
        "fromJSON(needs.plan.outputs.matrix)",
        "fromJSON(needs.plan.outputs.shards)",
    );
    let (status, report) = actionlint(&broken);
    assert_eq!(status, 1, "{report}");
    assert!(
        report.contains("property \"shards\" is not defined"),
        "{report}"
    );
}

#[test]
fn actionlint_runs_shellcheck_on_the_run_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let broken = broken_copy(
        dir.path(),
        "[ -f \"$baseline\" ] ||",
        "if [ -f \"$baseline\" ]; then ||",
    );
    let (status, report) = actionlint(&broken);
    assert_eq!(status, 1, "{report}");
    assert!(
        report.contains("shellcheck reported issue in this script"),
        "{report}"
    );
}

/// The `run:` scripts of a workflow: (the line of the script's first line,
/// the script).
fn run_scripts(yaml: &str) -> Vec<(usize, String)> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut scripts = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let body = line.trim_start();
        let body = body.strip_prefix("- ").unwrap_or(body);
        let Some(rest) = body.strip_prefix("run:") else {
            i += 1;
            continue;
        };
        let key_indent = line.len() - line.trim_start().len();
        let rest = rest.trim();
        if !(rest.starts_with('|') || rest.starts_with('>')) {
            scripts.push((i + 1, rest.to_owned()));
            i += 1;
            continue;
        }
        // A block scalar: the lines indented deeper than the key.
        let mut block = Vec::new();
        let mut j = i + 1;
        while j < lines.len() {
            let l = lines[j];
            let indent = l.len() - l.trim_start().len();
            if !l.trim().is_empty() && indent <= key_indent {
                break;
            }
            block.push(l);
            j += 1;
        }
        let strip = block
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.len() - l.trim_start().len())
            .min()
            .unwrap_or(0);
        let script = block
            .iter()
            .map(|l| l.get(strip..).unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        scripts.push((i + 2, script));
        i = j;
    }
    scripts
}

/// One `extmatrix` command of a script: where, its subcommand (none for
/// `extmatrix --version`), its flags, and the text for messages.
#[derive(Debug)]
struct Invocation {
    line: usize,
    sub: Option<String>,
    flags: Vec<String>,
    text: String,
}

/// Every `extmatrix …` command in a script: continuation lines joined,
/// comments dropped, each command up to the shell operator that ends it.
/// A flag is any `--name` in the command, also inside `${var:+--name …}`.
fn invocations(first_line: usize, script: &str) -> Vec<Invocation> {
    let mut logical: Vec<(usize, String)> = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (n, raw) in script.lines().enumerate() {
        let line = strip_comment(raw);
        let (start, mut text) = pending.take().unwrap_or((first_line + n, String::new()));
        match line.trim_end().strip_suffix('\\') {
            Some(head) => {
                text.push_str(head);
                text.push(' ');
                pending = Some((start, text));
            }
            None => {
                text.push_str(line);
                logical.push((start, text));
            }
        }
    }
    logical.extend(pending);

    let mut found = Vec::new();
    for (line, text) in logical {
        let bytes = text.as_bytes();
        let mut from = 0;
        while let Some(at) = text[from..].find("extmatrix").map(|p| p + from) {
            from = at + "extmatrix".len();
            let before_ok = at == 0 || matches!(bytes[at - 1], b' ' | b'\t' | b'(' | b'"');
            let after_ok = bytes.get(from).is_none_or(|b| b.is_ascii_whitespace());
            if !(before_ok && after_ok) {
                continue;
            }
            let end = text[from..]
                .find([')', '|', ';', '&', '>', '<'])
                .map_or(text.len(), |p| p + from);
            let command = &text[from..end];
            let sub = command
                .split_whitespace()
                .next()
                .filter(|w| !w.starts_with('-'))
                .map(str::to_owned);
            found.push(Invocation {
                line,
                sub,
                flags: long_flags(command),
                text: format!("extmatrix{}", command.trim_end()),
            });
            from = end;
        }
    }
    found
}

fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
            return &line[..i];
        }
    }
    line
}

/// The `--name`s in `text` that are not the tail of a longer word.
fn long_flags(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut flags = Vec::new();
    let mut i = 0;
    while let Some(p) = text[i..].find("--").map(|p| p + i) {
        let name_end = text[p + 2..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .map_or(text.len(), |e| e + p + 2);
        let starts_word = p == 0 || !(bytes[p - 1].is_ascii_alphanumeric() || bytes[p - 1] == b'-');
        if starts_word && bytes.get(p + 2).is_some_and(u8::is_ascii_lowercase) {
            flags.push(text[p..name_end].to_owned());
        }
        i = name_end.max(p + 2);
    }
    flags
}

/// Whether `--help` output lists `flag` itself (`--shard` is not `--shards`).
fn help_lists(help: &str, flag: &str) -> bool {
    help.match_indices(flag).any(|(at, _)| {
        let next = help.as_bytes().get(at + flag.len());
        next.is_none_or(|b| !(b.is_ascii_alphanumeric() || *b == b'-'))
    })
}

/// What in `yaml`'s `extmatrix` commands the built binary does not accept,
/// and every command found.
fn unknown_commands_and_flags(yaml: &str) -> (Vec<String>, Vec<Invocation>) {
    let mut problems = Vec::new();
    let mut all = Vec::new();
    for (line, script) in run_scripts(yaml) {
        for inv in invocations(line, &script) {
            let mut args: Vec<&str> = inv.sub.iter().map(String::as_str).collect();
            args.push("--help");
            let out = extmatrix(&args);
            let help = String::from_utf8_lossy(&out.stdout);
            if !out.status.success() {
                problems.push(format!(
                    "line {}: `{}`: `extmatrix {}` fails: {}",
                    inv.line,
                    inv.text,
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
                all.push(inv);
                continue;
            }
            for flag in &inv.flags {
                if !help_lists(&help, flag) {
                    problems.push(format!(
                        "line {}: `{}`: `extmatrix {}` lists no {flag}",
                        inv.line,
                        inv.text,
                        args.join(" ")
                    ));
                }
            }
            all.push(inv);
        }
    }
    (problems, all)
}

#[test]
fn every_extmatrix_command_in_the_workflow_is_one_the_binary_accepts() {
    let (problems, found) = unknown_commands_and_flags(&workflow());
    assert!(
        problems.is_empty(),
        "{} (commands and flags of the binary: `extmatrix SUBCOMMAND --help`):\n{}",
        workflow_path().display(),
        problems.join("\n")
    );
    // The reader found the commands the workflow is made of: plan → shards
    // → merge, each with the flags that make it sharded.
    for (sub, flag) in [
        ("plan", "--shards"),
        ("plan", "--github-matrix"),
        ("run", "--shard"),
        ("run", "--expect"),
        ("run", "--resume"),
        ("merge", "--baseline"),
        ("merge", "--fail-on"),
        ("merge", "--html"),
    ] {
        assert!(
            found
                .iter()
                .any(|i| i.sub.as_deref() == Some(sub) && i.flags.iter().any(|f| f == flag)),
            "no `extmatrix {sub} … {flag}` found in the workflow's scripts: {found:#?}"
        );
    }
}

#[test]
fn a_flag_or_subcommand_the_binary_lacks_is_named_with_its_line() {
    let yaml = workflow()
        .replace("--resume", "--resume-from-journal")
        .replace("extmatrix merge out/", "extmatrix join out/");
    let (problems, _) = unknown_commands_and_flags(&yaml);
    let text = problems.join("\n");
    assert!(
        problems
            .iter()
            .any(|p| p.contains("lists no --resume-from-journal")),
        "{text}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`extmatrix join --help` fails")),
        "{text}"
    );
    let run_line = workflow()
        .lines()
        .position(|l| l.contains("extmatrix run extmatrix.yaml --shard"))
        .unwrap()
        + 1;
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with(&format!("line {run_line}: `extmatrix run "))),
        "the problem names the line where the command starts ({run_line}): {text}"
    );
}
