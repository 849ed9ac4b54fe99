//! The listener: TLS handshakes, HTTP/1.1 connections, and the runtime
//! they run on, in the foreground (`reprise serve`) or on a background
//! thread (`reprise demo`, tests).
//!
//! Slow or silent clients are cut off (handshake, header and body
//! timeouts) and connections are capped, so a misbehaving client can tie
//! up a bounded share of the server, never all of it.

use crate::audit::AuditLog;
use crate::http::{self, State, TokenSource};
use crate::quota::Usage;
use crate::store::Store;
use crate::token::Tokens;
use crate::{tls, Config, ServerError};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Open connections at most; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 512;

/// A server ready to serve: files opened, certificate loaded, port bound.
pub struct Server {
    state: Arc<State>,
    listener: std::net::TcpListener,
    acceptor: TlsAcceptor,
    local_addr: SocketAddr,
    generated_cert: Option<PathBuf>,
    data_dir: PathBuf,
}

impl Server {
    /// Prepares the data directory, audit log, usage counts and
    /// certificate, and binds the listening socket. With `config_path`,
    /// token changes to that file apply without a restart.
    pub fn bind(config: &Config, config_path: Option<&Path>) -> Result<Server, ServerError> {
        let data_dir = config.data_dir.clone();
        std::fs::create_dir_all(&data_dir).map_err(|e| ServerError::io(&data_dir, e))?;
        let tls = tls::load_or_generate(config)?;
        let audit_path = config.audit_log();
        let audit = AuditLog::open(&audit_path).map_err(|e| ServerError::io(&audit_path, e))?;
        let state = State {
            store: Store::new(data_dir.clone()),
            tokens: TokenSource::new(
                config_path.map(Path::to_path_buf),
                Tokens::from_entries(&config.tokens),
            ),
            usage: Usage::open(&config.usage_file())?,
            audit,
            retention: Duration::from_secs(u64::from(config.retention_days) * 86_400),
            retention_days: config.retention_days,
            max_object_bytes: config.max_object_bytes,
        };
        let bind_err = |source| ServerError::Bind {
            addr: config.listen,
            source,
        };
        let listener = std::net::TcpListener::bind(config.listen).map_err(bind_err)?;
        listener.set_nonblocking(true).map_err(bind_err)?;
        let local_addr = listener.local_addr().map_err(bind_err)?;
        Ok(Server {
            state: Arc::new(state),
            listener,
            acceptor: TlsAcceptor::from(tls.config),
            local_addr,
            generated_cert: tls.generated_cert,
            data_dir,
        })
    }

    /// The address it listens on (the real port when the file said 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The self-signed certificate clients must trust, when generated.
    pub fn generated_cert(&self) -> Option<&Path> {
        self.generated_cert.as_deref()
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn audit_log(&self) -> &Path {
        self.state.audit.path()
    }

    /// Serves until the process ends.
    pub fn run(self) -> Result<(), ServerError> {
        let runtime = runtime()?;
        runtime.block_on(self.serve(Box::pin(std::future::pending())))
    }

    /// Serves on a background thread until the handle is stopped or dropped.
    pub fn spawn(self) -> Result<ServerHandle, ServerError> {
        let runtime = runtime()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let addr = self.local_addr;
        let thread = std::thread::Builder::new()
            .name("reprise-serve".into())
            .spawn(move || {
                let result = runtime.block_on(self.serve(Box::pin(async {
                    let _ = stopped.await;
                })));
                // Requests still running get a moment to finish their writes.
                runtime.shutdown_timeout(Duration::from_secs(5));
                result
            })
            .map_err(|e| ServerError::Runtime(e.to_string()))?;
        Ok(ServerHandle {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    async fn serve(
        self,
        mut stop: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Result<(), ServerError> {
        let listener = TcpListener::from_std(self.listener)
            .map_err(|e| ServerError::Runtime(e.to_string()))?;
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let permit = tokio::select! {
                permit = Arc::clone(&slots).acquire_owned() => permit,
                () = &mut stop => return Ok(()),
            };
            let Ok(permit) = permit else { return Ok(()) };
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = &mut stop => return Ok(()),
            };
            match accepted {
                Ok((tcp, remote)) => {
                    let conn = connection(
                        tcp,
                        remote,
                        self.acceptor.clone(),
                        Arc::clone(&self.state),
                        permit,
                    );
                    tokio::spawn(conn);
                }
                Err(e) => {
                    // Out of file descriptors, usually: wait for some to close.
                    eprintln!("reprise serve: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, ServerError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_io()
        .enable_time()
        .thread_name("reprise-serve")
        .build()
        .map_err(|e| ServerError::Runtime(e.to_string()))
}

async fn connection(
    tcp: TcpStream,
    remote: SocketAddr,
    acceptor: TlsAcceptor,
    state: Arc<State>,
    _slot: OwnedSemaphorePermit,
) {
    let _ = tcp.set_nodelay(true);
    let Ok(Ok(stream)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await else {
        return;
    };
    let service = service_fn(move |request| http::handle(Arc::clone(&state), remote, request));
    let _ = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// A server running on a background thread.
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), ServerError>>>,
}

impl ServerHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets running requests finish, and waits.
    pub fn stop(mut self) -> Result<(), ServerError> {
        self.finish()
    }

    fn finish(&mut self) -> Result<(), ServerError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(ServerError::Runtime("the server thread panicked".into())),
            None => Ok(()),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}
