//! The public face of the server: [`ServerOptions`], binding a [`Server`]
//! to a directory and an address, and running it in the foreground or as
//! a [`RunningServer`] in the background until shut down.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use mio::{Poll, Waker};
use thiserror::Error;
use tracing::{error, info};

use crate::budget;
use crate::config::Config;
use crate::file_service::FileService;
use crate::metrics::Metrics;
use crate::metrics_http::MetricsHttp;
use crate::peers::Peers;
use crate::pool::Pool;
use crate::proxy::ProxyOptions;
use crate::published::Published;
use crate::shared::{Shared, WorkerShare};
use crate::sys;
use crate::tls::{Tls, TlsError};
use crate::worker::{self, Listener};

/// File-system threads kept once started.
const MIN_FS_THREADS: usize = 2;

/// Everything a server can be told: where to listen, what to serve, and
/// the limits every connection is held to.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Address and port to listen on (port 0 picks a free one).
    pub address: SocketAddr,
    /// Directory whose regular files are served; created if missing.
    pub directory: PathBuf,
    /// Most clients served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Close a connection with no progress in either direction for this long.
    pub idle_timeout: Duration,
    /// A request line must be complete this long after its first byte.
    pub request_timeout: Duration,
    /// Hard limit on a request line, in bytes; longer lines get 101.
    pub max_request_bytes: usize,
    /// Worker threads, each with its own event loop (0: one per core).
    pub threads: usize,
    /// How long a shutdown lets responses in flight finish.
    pub shutdown_grace: Duration,
    /// A file-system operation (lookup, open, read, listing) not done this
    /// long after a request asked for it answers that request `199`; every
    /// other client is served meanwhile.
    pub fs_timeout: Duration,
    /// Most connections from one client address; past it, that address's
    /// new connections are closed at once (`None`: no limit).
    pub max_connections_per_ip: Option<usize>,
    /// Most file-system threads (they start as needed).
    pub fs_threads: usize,
    /// Serve plain HFTP on `address`; `false` (with `tls` set) serves
    /// TLS only.
    pub plain: bool,
    /// Serve HFTP over TLS too (see [`TlsOptions`]).
    pub tls: Option<TlsOptions>,
    /// Where to serve Prometheus metrics (`GET /metrics`), if anywhere
    /// (port 0 picks a free one: see [`Server::metrics_addr`]). Meant for
    /// a private address.
    pub metrics_address: Option<SocketAddr>,
    /// The PROXY protocol (docs/PROTOCOL.md §6): when set, connections
    /// (all, or those from [`ProxyOptions::from`]) must begin with a v1 or
    /// v2 header within `request_timeout`, and the address it names is
    /// the client's. `None` (the default): off.
    pub proxy_protocol: Option<ProxyOptions>,
}

/// Where and with which certificate HFTP is served over TLS.
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// Address and port of the TLS listener (port 0 picks a free one).
    pub address: SocketAddr,
    /// PEM file holding the certificate chain, the server's own first.
    pub cert: PathBuf,
    /// PEM file holding its private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub key: PathBuf,
}

impl Default for ServerOptions {
    /// The course's defaults: `0.0.0.0:19500`, directory `testdata`, and
    /// the `hftp-server` command line's limits.
    fn default() -> Self {
        ServerOptions {
            address: SocketAddr::from(([0, 0, 0, 0], 19500)),
            directory: PathBuf::from("testdata"),
            max_connections: 10_000,
            idle_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            max_request_bytes: hftp_proto::RequestDecoder::DEFAULT_MAX_LINE,
            threads: 0,
            shutdown_grace: Duration::from_secs(5),
            fs_timeout: Duration::from_secs(10),
            max_connections_per_ip: None,
            fs_threads: 64,
            plain: true,
            tls: None,
            metrics_address: None,
            proxy_protocol: None,
        }
    }
}

/// Why a server could not start or stopped abnormally.
#[derive(Debug, Error)]
pub enum ServerError {
    /// The directory is missing, not a directory, or cannot be listed.
    #[error("cannot serve {}: {source}", path.display())]
    Directory {
        /// The directory asked for.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// The address cannot be bound (in use, no permission, not local).
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// The address asked for.
        address: SocketAddr,
        /// What the system said.
        source: io::Error,
    },
    /// The TLS certificate or key cannot be used.
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    /// Neither plain HFTP nor TLS is to be served.
    #[error("nothing to serve on: plain HFTP is off and no TLS listener is set")]
    NoListener,
    /// The socket given to [`Server::from_listener`] (e.g. inherited from
    /// systemd) is not a listening TCP socket.
    #[error("cannot serve on the socket handed over: {reason}")]
    Listener {
        /// What is wrong with it.
        reason: String,
    },
    /// The metrics address cannot be bound.
    #[error("cannot serve metrics on {address}: {source}")]
    Metrics {
        /// The address asked for.
        address: SocketAddr,
        /// What the system said.
        source: io::Error,
    },
    /// A worker thread could not start or failed.
    #[error("worker failed: {0}")]
    Worker(io::Error),
    /// A worker thread panicked (a bug: please report it).
    #[error("a worker thread panicked")]
    Panicked,
}

