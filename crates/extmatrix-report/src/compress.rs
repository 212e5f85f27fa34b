//! Where a finding shows, in a few words: `reimport on cp311–cp313;
//! subinterp-* on cp312, cp313`. Scenarios that show on the same
//! interpreters share one group; consecutive interpreters (in the report's
//! order) of three or more are a range; a group that has every
//! `subinterp-*` scenario of the run says `subinterp-*`, one that has every
//! scenario says "every scenario".

use extmatrix_core::Scenario;
use extmatrix_schema::{Finding, FindingCell, FindingKind, Report};

/// Where `f` shows in `report`: its scenarios and interpreters, or, for a
/// build (one per interpreter, for every scenario), "the build for …".
pub fn finding_where(report: &Report, f: &Finding) -> String {
    let pythons: Vec<&str> = report.pythons.iter().map(|p| p.id.as_str()).collect();
    match f.kind {
        FindingKind::BuildFailed => {
            format!("the build for {}", pythons_in_words(&f.cells, &pythons))
        }
        _ => where_it_shows(&f.cells, &pythons, &run_scenarios(report)),
    }
}

/// The scenarios of the run, in the table's order.
fn run_scenarios(report: &Report) -> Vec<Scenario> {
    let mut scenarios: Vec<Scenario> = Vec::new();
    for c in &report.cells {
        if !scenarios.contains(&c.key.scenario) {
            scenarios.push(c.key.scenario);
        }
    }
    scenarios
}

