//! Process memory and descriptor limits, read from `/proc` (Linux).

use std::fs;

/// Memory figures of a process, in KiB.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MemoryKib {
    /// Resident set size now (`VmRSS`).
    pub(crate) rss: u64,
    /// Peak resident set size (`VmHWM`).
    pub(crate) peak: u64,
}

/// This process's memory.
pub(crate) fn own() -> MemoryKib {
    of("self")
}

/// Another process's memory (zero when it cannot be read).
pub(crate) fn of_pid(pid: u32) -> MemoryKib {
    of(&pid.to_string())
}

fn of(pid: &str) -> MemoryKib {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    MemoryKib {
        rss: field_kib(&status, "VmRSS:"),
        peak: field_kib(&status, "VmHWM:"),
    }
}

/// A `Name:   1234 kB` line's number.
fn field_kib(status: &str, name: &str) -> u64 {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// CPU time (user + system) a process has used, in seconds: `utime` and `stime` of
/// `/proc/<pid>/stat`, in clock ticks of 1/100 s (Linux's fixed `USER_HZ`).
pub(crate) fn cpu_seconds(pid: &str) -> f64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) may hold spaces; the fields after it follow ")".
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15, i.e. 11 and 12 after the name.
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// The soft limit on open files (`Max open files` in `/proc/self/limits`).
pub(crate) fn open_files_limit() -> Option<u64> {
    let limits = fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Fails early when the run needs more descriptors than the soft limit allows. We
/// cannot raise the limit ourselves without unsafe code (`setrlimit`); the shell can:
/// `ulimit -n 20000`.
pub(crate) fn check_fd_budget(needed: u64, who: &str) -> Result<(), String> {
    match open_files_limit() {
        Some(limit) if limit < needed => Err(format!(
            "{who} needs about {needed} file descriptors but the soft limit is {limit}; \
             raise it first (ulimit -n {needed}), use --transport http, or run the server \
             in its own process (--server process)"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kib_fields_of_a_status_file() {
        let status = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n";
        assert_eq!(field_kib(status, "VmRSS:"), 1024);
        assert_eq!(field_kib(status, "VmHWM:"), 2048);
        assert_eq!(field_kib(status, "VmSwap:"), 0);
    }
}
