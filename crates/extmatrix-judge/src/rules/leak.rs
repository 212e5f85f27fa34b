//! `leak`: what a cycling scenario's figures grow by, beyond what the same
//! cycles grow by with an empty module (the baseline: CPython keeps memory
//! per cycle on its own, ~400 KiB per reinit cycle on 3.12), importing
//! what the target pulled in.
//!
//! Each series is read as the target's figure minus the baseline's, from
//! the first cycle after the warm-up on (docs/outcomes.md, "When is it a
//! leak?"):
//!
//! - references and blocks on debug builds: CPython regrtest -R's
//!   criterion, a growth of at least 1 in *every* cycle, where the
//!   baseline's own count stands still across the cycles read (regrtest
//!   assumes CPython's does);
//! - blocks and memory on every build: the least-squares slope, less its
//!   one-sided 95% spread (Student's t), above a threshold per cycle, so
//!   noise cannot pass for a slope; where CPython itself leaks a lot per
//!   cycle, the threshold is at least 5% of that (what it leaks scales
//!   with the work a cycle does). Memory is malloc's bytes in use, not the
//!   RSS, where the harness reports it: freed memory that cannot be given
//!   back (fragmentation around what CPython keeps) raises the RSS but is
//!   no leak — measured on 3.12, a module that frees 256 KiB every cycle
//!   grows the RSS by ~360 KiB per cycle more than the baseline, and
//!   malloc's count by nothing.

use crate::{CellFacts, Finding};
use extmatrix_core::Outcome;
use extmatrix_protocol::{CycleFigures, Observation};
use extmatrix_schema::{Details, LeakCheck, LeakDetails, LeakSeries, LeakTest};

/// How the leak rule reads the cycles (from the matrix's options).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeakPolicy {
    /// Cycles dropped first.
    pub warmup: u32,
    /// The memory slope threshold, KiB per cycle.
    pub kib_per_cycle: f64,
    /// The blocks slope threshold, blocks per cycle.
    pub blocks_per_cycle: f64,
}

/// The findings of a cycling cell against its baseline, and what was read
/// (`details.leak`). Nothing without a baseline, or when a cycle failed
/// (another rule reports that failure).
pub fn findings(
    facts: &CellFacts,
    details: &mut Details,
    baseline: Option<&Observation>,
) -> Vec<Finding> {
    let Some(baseline) = baseline.filter(|_| facts.scenario.is_cycling()) else {
        return Vec::new();
    };
    let mut leak = LeakDetails {
        warmup: facts.leak.warmup,
        allocator: details.cycles.first().and_then(|c| c.allocator.clone()),
        baseline: baseline.cycles().cloned().collect(),
        ..LeakDetails::default()
    };
    leak.not_checked = why_not_checked(facts, &details.cycles, &leak.baseline).unwrap_or_default();
    if leak.not_checked.is_empty() {
        leak.checks = checks(&facts.leak, &details.cycles, &leak.baseline);
    }
    let found = leak
        .checks
        .iter()
        .filter(|c| c.fired)
        .map(|c| Finding::new(Outcome::Leak, summary(c)))
        .collect();
    details.leak = Some(leak);
    found
}

/// Why the series cannot be read, if they cannot.
fn why_not_checked(
    facts: &CellFacts,
    target: &[CycleFigures],
    baseline: &[CycleFigures],
) -> Option<String> {
    if target.iter().any(|c| !c.ok) {
        return Some("a cycle's import or smoke code failed".into());
    }
    if baseline.len() != target.len() || baseline.iter().any(|c| !c.ok) {
        return Some(format!(
            "the baseline ran {} of the target's {} cycles",
            baseline.iter().filter(|c| c.ok).count(),
            target.len()
        ));
    }
    let read = target.len().saturating_sub(facts.leak.warmup as usize);
    (read < 3).then(|| {
        format!(
            "{} cycles after a warm-up of {} leave {read} to read; a slope needs 3 (options.cycles)",
            target.len(),
            facts.leak.warmup
        )
    })
}

