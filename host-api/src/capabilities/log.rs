//! `trellis:plugin/log` plus the guest's stdout/stderr: lines recorded with
//! the execution, capped in bytes.

use std::time::Instant;

use crate::report::{LogLevel, LogLine};
use crate::state::HostState;
use crate::v0_1_0::trellis::plugin::log;

pub(crate) struct LogSink {
    started: Instant,
    lines: Vec<LogLine>,
    bytes: usize,
    max_bytes: usize,
    pub(crate) truncated: bool,
}

impl LogSink {
    pub(crate) fn new(started: Instant, max_bytes: usize) -> Self {
        LogSink { started, lines: Vec::new(), bytes: 0, max_bytes, truncated: false }
    }

    pub(crate) fn push(&mut self, level: LogLevel, message: &str) {
        if self.bytes + message.len() > self.max_bytes {
            self.truncated = true;
            return;
        }
        self.bytes += message.len();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_past_the_cap_are_dropped_and_flagged() {
        let mut sink = LogSink::new(Instant::now(), 10);
        sink.push(LogLevel::Info, "12345");
        sink.push(LogLevel::Warn, "67890");
        sink.push(LogLevel::Error, "x");
        assert!(sink.truncated);
        let lines = sink.into_lines();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].level, LogLevel::Warn);
    }
}