/// `cells` in words, against the run's interpreters and scenarios (each in
/// the report's order). An interpreter or scenario the run does not list
/// comes after those it does.
pub fn where_it_shows(cells: &[FindingCell], pythons: &[&str], scenarios: &[Scenario]) -> String {
    let pythons = with_unlisted(pythons, cells.iter().map(|c| c.python.as_str()));
    let scenarios = with_unlisted(scenarios, cells.iter().map(|c| c.scenario));
    let mut groups: Vec<(Vec<usize>, Vec<Scenario>)> = Vec::new();
    for scenario in &scenarios {
        let on: Vec<usize> = (0..pythons.len())
            .filter(|&i| {
                cells
                    .iter()
                    .any(|c| c.scenario == *scenario && c.python == pythons[i])
            })
            .collect();
        if on.is_empty() {
            continue;
        }
        match groups.iter_mut().find(|(same, _)| *same == on) {
            Some((_, of_group)) => of_group.push(*scenario),
            None => groups.push((on, vec![*scenario])),
        }
    }
    groups
        .iter()
        .map(|(on, of_group)| {
            format!(
                "{} on {}",
                scenario_words(of_group, &scenarios),
                python_ranges(on, &pythons)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The interpreters of `cells` in words: `cp311–cp313, cp313t`.
pub fn pythons_in_words(cells: &[FindingCell], pythons: &[&str]) -> String {
    let pythons = with_unlisted(pythons, cells.iter().map(|c| c.python.as_str()));
    let on: Vec<usize> = (0..pythons.len())
        .filter(|&i| cells.iter().any(|c| c.python == pythons[i]))
        .collect();
    python_ranges(&on, &pythons)
}

/// `listed`, then whatever `more` names that it does not, in `more`'s order.
fn with_unlisted<T: PartialEq + Copy>(listed: &[T], more: impl Iterator<Item = T>) -> Vec<T> {
    let mut all = listed.to_vec();
    for item in more {
        if !all.contains(&item) {
            all.push(item);
        }
    }
    all
}

fn is_subinterp(s: Scenario) -> bool {
    s.id().starts_with("subinterp-")
}

/// A group's scenarios: "every scenario", or their names with every
/// `subinterp-*` scenario of the run (two or more) said once.
fn scenario_words(of_group: &[Scenario], run: &[Scenario]) -> String {
    if of_group.len() == run.len() {
        return "every scenario".to_owned();
    }
    let subinterps: Vec<Scenario> = run.iter().copied().filter(|s| is_subinterp(*s)).collect();
    let all_subinterps = subinterps.len() >= 2 && subinterps.iter().all(|s| of_group.contains(s));
    let mut words: Vec<&str> = Vec::new();
    for s in of_group {
        match (all_subinterps, is_subinterp(*s)) {
            (true, true) if words.contains(&"subinterp-*") => {}
            (true, true) => words.push("subinterp-*"),
            _ => words.push(s.id()),
        }
    }
    words.join(", ")
}

/// Indices into `names` as names, three or more consecutive ones as a
/// range: `cp311–cp313, cp313t`.
fn python_ranges(on: &[usize], names: &[&str]) -> String {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for &i in on {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == i => *end = i,
            _ => runs.push((i, i)),
        }
    }
    let mut words: Vec<String> = Vec::new();
    for (start, end) in runs {
        if end - start >= 2 {
            words.push(format!("{}–{}", names[start], names[end]));
        } else {
            words.extend((start..=end).map(|i| names[i].to_owned()));
        }
    }
    words.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use Scenario::*;

    const PYTHONS: [&str; 4] = ["cp311", "cp312", "cp313", "cp313t"];
    const RUN: [Scenario; 6] = [
        Import,
        Reinit,
        Reimport,
        SubinterpLegacy,
        SubinterpShared,
        SubinterpOwn,
    ];

    fn cells(of: &[(&str, Scenario)]) -> Vec<FindingCell> {
        of.iter()
            .map(|(p, s)| FindingCell {
                python: (*p).into(),
                scenario: *s,
            })
            .collect()
    }

    fn words(of: &[(&str, Scenario)]) -> String {
        where_it_shows(&cells(of), &PYTHONS, &RUN)
    }

    #[test]
    fn consecutive_interpreters_are_a_range_of_three_or_more() {
        let three = [
            ("cp311", Reimport),
            ("cp312", Reimport),
            ("cp313", Reimport),
        ];
        assert_eq!(words(&three), "reimport on cp311–cp313");
        assert_eq!(
            words(&[("cp312", Reimport), ("cp313", Reimport)]),
            "reimport on cp312, cp313"
        );
        // Not consecutive in the report's order: no range.
        assert_eq!(
            words(&[("cp311", Reinit), ("cp313", Reinit), ("cp313t", Reinit)]),
            "reinit on cp311, cp313, cp313t"
        );
        let four = [
            ("cp313t", Import),
            ("cp311", Import),
            ("cp312", Import),
            ("cp313", Import),
        ];
        assert_eq!(words(&four), "import on cp311–cp313t");
    }

    #[test]
    fn scenarios_on_the_same_interpreters_share_a_group() {
        let of = [
            ("cp311", Reimport),
            ("cp312", Reimport),
            ("cp313", Reimport),
            ("cp312", SubinterpShared),
            ("cp313", SubinterpShared),
            ("cp311", SubinterpLegacy),
            ("cp312", SubinterpLegacy),
            ("cp313", SubinterpLegacy),
        ];
        assert_eq!(
            words(&of),
            "reimport, subinterp-legacy on cp311–cp313; subinterp-shared on cp312, cp313"
        );
    }

    #[test]
    fn every_subinterp_scenario_of_the_run_is_said_once() {
        let mut of = vec![("cp312", Reimport)];
        for s in [SubinterpLegacy, SubinterpShared, SubinterpOwn] {
            of.push(("cp312", s));
            of.push(("cp313", s));
        }
        assert_eq!(words(&of), "reimport on cp312; subinterp-* on cp312, cp313");
        // Two of the three: named, not `subinterp-*`.
        of.retain(|(_, s)| *s != SubinterpOwn);
        assert_eq!(
            words(&of),
            "reimport on cp312; subinterp-legacy, subinterp-shared on cp312, cp313"
        );
        // A run with one subinterp scenario names it.
        let run = [Import, SubinterpOwn];
        assert_eq!(
            where_it_shows(&cells(&[("cp312", SubinterpOwn)]), &PYTHONS, &run),
            "subinterp-own on cp312"
        );
    }

    #[test]
    fn every_scenario_of_the_run_is_said_so() {
        let of: Vec<(&str, Scenario)> = RUN.iter().map(|s| ("cp313t", *s)).collect();
        assert_eq!(words(&of), "every scenario on cp313t");
        assert_eq!(pythons_in_words(&cells(&of), &PYTHONS), "cp313t");
    }

    #[test]
    fn what_the_run_does_not_list_comes_last() {
        assert_eq!(
            words(&[("cp310", Import), ("cp311", Import)]),
            "import on cp311, cp310"
        );
    }
}
