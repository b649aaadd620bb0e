//! The no-runtime embed example (`protocol/examples/embed`) against the loopback
//! server: a scripted 500 that is retried, a tool call the example answers with a
//! `function_call_output`, and a follow-up that completes. The test runs the example
//! as a process (building it through cargo when no fresh build is at hand) and asserts
//! what the server recorded as well as what the example printed and returned.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use turnwire_testkit::loopback::LoopbackServer;
use turnwire_testkit::sim::{FakeServer, Reply};
use turnwire_testkit::wire::{ev, function_call, user};

/// The example's executable: the one the cargo run that built this test built too
/// (`cargo test`/`nextest` build every example of the selected packages), when it is
/// newer than the sources it is made from; otherwise built here through cargo, whose
/// JSON report gives its path.
fn embed_example() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable");
    if let Some(sibling) = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join("examples").join("embed"))
        && is_fresh(&sibling)
    {
        return sibling;
    }
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let built = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "--message-format=json",
            "--manifest-path",
            manifest,
        ])
        .args(["-p", "turnwire-protocol", "--example", "embed"])
        .output()
        .expect("run cargo");
    assert!(
        built.status.success(),
        "building the example failed:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    String::from_utf8_lossy(&built.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "embed")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("cargo reports the example's executable")
}

/// True when `binary` exists and is newer than every source file of the example and
/// of the core.
fn is_fresh(binary: &Path) -> bool {
    let Ok(built) = binary.metadata().and_then(|m| m.modified()) else {
        return false;
    };
    let protocol = Path::new(env!("CARGO_MANIFEST_DIR")).join("../protocol");
    let mut folders = vec![protocol.join("src"), protocol.join("examples")];
    let mut newest = protocol
        .join("Cargo.toml")
        .metadata()
        .and_then(|m| m.modified())
        .ok();
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            return false;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if let Ok(modified) = entry.metadata().and_then(|m| m.modified()) {
                newest = newest.max(Some(modified));
            }
        }
    }
    newest.is_some_and(|newest| newest <= built)
}

/// The script: a 500, then a response that calls `add(2, 3)`; the follow-up gets the
/// default model's answer.
fn script() -> FakeServer {
    let mut script = FakeServer::new();
    script.push_http(Reply::error(500, "server_error", "boom", "try later"));
    let call = function_call("fc-1", "call-1", "add", r#"{"a":2,"b":3}"#);
    script.push_http(Reply::events(ev::response("resp-tool", &[call])));
    script
}

fn run_example(server: &LoopbackServer, extra: &[&str]) -> Output {
    Command::new(embed_example())
        .args([
            "--base-url",
            &server.base_url(),
            "--api-key",
            "sk-embed",
            "--model",
            "m",
        ])
        .args(extra)
        .arg("What is 2 + 3?")
        .output()
        .expect("run the example")
}

/// Asserts the conversation the server saw and the example reported.
fn assert_conversation(server: &LoopbackServer, out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "exit {:?}\n{stderr}", out.status);
    assert!(
        stderr.contains("[retry 1 (request)"),
        "the 500 was retried:\n{stderr}"
    );
    assert!(stderr.contains("[tool] add("), "{stderr}");
    assert!(
        !stdout.trim().is_empty(),
        "the follow-up's text was printed"
    );

    let rec = server.recording();
    assert_eq!(rec.posts(), 3, "the 500, its retry, and the follow-up");
    assert_eq!(
        rec.http.iter().map(|p| p.status).collect::<Vec<_>>(),
        [500, 200, 200]
    );
    for i in 0..3 {
        assert_eq!(
            rec.post_header(i, "accept-encoding").as_deref(),
            Some("identity"),
            "post {i}"
        );
        assert_eq!(
            rec.post_header(i, "authorization").as_deref(),
            Some("Bearer sk-embed")
        );
    }
    let first = &rec.http[1].body;
    assert_eq!(first["input"], json!([user("What is 2 + 3?")]));
    assert_eq!(first["tools"][0]["name"], "add");
    let follow_up = rec.http[2].body["input"]
        .as_array()
        .expect("an input array");
    let output = follow_up
        .iter()
        .find(|item| item["type"] == "function_call_output")
        .expect("the follow-up carries the function_call_output");
    assert_eq!(output["call_id"], "call-1");
    assert_eq!(output["output"], "5", "the tool ran locally: 2 + 3");
    assert!(
        follow_up.iter().any(|item| item["type"] == "function_call"),
        "the history holds the call: {follow_up:?}"
    );
}

#[test]
fn the_embed_example_retries_answers_a_tool_call_and_completes() {
    let server = LoopbackServer::start(script()).expect("a loopback server");
    let out = run_example(&server, &[]);
    assert_conversation(&server, &out);
}

#[test]
fn the_embed_example_does_the_same_over_tls() {
    let server = LoopbackServer::start_tls(script()).expect("a TLS loopback server");
    let der = server.root_certificate_der().expect("a generated root");
    let dir = std::env::temp_dir().join(format!("turnwire-embed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let root = dir.join("root.der");
    std::fs::write(&root, der).expect("write the root");
    let out = run_example(
        &server,
        &["--ca-cert", root.to_str().expect("a UTF-8 path")],
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert_conversation(&server, &out);
}

#[test]
fn the_embed_example_fails_with_a_non_zero_exit_when_the_server_refuses() {
    let mut script = FakeServer::new();
    script.push_http(Reply::error(
        400,
        "invalid_request_error",
        "bad",
        "no such model",
    ));
    let server = LoopbackServer::start(script).expect("a loopback server");
    let out = run_example(&server, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("[failed]"), "{stderr}");
    assert_eq!(server.recording().posts(), 1, "a 400 is not retried");
}
