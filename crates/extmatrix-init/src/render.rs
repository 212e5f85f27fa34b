//! The starter matrix file's text: one target per project, what was left
//! out and why as comments, every key a user may want to change explained
//! where it stands.

use crate::{display_path, Kind, Project, Repository, Skipped, Why};
use extmatrix_core::pattern::module_matches;
use extmatrix_core::Scenario;

/// The `exclude:` patterns a `pip` target gets: modules of `tests` and
/// `test` packages, which are a project's tests (and often import
/// test-only dependencies), not the modules it ships for use.
pub const TEST_PACKAGES: [&str; 2] = ["**.tests.**", "**.test.**"];

/// The matrix file for `repo`, written into its root, run on `pythons`
/// (ids).
pub fn render(repo: &Repository, pythons: &[String]) -> String {
    let scenarios: Vec<String> = Scenario::ALL.iter().map(|s| s.to_string()).collect();
    let pythons_line = if pythons.is_empty() {
        "auto   # no interpreter was found when this was written: `extmatrix pythons` says why"
            .to_owned()
    } else {
        format!("[{}]", pythons.join(", "))
    };
    let targets: String = repo.projects.iter().map(target).collect();
    format!(
        "{header}{skipped}\n\
         # Every interpreter found on this machine when this file was written\n\
         # (`extmatrix pythons` lists them; `auto` takes whatever is there at run time).\n\
         pythons: {pythons_line}\n\
         scenarios: [{scenarios}]\n\
         options: {{ cycles: 5, timeout_s: 60 }}\n\
         # A target's smoke code runs after every import, with the module bound to `m`. Make\n\
         # it use the module, so each scenario checks the module works, not only imports:\n\
         # e.g. \"assert m.add(1, 2) == 3\". Keep state on the module (set a value, read it\n\
         # back) to catch instances that share it.\n\
         targets:\n{targets}",
        header = header(repo),
        skipped = skipped_comment(&repo.skipped),
        scenarios = scenarios.join(", "),
    )
}

fn header(repo: &Repository) -> String {
    let dir = std::fs::canonicalize(&repo.root)
        .ok()
        .and_then(|d| Some(d.file_name()?.to_string_lossy().into_owned()))
        .unwrap_or_else(|| display_path(&repo.root));
    let found = repo.projects.len();
    format!(
        "# extmatrix.yaml, written by `extmatrix init` for {dir}: one target per project\n\
         # that builds extension modules ({found} found). Run it with `extmatrix run` (it reads\n\
         # ./extmatrix.yaml); `extmatrix run --help` and docs/matrix-format.md in extmatrix's\n\
         # repository say what every key does.\n"
    )
}

/// What was left out, one line each, with how to test it anyway where it
/// could be a target.
fn skipped_comment(skipped: &[Skipped]) -> String {
    if skipped.is_empty() {
        return String::new();
    }
    let width = skipped
        .iter()
        .map(|s| display_path(&s.path).len())
        .max()
        .unwrap_or(0);
    let mut text = "#\n# Left out, no target:\n".to_owned();
    for s in skipped {
        let path = display_path(&s.path);
        text.push_str(&format!("#   {path:<width$}  {}\n", s.why.describe()));
        if let Why::NotOwn { kind, .. } = &s.why {
            let name = s
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            text.push_str(&format!(
                "#   {:<width$}  to test it: - {{ name: {name}, {}: {path} }}\n",
                "",
                kind.key()
            ));
        }
    }
    text
}

/// One target's lines.
fn target(project: &Project) -> String {
    let path = display_path(&project.path);
    let mut text = format!(
        "  - name: {}\n    {}: {path}\n{}",
        project.name,
        project.kind.key(),
        modules_comment(project)
    );
    if project.kind == Kind::Pip {
        let patterns: Vec<String> = TEST_PACKAGES.iter().map(|p| format!("\"{p}\"")).collect();
        text.push_str(&format!(
            "    # Modules of `tests`/`test` packages are left out: they are the project's\n    \
             # tests, which often import test-only dependencies. Delete `exclude` to test\n    \
             # them too.\n    \
             exclude: [{}]\n",
            patterns.join(", ")
        ));
    }
    text.push_str("    smoke: \"pass\"\n");
    text
}

/// The comment on which modules get rows: every one of the build (but
/// those `exclude` leaves out), and what the sources name.
fn modules_comment(project: &Project) -> String {
    let join = |ms: &[&String]| ms.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ");
    if project.kind == Kind::Cargo {
        let named: Vec<&String> = project.modules.iter().collect();
        return format!(
            "    # The crate's cdylib is one extension module (its sources name: {}).\n",
            join(&named)
        );
    }
    let excluded = |m: &&String| TEST_PACKAGES.iter().any(|p| module_matches(p, m));
    let (left_out, kept): (Vec<&String>, Vec<&String>) = project.modules.iter().partition(excluded);
    let mut text =
        "    # Every extension module of the build but those `exclude` leaves out is\n    \
                    # tested, each as its own row"
            .to_owned();
    match kept.first() {
        None => text.push_str("; to test only some, list them: modules: [pkg._speedups]\n"),
        Some(first) => text.push_str(&format!(
            ". The sources name: {}.\n    # To test only some: modules: [{first}]\n",
            join(&kept)
        )),
    }
    if !left_out.is_empty() {
        text.push_str(&format!(
            "    # (The sources also name {}, which `exclude` leaves out.)\n",
            join(&left_out)
        ));
    }
    text
}
