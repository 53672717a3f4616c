//! Checks the console assigns and this agent runs: the probes that run one check once.

pub mod probe;
