//! The gateway's TCP listener: a cap on open connections (503 beyond it) and a deadline for a
//! connection to be upgraded to a WebSocket, so silent or half-sent HTTP requests cannot hold
//! the gateway's descriptors and lock everyone out.
//!
//! Each accepted socket is wrapped in a [`Guarded`] stream that counts itself in `/metrics`
//! while open, and fails its reads once the deadline passes unless the request was upgraded.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::metrics::Metrics;

/// How long a refused connection gets to take its 503 answer.
const REFUSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Descriptors kept for everything but client connections (NATS, logs, refusals in flight).
const RESERVED_DESCRIPTORS: u64 = 64;

/// The default `--max-connections`: what the process's descriptor limit allows, after raising
/// its soft limit to the hard one, less a reserve for the rest of the gateway.
pub fn default_max_connections() -> usize {
    // SAFETY: getrlimit/setrlimit write and read only the struct passed.
    let limit = unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024 - RESERVED_DESCRIPTORS as usize;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
        limit.rlim_cur
    };
    limit
        .saturating_sub(RESERVED_DESCRIPTORS)
        .clamp(16, 1 << 20) as usize
}

/// Accepts connections up to `max` open at once; beyond it, answers 503 and closes.
pub struct GuardedListener {
    inner: TcpListener,
    max: usize,
    upgrade_timeout: Duration,
    metrics: Arc<Metrics>,
}

impl GuardedListener {
    pub fn new(
        inner: TcpListener,
        max: usize,
        upgrade_timeout: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        GuardedListener {
            inner,
            max,
            upgrade_timeout,
            metrics,
        }
    }
}

impl Listener for GuardedListener {
    type Io = Guarded;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Guarded, std::net::SocketAddr) {
        loop {
            let (stream, addr) = match self.inner.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or a connection reset before it was taken: the
                    // listener itself is fine, so wait a moment and go on.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let open = self.metrics.http_connections.load(Ordering::Relaxed);
            if open >= self.max as i64 {
                Metrics::add(&self.metrics.refused_connections, 1);
                tokio::spawn(refuse(stream));
                continue;
            }
            Metrics::gauge(&self.metrics.http_connections, 1);
            Metrics::gauge(&self.metrics.upgrading, 1);
            let guarded = Guarded {
                stream,
                upgraded: Arc::new(AtomicBool::new(false)),
                deadline: Box::pin(tokio::time::sleep(self.upgrade_timeout)),
                timed_out: false,
                metrics: self.metrics.clone(),
            };
            return (guarded, addr);
        }
    }

    fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.inner.local_addr()
    }
}

async fn refuse(mut stream: TcpStream) {
    let body = r#"{"code":"too_many_connections","message":"the gateway holds as many connections as it may; retry later"}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 5\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(REFUSE_TIMEOUT, async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}

/// One accepted connection, counted while open.
pub struct Guarded {
    stream: TcpStream,
    upgraded: Arc<AtomicBool>,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timed_out: bool,
    metrics: Arc<Metrics>,
}

impl Drop for Guarded {
    fn drop(&mut self) {
        Metrics::gauge(&self.metrics.http_connections, -1);
        if !self.upgraded.load(Ordering::Relaxed) {
            Metrics::gauge(&self.metrics.upgrading, -1);
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.upgraded.load(Ordering::Relaxed) && this.deadline.as_mut().poll(cx).is_ready() {
            if !this.timed_out {
                this.timed_out = true;
                Metrics::add(&this.metrics.upgrade_timeouts, 1);
            }
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "not upgraded in time",
            )));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// The request's connection, for the upgrade handler to mark it upgraded (its deadline no
/// longer applies).
#[derive(Clone)]
pub struct Conn {
    upgraded: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
}

impl Conn {
    pub fn upgraded(&self) {
        if !self.upgraded.swap(true, Ordering::Relaxed) {
            Metrics::gauge(&self.metrics.upgrading, -1);
        }
    }
}

impl Connected<IncomingStream<'_, GuardedListener>> for Conn {
    fn connect_info(stream: IncomingStream<'_, GuardedListener>) -> Self {
        Conn {
            upgraded: stream.io().upgraded.clone(),
            metrics: stream.io().metrics.clone(),
        }
    }
}
