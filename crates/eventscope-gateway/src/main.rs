//! `eventscope-gateway`: flags, the token keys, logging and signals around
//! [`eventscope_gateway::Gateway`].
//!
//! Tokens are checked with exactly one of: an HS256 secret from `EVENTSCOPE_JWT_SECRET` or
//! `--jwt-secret-file` (never from an argument: arguments are visible to every user of the
//! machine), a PEM public key (`--jwt-public-key`), or a JWK set (`--jwks`). The first line on
//! stdout is `listening on ADDR:PORT`, so a caller that asked for port 0 learns the port.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use eventscope_core::gateway::protocol;
use eventscope_core::wire::{ConnectionProfile, NatsAuth, TlsSettings};
use eventscope_gateway::auth::Verifier;
use eventscope_gateway::{Config, Limits};

const SECRET_ENV: &str = "EVENTSCOPE_JWT_SECRET";

#[derive(Parser)]
#[command(
    name = "eventscope-gateway",
    version,
    about = "The platform's real-time WebSocket gateway over NATS"
)]
struct Args {
    /// NATS server URL (comma-separated for several)
    #[arg(long, value_name = "URL", default_value = eventscope_core::DEFAULT_NATS_URL)]
    nats_url: String,
    /// Address to listen on (port 0 picks a free port)
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// File holding the HS256 secret tokens are signed with (instead of EVENTSCOPE_JWT_SECRET)
    #[arg(long, value_name = "PATH")]
    jwt_secret_file: Option<PathBuf>,
    /// PEM public key tokens are signed with: RS256 for an RSA key, ES256 for an EC P-256 key
    #[arg(long, value_name = "PATH")]
    jwt_public_key: Option<PathBuf>,
    /// JWK set (JSON) of the keys tokens are signed with: the token's `kid` picks the key, the
    /// key its algorithm (RSA: RS256, EC P-256: ES256)
    #[arg(long, value_name = "PATH")]
    jwks: Option<PathBuf>,
    /// Seconds between pings; a client silent for two intervals is closed (4008)
    #[arg(long, value_name = "SECS", default_value_t = protocol::DEFAULT_HEARTBEAT_SECS)]
    heartbeat_secs: u64,
    /// Subscriptions one connection may hold
    #[arg(long, value_name = "N", default_value_t = protocol::DEFAULT_MAX_SUBSCRIPTIONS)]
    max_subscriptions: usize,
    /// Largest client frame in bytes
    #[arg(long, value_name = "BYTES", default_value_t = protocol::DEFAULT_MAX_FRAME_BYTES)]
    max_frame_bytes: usize,
    /// Events queued per client before it counts as lagging
    #[arg(long, value_name = "N", default_value_t = protocol::DEFAULT_SEND_QUEUE)]
    send_queue: usize,
    /// Bytes queued per client: events beyond it are missed (as beyond --send-queue), an answer
    /// beyond it closes the connection (4009)
    #[arg(long, value_name = "BYTES", default_value_t = protocol::DEFAULT_SEND_QUEUE_BYTES)]
    send_queue_bytes: usize,
    /// Events a lagging client may miss in a row before it is disconnected (4009)
    #[arg(long, value_name = "N", default_value_t = protocol::DEFAULT_MAX_MISSED)]
    max_missed: u64,
    /// Open connections at most (WebSocket or plain HTTP); beyond it a connection is answered
    /// 503 [default: the descriptor limit, raised to its hard limit, less 64]
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Seconds a connection has to send its request and be upgraded; then it is closed
    #[arg(long, value_name = "SECS", default_value_t = eventscope_gateway::DEFAULT_UPGRADE_TIMEOUT_SECS)]
    upgrade_timeout_secs: u64,
    /// The JetStream stream `history` requests read [default: the one whose subjects hold the
    /// requested topic]
    #[arg(long, value_name = "NAME")]
    history_stream: Option<String>,
    /// NATS user (the password comes from EVENTSCOPE_NATS_PASSWORD)
    #[arg(long, value_name = "USER")]
    nats_user: Option<String>,
    /// Authenticate to NATS with the token in EVENTSCOPE_NATS_TOKEN
    #[arg(long)]
    nats_token_env: bool,
    /// File holding an NKey seed to authenticate to NATS with
    #[arg(long, value_name = "PATH")]
    nats_nkey_file: Option<PathBuf>,
    /// NATS credentials file (.creds)
    #[arg(long, value_name = "PATH")]
    nats_creds: Option<String>,
    /// CA certificate to trust for NATS TLS
    #[arg(long, value_name = "PATH")]
    tls_ca: Option<String>,
    /// Client certificate for NATS TLS (with --tls-key)
    #[arg(long, value_name = "PATH")]
    tls_cert: Option<String>,
    /// Client key for NATS TLS (with --tls-cert)
    #[arg(long, value_name = "PATH")]
    tls_key: Option<String>,
    /// Require TLS to NATS even for nats:// URLs
    #[arg(long)]
    tls_required: bool,
    /// Write the manual page or a shell's completions to stdout and exit (for packagers)
    #[arg(long, value_enum, value_name = "WHAT", hide = true)]
    generate: Option<Generated>,
}

/// What `--generate` writes.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Generated {
    Man,
    Bash,
    Zsh,
    Fish,
}

