//! Which ready service a recovery starts next, when a restore slot is free.
//!
//! Two promises, in this order:
//!
//! 1. **The most urgent services never wait behind less urgent work.** The
//!    urgent services are those of the plan's lowest priority number and
//!    everything they depend on, directly or not (a dependency inherits the
//!    urgency of what needs it: état civil cannot be up before the
//!    directory it logs in with). A ready urgent service takes the first
//!    free slot; and a slot a restore frees while its service's health
//!    checks run is kept for an urgent service that waits only on checks.
//! 2. **Otherwise, the whole recovery should end as soon as it can.** Each
//!    service weighs its estimated restore time ([`ServiceRunner::estimate`],
//!    one second when unknown); its *rank* is its weight plus the heaviest
//!    chain of services waiting on it. Ready services in rank order (the head
//!    of the longest remaining chain first, then priority, then name) is the
//!    classic critical-path list order. Because that order alone can fill a
//!    slot with long work just before a critical service becomes ready,
//!    each ready candidate is tried in a simulation of the rest of the run
//!    (the candidate now, rank order after it, the estimates as durations,
//!    running restores ending when their estimate says): the one whose
//!    simulation brings the urgent services up soonest, then ends soonest,
//!    starts; where the simulations tie (with one slot they always do) the
//!    more urgent goes first, then the rank order. By its own estimates
//!    the choice is never worse than the rank order alone.
//!
//! [`ServiceRunner::estimate`]: crate::schedule::ServiceRunner::estimate

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::schedule::Plan;

/// The weight of a service whose runner gives no estimate.
const UNKNOWN_COST: Duration = Duration::from_secs(1);

/// At most this many ready services are tried in a simulation per choice
/// (the first in rank order): a plan of hundreds of services stays cheap.
const MOST_CANDIDATES: usize = 16;

/// Where a service is, as the choice sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Now {
    Waiting,
    Restoring {
        elapsed: Duration,
    },
    /// Restored, its health checks running: no longer holds a slot.
    Checking,
    Up,
    /// Failed or not started: it and what needs it will not come up.
    Out,
}

/// The plan's services, their weights, ranks and urgency, indexed.
#[derive(Debug)]
pub(crate) struct Order {
    names: Vec<String>,
    depends_on: Vec<Vec<usize>>,
    /// Estimated restore time, in milliseconds (at least one).
    cost: Vec<u64>,
    /// Cost plus the heaviest chain of dependents, in milliseconds.
    rank: Vec<u64>,
    priority: Vec<u32>,
    urgent: Vec<bool>,
    /// Every service, best first by rank order (urgent, rank, priority, name).
    by_rank: Vec<usize>,
}

