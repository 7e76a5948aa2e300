//! Where the CPU went: this process's threads grouped by name, the whole process, and the whole
//! machine (so the load of other processes on a shared machine shows), from `/proc` (Linux).

use std::collections::BTreeMap;

/// `/proc` reports times in USER_HZ ticks, 100 a second on Linux.
const TICKS_PER_S: f64 = 100.0;

/// CPU ticks at one moment.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// By thread name, over the threads alive at that moment.
    pub threads: BTreeMap<String, u64>,
    /// This process, exited threads included.
    pub process: u64,
    /// The whole machine: busy and all ticks, over every core.
    pub machine_busy: u64,
    pub machine_total: u64,
}

pub fn sample() -> Sample {
    let mut s = Sample::default();
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for task in dir.flatten() {
            if let Some((name, ticks)) =
                std::fs::read_to_string(task.path().join("stat")).ok().as_deref().and_then(parse_stat)
            {
                *s.threads.entry(name).or_default() += ticks;
            }
        }
    }
    s.process = std::fs::read_to_string("/proc/self/stat").ok().as_deref().and_then(parse_stat).map_or(0, |(_, t)| t);
    if let Some(line) = std::fs::read_to_string("/proc/stat").ok().and_then(|t| t.lines().next().map(str::to_string)) {
        // cpu user nice system idle iowait irq softirq steal ...
        let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
        let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
        s.machine_total = v.iter().take(8).sum();
        s.machine_busy = s.machine_total.saturating_sub(idle);
    }
    s
}

/// (name, utime + stime) of a `stat` line: `pid (name) state ... utime stime ...`.
fn parse_stat(stat: &str) -> Option<(String, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_string();
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    // Field 3 (state) is fields[0]; utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

/// The report between two samples `seconds` apart: percent of one core per thread group.
pub fn report(before: &Sample, after: &Sample, seconds: f64, cores: usize) -> String {
    let pct = |ticks: u64| 100.0 * ticks as f64 / TICKS_PER_S / seconds;
    let mut groups: Vec<(String, u64)> = after
        .threads
        .iter()
        .map(|(name, &t)| (name.clone(), t.saturating_sub(before.threads.get(name).copied().unwrap_or(0))))
        .filter(|(_, t)| *t > 0)
        .collect();
    groups.sort_by_key(|g| std::cmp::Reverse(g.1));
    let process = after.process.saturating_sub(before.process);
    let machine_total = after.machine_total.saturating_sub(before.machine_total).max(1);
    let machine_busy = after.machine_busy.saturating_sub(before.machine_busy);
    let machine_pct = 100.0 * machine_busy as f64 / machine_total as f64 * cores as f64;
    let others = (machine_pct - pct(process)).max(0.0);
    let list = groups.iter().map(|(n, t)| format!("{n} {:.0}%", pct(*t))).collect::<Vec<_>>().join(", ");
    format!(
        "CPU in the measured window, % of one core ({cores} cores = {}%): this process {:.0}% ({list}); \
         other processes on the machine {others:.0}%; machine busy {machine_pct:.0}%",
        cores * 100,
        pct(process)
    )
}

/// CPU seconds of this process between two samples.
pub fn process_seconds(before: &Sample, after: &Sample) -> f64 {
    after.process.saturating_sub(before.process) as f64 / TICKS_PER_S
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines() {
        let line = "4242 (gateway-http) S 1 2 3 4 5 6 7 8 9 10 120 30 0 0 20 0 1 0";
        assert_eq!(parse_stat(line), Some(("gateway-http".to_string(), 150)));
        let odd = "7 (a (b) c) R 1 2 3 4 5 6 7 8 9 10 1 2 0 0";
        assert_eq!(parse_stat(odd), Some(("a (b) c".to_string(), 3)));
    }
}
