//! `reprise web`: the operator's dashboard and the public status page over
//! HTTPS.
//!
//! The connection handling is the repository server's (`reprise-server`):
//! rustls with the administrator's certificate or a self-signed one kept in
//! `[web] data_dir/tls`, a cap on connections per address that evicts
//! silent strangers first, deadlines on handshakes, request heads and
//! stalled writes. Requests go to an axum router (`routes`): public pages
//! for anyone, `/metrics` for a bearer token or a session, everything else
//! behind a login (`auth`); drills and recoveries run as background jobs
//! (`crate::jobs`), which a restart of the server resumes. Repository reads, board writes and password
//! checks run on the blocking pool, never on the event loop.

pub mod auth;
mod pages;
mod routes;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use reprise_repo::Repository;
use reprise_server::admission::{Admission, Slot};
use reprise_server::audit::AuditLog;
use reprise_server::send_deadline::SendDeadline;
use reprise_server::tls::{load_or_generate_from, CertificateSource};
use reprise_services::config::Config;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::jobs::{JobContext, Jobs};
use crate::status::board::BoardStore;
use crate::status::privacy::Privacy;
use auth::Auth;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Bounds a request's head; forms are bounded apart (`routes`).
const READ_BUFFER: usize = 64 << 10;
const SEND_IDLE: Duration = Duration::from_secs(60);
const MOST_CONNECTIONS: usize = 256;
const MOST_CONNECTIONS_PER_ADDRESS: usize = 32;
/// How often the index files are listed to see whether a backup added one.
const INDEX_REFRESH: Duration = Duration::from_secs(30);

/// Why the dashboard cannot start.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error(
        "cannot listen on {addr}: {source}; choose another address with [web] listen or --listen"
    )]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] reprise_server::ServerError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Setup(String),
}

/// Everything a request may need.
pub(crate) struct WebState {
    pub config: Config,
    pub repo: Repository,
    pub board: BoardStore,
    pub jobs: Arc<Jobs>,
    pub auth: Auth,
    pub audit: AuditLog,
    pub metrics_token: Option<String>,
    /// Held while snapshots are compared: one comparison at a time.
    pub comparing: std::sync::Mutex<()>,
    /// When each address's throttled logins were last written to the audit
    /// log: once per window each, so refused guesses cannot fill the disk.
    pub throttle_logged:
        std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, std::time::Instant>>,
}

impl WebState {
    /// Whether a throttled login from `address` is the first of its window.
    pub fn first_throttle(&self, address: std::net::IpAddr) -> bool {
        let mut logged = self
            .throttle_logged
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if logged.len() > 10_000 {
            logged.retain(|_, at| at.elapsed() < auth::FAILURE_WINDOW);
        }
        match logged.get(&address) {
            Some(at) if at.elapsed() < auth::FAILURE_WINDOW => false,
            _ => {
                logged.insert(address, std::time::Instant::now());
                true
            }
        }
    }
}

impl JobContext for WebState {
    fn repo(&self) -> &Repository {
        &self.repo
    }

    fn config(&self) -> &Config {
        &self.config
    }
}

/// The client's address and its connection's slot, given to every request.
#[derive(Clone)]
pub(crate) struct Peer {
    pub address: SocketAddr,
    pub slot: Arc<Slot>,
}

/// A bound dashboard, not yet serving.
pub struct WebServer {
    listener: std::net::TcpListener,
    local_addr: SocketAddr,
    acceptor: TlsAcceptor,
    generated_cert: Option<PathBuf>,
    state: Arc<WebState>,
}

