//! The checking code of the fuzz targets, shared by the cargo-fuzz targets in `fuzz/`
//! (nightly, which include this folder with `#[path]`) and by the stable replay test
//! `fuzz_corpus.rs`, so a corpus file is checked the same way by both.
//!
//! Each target module has `check(data: &[u8])`, which panics with a description when
//! a property fails (a panic inside the core is a failure too). Structured inputs are
//! decoded with [`reader::Reader`], a small stand-in for the `arbitrary` crate that
//! needs no dependency beyond those of `turnwire-protocol`.

pub(crate) mod backoff;
pub(crate) mod classify;
pub(crate) mod event;
pub(crate) mod http1;
pub(crate) mod item;
pub(crate) mod make;
pub(crate) mod reader;
pub(crate) mod seeds;
pub(crate) mod session;
pub(crate) mod sse;

/// Every target, by the name of its corpus folder.
pub(crate) const TARGETS: &[&str] = &[
    "sse", "event", "item", "classify", "backoff", "session", "http1",
];

/// Runs the check of `target` on `data`. Panics on a failed property or an unknown
/// target.
pub(crate) fn check(target: &str, data: &[u8]) {
    match target {
        "sse" => sse::check(data),
        "event" => event::check(data),
        "item" => item::check(data),
        "classify" => classify::check(data),
        "backoff" => backoff::check(data),
        "session" => session::check(data),
        "http1" => http1::check(data),
        other => panic!("unknown fuzz target {other:?}"),
    }
}
