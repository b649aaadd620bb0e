//! Every scenario of the table on tokio and on smol: the caller's event transcripts and
//! the server's recordings must be identical (up to timing, ports, connection ids and
//! WebSocket keys; see `Fingerprint`).

use std::sync::Mutex;

use turnwire_tests::fingerprint::Fingerprint;
use turnwire_tests::scenario::play_and_check;
use turnwire_tests::{Rt, table};

/// Scenarios played at once. Each has its own server and runtimes; the machine has two
/// cores, and the real-time scenarios need their timers on time.
const WORKERS: usize = 3;

#[test]
fn both_runtimes_give_identical_transcripts_and_recordings() {
    let names: Vec<&'static str> = table::all().iter().map(|s| s.name).collect();
    let queue = Mutex::new(names.clone());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| {
                loop {
                    let Some(name) = queue.lock().unwrap().pop() else {
                        return;
                    };
                    let scenario = table::by_name(name);
                    let [tokio, smol] =
                        Rt::BOTH.map(|rt| Fingerprint::of(&play_and_check(&scenario, rt)));
                    results.lock().unwrap().push((name, tokio, smol));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(name, ..)| *name);
    assert_eq!(results.len(), names.len(), "every scenario ran");
    for (name, tokio, smol) in &results {
        assert!(!tokio.transcript.is_empty(), "{name}: no request ran");
        assert_eq!(tokio, smol, "{name}: tokio and smol differ");
    }
}