/// A figure of a cycle, where the build reports it.
type Figure = fn(&CycleFigures) -> Option<i64>;

const REFS: Figure = |c| c.total_refcount;
const BLOCKS: Figure = |c| c.allocated_blocks;
const MALLOC_KIB: Figure = |c| c.malloc_kb;
const RSS_KIB: Figure = |c| Some(c.rss_kb);

/// Every check the figures allow: per-cycle growth where the build counts
/// references (a debug build), slopes everywhere.
fn checks(
    policy: &LeakPolicy,
    target: &[CycleFigures],
    baseline: &[CycleFigures],
) -> Vec<LeakCheck> {
    let from = policy.warmup as usize;
    // The target's figure minus the baseline's, per cycle.
    let diff = |figure: Figure| -> Option<Vec<f64>> {
        target
            .iter()
            .zip(baseline)
            .map(|(t, b)| Some((figure(t)? - figure(b)?) as f64))
            .collect()
    };
    // regrtest's test needs CPython's own count to stand still from cycle
    // to cycle: where the baseline itself grows (3.13 debug builds grow by
    // two or three references per re-import, by how many depends on the
    // module and the hash seed), a difference of one per cycle is not the
    // target's.
    let steady = |figure: Figure| {
        baseline[from.max(1) - 1..]
            .windows(2)
            .all(|w| figure(&w[0]) == figure(&w[1]))
    };
    let mut out = Vec::new();
    if diff(REFS).is_some() {
        for (series, figure) in [(LeakSeries::Refs, REFS), (LeakSeries::Blocks, BLOCKS)] {
            if let Some(values) = diff(figure).filter(|_| steady(figure)) {
                out.push(every_cycle(series, &values, from));
            }
        }
    }
    // Where CPython itself leaks a lot per cycle, what it leaks grows with
    // the work a cycle does: the threshold is at least a share of the
    // baseline's own growth.
    let threshold = |figure: Figure, floor: f64| {
        let own: Option<Vec<f64>> = baseline[from.min(baseline.len())..]
            .iter()
            .map(|c| figure(c).map(|v| v as f64))
            .collect();
        let own_slope = own.and_then(|v| least_squares(&v)).map_or(0.0, |f| f.0);
        floor.max(SHARE_OF_BASELINE * own_slope)
    };
    if let Some(blocks) = diff(BLOCKS) {
        let at = threshold(BLOCKS, policy.blocks_per_cycle);
        out.push(slope(LeakSeries::Blocks, &blocks, from, at));
    }
    let memory = match diff(MALLOC_KIB) {
        Some(kib) => Some((LeakSeries::MallocKib, MALLOC_KIB, kib)),
        None => diff(RSS_KIB).map(|kib| (LeakSeries::RssKib, RSS_KIB, kib)),
    };
    if let Some((series, figure, kib)) = memory {
        let at = threshold(figure, policy.kib_per_cycle);
        out.push(slope(series, &kib, from, at));
    }
    out
}

/// The share of the baseline's own growth per cycle that a target's extra
/// growth must exceed. Measured: on 3.13.0 (release) every `reinit` cycle
/// leaks more blocks than the last (~10,000 in cycle 3, ~25,000 in cycle
/// 6), and a module that imports more grows that by a few percent —
/// markupsafe by 1.5% (+344 blocks per cycle) — while the debug build,
/// which leaks nothing per cycle, shows the same module flat.
const SHARE_OF_BASELINE: f64 = 0.05;

/// regrtest's test: the difference grew by at least 1 from every cycle read
/// to the next (the first read cycle is compared with the one before it).
fn every_cycle(series: LeakSeries, diff: &[f64], from: usize) -> LeakCheck {
    let start = from.max(1);
    let growth: Vec<f64> = (start..diff.len()).map(|i| diff[i] - diff[i - 1]).collect();
    LeakCheck {
        series,
        test: LeakTest::EveryCycle,
        fired: !growth.is_empty() && growth.iter().all(|&g| g >= 1.0),
        values: growth,
        slope: None,
        spread: None,
        threshold: None,
    }
}

