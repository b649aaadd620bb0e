//! The `http1` target; see `protocol/tests/fuzz_checks/http1.rs` for the input layout
//! and what is checked.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code, unreachable_pub)]
#[path = "../../protocol/tests/fuzz_checks/mod.rs"]
mod fuzz_checks;

fuzz_target!(|data: &[u8]| fuzz_checks::http1::check(data));