/// A bound server, not yet serving: clients that connect now wait in the
/// listen backlog until [`Server::run`] or [`Server::spawn`].
#[derive(Debug)]
pub struct Server {
    listeners: Vec<Listener>,
    local: SocketAddr,
    tls_local: Option<SocketAddr>,
    threads: usize,
    /// One event loop per worker, made with the server so that every
    /// worker's waker is in `shared` before any worker starts.
    polls: Vec<Poll>,
    shared: Arc<Shared>,
    /// The metrics endpoint, serving until the server stops.
    metrics_http: Option<MetricsHttp>,
}

impl Server {
    /// Opens the directory (which must exist) and binds the address.
    pub fn bind(options: ServerOptions) -> Result<Server, ServerError> {
        let published = publish(&options)?;
        let bound =
            |address| listen(address).map_err(|source| ServerError::Listen { address, source });
        let plain = match options.plain {
            true => Some(bound(options.address)?),
            false => None,
        };
        let tls = match &options.tls {
            Some(t) => Some(bound(t.address)?),
            None => None,
        };
        Server::with(published, plain, tls, options)
    }

    /// Opens the directory (which must exist) and serves on `listener`, a
    /// TCP socket already bound and listening (e.g. one inherited from
    /// systemd): as [`Server::bind`], with `options.address` unused. The
    /// socket is made non-blocking; anything but a listening TCP socket
    /// is refused with [`ServerError::Listener`] saying why.
    ///
    /// ```
    /// use hftp_server::{Server, ServerOptions};
    ///
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let address = listener.local_addr()?;
    /// let server = Server::from_listener(listener, ServerOptions {
    ///     directory: std::env::temp_dir(),
    ///     ..ServerOptions::default()
    /// })?;
    /// assert_eq!(server.local_addr(), address);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_listener(
        listener: TcpListener,
        options: ServerOptions,
    ) -> Result<Server, ServerError> {
        Server::from_listeners(Some(listener), None, options)
    }

    /// As [`Server::from_listener`], with a plain listener, a TLS one, or
    /// both (a TLS one needs `options.tls` for the certificate; its
    /// `address` is unused).
    pub fn from_listeners(
        plain: Option<TcpListener>,
        tls: Option<TcpListener>,
        options: ServerOptions,
    ) -> Result<Server, ServerError> {
        let published = publish(&options)?;
        for listener in plain.iter().chain(tls.iter()) {
            if let Some(reason) = sys::not_a_tcp_listener(listener) {
                return Err(ServerError::Listener { reason });
            }
            listener
                .set_nonblocking(true)
                .map_err(|e| ServerError::Listener {
                    reason: e.to_string(),
                })?;
        }
        if tls.is_some() && options.tls.is_none() {
            return Err(ServerError::Listener {
                reason: "a TLS socket needs a certificate and key (TlsOptions)".into(),
            });
        }
        Server::with(published, plain, tls, options)
    }

    fn with(
        published: Published,
        plain: Option<TcpListener>,
        tls_socket: Option<TcpListener>,
        options: ServerOptions,
    ) -> Result<Server, ServerError> {
        let tls = match (&options.tls, &tls_socket) {
            (Some(t), Some(_)) => Some(Tls::new(&t.cert, &t.key)?),
            _ => None,
        };
        let address_of = |socket: &Option<TcpListener>| match socket {
            Some(s) => s.local_addr().map(Some).map_err(|e| ServerError::Listener {
                reason: e.to_string(),
            }),
            None => Ok(None),
        };
        let tls_local = address_of(&tls_socket)?;
        let local = address_of(&plain)?
            .or(tls_local)
            .ok_or(ServerError::NoListener)?;
        let listeners: Vec<Listener> = plain
            .map(|socket| Listener { socket, tls: false })
            .into_iter()
            .chain(tls_socket.map(|socket| Listener { socket, tls: true }))
            .collect();
        let threads = match options.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let polls = (0..threads)
            .map(|_| Poll::new())
            .collect::<io::Result<Vec<_>>>()
            .map_err(ServerError::Worker)?;
        let wakers = polls
            .iter()
            .map(|poll| Waker::new(poll.registry(), worker::WAKE))
            .collect::<io::Result<Vec<_>>>()
            .map_err(ServerError::Worker)?;
        let open_files = sys::limits::open_files();
        let budget = budget::plan(
            open_files,
            options.max_connections,
            options.fs_threads,
            threads,
        );
        let pool = Pool::new(MIN_FS_THREADS, budget.fs_threads);
        let metrics = Arc::new(Metrics::new());
        let metrics_http = options
            .metrics_address
            .map(|address| {
                MetricsHttp::start(address, Arc::clone(&metrics))
                    .map_err(|source| ServerError::Metrics { address, source })
            })
            .transpose()?;
        let shared = Arc::new(Shared {
            root: published.root().to_owned(),
            config: Config {
                max_connections: options.max_connections.max(1),
                idle_timeout: options.idle_timeout,
                request_timeout: options.request_timeout,
                max_request_bytes: options.max_request_bytes,
                shutdown_grace: options.shutdown_grace,
                fs_timeout: options.fs_timeout,
                proxy: options.proxy_protocol.clone(),
            },
            files: FileService::new(published, pool, options.fs_timeout, Arc::clone(&metrics)),
            peers: Peers::new(options.max_connections_per_ip),
            tls,
            metrics,
            connection_limit: AtomicUsize::new(budget.connections),
            open_files: AtomicU64::new(open_files.unwrap_or(u64::MAX)),
            active: AtomicUsize::new(0),
            active_workers: AtomicUsize::new(threads),
            forced_workers: AtomicUsize::new(0),
            workers: (0..threads).map(|_| WorkerShare::default()).collect(),
            wakers,
            shutdown: Arc::new(AtomicBool::new(false)),
        });
        Ok(Server {
            listeners,
            local,
            tls_local,
            threads,
            polls,
            shared,
            metrics_http,
        })
    }

    /// Where metrics are served (with the port actually bound), if
    /// [`ServerOptions::metrics_address`] was given.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_http.as_ref().map(MetricsHttp::local_addr)
    }

    /// The address clients connect to (with the port actually bound): the
    /// plain listener's, or the TLS one's when there is no plain one.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The TLS listener's address, if there is one.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_local
    }

    /// What reloads the TLS certificate and key from their files (e.g. on
    /// SIGHUP), if TLS is served.
    pub fn tls_reloader(&self) -> Option<TlsReloader> {
        self.shared.tls.clone().map(TlsReloader)
    }

    /// The served directory, as an absolute path.
    pub fn root(&self) -> &Path {
        &self.shared.root
    }

    /// Worker threads the server runs.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The flag that shuts the server down when set: stop accepting, let
    /// responses in flight finish within the grace period, then return.
    /// Hand it to a signal handler (e.g. `signal_hook::flag::register`).
    pub fn shutdown_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.shared.shutdown)
    }

    /// Connections served at once: `max_connections`, or fewer if the
    /// open-files limit does not allow that many (see the log).
    pub fn connection_limit(&self) -> usize {
        self.shared.connection_limit.load(Ordering::Relaxed)
    }

    /// A count of the connections this server holds, readable from any
    /// thread (e.g. to log it when a shutdown signal arrives).
    pub fn open_connections(&self) -> OpenConnections {
        OpenConnections(Arc::clone(&self.shared))
    }

    /// Serves on this thread until the shutdown flag is set.
    pub fn run(self) -> Result<(), ServerError> {
        let limit = self.connection_limit();
        let wanted = self.shared.config.max_connections;
        info!(
            "{} worker threads, at most {limit} connections, up to {} file-system threads{}",
            self.threads,
            self.shared.files.pool().max_threads(),
            match self.shared.open_files.load(Ordering::Relaxed) {
                n if limit < wanted => format!(
                    " (the open files limit, {n}, allows {limit} of the {wanted} asked for, \
                     keeping descriptors for file opens; more clients wait in the backlog)"
                ),
                _ => String::new(),
            }
        );
        let Server {
            listeners,
            polls,
            shared,
            // Served until this returns.
            metrics_http: _metrics_http,
            ..
        } = self;
        let mut workers = Vec::with_capacity(polls.len());
        for (i, poll) in polls.into_iter().enumerate() {
            let copies = listeners
                .iter()
                .map(|l| {
                    Ok(Listener {
                        socket: l.socket.try_clone()?,
                        tls: l.tls,
                    })
                })
                .collect::<io::Result<Vec<_>>>();
            let started = copies.and_then(|listeners| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("worker-{i}"))
                    .spawn(move || worker::run(i, poll, listeners, shared))
            });
            match started {
                Ok(handle) => workers.push(handle),
                Err(e) => {
                    // Stop the workers already started before failing.
                    shared.shutdown.store(true, Ordering::SeqCst);
                    drop(listeners);
                    join_all(workers).ok();
                    return Err(ServerError::Worker(e));
                }
            }
        }
        // Only the workers' copies remain: once each has closed its copy
        // at shutdown, the sockets are closed and new clients are refused.
        drop(listeners);
        let result = join_all(workers);
        match &result {
            Ok(()) => info!("shut down"),
            Err(e) => error!("{e}"),
        }
        result
    }

    /// Serves on a background thread; the returned handle shuts the
    /// server down when dropped or on [`RunningServer::shutdown`].
    pub fn spawn(self) -> Result<RunningServer, ServerError> {
        let local = self.local;
        let tls_local = self.tls_local;
        let metrics = self.metrics_addr();
        let flag = self.shutdown_flag();
        let shared = Arc::clone(&self.shared);
        let thread = std::thread::Builder::new()
            .name("hftp-server".into())
            .spawn(move || self.run())
            .map_err(ServerError::Worker)?;
        Ok(RunningServer {
            local,
            tls_local,
            metrics,
            flag,
            shared,
            thread: Some(thread),
        })
    }
}

