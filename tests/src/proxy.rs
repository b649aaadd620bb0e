//! Proxies for the proxy tests: a real [`Tinyproxy`] started on a free loopback port
//! with a generated configuration, and a [`HostileProxy`] that answers every
//! `CONNECT` badly on purpose.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A tinyproxy process in the foreground, configured for one test, killed on drop.
#[derive(Debug)]
pub struct Tinyproxy {
    child: Child,
    port: u16,
    dir: PathBuf,
}

/// How often, and how far apart, [`Tinyproxy::start`] checks that it listens: 20 s in
/// all, a bound only a broken installation reaches.
const READY_POLLS: u32 = 2000;
/// The pause between two of those checks.
const READY_PAUSE: Duration = Duration::from_millis(10);

/// Basic-auth credentials the authenticating proxy accepts.
pub const PROXY_USER: &str = "turnwire";
/// The password of [`PROXY_USER`].
pub const PROXY_PASSWORD: &str = "tunnel-pass-7";

impl Tinyproxy {
    /// True when a `tinyproxy` binary is on the `PATH`.
    pub fn installed() -> bool {
        Command::new("tinyproxy")
            .arg("-v")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    }

    /// Starts tinyproxy on a free 127.0.0.1 port, allowing `CONNECT` to
    /// `connect_ports` only, with Basic auth ([`PROXY_USER`], [`PROXY_PASSWORD`]) when
    /// `auth` is set. Returns once it accepts connections; `None` (after printing
    /// "skipped: tinyproxy not installed") when there is no tinyproxy. Panics when it
    /// is installed but does not come up.
    pub fn start(auth: bool, connect_ports: &[u16]) -> Option<Tinyproxy> {
        if !Self::installed() {
            #[allow(clippy::print_stderr)] // the skip notice the suite promises
            {
                eprintln!("skipped: tinyproxy not installed");
            }
            return None;
        }
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "turnwire-tinyproxy-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let port = free_port();
        let mut config = format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 50\nAllow 127.0.0.1\n\
             LogFile \"{}\"\nLogLevel Connect\nDisableViaHeader Yes\n",
            dir.join("tinyproxy.log").display()
        );
        for connect_port in connect_ports {
            config.push_str(&format!("ConnectPort {connect_port}\n"));
        }
        if auth {
            config.push_str(&format!("BasicAuth {PROXY_USER} {PROXY_PASSWORD}\n"));
        }
        let config_path = dir.join("tinyproxy.conf");
        std::fs::write(&config_path, config).expect("writes the configuration");
        let child = Command::new("tinyproxy")
            .arg("-d")
            .arg("-c")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starts tinyproxy");
        let mut proxy = Tinyproxy { child, port, dir };
        // Another process coming up gives nothing to wait on: poll its port, at most
        // READY_POLLS times, READY_PAUSE apart.
        for _ in 0..READY_POLLS {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(proxy);
            }
            if let Ok(Some(status)) = proxy.child.try_wait() {
                panic!("tinyproxy exited at start: {status}; log: {}", proxy.log());
            }
            #[allow(clippy::disallowed_methods)] // pacing the poll of another process
            std::thread::sleep(READY_PAUSE);
        }
        panic!(
            "tinyproxy did not listen within {READY_POLLS} polls; log: {}",
            proxy.log()
        )
    }

    /// The proxy URL without credentials.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The proxy URL with `user:password@`.
    pub fn url_with(&self, user: &str, password: &str) -> String {
        format!("http://{user}:{password}@127.0.0.1:{}", self.port)
    }

    /// The proxy's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("tinyproxy.log")).unwrap_or_default()
    }

    /// The `CONNECT` request lines tinyproxy logged ("CONNECT 127.0.0.1:PORT HTTP/1.1"),
    /// in order.
    pub fn connect_requests(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter_map(|line| line.split_once("): ").map(|(_, request)| request))
            .filter(|request| request.starts_with("CONNECT "))
            .map(str::to_owned)
            .collect()
    }

    /// Tunnels tinyproxy opened to an origin (its "Established connection" lines).
    pub fn tunnels_established(&self) -> usize {
        self.log()
            .lines()
            .filter(|line| line.contains("Established connection to host"))
            .count()
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A free TCP port on 127.0.0.1 (bound and released at once).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// How a [`HostileProxy`] answers a `CONNECT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misbehaviour {
    /// `HTTP/1.1 <status> …` and close.
    Status(u16),
    /// Bytes that are not HTTP, then close.
    Garbage,
    /// Reads the request and never answers (the socket stays open until the test ends).
    Silence,
}

/// A raw TCP "proxy" on 127.0.0.1 that reads each `CONNECT` head and answers it with
/// its [`Misbehaviour`], counting what it got.
#[derive(Debug)]
pub struct HostileProxy {
    port: u16,
    accepted: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HostileProxy {
    /// Starts one that answers every connection with `how`.
    pub fn start(how: Misbehaviour) -> HostileProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().expect("its address").port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = {
            let (accepted, requests, stop) = (accepted.clone(), requests.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut held = Vec::new();
                loop {
                    let accept = listener.accept();
                    // Drop wakes the blocking accept with a connection of its own.
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    match accept {
                        Ok((mut socket, _)) => {
                            accepted.fetch_add(1, Ordering::Relaxed);
                            let head = read_head(&mut socket);
                            requests.lock().expect("not poisoned").push(head);
                            match how {
                                Misbehaviour::Status(status) => {
                                    let answer = format!(
                                        "HTTP/1.1 {status} Refused\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                                    );
                                    let _ = socket.write_all(answer.as_bytes());
                                }
                                Misbehaviour::Garbage => {
                                    let _ = socket
                                        .write_all(b"\x16\x03\x01 definitely not http\r\n\r\n");
                                }
                                Misbehaviour::Silence => held.push(socket),
                            }
                        }
                        Err(_) => break,
                    }
                }
            })
        };
        HostileProxy {
            port,
            accepted,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::Relaxed)
    }

    /// The request heads received, in order.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("not poisoned").clone()
    }
}

impl Drop for HostileProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads up to the end of a request head (or 8 KiB, or the end of the stream).
fn read_head(socket: &mut TcpStream) -> String {
    let _ = socket.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while head.len() < 8192 && !head.ends_with(b"\r\n\r\n") {
        match socket.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}
