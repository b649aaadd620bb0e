//! `turnwire serve` run as a user would: its journal, its scenario rules and its
//! arguments.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

fn turnwire() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_turnwire"));
    command.env_remove("OPENAI_API_KEY");
    command
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("turnwire-serve-{}-{name}", std::process::id()))
}

/// Starts `turnwire serve ARGS` and returns it with the base URL it printed.
fn start(args: &[&str]) -> (Child, String) {
    let mut child = turnwire()
        .arg("serve")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve starts");
    let mut url = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut url)
        .expect("the URL line");
    (child, url.trim().to_owned())
}

/// Closes standard input (which stops the server) and returns its standard error.
fn stop(mut child: Child) -> String {
    drop(child.stdin.take());
    let status = child.wait().expect("serve exits");
    assert!(status.success(), "serve exited with {status}");
    let mut log = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut log)
        .expect("stderr text");
    log
}

#[test]
fn the_log_journals_every_request_and_never_the_api_key() {
    let log_path = temp("journal.jsonl");
    let scenario = temp("rules.json");
    std::fs::write(
        &scenario,
        r#"{"rules": [{"match": {"input_contains": "second"}, "reply": {"status": 400, "json": {"error": {"message": "refused by rule", "type": "invalid_request_error", "param": null, "code": "rule"}}}}]}"#,
    )
    .expect("scenario file");
    let (child, url) = start(&[
        "--log",
        log_path.to_str().expect("path"),
        "--scenario",
        scenario.to_str().expect("path"),
    ]);
    let key = "sk-serve-cli-secret-4711";
    let run = |prompt: &str| {
        turnwire()
            .args(["run", "--json", "--transport", "http", "--api-key", key])
            .args(["--request-max-retries", "0", "--base-url", &url, prompt])
            .output()
            .expect("run runs")
    };
    assert!(run("first").status.success(), "the default model answers");
    assert!(
        !run("second").status.success(),
        "the rule refuses the second"
    );
    let summary = stop(child);
    assert!(summary.contains("served 2 POSTs"), "{summary}");

    let journal = std::fs::read_to_string(&log_path).expect("the journal");
    let _ = std::fs::remove_file(&log_path);
    let _ = std::fs::remove_file(&scenario);
    assert!(!journal.contains(key), "the API key reached the journal");
    let lines: Vec<Value> = journal
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let requests: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "request").collect();
    assert_eq!(requests.len(), 2, "{journal}");
    assert_eq!(requests[0]["method"], "POST");
    assert_eq!(requests[0]["path"], "/v1/responses");
    assert_eq!(requests[0]["headers"]["authorization"], "[redacted]");
    assert!(requests[1]["body"].to_string().contains("second"));
    let statuses: Vec<&Value> = lines
        .iter()
        .filter(|l| l["kind"] == "response")
        .map(|l| &l["status"])
        .collect();
    assert_eq!(statuses, [200, 400]);
}

#[test]
fn bad_serve_arguments_are_refused_with_a_reason() {
    let output = turnwire()
        .args(["serve", "--max-connections", "0"])
        .stdin(Stdio::null())
        .output()
        .expect("serve runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--max-connections"));

    let output = turnwire()
        .args(["serve", "--scenario", "/nonexistent/turnwire-scenario.json"])
        .stdin(Stdio::null())
        .output()
        .expect("serve runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read"));
}
