//! Log lines recorded with the node's execution.

use crate::bindings::trellis::plugin::log::{self, Level};

pub fn debug(message: &str) {
    log::log(Level::Debug, message);
}

pub fn info(message: &str) {
    log::log(Level::Info, message);
}

pub fn warn(message: &str) {
    log::log(Level::Warn, message);
}

pub fn error(message: &str) {
    log::log(Level::Error, message);
}
