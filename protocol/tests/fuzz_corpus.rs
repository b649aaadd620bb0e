//! Replays the fuzz corpus on stable Rust (PROTOCOL.md section 13): every committed
//! corpus file (`fuzz/corpus/<target>/*`), every fixed crash (`fuzz/regressions/<target>/*`)
//! and every seed goes through the same checks as the cargo-fuzz targets
//! (`tests/fuzz_checks/`), so a bug the fuzzer once found stays fixed without nightly.
//!
//! The seeds are also checked for reaching what they were written for, and
//! `write_seed_corpus` (ignored; run by `scripts/fuzz.sh seed`) writes them out.

mod fuzz_checks;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use fuzz_checks::reader::{Reader, Writer};
use fuzz_checks::{TARGETS, check, seeds, session};

/// The `fuzz/` folder beside this crate.
fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `fuzz/<kind>/<target>/`, sorted (none when the folder is absent).
fn files(kind: &str, target: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(fuzz_dir().join(kind).join(target)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `check` on every input, collecting every failure before failing the test.
fn replay(inputs: impl IntoIterator<Item = (String, &'static str, Vec<u8>)>) -> usize {
    let mut failures = Vec::new();
    let mut count = 0;
    for (name, target, data) in inputs {
        count += 1;
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(target, &data))) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failures.push(format!("{target} {name}: {message}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    count
}

fn replay_folder(kind: &str) -> usize {
    let inputs = TARGETS.iter().flat_map(|target| {
        files(kind, target).into_iter().map(move |path| {
            let data = std::fs::read(&path).expect("read corpus file");
            (path.display().to_string(), *target, data)
        })
    });
    replay(inputs)
}

#[test]
fn every_committed_corpus_file_passes_its_target_checks() {
    let count = replay_folder("corpus");
    assert!(
        TARGETS.iter().all(|t| !files("corpus", t).is_empty()),
        "every target has a committed corpus ({count} files replayed)"
    );
}

#[test]
fn every_fixed_crash_stays_fixed() {
    replay_folder("regressions");
}

#[test]
fn every_seed_passes_its_target_checks() {
    let seeds = seeds::all();
    assert!(TARGETS.iter().all(|t| seeds.iter().any(|s| s.target == *t)));
    replay(seeds.into_iter().map(|s| (s.name, s.target, s.data)));
}

#[test]
fn session_seeds_reach_the_outcomes_they_were_written_for() {
    for (name, script, completed, failed) in seeds::session_scripts() {
        let summary = session::run(&script);
        assert_eq!(
            (summary.completed, summary.failed),
            (completed, failed),
            "{name}: {summary:?}"
        );
    }
}

#[test]
fn the_reader_reads_back_what_the_writer_wrote() {
    let data = Writer::new()
        .u8(7)
        .u16(0xBEEF)
        .u32(0xDEAD_BEEF)
        .u64(u64::MAX - 1)
        .bytes(b"short")
        .bytes(&[9; 300])
        .raw(b"rest")
        .finish();
    let mut r = Reader::new(&data);
    assert_eq!(r.u8(), 7);
    assert_eq!(r.u16(), 0xBEEF);
    assert_eq!(r.u32(), 0xDEAD_BEEF);
    assert_eq!(r.u64(), u64::MAX - 1);
    assert_eq!(r.bytes(100), b"short");
    assert_eq!(r.bytes(1000), &[9; 300][..]);
    assert_eq!(r.rest(), b"rest");
    assert!(r.is_empty());
    assert_eq!(
        (r.u64(), r.bytes(10)),
        (0, &b""[..]),
        "exhausted input reads as zero"
    );
}

/// Writes every seed to `target/fuzz-seeds/<target>/<name>` for `scripts/fuzz.sh seed`,
/// which merges them into the corpus with libFuzzer.
#[test]
#[ignore = "writes files; run by scripts/fuzz.sh seed"]
fn write_seed_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-seeds");
    for seed in seeds::all() {
        let dir = root.join(seed.target);
        std::fs::create_dir_all(&dir).expect("create seed folder");
        std::fs::write(dir.join(&seed.name), &seed.data).expect("write seed");
    }
}

/// Prints what the session does with `target/fuzz-trace/input` (put there by
/// `scripts/fuzz.sh trace FILE`): the configuration, every input, ack and output.
#[test]
#[ignore = "reads a file; run by scripts/fuzz.sh trace"]
fn trace_session_input() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-trace/input");
    let data = std::fs::read(&path).expect("scripts/fuzz.sh trace puts the input there");
    session::trace(&data);
}

// ---------- regressions found by the fuzzer, as named tests ----------

mod regressions {
    use core::time::Duration;

    use turnwire_protocol::item::ResponseItem;
    use turnwire_protocol::request::RequestFields;
    use turnwire_protocol::session::{
        ConnId, Input, Output, RequestInput, RequestSpec, Session, SessionParams, TurnOptions,
        UsageError,
    };
    use turnwire_protocol::{Config, Credentials, Instant, Now, ResponseEvent, UnixTime};

    fn session(config: Config) -> Session {
        Session::new(SessionParams {
            config,
            credentials: Credentials::bearer("k"),
            auth_refreshable: false,
            conversation_id: "c".into(),
            seed: 1,
        })
        .expect("valid configuration")
    }

    fn at(instant: Instant) -> Now {
        Now::new(instant, UnixTime::EPOCH)
    }

    fn drain(session: &mut Session) -> Vec<Output> {
        std::iter::from_fn(|| session.poll_output()).collect()
    }

    fn spec() -> RequestSpec {
        RequestSpec {
            fields: RequestFields::new("m"),
            input: RequestInput::Append(vec![ResponseItem::user_text("hi")]),
        }
    }

    /// Found by the session target: an input unrelated to a request, arriving after
    /// the request's deadline had passed, left `poll_timeout` in the past.
    #[test]
    fn poll_timeout_is_never_before_now_after_a_late_unrelated_input() {
        let mut s = session(Config::new("https://api.test/v1"));
        let start = at(Instant::ZERO);
        let turn = s.start_turn_with(start, TurnOptions::default()).unwrap();
        s.start_request_with(start, turn, spec()).unwrap();
        drain(&mut s);
        let deadline = s.poll_timeout().expect("the connect deadline");

        let late = at(deadline + Duration::from_secs(5));
        s.start_turn_with(late, TurnOptions::default()).unwrap();
        drain(&mut s);
        let next = s.poll_timeout().expect("the overdue deadline is still due");
        assert!(
            next >= late.instant,
            "poll_timeout {next:?} is before now {:?}",
            late.instant
        );

        // Fed at that instant, the timeout acts on the overdue deadline.
        s.handle_input(at(next), Input::Timeout).unwrap();
        let outputs = drain(&mut s);
        assert!(
            outputs.iter().any(|o| matches!(o, Output::Close { .. })),
            "the timed-out attempt was abandoned: {outputs:?}"
        );
    }

    const NOW: Now = Now::new(Instant::ZERO, UnixTime::EPOCH);

    /// A session on WebSocket (no preconnect, no retries) with one request whose
    /// handshake is in flight; returns it with the request's connection.
    fn handshaking() -> (Session, ConnId) {
        let mut config = Config::new("https://api.test/v1");
        config.websockets = true;
        config.preconnect = Some(false);
        config.stream_max_retries = 0;
        config.request_max_retries = 0;
        let mut s = session(config);
        let turn = s.start_turn_with(NOW, TurnOptions::default()).unwrap();
        s.start_request_with(NOW, turn, spec()).unwrap();
        let conn = std::iter::from_fn(|| s.poll_output())
            .find_map(|o| match o {
                Output::OpenWs(open) => Some(open.conn),
                _ => None,
            })
            .expect("the request opens a WebSocket");
        (s, conn)
    }

    /// Found by the session target: the received-bytes count of an attempt overflowed
    /// (a panic with overflow checks) when a binary frame reported `usize::MAX` bytes
    /// after a text frame.
    #[test]
    fn a_binary_frame_of_usize_max_bytes_after_text_does_not_overflow() {
        let (mut s, conn) = handshaking();
        let headers = http::HeaderMap::new();
        s.handle_input(NOW, Input::WsOpened { conn, headers })
            .unwrap();
        drain(&mut s);
        let text = r#"{"type":"response.in_progress"}"#.to_owned();
        s.handle_input(NOW, Input::WsText { conn, text }).unwrap();
        drain(&mut s);
        let len = usize::MAX;
        s.handle_input(NOW, Input::WsBinary { conn, len }).unwrap();
        let outputs = drain(&mut s);
        assert!(
            outputs.iter().any(|o| matches!(
                o,
                Output::Event {
                    event: ResponseEvent::FallbackActivated { .. },
                    ..
                }
            )),
            "the binary frame failed the WebSocket attempt: {outputs:?}"
        );
    }

    /// Found by the session target: a text frame on a WebSocket whose handshake the
    /// driver had not reported complete was decoded and acted on (it could even end
    /// the request before its message was sent). Such a frame cannot happen; it is now
    /// refused like body bytes before an HTTP head.
    #[test]
    fn a_frame_before_the_handshake_completed_is_refused() {
        let (mut s, conn) = handshaking();
        let text = r#"{"type":"response.completed","response":{"id":"resp_1"}}"#.to_owned();
        let refused = s.handle_input(NOW, Input::WsText { conn, text });
        assert!(
            matches!(refused, Err(UsageError::UnexpectedInput { .. })),
            "{refused:?}"
        );
        assert!(s.poll_output().is_none(), "a refused input queues nothing");
        assert_eq!(s.running_requests(), 1);
        for input in [Input::WsBinary { conn, len: 3 }, Input::WsActivity { conn }] {
            assert!(s.handle_input(NOW, input).is_err());
        }

        let headers = http::HeaderMap::new();
        s.handle_input(NOW, Input::WsOpened { conn, headers })
            .unwrap();
        let sent = drain(&mut s);
        assert!(
            sent.iter().any(|o| matches!(o, Output::SendWs { .. })),
            "{sent:?}"
        );
    }
}