/// A server serving in the background (see [`Server::spawn`]).
#[derive(Debug)]
pub struct RunningServer {
    local: SocketAddr,
    tls_local: Option<SocketAddr>,
    metrics: Option<SocketAddr>,
    flag: Arc<AtomicBool>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<Result<(), ServerError>>>,
}

impl RunningServer {
    /// The address clients connect to (see [`Server::local_addr`]).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The TLS listener's address, if there is one.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_local
    }

    /// What reloads the TLS certificate (see [`Server::tls_reloader`]).
    pub fn tls_reloader(&self) -> Option<TlsReloader> {
        self.shared.tls.clone().map(TlsReloader)
    }

    /// Where metrics are served, if [`ServerOptions::metrics_address`] was
    /// given.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics
    }

    /// Test hook: holds the number of workers taking connections at `n`
    /// (1 to the number of workers; 0 lets the load decide again), and
    /// makes the others hand their connections over at once.
    #[doc(hidden)]
    pub fn hold_active_workers(&self, n: usize) {
        let n = n.min(self.shared.workers.len());
        self.shared.forced_workers.store(n, Ordering::SeqCst);
        if n > 0 {
            self.shared.active_workers.store(n, Ordering::SeqCst);
        }
        self.shared.wake_all();
    }

    /// Test hook: how many connections each worker holds now.
    #[doc(hidden)]
    pub fn connections_per_worker(&self) -> Vec<usize> {
        self.shared
            .workers
            .iter()
            .map(|w| w.connections.load(Ordering::SeqCst))
            .collect()
    }

    /// Stops accepting, lets responses in flight finish within the grace
    /// period, and waits for the workers to end.
    pub fn shutdown(mut self) -> Result<(), ServerError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), ServerError> {
        self.flag.store(true, Ordering::SeqCst);
        self.shared.wake_all();
        match self.thread.take() {
            Some(thread) => thread.join().map_err(|_| ServerError::Panicked)?,
            None => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn join_all(workers: Vec<JoinHandle<io::Result<()>>>) -> Result<(), ServerError> {
    let mut result = Ok(());
    for handle in workers {
        match handle.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => result = Err(ServerError::Worker(e)),
            Err(_) => result = Err(ServerError::Panicked),
        }
    }
    result
}

/// Reloads a server's TLS certificate and key from their files: new
/// handshakes get the new certificate, connections open keep theirs; on
/// an error the certificate in use stays. See [`Server::tls_reloader`].
#[derive(Debug, Clone)]
pub struct TlsReloader(Tls);

impl TlsReloader {
    /// Reads the files again.
    pub fn reload(&self) -> Result<(), TlsError> {
        self.0.reload()
    }

    /// The certificate file.
    pub fn cert_path(&self) -> &Path {
        self.0.cert_path()
    }
}

/// The directory `options` asks for, opened.
fn publish(options: &ServerOptions) -> Result<Published, ServerError> {
    Published::new(&options.directory).map_err(|source| ServerError::Directory {
        path: options.directory.clone(),
        source,
    })
}

/// Binds the listening socket with a backlog deep enough for the clients
/// that wait there while the connection limit is reached.
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// How many connections a server holds now: see
/// [`Server::open_connections`].
#[derive(Clone)]
pub struct OpenConnections(Arc<Shared>);

impl OpenConnections {
    /// The connections open now, over all workers.
    pub fn get(&self) -> usize {
        self.0
            .workers
            .iter()
            .map(|w| w.connections.load(Ordering::Relaxed))
            .sum()
    }
}

impl std::fmt::Debug for OpenConnections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("OpenConnections").field(&self.get()).finish()
    }
}