impl Order {
    /// The order of `plan`'s services, each weighing `estimate(name)`.
    pub(crate) fn new(plan: &Plan, estimate: impl Fn(&str) -> Option<Duration>) -> Order {
        let names: Vec<String> = plan.names();
        let index: BTreeMap<String, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        let services: Vec<_> = names.iter().filter_map(|n| plan.get(n)).collect();
        let depends_on: Vec<Vec<usize>> = services
            .iter()
            .map(|s| {
                s.depends_on
                    .iter()
                    .filter_map(|d| index.get(d).copied())
                    .collect()
            })
            .collect();
        let cost: Vec<u64> = names
            .iter()
            .map(|n| millis(estimate(n).unwrap_or(UNKNOWN_COST)).max(1))
            .collect();
        let priority: Vec<u32> = services.iter().map(|s| s.priority).collect();
        let (rank, inherited) = ranks_and_inherited_priority(&depends_on, &cost, &priority);
        let most_urgent = priority.iter().copied().min().unwrap_or(0);
        let urgent: Vec<bool> = inherited.iter().map(|p| *p <= most_urgent).collect();
        let mut order = Order {
            names,
            depends_on,
            cost,
            rank,
            priority,
            urgent,
            by_rank: Vec::new(),
        };
        let mut by_rank: Vec<usize> = (0..order.names.len()).collect();
        by_rank.sort_by_key(|&i| order.key(i));
        order.by_rank = by_rank;
        order
    }

    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }

    #[cfg(test)]
    fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// The rank order: urgent first, then the longest remaining chain,
    /// then the most urgent, then by name (`names` is sorted).
    fn key(&self, i: usize) -> (bool, Reverse<u64>, u32, usize) {
        (!self.urgent[i], Reverse(self.rank[i]), self.priority[i], i)
    }

    /// The service to start now, given where each service is (`now`,
    /// indexed as [`Order::names`]) and `parallel` restores at most; none
    /// when no slot is free, nothing is ready, or the free slot is kept
    /// for an urgent service about to be ready.
    pub(crate) fn next(&self, now: &[Now], parallel: usize) -> Option<usize> {
        let restoring = now
            .iter()
            .filter(|n| matches!(n, Now::Restoring { .. }))
            .count();
        let free = parallel.max(1).saturating_sub(restoring);
        if free == 0 {
            return None;
        }
        let ready: Vec<usize> = self
            .by_rank
            .iter()
            .copied()
            .filter(|&i| now[i] == Now::Waiting && self.deps_all(i, now, |n| n == Now::Up))
            .collect();
        let first = *ready.first()?;
        if self.urgent[first] {
            return Some(first);
        }
        if free <= self.urgent_about_to_be_ready(now) {
            return None;
        }
        ready
            .iter()
            .take(MOST_CANDIDATES)
            .enumerate()
            .min_by_key(|(position, &candidate)| {
                let (urgent_up, all_up) = self.simulate(now, candidate, parallel.max(1));
                (urgent_up, all_up, self.priority[candidate], *position)
            })
            .map(|(_, &candidate)| candidate)
    }

    fn deps_all(&self, i: usize, now: &[Now], test: impl Fn(Now) -> bool) -> bool {
        self.depends_on[i].iter().all(|&d| test(now[d]))
    }

    /// Urgent services waiting only on services whose checks run: they
    /// will be ready in a moment, and the slot is theirs.
    fn urgent_about_to_be_ready(&self, now: &[Now]) -> usize {
        (0..now.len())
            .filter(|&i| self.urgent[i] && now[i] == Now::Waiting)
            .filter(|&i| self.deps_all(i, now, |n| matches!(n, Now::Up | Now::Checking)))
            .count()
    }

    /// The rest of the run with `first` started now and rank order after
    /// it, every restore taking its estimate: (when the last urgent
    /// service is up, when the last service is), in milliseconds from now.
    fn simulate(&self, now: &[Now], first: usize, parallel: usize) -> (u64, u64) {
        let mut up: Vec<bool> = now
            .iter()
            .map(|n| matches!(n, Now::Up | Now::Checking))
            .collect();
        let mut started: Vec<bool> = now.iter().map(|n| *n != Now::Waiting).collect();
        let mut running: Vec<(u64, usize)> = now
            .iter()
            .enumerate()
            .filter_map(|(i, n)| match n {
                Now::Restoring { elapsed } => {
                    Some((self.cost[i].saturating_sub(millis(*elapsed)).max(1), i))
                }
                _ => None,
            })
            .collect();
        running.push((self.cost[first], first));
        started[first] = true;
        let (mut clock, mut urgent_up) = (0, 0);
        loop {
            while running.len() < parallel {
                let Some(next) = self
                    .by_rank
                    .iter()
                    .copied()
                    .find(|&i| !started[i] && self.depends_on[i].iter().all(|&d| up[d]))
                else {
                    break;
                };
                started[next] = true;
                running.push((clock + self.cost[next], next));
            }
            let Some(soonest) = (0..running.len()).min_by_key(|&k| running[k]) else {
                break;
            };
            let (end, done) = running.swap_remove(soonest);
            clock = end;
            up[done] = true;
            if self.urgent[done] {
                urgent_up = urgent_up.max(end);
            }
        }
        (urgent_up, clock)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Each service's rank (its cost plus the heaviest chain of services that
/// need it) and inherited priority (the most urgent of itself and all
/// that need it), computed from the services nothing needs back to the
/// roots. Services on a cycle (only a plan built by hand can have one)
/// keep their own cost and priority.
fn ranks_and_inherited_priority(
    depends_on: &[Vec<usize>],
    cost: &[u64],
    priority: &[u32],
) -> (Vec<u64>, Vec<u32>) {
    let n = depends_on.len();
    let mut needed_by = vec![0usize; n];
    for deps in depends_on {
        for &d in deps {
            needed_by[d] += 1;
        }
    }
    let mut rank = cost.to_vec();
    let mut inherited = priority.to_vec();
    let mut settled: Vec<usize> = (0..n).filter(|&i| needed_by[i] == 0).collect();
    while let Some(i) = settled.pop() {
        for &d in &depends_on[i] {
            rank[d] = rank[d].max(cost[d].saturating_add(rank[i]));
            inherited[d] = inherited[d].min(inherited[i]);
            needed_by[d] -= 1;
            if needed_by[d] == 0 {
                settled.push(d);
            }
        }
    }
    (rank, inherited)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::schedule::PlannedService;

    /// (name, priority, depends on, estimated seconds)
    fn order(services: &[(&str, u32, &[&str], u64)]) -> Order {
        let estimates: BTreeMap<String, u64> = services
            .iter()
            .map(|(n, _, _, secs)| (n.to_string(), *secs))
            .collect();
        let plan = Plan::new(
            services
                .iter()
                .map(|(name, priority, deps, _)| PlannedService {
                    name: name.to_string(),
                    public_name: name.to_string(),
                    priority: *priority,
                    depends_on: deps.iter().map(|d| d.to_string()).collect(),
                    health: Vec::new(),
                    target: None,
                })
                .collect(),
        );
        Order::new(&plan, |n| estimates.get(n).map(|s| Duration::from_secs(*s)))
    }

    /// Runs the whole plan in simulated time (each restore taking its
    /// estimate, checks instant) and returns the services in start order.
    fn start_order(order: &Order, parallel: usize) -> Vec<String> {
        let n = order.names().len();
        let mut now = vec![Now::Waiting; n];
        let mut ends: Vec<(u64, usize)> = Vec::new();
        let mut started = Vec::new();
        let mut clock = 0;
        loop {
            while let Some(i) = order.next(&now, parallel) {
                now[i] = Now::Restoring {
                    elapsed: Duration::ZERO,
                };
                ends.push((clock + order.cost[i], i));
                started.push(order.names()[i].clone());
            }
            let Some(k) = (0..ends.len()).min_by_key(|&k| ends[k]) else {
                break;
            };
            let (end, i) = ends.swap_remove(k);
            for (e, j) in &ends {
                now[*j] = Now::Restoring {
                    elapsed: Duration::from_secs(end - (e - order.cost[*j])),
                };
            }
            clock = end;
            now[i] = Now::Up;
        }
        started
    }

    #[test]
    fn rank_is_the_heaviest_remaining_chain_and_urgency_is_inherited() {
        let o = order(&[
            ("dir", 3, &[], 1),
            ("civil", 1, &["dir"], 4),
            ("pay", 2, &["dir"], 8),
            ("portal", 2, &["civil"], 1),
        ]);
        let rank = |n: &str| o.rank[o.index(n).unwrap()];
        assert_eq!(rank("portal"), 1000);
        assert_eq!(rank("civil"), 5000);
        assert_eq!(rank("dir"), 9000, "dir -> pay is its heaviest chain");
        let urgent: Vec<&str> = (0..4)
            .filter(|&i| o.urgent[i])
            .map(|i| o.names[i].as_str())
            .collect();
        assert_eq!(urgent, ["civil", "dir"], "dir inherits civil's urgency");
    }

    #[test]
    fn the_head_of_the_longest_chain_starts_before_a_more_urgent_short_one() {
        // b (priority 3) heads a 10 s chain; a (priority 2) weighs 1 s. With
        // two slots, b first ends everything at 10 s, a first at 11 s.
        let o = order(&[
            ("a", 2, &[], 1),
            ("b", 3, &[], 2),
            ("c", 3, &["b"], 8),
            ("top", 1, &[], 1),
        ]);
        assert_eq!(start_order(&o, 2), ["top", "b", "a", "c"]);
        // With one slot the order cannot change when all is up: the more
        // urgent goes first.
        assert_eq!(start_order(&o, 1), ["top", "a", "b", "c"]);
    }

    #[test]
    fn a_slot_is_not_filled_with_long_work_just_before_the_critical_service_is_ready() {
        // The reference town's shape: dir (1 s) gates both civil, the most
        // urgent, and pay, the longest chain. Starting water (6 s) beside
        // dir would leave pay to wait for civil: canteen (1 s) goes instead.
        let o = order(&[
            ("dir", 2, &[], 1),
            ("civil", 1, &["dir"], 4),
            ("water", 2, &[], 6),
            ("pay", 2, &["dir"], 10),
            ("portal", 2, &["civil", "water"], 1),
            ("canteen", 3, &[], 2),
            ("shares", 3, &["dir"], 2),
        ]);
        let started = start_order(&o, 2);
        assert_eq!(
            started[..4],
            ["dir", "canteen", "civil", "pay"],
            "{started:?}"
        );
    }

    #[test]
    fn ties_go_by_priority_then_name() {
        let o = order(&[
            ("d", 2, &[], 1),
            ("c", 3, &[], 1),
            ("b", 2, &[], 1),
            ("a", 1, &[], 1),
        ]);
        assert_eq!(start_order(&o, 1), ["a", "b", "d", "c"]);
    }

    #[test]
    fn a_freed_slot_waits_for_an_urgent_service_whose_dependency_is_being_checked() {
        let o = order(&[
            ("dir", 2, &[], 1),
            ("civil", 1, &["dir"], 4),
            ("canteen", 3, &[], 1),
        ]);
        let i = |n: &str| o.index(n).unwrap();
        let mut now = vec![Now::Waiting; 3];
        now[i("dir")] = Now::Checking;
        assert_eq!(o.next(&now, 1), None, "the slot is kept for civil");
        assert_eq!(o.next(&now, 2), Some(i("canteen")), "one slot of two is");
        now[i("canteen")] = Now::Restoring {
            elapsed: Duration::ZERO,
        };
        assert_eq!(o.next(&now, 2), None);
        now[i("dir")] = Now::Up;
        assert_eq!(o.next(&now, 2), Some(i("civil")));
        // Without an urgent service waiting, the slot is used at once.
        let mut now = vec![Now::Waiting; 3];
        now[i("dir")] = Now::Checking;
        now[i("civil")] = Now::Out;
        assert_eq!(o.next(&now, 1), Some(i("canteen")));
    }

    #[test]
    fn a_cycle_built_by_hand_does_not_hang_the_order() {
        let o = order(&[("a", 1, &["b"], 1), ("b", 1, &["a"], 1), ("c", 2, &[], 1)]);
        assert_eq!(start_order(&o, 2), ["c"]);
    }
}
