//! What a process costs, from `/proc`: CPU time (`utime + stime` of `/proc/PID/stat`, which
//! includes threads that have already exited) and resident memory (`VmRSS`).

use std::time::Instant;

/// `USER_HZ`: the unit of `/proc/PID/stat` times (100 on every Linux this runs on).
const TICKS_PER_SEC: f64 = 100.0;

/// CPU seconds used so far by `pid` (user + system), or `None` if it is gone.
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    cpu_secs_from_stat(&stat)
}

/// Fields 14 and 15 of a `/proc/PID/stat` line (the name in field 2 may contain spaces and
/// parentheses, so count from the last `)`).
pub fn cpu_secs_from_stat(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    // After ")": field 3 is the state; utime is field 14, i.e. the 12th from here.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / TICKS_PER_SEC)
}

/// Resident set size of `pid` in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_ascii_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// CPU used by a process (and by this generator) over an interval of wall time.
#[derive(Debug, Clone)]
pub struct CpuMeter {
    pids: Vec<u32>,
    server_start: Option<f64>,
    own_start: Option<f64>,
    wall: Instant,
}

/// CPU seconds over an interval; `None` where unknown.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct CpuUse {
    pub wall_secs: f64,
    pub server_cpu_secs: Option<f64>,
    pub generator_cpu_secs: Option<f64>,
}

impl CpuUse {
    /// Share of one core, in percent.
    pub fn server_pct(&self) -> Option<f64> {
        self.server_cpu_secs.map(|c| 100.0 * c / self.wall_secs)
    }
    pub fn generator_pct(&self) -> Option<f64> {
        self.generator_cpu_secs.map(|c| 100.0 * c / self.wall_secs)
    }
}

impl CpuMeter {
    /// Measures the server processes `pids` (their CPU summed; none: unknown) and this one.
    pub fn start(pids: Vec<u32>) -> Self {
        let server_start = sum_cpu(&pids);
        Self { pids, server_start, own_start: cpu_secs(std::process::id()), wall: Instant::now() }
    }

    pub fn stop(&self) -> CpuUse {
        let server = sum_cpu(&self.pids).zip(self.server_start).map(|(now, start)| now - start);
        let own = cpu_secs(std::process::id()).zip(self.own_start).map(|(now, start)| now - start);
        CpuUse {
            wall_secs: self.wall.elapsed().as_secs_f64(),
            server_cpu_secs: server,
            generator_cpu_secs: own,
        }
    }
}

/// The CPU seconds of every process in `pids`, summed; `None` if there is none or one is gone.
fn sum_cpu(pids: &[u32]) -> Option<f64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|&p| cpu_secs(p)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_from_a_stat_line_with_an_awkward_name() {
        let line = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 3 0 123 456 789";
        assert_eq!(cpu_secs_from_stat(line), Some(3.25));
    }

    #[test]
    fn reads_this_process() {
        assert!(cpu_secs(std::process::id()).is_some());
        assert!(rss_bytes(std::process::id()).unwrap() > 0);
        assert_eq!(cpu_secs(u32::MAX), None);
    }
}
