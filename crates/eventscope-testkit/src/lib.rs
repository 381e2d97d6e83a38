//! Test support: real `nats-server` processes on ephemeral loopback ports, one per test.
//!
//! Tests talk to the same server binary that production uses, so what they prove holds against
//! the real protocol. Each server lives in its own temporary directory (JetStream store, log) and
//! is stopped when dropped, so a failing test leaves nothing behind. A server may be given a
//! configuration file (auth, TLS); the testkit still chooses its address and ports.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

mod client;

pub use client::{create_stream, publish, publish_stored, wait_until};

/// Where Debian installs the server; `NATS_SERVER_BIN` points elsewhere.
pub const DEFAULT_NATS_SERVER_BIN: &str = "/usr/sbin/nats-server";

/// How long a server may take to accept connections before the test gives up.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a server may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(20);

/// A free TCP port on 127.0.0.1, as the kernel hands out for port 0.
///
/// The port is released before returning, so another process could take it in between; the
/// window is tiny and [`NatsServer`] retries with a fresh port when that happens.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("cannot bind an ephemeral port on 127.0.0.1")
}

/// A running `nats-server` child process on 127.0.0.1.
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    monitor_port: u16,
    jetstream: bool,
    /// The configuration file passed with `-c`, kept so a restart reads it again.
    config: Option<PathBuf>,
    dir: TempDir,
}

impl NatsServer {
    /// Starts a plain server (no JetStream) on a free port.
    pub fn start() -> NatsServer {
        NatsServer::launch(false, None)
    }

    /// Starts a server with JetStream enabled, its store in the server's temporary directory.
    pub fn start_with_jetstream() -> NatsServer {
        NatsServer::launch(true, None)
    }

    /// Starts a server that reads `conf` (nats-server's configuration syntax) from a file in its
    /// temporary directory.
    ///
    /// The address and ports stay the testkit's: they are given as flags, and nats-server lets
    /// flags override the file, so a `port` or `listen` in `conf` has no effect. Paths in `conf`
    /// (certificates, keys) should be absolute.
    pub fn start_with_config(conf: &str) -> NatsServer {
        NatsServer::launch(false, Some(conf))
    }

    fn launch(jetstream: bool, conf: Option<&str>) -> NatsServer {
        let dir = tempfile::Builder::new()
            .prefix("eventscope-nats-")
            .tempdir()
            .expect("cannot create a temporary directory for nats-server");
        let config = conf.map(|text| {
            let path = dir.path().join("nats-server.conf");
            std::fs::write(&path, text).expect("cannot write the nats-server configuration file");
            path
        });
        let mut server = NatsServer {
            child: None,
            port: 0,
            monitor_port: 0,
            jetstream,
            config,
            dir,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        // Between free_port() and the server's bind another process may take a port; a fresh
        // pair is the cure, but only a few times, so a server that cannot start at all still
        // fails quickly with its log.
        for _ in 0..5 {
            server.port = free_port();
            server.monitor_port = free_port();
            if server.spawn_and_wait(deadline) {
                return server;
            }
        }
        // A configuration the server rejects also ends here: it exits at once every time.
        panic!(
            "nats-server exited at start 5 times (a port taken, or a bad configuration); log:\n{}",
            server.log()
        );
    }

    /// The client URL, `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The HTTP monitoring port (`/varz`, `/connz`, `/subsz`).
    pub fn monitor_port(&self) -> u16 {
        self.monitor_port
    }

    pub fn jetstream(&self) -> bool {
        self.jetstream
    }

    /// The configuration file given with `-c`, when started by
    /// [`NatsServer::start_with_config`].
    pub fn config_path(&self) -> Option<&Path> {
        self.config.as_deref()
    }

    /// The process id while the server runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The server's temporary directory (log file, JetStream store).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("nats-server.log")
    }

