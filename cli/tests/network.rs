//! `turnwire run` behind a proxy and with extra CAs, as a person would run it: the
//! flags, the environment variables it reads, and the messages it prints.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};

use base64::Engine as _;
use turnwire_testkit::loopback::LoopbackServer;
use turnwire_testkit::sim::FakeServer;

/// The binary with none of the variables it reads set from the test's environment.
fn turnwire() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_turnwire"));
    for name in [
        "OPENAI_API_KEY",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        command.env_remove(name);
    }
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("the binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn run_against(base_url: &str) -> Command {
    let mut command = turnwire();
    command.args([
        "run",
        "--transport",
        "http",
        "--base-url",
        base_url,
        "hello",
    ]);
    command
}

/// The TLS server's CA as a PEM file in a fresh directory.
fn ca_file(server: &LoopbackServer, name: &str) -> PathBuf {
    let der = server.root_certificate_der().expect("a TLS server");
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in encoded.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    let dir = std::env::temp_dir().join(format!("turnwire-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("ca.pem");
    std::fs::write(&path, pem).expect("writes the CA");
    path
}

#[test]
fn certificates_from_flags_and_ssl_cert_file() {
    let server = LoopbackServer::start_tls(FakeServer::new()).expect("a TLS server");
    let base_url = server.base_url();

    let output = run(&mut run_against(&base_url));
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("certificate error"), "{err}");
    assert!(
        err.contains("127.0.0.1") && err.contains("UnknownIssuer"),
        "{err}"
    );
    assert!(!err.contains("could not reach"), "{err}");

    let ca = ca_file(&server, "certificates");
    let output = run(run_against(&base_url).arg("--ca-cert").arg(&ca));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let output = run(run_against(&base_url).env("SSL_CERT_FILE", &ca));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(server.recording().posts(), 2);

    let output = run(run_against(&base_url).args(["--ca-cert", "/nonexistent/ca.pem"]));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("/nonexistent/ca.pem"),
        "{}",
        stderr(&output)
    );
    let _ = std::fs::remove_dir_all(ca.parent().expect("a directory"));
}

/// A proxy that answers every CONNECT with 407; returns its URL and how many it got.
fn refusing_proxy() -> (String, std::thread::JoinHandle<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let thread = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().expect("the client connects");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && socket.read(&mut byte).is_ok_and(|n| n == 1) {
            head.push(byte[0]);
        }
        let answer = "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n";
        let _ = socket.write_all(answer.as_bytes());
        usize::from(head.starts_with(b"CONNECT "))
    });
    (url, thread)
}

#[test]
fn proxies_from_flags_and_variables() {
    let server = LoopbackServer::start(FakeServer::new()).expect("a server");
    let base_url = server.base_url();

    let (proxy, seen) = refusing_proxy();
    let with_credentials = proxy.replacen("http://", "http://me:sekrit@", 1);
    let output = run(run_against(&base_url).args(["--proxy", &with_credentials]));
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("proxy error") && err.contains(&proxy), "{err}");
    assert!(
        !err.contains("sekrit") && !err.contains("could not reach"),
        "{err}"
    );
    assert_eq!(seen.join().unwrap(), 1);

    let (proxy, seen) = refusing_proxy();
    let output = run(run_against(&base_url).env("HTTP_PROXY", &proxy));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("proxy error"),
        "{}",
        stderr(&output)
    );
    assert_eq!(seen.join().unwrap(), 1);

    // The origin is on the no-proxy list (flag, then variable): straight to it.
    let output = run(run_against(&base_url).args([
        "--proxy",
        "http://127.0.0.1:9",
        "--no-proxy",
        "localhost,127.0.0.1",
    ]));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let output = run(run_against(&base_url)
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("NO_PROXY", "127.0.0.1"));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(server.recording().posts(), 2);

    let output = run(run_against(&base_url).args(["--proxy", "socks5://u:pw@127.0.0.1:9"]));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--proxy") && !stderr(&output).contains("pw@"));
}
