//! `trellis:plugin/log` plus the guest's stdout/stderr: lines recorded with
//! the execution, capped in lines and in bytes.

use std::time::Instant;

use crate::report::{LogLevel, LogLine};
use crate::state::HostState;
use crate::v0_1_0::trellis::plugin::log;

pub(crate) struct LogSink {
    started: Instant,
    lines: Vec<LogLine>,
    bytes: usize,
    max_bytes: usize,
    max_lines: usize,
    pub(crate) truncated: bool,
}

impl LogSink {
    pub(crate) fn new(started: Instant, max_bytes: usize, max_lines: usize) -> Self {
        LogSink { started, lines: Vec::new(), bytes: 0, max_bytes, max_lines, truncated: false }
    }

    pub(crate) fn push(&mut self, level: LogLevel, message: &str) {
        // A line costs its newline too, so a flood of empty lines is capped.
        let cost = message.len().saturating_add(1);
        if self.truncated || self.lines.len() >= self.max_lines || self.bytes.saturating_add(cost) > self.max_bytes {
            self.truncated = true;
            return;
        }
        self.bytes += cost;
        let at_ms = self.started.elapsed().as_millis().min(u128::from(u64::MAX)) as u64;
        self.lines.push(LogLine { level, message: message.to_owned(), at_ms });
    }

    pub(crate) fn into_lines(self) -> Vec<LogLine> {
        self.lines
    }
}

impl log::Host for HostState {
    async fn log(&mut self, level: log::Level, message: String) {
        let level = match level {
            log::Level::Debug => LogLevel::Debug,
            log::Level::Info => LogLevel::Info,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Error => LogLevel::Error,
        };
        self.log.push(level, &message);
    }
}

impl crate::v0_2_0::trellis::plugin::log::Host for HostState {
    async fn log(&mut self, level: crate::v0_2_0::trellis::plugin::log::Level, message: String) {
        use crate::v0_2_0::trellis::plugin::log::Level;
        let level = match level {
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        self.log.push(level, &message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_past_the_cap_are_dropped_and_flagged() {
        let mut sink = LogSink::new(Instant::now(), 12, 100);
        sink.push(LogLevel::Info, "12345");
        sink.push(LogLevel::Warn, "67890");
        sink.push(LogLevel::Error, "x");
        assert!(sink.truncated);
        let lines = sink.into_lines();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].level, LogLevel::Warn);
    }

    #[test]
    fn empty_lines_are_capped_by_count() {
        let mut sink = LogSink::new(Instant::now(), usize::MAX, 1_000);
        for _ in 0..1_000_000 {
            sink.push(LogLevel::Info, "");
        }
        assert!(sink.truncated);
        assert_eq!(sink.into_lines().len(), 1_000);
    }
}