impl WebServer {
    /// Binds `listen` (or `[web] listen`), loads or makes the certificate,
    /// opens the audit log.
    pub fn bind(
        config: Config,
        repo: Repository,
        listen: Option<SocketAddr>,
    ) -> Result<WebServer, WebError> {
        let web = &config.web;
        let addr = listen.unwrap_or_else(|| web.listen());
        let data_dir = web.data_dir();
        create_private_dir(&data_dir)?;
        let tls = load_or_generate_from(&CertificateSource {
            cert: web.tls_cert.clone(),
            key: web.tls_key.clone(),
            dir: data_dir.join("tls"),
            listen: addr.ip(),
            names: web.tls_names.clone(),
            // Every visitor of the public page sees the certificate: it
            // names no machine unless the configuration says so.
            include_host_name: false,
            common_name: "reprise dashboard".into(),
        })?;
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|source| WebError::Listen { addr, source })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| WebError::Listen { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| WebError::Listen { addr, source })?;
        let audit_path = data_dir.join("audit.log");
        let audit = AuditLog::open(&audit_path).map_err(|source| WebError::Io {
            path: audit_path,
            source,
        })?;
        let metrics_token = web
            .metrics_token_file
            .as_deref()
            .map(read_token)
            .transpose()?;
        let auth = Auth::new(web.accounts.clone(), web.session_idle()).map_err(WebError::Setup)?;
        let board = BoardStore::new(&data_dir, Privacy::of(&config));
        let jobs = Arc::new(Jobs::new(&data_dir));
        Ok(WebServer {
            listener,
            local_addr,
            acceptor: TlsAcceptor::from(tls.config),
            generated_cert: tls.generated_cert,
            state: Arc::new(WebState {
                config,
                repo,
                board,
                jobs,
                auth,
                audit,
                metrics_token,
                comparing: Default::default(),
                throttle_logged: Default::default(),
            }),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The self-signed certificate's file, when one was generated.
    pub fn generated_cert(&self) -> Option<&Path> {
        self.generated_cert.as_deref()
    }

    /// Serves until the process ends.
    pub fn run(self) -> Result<(), WebError> {
        runtime()?.block_on(self.serve(Box::pin(std::future::pending())));
        Ok(())
    }

    /// Serves on a background thread until the handle is stopped or dropped.
    pub fn spawn(self) -> Result<WebHandle, WebError> {
        let runtime = runtime()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let addr = self.local_addr;
        let thread = std::thread::Builder::new()
            .name("reprise-web".into())
            .spawn(move || {
                runtime.block_on(self.serve(Box::pin(async {
                    let _ = stopped.await;
                })));
                runtime.shutdown_timeout(Duration::from_secs(5));
            })
            .map_err(|e| WebError::Setup(format!("cannot start the server's thread: {e}")))?;
        Ok(WebHandle {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    async fn serve(self, mut stop: Pin<Box<dyn Future<Output = ()> + Send>>) {
        let Ok(listener) = TcpListener::from_std(self.listener) else {
            eprintln!("reprise web: cannot hand the socket to the event loop");
            return;
        };
        for id in self
            .state
            .jobs
            .resume_interrupted(Arc::clone(&self.state) as Arc<dyn JobContext>)
        {
            eprintln!("reprise web: job {id} was cut off when the server stopped: resuming it");
        }
        tokio::spawn(keep_index_fresh(Arc::clone(&self.state)));
        let admission = Admission::new(MOST_CONNECTIONS, MOST_CONNECTIONS_PER_ADDRESS);
        let router = routes::router(Arc::clone(&self.state));
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = &mut stop => return,
            };
            let (tcp, remote) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("reprise web: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let slot = tokio::select! {
                slot = admission.admit(remote.ip()) => slot,
                () = &mut stop => return,
            };
            let Ok(slot) = slot else { continue };
            tokio::spawn(connection(
                tcp,
                remote,
                self.acceptor.clone(),
                router.clone(),
                slot,
            ));
        }
    }
}

/// Loads the index when the server starts, then again whenever a backup
/// added index files, off the event loop: browsing never waits for it
/// unless it asks for a snapshot newer than the last check.
async fn keep_index_fresh(state: Arc<WebState>) {
    loop {
        let checking = Arc::clone(&state);
        let refreshed = tokio::task::spawn_blocking(move || checking.repo.refresh_index()).await;
        if let Ok(Err(e)) = refreshed {
            eprintln!("reprise web: cannot load the repository's index: {e}");
        }
        tokio::time::sleep(INDEX_REFRESH).await;
    }
}

async fn connection(
    tcp: TcpStream,
    remote: SocketAddr,
    acceptor: TlsAcceptor,
    router: axum::Router,
    slot: Slot,
) {
    let slot = Arc::new(slot);
    let evicted = Arc::clone(&slot.evicted);
    tokio::select! {
        () = serve_connection(tcp, remote, acceptor, router, slot) => {}
        () = evicted.notified() => {}
    }
}

async fn serve_connection(
    tcp: TcpStream,
    remote: SocketAddr,
    acceptor: TlsAcceptor,
    router: axum::Router,
    slot: Arc<Slot>,
) {
    let _ = tcp.set_nodelay(true);
    let tcp = SendDeadline::new(tcp, SEND_IDLE);
    let Ok(Ok(stream)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await else {
        return;
    };
    let peer = Peer {
        address: remote,
        slot,
    };
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(peer.clone());
        router.clone().oneshot(request)
    });
    let _ = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(READ_BUFFER)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

fn runtime() -> Result<tokio::runtime::Runtime, WebError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_io()
        .enable_time()
        .thread_name("reprise-web")
        .build()
        .map_err(|e| WebError::Setup(format!("cannot start the event loop: {e}")))
}

fn create_private_dir(dir: &Path) -> Result<(), WebError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let io = |source| WebError::Io {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io)?;
    // Sessions' audit trail, the certificate's key and the board: nobody
    // else's to read.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)
}

/// The token in `path`: its first line, which must not be empty.
fn read_token(path: &Path) -> Result<String, WebError> {
    let text = std::fs::read_to_string(path).map_err(|source| WebError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let token = text.lines().next().unwrap_or("").trim().to_owned();
    if token.len() < 16 {
        return Err(WebError::Setup(format!(
            "{}: the metrics token must be at least 16 characters on the first line (`openssl rand -hex 32 > {}`)",
            path.display(),
            path.display()
        )));
    }
    Ok(token)
}

/// A dashboard running on a background thread.
pub struct WebHandle {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WebHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets running requests finish, and waits.
    pub fn stop(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for WebHandle {
    fn drop(&mut self) {
        self.finish();
    }
}