    /// Everything the server wrote to stdout and stderr so far, across restarts.
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = File::open(self.log_path()) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    /// Stops the server: SIGTERM, then SIGKILL if it has not exited within 5 s. Idempotent.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        let pid = child.id() as libc::pid_t;
        // SAFETY: kill(2) has no memory effects; the pid is our own child, not yet reaped (the
        // try_wait above did not reap it), so it cannot name an unrelated process.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(POLL);
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Stops the server and starts it again on the same ports, with the same store and
    /// configuration file.
    ///
    /// Clients configured to reconnect find it where it was. The ports may linger in TIME_WAIT
    /// or be held for a moment by the old process, so the start is retried until it binds.
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + START_TIMEOUT;
        while !self.spawn_and_wait(deadline) {
            if Instant::now() >= deadline {
                panic!(
                    "nats-server did not restart on 127.0.0.1:{} within {START_TIMEOUT:?}; log:\n{}",
                    self.port,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Number of subscriptions the server holds over all accounts (`/subsz`).
    ///
    /// The server has internal subscriptions of its own, so compare against a count taken
    /// before the client under test subscribes.
    pub fn subscription_count(&self) -> u64 {
        let body = self.monitor_get("/subsz");
        let key = "\"num_subscriptions\":";
        let start = body
            .find(key)
            .unwrap_or_else(|| panic!("no num_subscriptions in /subsz: {body}"))
            + key.len();
        let digits: String = body[start..]
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits
            .parse()
            .unwrap_or_else(|_| panic!("bad num_subscriptions in /subsz: {body}"))
    }

    /// Waits until the server holds at least `count` subscriptions (see
    /// [`NatsServer::subscription_count`]); panics after `timeout`.
    pub fn wait_for_subscriptions(&self, count: u64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let now = self.subscription_count();
            if now >= count {
                return;
            }
            if Instant::now() >= deadline {
                panic!("nats-server holds {now} subscriptions, not {count}, after {timeout:?}");
            }
            std::thread::sleep(POLL);
        }
    }

    /// A plain HTTP/1.0 GET on the monitoring port; the body as text.
    fn monitor_get(&self, path: &str) -> String {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.monitor_port));
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            .unwrap_or_else(|e| panic!("cannot reach the nats-server monitor at {addr}: {e}"));
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
        write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .and_then(|_| stream.flush())
            .unwrap_or_else(|e| panic!("cannot query the nats-server monitor: {e}"));
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .unwrap_or_else(|e| panic!("cannot read the nats-server monitor: {e}"));
        match response.split_once("\r\n\r\n") {
            Some((_, body)) => body.to_string(),
            None => response,
        }
    }

    /// Spawns the server on the current ports and waits for it to greet. False when it
    /// exited early (typically: a port was taken); panics when it neither exits nor listens.
    fn spawn_and_wait(&mut self, deadline: Instant) -> bool {
        let bin = std::env::var_os("NATS_SERVER_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_NATS_SERVER_BIN));
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("cannot open the nats-server log file");
        let mut command = Command::new(&bin);
        command
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-m", &self.monitor_port.to_string()])
            .stdin(Stdio::null())
            .stdout(
                log.try_clone()
                    .expect("cannot share the nats-server log file"),
            )
            .stderr(log);
        if let Some(config) = &self.config {
            command.arg("-c").arg(config);
        }
        if self.jetstream {
            command
                .arg("-js")
                .arg("-sd")
                .arg(self.dir.path().join("jetstream"));
        }
        let child = command.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot run {} (set NATS_SERVER_BIN to the nats-server binary): {e}",
                bin.display()
            )
        });
        self.child = Some(child);

        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            if let Some(child) = &mut self.child {
                if let Ok(Some(_)) = child.try_wait() {
                    self.child = None;
                    return false;
                }
            }
            if greets(addr) {
                // Something else may hold the port: only our own live process counts.
                if self.is_running() {
                    return true;
                }
                self.child = None;
                return false;
            }
            if Instant::now() >= deadline {
                self.stop();
                panic!(
                    "nats-server did not accept connections on {addr} within {START_TIMEOUT:?}; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(POLL);
        }
    }
}