/// The slope test over the cycles read.
fn slope(series: LeakSeries, diff: &[f64], from: usize, threshold: f64) -> LeakCheck {
    let values = diff[from.min(diff.len())..].to_vec();
    let fit = least_squares(&values);
    LeakCheck {
        series,
        test: LeakTest::Slope,
        fired: fit.is_some_and(|(slope, spread)| slope - spread > threshold),
        slope: fit.map(|f| f.0),
        spread: fit.map(|f| f.1),
        threshold: Some(threshold),
        values,
    }
}

/// The slope of `y` against 0, 1, 2, ... and its one-sided 95% margin
/// (the slope's standard error times Student's t for n - 2 degrees of
/// freedom). `None` for fewer than 3 points.
pub fn least_squares(y: &[f64]) -> Option<(f64, f64)> {
    let n = y.len();
    if n < 3 {
        return None;
    }
    let nf = n as f64;
    let mean_x = (nf - 1.0) / 2.0;
    let mean_y = y.iter().sum::<f64>() / nf;
    let sxx: f64 = (0..n).map(|i| (i as f64 - mean_x).powi(2)).sum();
    let sxy: f64 = y
        .iter()
        .enumerate()
        .map(|(i, v)| (i as f64 - mean_x) * (v - mean_y))
        .sum();
    let slope = sxy / sxx;
    let intercept = mean_y - slope * mean_x;
    let residuals: f64 = y
        .iter()
        .enumerate()
        .map(|(i, v)| (v - intercept - slope * i as f64).powi(2))
        .sum();
    let standard_error = (residuals / (nf - 2.0) / sxx).sqrt();
    Some((slope, t_95(n - 2) * standard_error))
}

/// Student's t, one-sided 95%, for `df` degrees of freedom.
fn t_95(df: usize) -> f64 {
    const T: [f64; 30] = [
        6.314, 2.920, 2.353, 2.132, 2.015, 1.943, 1.895, 1.860, 1.833, 1.812, 1.796, 1.782, 1.771,
        1.761, 1.753, 1.746, 1.740, 1.734, 1.729, 1.725, 1.721, 1.717, 1.714, 1.711, 1.708, 1.706,
        1.703, 1.701, 1.699, 1.697,
    ];
    T.get(df.wrapping_sub(1)).copied().unwrap_or(1.645)
}

