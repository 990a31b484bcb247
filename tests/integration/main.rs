//! Integration tests: the real `dupstrip` binary on real files.

mod bad_input;
mod battery;
mod clean;
mod dedup;
mod evidence;
mod inputs;
mod memory;
mod normalize_cases;
mod parquet;
mod review;
mod robustness;
mod stage;
mod stage_rows;
mod state;
mod util;
