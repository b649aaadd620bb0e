//! Helpers shared by the integration tests of this crate.
#![allow(dead_code, unreachable_pub, clippy::print_stderr)]

use std::path::PathBuf;

/// The third-party fixtures folder (`../shared/fixtures/openai` beside the checkout),
/// or `None` after printing a skip notice when it is absent. Tests that use it return
/// early on `None`; the project's own fixtures cover the same ground without it.
pub fn openai_fixtures(test: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/openai");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("{test}: skipped: fixtures not found at {}", dir.display());
        None
    }
}

/// Every transcript file in the fixtures folder, sorted by name.
pub fn transcripts(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("transcripts"))
        .expect("transcripts folder")
        .map(|e| e.expect("dir entry").path())
        .collect();
    files.sort();
    files
}

/// A transcript as SSE bytes: `.sse` files are already framed; `.chunks.txt` files hold
/// one event JSON per line and get `event: <type>` / `data: <json>` framing.
pub fn transcript_as_sse(path: &std::path::Path) -> Vec<u8> {
    let raw = std::fs::read(path).expect("read transcript");
    if path.extension().is_some_and(|e| e == "sse") {
        return raw;
    }
    let text = String::from_utf8(raw).expect("transcript is UTF-8");
    let mut out = Vec::with_capacity(text.len() * 2);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let value: serde_json::Value = serde_json::from_str(line).expect("transcript line is JSON");
        let ty = value
            .get("type")
            .and_then(|t| t.as_str())
            .unwrap_or("message");
        out.extend_from_slice(format!("event: {ty}\ndata: {line}\n\n").as_bytes());
    }
    out
}