/// True when a NATS server answers on `addr`. Accepting TCP is not proof enough: connecting to
/// a free port in the ephemeral range can connect the socket to itself, and that socket would
/// then hold the port the server is about to bind.
fn greets(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let mut greeting = [0u8; 5];
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .is_ok()
        && stream.read_exact(&mut greeting).is_ok()
        && &greeting == b"INFO "
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use std::io::BufRead;

    use super::*;

    /// True when a process with this pid exists (a reaped child no longer does).
    fn alive(pid: u32) -> bool {
        // SAFETY: signal 0 only checks that the process exists; nothing is delivered.
        unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
    }

    /// Connects over TCP and reads the server's greeting: the NATS protocol opens with `INFO`.
    fn check_speaks_nats(server: &NatsServer) {
        let mut stream = TcpStream::connect(("127.0.0.1", server.port())).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut greeting = [0u8; 5];
        stream.read_exact(&mut greeting).expect("read INFO");
        assert_eq!(&greeting, b"INFO ");
    }

    #[test]
    fn starts_on_an_ephemeral_port_and_speaks_nats() {
        let server = NatsServer::start();
        assert_eq!(server.url(), format!("nats://127.0.0.1:{}", server.port()));
        assert_ne!(server.port(), 4222);
        check_speaks_nats(&server);
        assert!(!server.jetstream());
    }

    #[test]
    fn jetstream_keeps_its_store_in_the_temporary_directory() {
        let server = NatsServer::start_with_jetstream();
        check_speaks_nats(&server);
        assert!(server.dir().join("jetstream").is_dir());
        assert!(server.log().contains("JetStream"), "{}", server.log());
    }

    #[test]
    fn restart_comes_back_on_the_same_port_as_a_new_process() {
        let mut server = NatsServer::start();
        let (port, pid) = (server.port(), server.pid().unwrap());
        // A connection open across the stop leaves the port in TIME_WAIT.
        let _client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        server.restart();
        assert_eq!(server.port(), port);
        assert_ne!(server.pid().unwrap(), pid);
        assert!(!alive(pid));
        check_speaks_nats(&server);
    }

    #[test]
    fn stop_is_idempotent_and_frees_the_port() {
        let mut server = NatsServer::start();
        server.stop();
        server.stop();
        assert!(!server.is_running());
        assert!(TcpStream::connect(("127.0.0.1", server.port())).is_err());
    }

    #[test]
    fn drop_kills_the_process() {
        let server = NatsServer::start();
        let pid = server.pid().unwrap();
        assert!(alive(pid));
        drop(server);
        assert!(!alive(pid));
    }

    #[test]
    fn subscriptions_are_counted() {
        let server = NatsServer::start();
        let before = server.subscription_count();
        let mut stream = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
        stream
            .write_all(b"CONNECT {\"verbose\":false}\r\nSUB a.> 1\r\nPING\r\n")
            .unwrap();
        server.wait_for_subscriptions(before + 1, Duration::from_secs(5));
    }

    /// Sends a CONNECT with `options` and a PING; the server's first line after INFO answers.
    fn check_reply(server: &NatsServer, options: &str, expected: &str) {
        let stream = TcpStream::connect(("127.0.0.1", server.port())).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut lines = std::io::BufReader::new(stream.try_clone().unwrap()).lines();
        let info = lines.next().unwrap().expect("read INFO");
        assert!(info.starts_with("INFO "), "{info}");
        write!(&stream, "CONNECT {options}\r\nPING\r\n").unwrap();
        let reply = lines.next().unwrap().expect("read the reply");
        assert_eq!(reply, expected, "{}", server.log());
    }

    #[test]
    fn a_configuration_file_is_read_and_read_again_on_restart() {
        // The file's port loses to the testkit's flags.
        let conf = "port: 4222\nauthorization { token: \"s3cret\" }\n";
        let mut server = NatsServer::start_with_config(conf);
        assert_ne!(server.port(), 4222);
        let path = server.config_path().unwrap().to_path_buf();
        assert!(path.starts_with(server.dir()));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), conf);
        for _ in 0..2 {
            check_reply(
                &server,
                r#"{"verbose":false}"#,
                "-ERR 'Authorization Violation'",
            );
            check_reply(
                &server,
                r#"{"verbose":false,"auth_token":"s3cret"}"#,
                "PONG",
            );
            server.restart();
        }
        assert!(NatsServer::start().config_path().is_none());
    }

    #[test]
    #[should_panic(expected = "bad configuration")]
    fn a_configuration_the_server_rejects_fails_the_start_with_its_log() {
        NatsServer::start_with_config("authorization { token: ");
    }

    #[test]
    fn free_ports_are_bindable() {
        let port = free_port();
        assert_ne!(port, 0);
        TcpListener::bind(("127.0.0.1", port)).expect("the port is free");
    }
}
