//! The listener: TLS handshakes, HTTP/1.1 connections, and the runtime
//! they run on, in the foreground (`reprise serve`) or on a background
//! thread (`reprise demo`, tests).
//!
//! Slow or silent clients are cut off (handshake, header and body
//! timeouts, and a client that stops reading an answer, see
//! `send_deadline`), connections are capped per address and in all, and those
//! without a token give way to newcomers (see `admission`), so a
//! misbehaving client can tie up a bounded share of the server, never all
//! of it. Requests the HTTP parser refuses before the handler sees them
//! (431, 414, 400) get their audit line here.

use crate::admission::{Admission, Slot};
use crate::audit::AuditLog;
use crate::http::{self, State, TokenSource};
use crate::quota::Usage;
use crate::send_deadline::SendDeadline;
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
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request's head may take to arrive, and a kept-alive
/// connection may stay idle.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The connection's read buffer, which also bounds a request's head: with
/// [`http::UPLOAD_CHUNK`], it bounds what an upload holds in memory. Above
/// hyper's 64 KiB limit on a URI, so that a longer one gets its 414.
pub(crate) const READ_BUFFER: usize = 96 << 10;
/// A client that takes none of what the server sends for this long is
/// dropped, with the object being sent to it.
const SEND_IDLE: Duration = Duration::from_secs(60);

/// A server ready to serve: files opened, certificate loaded, port bound.
pub struct Server {
    state: Arc<State>,
    admission: Arc<Admission>,
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
        create_data_dir(&data_dir)?;
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
            admission: Admission::new(config.max_connections, config.max_connections_per_address),
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
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = &mut stop => return Ok(()),
            };
            let (tcp, remote) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, usually: wait for some to close.
                    eprintln!("reprise serve: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let slot = tokio::select! {
                slot = self.admission.admit(remote.ip()) => slot,
                () = &mut stop => return Ok(()),
            };
            // Refused: closed at once, before TLS costs anything.
            let Ok(slot) = slot else { continue };
            let conn = connection(
                tcp,
                remote,
                self.acceptor.clone(),
                Arc::clone(&self.state),
                slot,
            );
            tokio::spawn(conn);
        }
    }
}

/// Creates the data directory, private to the server's user.
fn create_data_dir(dir: &Path) -> Result<(), ServerError> {
    use std::os::unix::fs::PermissionsExt;
    if !dir.is_dir() {
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| ServerError::io(parent, e))?;
        }
        crate::store::create_private_dir(dir).map_err(|e| ServerError::io(dir, e))?;
    }
    // Made by an earlier version, or by hand: whatever is under it holds
    // the clients' wrapped keys, which nobody else may copy.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| ServerError::io(dir, e))
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
    slot: Slot,
) {
    let slot = Arc::new(slot);
    let evicted = Arc::clone(&slot.evicted);
    tokio::select! {
        () = serve_connection(tcp, remote, acceptor, state, Arc::clone(&slot)) => {}
        () = evicted.notified() => {}
    }
}

async fn serve_connection(
    tcp: TcpStream,
    remote: SocketAddr,
    acceptor: TlsAcceptor,
    state: Arc<State>,
    slot: Arc<Slot>,
) {
    let _ = tcp.set_nodelay(true);
    let tcp = SendDeadline::new(tcp, SEND_IDLE);
    let Ok(Ok(stream)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await else {
        return;
    };
    let proven: http::Proven = Arc::new(move || slot.prove());
    let service_state = Arc::clone(&state);
    let service = service_fn(move |request| {
        http::handle(
            Arc::clone(&service_state),
            remote,
            Arc::clone(&proven),
            request,
        )
    });
    let served = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(READ_BUFFER)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(e) = served {
        if let Some(status) = refused_by_parser(&e) {
            http::record_unparsed(&state, remote, status, e.to_string()).await;
        }
    }
}

/// The status the HTTP parser answered a request it could not parse with
/// (hyper sends it itself), if the error is one.
fn refused_by_parser(e: &hyper::Error) -> Option<u16> {
    if e.is_parse_too_large() {
        // hyper has no predicate for a URI over its limit; its message
        // is the only thing that tells 414 from 431.
        let uri = e.to_string().contains("URI too long");
        return Some(if uri { 414 } else { 431 });
    }
    e.is_parse().then_some(400)
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