fn summary(check: &LeakCheck) -> String {
    let what = match check.series {
        LeakSeries::Refs => "the total refcount",
        LeakSeries::Blocks => "allocated blocks",
        LeakSeries::MallocKib => "malloc'd memory",
        LeakSeries::RssKib => "the RSS",
    };
    let unit = match check.series {
        LeakSeries::MallocKib | LeakSeries::RssKib => " KiB",
        _ => "",
    };
    match check.test {
        LeakTest::EveryCycle => format!(
            "{what} grew beyond the baseline in every cycle after the warm-up (by {})",
            check
                .values
                .iter()
                .map(|v| format!("{v:+}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        LeakTest::Slope => format!(
            "{what} grows by {:.0}{unit} per cycle beyond the baseline (± {:.0}; threshold {:.0}{unit})",
            check.slope.unwrap_or_default(),
            check.spread.unwrap_or_default(),
            check.threshold.unwrap_or_default()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use crate::{judge_all, CellToJudge, Evidence, Verdict};
    use extmatrix_core::Scenario;
    use extmatrix_protocol::Event;

    /// Cycles whose figures are given per cycle (None: the build lacks it).
    fn run(blocks: &[i64], refs: Option<&[i64]>, malloc: Option<&[i64]>) -> Observation {
        let mut events: Vec<Event> = (0..blocks.len())
            .map(|i| {
                Event::Cycle(cycle(
                    i as u32 + 1,
                    Some(blocks[i]),
                    refs.map(|r| r[i]),
                    malloc.map(|m| m[i]),
                ))
            })
            .collect();
        events.push(done());
        observation(events, exited(0))
    }

    fn judge(scenario: Scenario, target: &Observation, baseline: Option<&Observation>) -> Verdict {
        let facts = facts(scenario);
        let evidence = Evidence::Ran(target.clone());
        judge_all([CellToJudge {
            facts: &facts,
            evidence: &evidence,
            baseline,
            control: None,
            alone: None,
        }])
        .remove(0)
    }

    /// CPython's own growth: what both series share.
    const BASE_BLOCKS: [i64; 8] = [100, 2000, 3900, 5800, 7700, 9600, 11500, 13400];
    const BASE_MALLOC: [i64; 8] = [900, 1300, 1700, 2100, 2500, 2900, 3300, 3700];

    fn plus(base: &[i64], per_cycle: impl Fn(usize) -> i64) -> Vec<i64> {
        base.iter()
            .enumerate()
            .map(|(i, b)| b + per_cycle(i))
            .collect()
    }

    fn fired(v: &Verdict) -> Vec<(LeakSeries, LeakTest)> {
        let leak = v.details.leak.as_ref().expect("leak details");
        leak.checks
            .iter()
            .filter(|c| c.fired)
            .map(|c| (c.series, c.test))
            .collect()
    }

    #[test]
    fn malloc_growth_beyond_the_baseline_is_a_leak() {
        let baseline = run(&BASE_BLOCKS, None, Some(&BASE_MALLOC));
        let leaky = run(
            &BASE_BLOCKS,
            None,
            Some(&plus(&BASE_MALLOC, |i| 260 * i as i64)),
        );
        let v = judge(Scenario::Reinit, &leaky, Some(&baseline));
        assert_eq!(v.outcome, Outcome::Leak);
        assert_eq!(fired(&v), [(LeakSeries::MallocKib, LeakTest::Slope)]);
        assert!(
            v.details
                .summary
                .contains("malloc'd memory grows by 260 KiB per cycle"),
            "{}",
            v.details.summary
        );
        // The same growth as the baseline's, however large, is CPython's.
        let clean = run(
            &BASE_BLOCKS,
            None,
            Some(&plus(&BASE_MALLOC, |i| [3, -2, 0, 4, -5, 1, 2, -3][i])),
        );
        let v = judge(Scenario::Reinit, &clean, Some(&baseline));
        assert_eq!(v.outcome, Outcome::Pass, "{:?}", v.details.leak);
        assert!(fired(&v).is_empty());
        assert_eq!(v.details.leak.unwrap().baseline.len(), 8);
    }

    #[test]
    fn a_slope_must_clear_the_threshold_and_its_spread() {
        let baseline = run(&BASE_BLOCKS, None, Some(&BASE_MALLOC));
        // 60 KiB per cycle, steady: below the 64 KiB threshold.
        let under = run(
            &BASE_BLOCKS,
            None,
            Some(&plus(&BASE_MALLOC, |i| 60 * i as i64)),
        );
        assert_eq!(
            judge(Scenario::Reinit, &under, Some(&baseline)).outcome,
            Outcome::Pass
        );
        // Exactly the threshold is not above it.
        let at = run(
            &BASE_BLOCKS,
            None,
            Some(&plus(&BASE_MALLOC, |i| 64 * i as i64)),
        );
        let v = judge(Scenario::Reinit, &at, Some(&baseline));
        let check = &v.details.leak.as_ref().unwrap().checks[1];
        assert_eq!((check.slope, check.spread), (Some(64.0), Some(0.0)));
        assert_eq!(v.outcome, Outcome::Pass);
        // 70 KiB per cycle, steady: above it.
        let over = run(
            &BASE_BLOCKS,
            None,
            Some(&plus(&BASE_MALLOC, |i| 70 * i as i64)),
        );
        assert_eq!(
            judge(Scenario::Reinit, &over, Some(&baseline)).outcome,
            Outcome::Leak
        );
        // A slope of ~100 KiB made of noise: the spread swallows it.
        let noise = [0, 0, 0, 900, -400, 700, -300, 1200];
        let noisy = run(&BASE_BLOCKS, None, Some(&plus(&BASE_MALLOC, |i| noise[i])));
        let v = judge(Scenario::Reinit, &noisy, Some(&baseline));
        let check = &v.details.leak.as_ref().unwrap().checks[1];
        assert!(check.slope.unwrap() > 64.0 && !check.fired, "{check:?}");
        assert_eq!(v.outcome, Outcome::Pass);
    }

    #[test]
    fn growth_only_in_the_warm_up_is_not_a_leak() {
        let baseline = run(&BASE_BLOCKS, Some(&BASE_BLOCKS), Some(&BASE_MALLOC));
        let warm = |i: usize| if i < 2 { 5000 * i as i64 } else { 5000 };
        let target = run(
            &plus(&BASE_BLOCKS, warm),
            Some(&plus(&BASE_BLOCKS, warm)),
            Some(&plus(&BASE_MALLOC, warm)),
        );
        let v = judge(Scenario::Reimport, &target, Some(&baseline));
        assert_eq!(v.outcome, Outcome::Pass, "{:?}", v.details.leak);
        // The same growth one cycle later is read.
        let late = |i: usize| if i < 3 { 5000 * i as i64 } else { 15000 };
        let target = run(&plus(&BASE_BLOCKS, late), None, None);
        let v = judge(
            Scenario::Reimport,
            &target,
            Some(&run(&BASE_BLOCKS, None, None)),
        );
        let blocks = &v.details.leak.as_ref().unwrap().checks[0];
        assert_eq!(blocks.values.len(), 6);
        assert_eq!(blocks.values[0], 10000.0);
    }

    #[test]
    fn debug_builds_use_regrtests_every_cycle_criterion() {
        // A debug build whose own counts stand still from cycle to cycle.
        let still = [25_000; 8];
        let baseline = run(&still, Some(&still), Some(&BASE_MALLOC));
        // One reference per cycle: nothing else shows it.
        let one_ref = run(
            &still,
            Some(&plus(&still, |i| i as i64)),
            Some(&BASE_MALLOC),
        );
        let v = judge(Scenario::SubinterpCycle, &one_ref, Some(&baseline));
        assert_eq!(v.outcome, Outcome::Leak);
        assert_eq!(fired(&v), [(LeakSeries::Refs, LeakTest::EveryCycle)]);
        assert!(
            v.details.summary.contains("by +1, +1, +1, +1, +1, +1"),
            "{}",
            v.details.summary
        );
        // One cycle without growth: not every cycle.
        let steps = [0, 1, 2, 3, 3, 4, 5, 6];
        let mostly = run(
            &still,
            Some(&plus(&still, |i| steps[i])),
            Some(&BASE_MALLOC),
        );
        assert_eq!(
            judge(Scenario::SubinterpCycle, &mostly, Some(&baseline)).outcome,
            Outcome::Pass
        );
        // Blocks by the same criterion.
        let one_block = run(
            &plus(&still, |i| i as i64),
            Some(&still),
            Some(&BASE_MALLOC),
        );
        let v = judge(Scenario::Reinit, &one_block, Some(&baseline));
        assert_eq!(fired(&v), [(LeakSeries::Blocks, LeakTest::EveryCycle)]);
        // Where the baseline's own count grows per cycle, one more per
        // cycle is not the target's: the test is not made.
        let growing = |i: usize| 2 * i as i64;
        let baseline = run(
            &plus(&still, growing),
            Some(&plus(&still, growing)),
            Some(&BASE_MALLOC),
        );
        let three = |i: usize| 3 * i as i64;
        let target = run(
            &plus(&still, three),
            Some(&plus(&still, three)),
            Some(&BASE_MALLOC),
        );
        let v = judge(Scenario::Reimport, &target, Some(&baseline));
        assert_eq!(v.outcome, Outcome::Pass, "{:?}", v.details.leak);
        assert!(v
            .details
            .leak
            .unwrap()
            .checks
            .iter()
            .all(|c| c.test == LeakTest::Slope));
        // A baseline that moves from the last warm-up cycle to the first
        // cycle read is not steady either.
        let moves = [
            25_000, 25_000, 25_001, 25_001, 25_001, 25_001, 25_001, 25_001,
        ];
        let baseline = run(&still, Some(&moves), Some(&BASE_MALLOC));
        let target = run(
            &still,
            Some(&plus(&moves, |i| i as i64)),
            Some(&BASE_MALLOC),
        );
        let v = judge(Scenario::Reinit, &target, Some(&baseline));
        let made: Vec<_> = v
            .details
            .leak
            .unwrap()
            .checks
            .iter()
            .map(|c| (c.series, c.test))
            .collect();
        assert!(
            !made.contains(&(LeakSeries::Refs, LeakTest::EveryCycle)),
            "{made:?}"
        );
        // Growth in the warm-up alone does not make the baseline unsteady.
        let warm = [
            24_000, 25_000, 25_000, 25_000, 25_000, 25_000, 25_000, 25_000,
        ];
        let baseline = run(&still, Some(&warm), Some(&BASE_MALLOC));
        let v = judge(
            Scenario::Reinit,
            &run(&still, Some(&plus(&warm, |i| i as i64)), Some(&BASE_MALLOC)),
            Some(&baseline),
        );
        assert_eq!(
            fired(&v),
            [(LeakSeries::Refs, LeakTest::EveryCycle)],
            "{:?}",
            v.details.leak
        );
    }

    #[test]
    fn growth_in_step_with_cpythons_own_is_not_the_targets() {
        // CPython leaking more every cycle (3.13.0 reinit): 10,000, 15,000, ...
        let own: Vec<i64> = (0..8).map(|i: i64| 2500 * i * i + 5000 * i).collect();
        let baseline = run(&own, None, Some(&BASE_MALLOC));
        // 2% more of the same: not the target's.
        let in_step = run(&plus(&own, |i| own[i] / 50), None, Some(&BASE_MALLOC));
        let v = judge(Scenario::Reinit, &in_step, Some(&baseline));
        assert_eq!(v.outcome, Outcome::Pass, "{:?}", v.details.leak);
        let blocks = &v.details.leak.as_ref().unwrap().checks[0];
        assert!(blocks.slope.unwrap() > 64.0, "{blocks:?}");
        assert!(blocks.threshold.unwrap() > 500.0, "{blocks:?}");
        // A leak of 4,096 blocks per cycle on top of it still shows.
        let leaky = run(
            &plus(&own, |i| own[i] / 50 + 4096 * i as i64),
            None,
            Some(&BASE_MALLOC),
        );
        assert_eq!(
            judge(Scenario::Reinit, &leaky, Some(&baseline)).outcome,
            Outcome::Leak
        );
    }

    #[test]
    fn release_builds_read_blocks_by_their_slope() {
        let baseline = run(&BASE_BLOCKS, None, Some(&BASE_MALLOC));
        let leaky = run(
            &plus(&BASE_BLOCKS, |i| 4096 * i as i64),
            None,
            Some(&BASE_MALLOC),
        );
        let v = judge(Scenario::Reinit, &leaky, Some(&baseline));
        assert_eq!(fired(&v), [(LeakSeries::Blocks, LeakTest::Slope)]);
        // One block per cycle is under the threshold where nothing counts references.
        let one = run(&plus(&BASE_BLOCKS, |i| i as i64), None, Some(&BASE_MALLOC));
        assert_eq!(
            judge(Scenario::Reinit, &one, Some(&baseline)).outcome,
            Outcome::Pass
        );
    }

    #[test]
    fn the_rss_stands_in_for_malloc_only_where_malloc_is_not_counted() {
        let rss = |c: &mut Observation, per_cycle: i64| {
            for (i, e) in c.events.iter_mut().enumerate() {
                if let Event::Cycle(f) = e {
                    f.rss_kb = 5000 + per_cycle * i as i64;
                }
            }
        };
        let mut baseline = run(&BASE_BLOCKS, None, None);
        rss(&mut baseline, 100);
        let mut target = run(&BASE_BLOCKS, None, None);
        rss(&mut target, 400);
        let v = judge(Scenario::Reinit, &target, Some(&baseline));
        assert_eq!(fired(&v), [(LeakSeries::RssKib, LeakTest::Slope)]);
        // With malloc's figure, the RSS is not read.
        let mut baseline = run(&BASE_BLOCKS, None, Some(&BASE_MALLOC));
        rss(&mut baseline, 100);
        let mut target = run(&BASE_BLOCKS, None, Some(&BASE_MALLOC));
        rss(&mut target, 400);
        assert_eq!(
            judge(Scenario::Reinit, &target, Some(&baseline)).outcome,
            Outcome::Pass
        );
    }

    #[test]
    fn no_baseline_no_verdict_and_a_failed_cycle_is_not_read() {
        let leaky = run(&plus(&BASE_BLOCKS, |i| 4096 * i as i64), None, None);
        let v = judge(Scenario::Reinit, &leaky, None);
        assert_eq!(v.outcome, Outcome::Pass);
        assert!(v.details.leak.is_none());
        // Not a cycling scenario: a baseline changes nothing.
        let baseline = run(&BASE_BLOCKS, None, None);
        assert!(judge(Scenario::Import, &leaky, Some(&baseline))
            .details
            .leak
            .is_none());
        let mut failed = leaky.clone();
        if let Event::Cycle(c) = &mut failed.events[3] {
            c.ok = false;
        }
        let v = judge(Scenario::Reinit, &failed, Some(&baseline));
        let leak = v.details.leak.unwrap();
        assert!(leak.checks.is_empty());
        assert_eq!(leak.warmup, 2);
        assert_eq!(leak.allocator.as_deref(), Some("pymalloc_debug"));
        assert!(leak.not_checked.contains("failed"), "{}", leak.not_checked);
        // Too few cycles after the warm-up for a slope.
        let short = run(&BASE_BLOCKS[..4], None, None);
        let v = judge(
            Scenario::Reinit,
            &short,
            Some(&run(&BASE_BLOCKS[..4], None, None)),
        );
        assert!(v
            .details
            .leak
            .unwrap()
            .not_checked
            .contains("leave 2 to read"));
        // Three are enough.
        let five = run(&BASE_BLOCKS[..5], None, None);
        let v = judge(Scenario::Reinit, &five, Some(&five));
        assert_eq!(v.details.leak.unwrap().checks.len(), 2);
        // A baseline with fewer cycles is not compared.
        let v = judge(
            Scenario::Reinit,
            &leaky,
            Some(&run(&BASE_BLOCKS[..5], None, None)),
        );
        assert!(v
            .details
            .leak
            .unwrap()
            .not_checked
            .contains("baseline ran 5"));
    }

    #[test]
    fn least_squares_fits_and_measures_its_spread() {
        assert_eq!(least_squares(&[1.0, 2.0]), None);
        assert!(least_squares(&[1.0, 2.0, 4.0]).is_some());
        // y = 1, 3, 2, 5, 4: slope 0.8, intercept 1.4, residuals -0.4, 0.8,
        // -1.0, 1.2, -0.6; SSR 3.6, se = sqrt(3.6 / 3 / 10); t(3) = 2.353.
        let (slope, spread) = least_squares(&[1.0, 3.0, 2.0, 5.0, 4.0]).unwrap();
        assert!((slope - 0.8).abs() < 1e-9, "{slope}");
        assert!((spread - 2.353 * (0.12f64).sqrt()).abs() < 1e-9, "{spread}");
        let (slope, spread) = least_squares(&[0.0, 2.0, 4.0, 6.0]).unwrap();
        assert!((slope - 2.0).abs() < 1e-9 && spread.abs() < 1e-9);
        let (slope, spread) = least_squares(&[0.0, 1.0, 0.0, 1.0, 0.0]).unwrap();
        assert!(slope.abs() < 0.2, "{slope}");
        // se = sqrt(SSR/(n-2)/Sxx) = sqrt(1.2/3/10) = 0.2; t(3) = 2.353.
        assert!((spread - 0.2 * 2.353).abs() < 1e-3, "{spread}");
        assert_eq!(t_95(1), 6.314);
        assert_eq!(t_95(30), 1.697);
        assert_eq!(t_95(31), 1.645);
    }
}