/// The manual page or the completions, from the same definitions the parser uses.
fn generate(what: Generated) -> Result<()> {
    use clap::CommandFactory;
    let mut command = Args::command();
    let mut out = std::io::stdout().lock();
    let shell = match what {
        Generated::Man => {
            return clap_mangen::Man::new(command)
                .render(&mut out)
                .and_then(|()| out.flush())
                .context("cannot write the manual page")
        }
        Generated::Bash => clap_complete::Shell::Bash,
        Generated::Zsh => clap_complete::Shell::Zsh,
        Generated::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(shell, &mut command, "eventscope-gateway", &mut out);
    out.flush().context("cannot write the completions")
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if let Some(what) = args.generate {
        return match generate(what) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("error: {err:#}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colors only on a terminal: a log file or the journal holds no escape sequences.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("EVENTSCOPE_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")
        .and_then(|rt| rt.block_on(run(args)));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<()> {
    let config = config(&args)?;
    let gateway = eventscope_gateway::Gateway::connect(config)
        .await
        .context("cannot start the gateway")?;
    if let Some(stream) = &args.history_stream {
        gateway.history_stream(stream);
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener
        .local_addr()
        .context("cannot read the bound address")?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {addr}").context("cannot write to stdout")?;
    stdout.flush().context("cannot write to stdout")?;
    tracing::info!(%addr, nats = %args.nats_url, "gateway started");
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        let _ = stop.send(true);
    });
    gateway
        .serve(listener, shutdown)
        .await
        .context("the gateway stopped")?;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn config(args: &Args) -> Result<Config> {
    let verifier = verifier(args)?;
    tracing::info!(?verifier, "token keys");
    if args.heartbeat_secs == 0 {
        bail!("invalid --heartbeat-secs 0: expected at least 1");
    }
    if args.upgrade_timeout_secs == 0 {
        bail!("invalid --upgrade-timeout-secs 0: expected at least 1");
    }
    if args.max_connections == Some(0) {
        bail!("invalid --max-connections 0: expected at least 1");
    }
    let env_secret = |name: &str| std::env::var(name).with_context(|| format!("{name} is not set"));
    let auth = if let Some(user) = &args.nats_user {
        NatsAuth::UserPassword {
            user: user.clone(),
            password: env_secret("EVENTSCOPE_NATS_PASSWORD")?,
        }
    } else if args.nats_token_env {
        NatsAuth::Token {
            token: env_secret("EVENTSCOPE_NATS_TOKEN")?,
        }
    } else if let Some(path) = &args.nats_nkey_file {
        NatsAuth::NKey {
            seed: std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?
                .trim()
                .to_string(),
        }
    } else if let Some(path) = &args.nats_creds {
        NatsAuth::CredsFile { path: path.clone() }
    } else {
        NatsAuth::None
    };
    Ok(Config {
        nats: ConnectionProfile {
            servers: args
                .nats_url
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            subjects: Vec::new(),
            auth,
            tls: TlsSettings {
                required: args.tls_required,
                ca_file: args.tls_ca.clone(),
                cert_file: args.tls_cert.clone(),
                key_file: args.tls_key.clone(),
            },
            ..ConnectionProfile::default()
        },
        verifier,
        heartbeat: Duration::from_secs(args.heartbeat_secs),
        limits: Limits {
            max_subscriptions: args.max_subscriptions,
            max_frame_bytes: args.max_frame_bytes,
            send_queue: args.send_queue,
            send_queue_bytes: args.send_queue_bytes,
            max_missed: args.max_missed,
            max_connections: args
                .max_connections
                .unwrap_or_else(eventscope_gateway::listener::default_max_connections),
            upgrade_timeout: Duration::from_secs(args.upgrade_timeout_secs),
        },
    })
}

/// The one key source the flags and the environment name; the algorithm follows from it.
fn verifier(args: &Args) -> Result<Verifier> {
    // An empty variable counts as unset, as it always did.
    let env_secret = std::env::var(SECRET_ENV).ok().filter(|s| !s.is_empty());
    // The file wins over the variable, as it always did: both are the shared secret.
    let secret = match (&args.jwt_secret_file, &env_secret) {
        (Some(_), _) => Some("--jwt-secret-file"),
        (None, Some(_)) => Some(SECRET_ENV),
        (None, None) => None,
    };
    let given: Vec<&str> = [
        secret,
        args.jwt_public_key.as_ref().map(|_| "--jwt-public-key"),
        args.jwks.as_ref().map(|_| "--jwks"),
    ]
    .into_iter()
    .flatten()
    .collect();
    match given.len() {
        0 => bail!("no JWT key: set {SECRET_ENV} or give --jwt-secret-file, --jwt-public-key or --jwks"),
        1 => {}
        _ => bail!(
            "more than one JWT key ({}): give exactly one of {SECRET_ENV} (or --jwt-secret-file), --jwt-public-key, --jwks",
            given.join(", ")
        ),
    }
    let read = |path: &Path| {
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
    };
    let using = |flag: &str, path: &Path| format!("cannot use {flag} {}", path.display());
    if let Some(path) = &args.jwks {
        let verifier = Verifier::key_set(&read(path)?).with_context(|| using("--jwks", path))?;
        for key in verifier.set_aside() {
            tracing::warn!(jwks = %path.display(), "{key}; tokens that name it are refused");
        }
        return Ok(verifier);
    }
    if let Some(path) = &args.jwt_public_key {
        return Verifier::public_key(&read(path)?).with_context(|| using("--jwt-public-key", path));
    }
    match &args.jwt_secret_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Verifier::hs256(text.trim_end_matches(['\n', '\r']).as_bytes())
                .with_context(|| using("--jwt-secret-file", path))
        }
        None => Verifier::hs256(env_secret.unwrap_or_default().as_bytes())
            .with_context(|| format!("cannot use {SECRET_ENV}")),
    }
}
