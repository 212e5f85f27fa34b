//! Running many items on a few job slots, where an item that sits idle
//! gives its slot back.
//!
//! A cell that waits (a hang waiting out its timeout, a cell blocked on a
//! lock) uses no CPU, yet held one of `--jobs` slots for as long as it
//! waited: on two cores, two hangs stopped the machine for ten seconds.
//! Here a running item holds a [`Lease`]; when the runner sees its process
//! use no CPU it calls [`Lease::idle`], the slot goes to the next item, and
//! when the process uses CPU again [`Lease::busy`] counts it again (even
//! past `jobs`: it is not stopped, the next item just waits longer). At
//! most [`idle_cap`] items wait idle at once: each still holds a process
//! and its memory.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

/// The default parallelism: the number of cores. Asked once per process:
/// on Linux the answer reads the cgroup's files, and every cell's command
/// asks (its stress workers are counted per core).
pub fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
}

/// How many items may wait idle beside `jobs` busy ones.
pub fn idle_cap(jobs: usize) -> usize {
    4 * jobs.max(1)
}

/// The job slots of one [`parallel_map`]: how many items count as busy.
struct Slots {
    jobs: usize,
    busy: Mutex<usize>,
    freed: Condvar,
}

impl Slots {
    /// Wait for a free slot and take it.
    fn take(&self) {
        let mut busy = self.busy.lock().expect("slots poisoned");
        while *busy >= self.jobs {
            busy = self.freed.wait(busy).expect("slots poisoned");
        }
        *busy += 1;
    }

    fn give_back(&self) {
        *self.busy.lock().expect("slots poisoned") -= 1;
        self.freed.notify_one();
    }

    /// Count an item again without waiting: it is running already.
    fn count_again(&self) {
        *self.busy.lock().expect("slots poisoned") += 1;
    }
}

/// An item's hold on a job slot while it runs.
pub struct Lease<'a> {
    slots: Option<&'a Slots>,
    idle: AtomicBool,
}

impl Lease<'_> {
    /// A lease of no pool: idle and busy change nothing (a cell run on its
    /// own, in a test or a one-off).
    pub fn none() -> Lease<'static> {
        Lease {
            slots: None,
            idle: AtomicBool::new(false),
        }
    }

    /// The item uses no CPU: its slot may run another item.
    pub fn idle(&self) {
        if let Some(slots) = self.slots {
            if !self.idle.swap(true, Ordering::AcqRel) {
                slots.give_back();
            }
        }
    }

    /// The item uses CPU again: it counts against the jobs again.
    pub fn busy(&self) {
        if let Some(slots) = self.slots {
            if self.idle.swap(false, Ordering::AcqRel) {
                slots.count_again();
            }
        }
    }

    fn end(self) {
        if let Some(slots) = self.slots {
            if !self.idle.load(Ordering::Acquire) {
                slots.give_back();
            }
        }
    }
}

/// Map `work` over `items` with at most `jobs` busy at once, calling
/// `on_done` as each item finishes (for progress). An item whose lease is
/// idle does not count; at most [`idle_cap`] of them wait beside the busy
/// ones. Results come back in item order.
pub fn parallel_map<T, R, W, D>(items: &[T], jobs: usize, work: W, on_done: D) -> Vec<R>
where
    T: Sync,
    R: Send,
    W: Fn(&T, &Lease) -> R + Sync,
    D: Fn(&T, &R) + Sync,
{
    let jobs = jobs.max(1);
    let slots = Slots {
        jobs,
        busy: Mutex::new(0),
        freed: Condvar::new(),
    };
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<R>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    let done = Mutex::new(&mut results);
    let threads = (jobs + idle_cap(jobs)).min(items.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                slots.take();
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else {
                    slots.give_back();
                    break;
                };
                let lease = Lease {
                    slots: Some(&slots),
                    idle: AtomicBool::new(false),
                };
                let r = work(item, &lease);
                lease.end();
                on_done(item, &r);
                done.lock().expect("a worker panicked")[i] = Some(r);
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
    use std::time::Duration;

    #[test]
    fn parallel_map_keeps_order_and_reports_each() {
        let items: Vec<u32> = (0..50).collect();
        let done = AtomicUsize::new(0);
        // Early items take longest, so they finish out of order.
        let work = |x: &u32, _: &Lease| {
            std::thread::sleep(Duration::from_millis(u64::from(50 - x) / 5));
            x * 2
        };
        let out = parallel_map(&items, 4, work, |_, _| {
            done.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(out, items.iter().map(|x| x * 2).collect::<Vec<_>>());
        assert_eq!(done.load(Ordering::Relaxed), 50);
    }

    /// The most items of `items` that ran at once on `jobs` slots.
    fn most_at_once(items: usize, jobs: usize, work: impl Fn(&Lease) + Sync) -> usize {
        let running = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let items: Vec<usize> = (0..items).collect();
        parallel_map(
            &items,
            jobs,
            |_, lease| {
                most.fetch_max(running.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                work(lease);
                running.fetch_sub(1, Ordering::SeqCst);
            },
            |_, _| {},
        );
        most.into_inner()
    }

    #[test]
    fn busy_items_never_exceed_the_jobs() {
        let sleep = |_: &Lease| std::thread::sleep(Duration::from_millis(20));
        assert_eq!(most_at_once(12, 2, sleep), 2);
    }

    #[test]
    fn idle_items_free_their_slot_up_to_the_cap() {
        // Idle long enough that every worker has started on a loaded machine.
        let idle = |lease: &Lease| {
            lease.idle();
            std::thread::sleep(Duration::from_millis(300));
        };
        // Two busy slots and four idle cells per slot beside them.
        assert_eq!(most_at_once(20, 2, idle), 10);
        assert_eq!(most_at_once(20, 1, idle), 5);
    }

    fn busy(slots: &Slots) -> usize {
        *slots.busy.lock().unwrap()
    }

    #[test]
    fn an_item_that_wakes_counts_again_and_holds_back_the_next() {
        let slots = Slots {
            jobs: 1,
            busy: Mutex::new(0),
            freed: Condvar::new(),
        };
        slots.take();
        let first = Lease {
            slots: Some(&slots),
            idle: AtomicBool::new(false),
        };
        first.idle();
        first.idle();
        assert_eq!(busy(&slots), 0, "idle twice gives back one slot");
        slots.take(); // a second item runs on the freed slot
        first.busy();
        first.busy();
        assert_eq!(busy(&slots), 2, "woken, it counts again (once)");
        let third_started = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                slots.take();
                third_started.store(true, Ordering::SeqCst);
            });
            std::thread::sleep(Duration::from_millis(50));
            slots.give_back(); // the second item ends: still one busy
            std::thread::sleep(Duration::from_millis(50));
            assert!(!third_started.load(Ordering::SeqCst));
            first.end();
        });
        assert!(third_started.load(Ordering::SeqCst));
        assert_eq!(busy(&slots), 1);
    }
}
