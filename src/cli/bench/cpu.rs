//! CPU time this process spent, without the mock cluster's threads: what
//! leadscore (or the raw consumer) itself costs, apart from the broker that
//! shares its two cores in a mock run and runs on its own machines in a
//! real deployment. The process total comes from `getrusage`, which also
//! counts threads that have exited (a pipeline's task threads end with
//! it); the mock's threads, which live for the whole bench, are read from
//! `/proc/self/task`.

use std::time::Duration;

/// Threads of librdkafka's mock cluster are named so.
const MOCK_THREAD: &str = "rdk:mock";

/// CPU time used so far by the process outside the mock cluster's threads.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTime {
    own: Duration,
}

impl CpuTime {
    /// Now.
    pub fn now() -> CpuTime {
        CpuTime {
            own: process_cpu().saturating_sub(mock_threads_cpu()),
        }
    }

    /// Own CPU time spent between `earlier` and `self`.
    pub fn own_since(&self, earlier: &CpuTime) -> Duration {
        self.own.saturating_sub(earlier.own)
    }
}

/// User + system time of the whole process, exited threads included.
fn process_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// User + system time of the live threads named [`MOCK_THREAD`].
fn mock_threads_cpu() -> Duration {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let mut secs = 0.0;
    for entry in dir.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some(t) = mock_ticks(&stat) {
            secs += t as f64 / ticks;
        }
    }
    Duration::from_secs_f64(secs)
}

/// utime + stime (in clock ticks) of a `/proc/<pid>/task/<tid>/stat` line,
/// if it is a mock cluster thread. The name is in parentheses and may hold
/// spaces; fields are counted after its closing one.
fn mock_ticks(stat: &str) -> Option<u64> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    if &stat[open + 1..close] != MOCK_THREAD {
        return None;
    }
    // After the name: state (field 3), ... utime (14), stime (15).
    let mut fields = stat[close + 1..].split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_cpu_ticks_of_a_mock_thread_only() {
        let mock = "4242 (rdk:mock) S 1 2 3 4 5 6 7 8 9 10 150 25 0 0 20 0";
        assert_eq!(mock_ticks(mock), Some(175));
        let other = "4243 (rdk:broker1) S 1 2 3 4 5 6 7 8 9 10 150 25 0 0 20 0";
        assert_eq!(mock_ticks(other), None);
        assert_eq!(mock_ticks("garbage"), None);
    }
}
