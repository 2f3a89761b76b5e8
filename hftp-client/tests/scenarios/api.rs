//! One interface over both clients, so that one scenario body runs on
//! either: the blocking [`hftp_client::Client`], and (feature `tokio`) the
//! async [`hftp_client::tokio::Client`] driven by blocking on a tokio
//! runtime, current-thread or multi-thread.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use hftp_client::{DownloadOptions, Downloaded, Error, Progress, Timeouts, Transcript};

/// A progress callback both clients accept.
pub type OnProgress = Arc<dyn Fn(Progress) + Send + Sync>;

/// One connected client, whichever kind.
pub trait Api {
    fn list(&mut self) -> Result<Vec<String>, Error>;
    fn help(&mut self) -> Result<Vec<String>, Error>;
    fn metadata(&mut self, name: &str) -> Result<u64, Error>;
    fn sizes(&mut self, names: &[&str]) -> Vec<Result<u64, Error>>;
    /// `slice_to` (or `raw_slice_to`) into a buffer.
    fn slice(&mut self, name: &str, offset: u64, size: u64, raw: bool) -> Result<Vec<u8>, Error>;
    /// `download` on this client's connection.
    fn download(
        &mut self,
        name: &str,
        dest: &Path,
        options: &DownloadOptions,
        progress: OnProgress,
    ) -> Result<Downloaded, Error>;
    /// Starts recording a transcript on the connection.
    fn record(&mut self, max_bytes: usize);
    fn transcript(&mut self) -> Option<Transcript>;
    fn is_broken(&mut self) -> bool;
    fn quit(self: Box<Self>) -> Result<(), Error>;
}

/// A kind of client: how to connect one, and how to download over
/// several connections with that kind's `Server`.
pub trait Kind {
    fn name(&self) -> &'static str;
    fn connect(&self, addr: SocketAddr, timeouts: Timeouts) -> Result<Box<dyn Api>, Error>;
    fn server_download(
        &self,
        addr: SocketAddr,
        timeouts: Timeouts,
        name: &str,
        dest: &Path,
        options: &DownloadOptions,
        progress: OnProgress,
    ) -> Result<Downloaded, Error>;
}

/// The blocking client.
pub struct Blocking;

impl Kind for Blocking {
    fn name(&self) -> &'static str {
        "blocking"
    }

    fn connect(&self, addr: SocketAddr, timeouts: Timeouts) -> Result<Box<dyn Api>, Error> {
        Ok(Box::new(hftp_client::Client::connect_with(addr, timeouts)?))
    }

    fn server_download(
        &self,
        addr: SocketAddr,
        timeouts: Timeouts,
        name: &str,
        dest: &Path,
        options: &DownloadOptions,
        progress: OnProgress,
    ) -> Result<Downloaded, Error> {
        let server = hftp_client::Server::new(addr, timeouts)?;
        server.download(name, dest, options, &move |p| progress(p))
    }
}

impl Api for hftp_client::Client {
    fn list(&mut self) -> Result<Vec<String>, Error> {
        hftp_client::Client::list(self)
    }

    fn help(&mut self) -> Result<Vec<String>, Error> {
        hftp_client::Client::help(self)
    }

    fn metadata(&mut self, name: &str) -> Result<u64, Error> {
        hftp_client::Client::metadata(self, name)
    }

    fn sizes(&mut self, names: &[&str]) -> Vec<Result<u64, Error>> {
        hftp_client::Client::sizes(self, names)
    }

    fn slice(&mut self, name: &str, offset: u64, size: u64, raw: bool) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        match raw {
            true => self.raw_slice_to(name, offset, size, &mut out)?,
            false => self.slice_to(name, offset, size, &mut out)?,
        }
        Ok(out)
    }

    fn download(
        &mut self,
        name: &str,
        dest: &Path,
        options: &DownloadOptions,
        progress: OnProgress,
    ) -> Result<Downloaded, Error> {
        hftp_client::Client::download(self, name, dest, options, &move |p| progress(p))
    }

    fn record(&mut self, max_bytes: usize) {
        self.connection().record(max_bytes);
    }

    fn transcript(&mut self) -> Option<Transcript> {
        self.connection().transcript().cloned()
    }

    fn is_broken(&mut self) -> bool {
        self.connection().is_broken()
    }

    fn quit(self: Box<Self>) -> Result<(), Error> {
        hftp_client::Client::quit(*self)
    }
}

#[cfg(feature = "tokio")]
pub use self::tokio::Tokio;

#[cfg(feature = "tokio")]
mod tokio {
    use super::*;

    use ::tokio::runtime::{Builder, Runtime};
    use hftp_client::tokio::{Client, Server};

    /// The async client, each call blocked on a runtime of its own kind.
    pub struct Tokio {
        name: &'static str,
        rt: Arc<Runtime>,
    }

    impl Tokio {
        pub fn current_thread() -> Self {
            let rt = Builder::new_current_thread().enable_all().build().unwrap();
            Tokio {
                name: "tokio current-thread",
                rt: Arc::new(rt),
            }
        }

        pub fn multi_thread() -> Self {
            let rt = Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            Tokio {
                name: "tokio multi-thread",
                rt: Arc::new(rt),
            }
        }
    }

    impl Kind for Tokio {
        fn name(&self) -> &'static str {
            self.name
        }

        fn connect(&self, addr: SocketAddr, timeouts: Timeouts) -> Result<Box<dyn Api>, Error> {
            let client = self.rt.block_on(Client::connect_with(addr, timeouts))?;
            Ok(Box::new(Async {
                rt: Arc::clone(&self.rt),
                client: Some(client),
            }))
        }

        fn server_download(
            &self,
            addr: SocketAddr,
            timeouts: Timeouts,
            name: &str,
            dest: &Path,
            options: &DownloadOptions,
            progress: OnProgress,
        ) -> Result<Downloaded, Error> {
            let server = Server::new(addr, timeouts)?;
            self.rt
                .block_on(server.download(name, dest, options, move |p| progress(p)))
        }
    }

    /// An async client and the runtime it runs on.
    struct Async {
        rt: Arc<Runtime>,
        /// Taken by `quit` and on drop (dropped inside the runtime).
        client: Option<Client>,
    }

    impl Async {
        fn client(&mut self) -> &mut Client {
            self.client
                .as_mut()
                .expect("the client is there until quit")
        }
    }

    impl Drop for Async {
        fn drop(&mut self) {
            let _inside = self.rt.enter();
            drop(self.client.take());
        }
    }

    impl Api for Async {
        fn list(&mut self) -> Result<Vec<String>, Error> {
            let rt = Arc::clone(&self.rt);
            rt.block_on(self.client().list())
        }

        fn help(&mut self) -> Result<Vec<String>, Error> {
            let rt = Arc::clone(&self.rt);
            rt.block_on(self.client().help())
        }

        fn metadata(&mut self, name: &str) -> Result<u64, Error> {
            let rt = Arc::clone(&self.rt);
            rt.block_on(self.client().metadata(name))
        }

        fn sizes(&mut self, names: &[&str]) -> Vec<Result<u64, Error>> {
            let rt = Arc::clone(&self.rt);
            rt.block_on(self.client().sizes(names))
        }

        fn slice(
            &mut self,
            name: &str,
            offset: u64,
            size: u64,
            raw: bool,
        ) -> Result<Vec<u8>, Error> {
            let rt = Arc::clone(&self.rt);
            let client = self.client();
            let mut out = Vec::new();
            rt.block_on(async {
                match raw {
                    true => client.raw_slice_to(name, offset, size, &mut out).await,
                    false => client.slice_to(name, offset, size, &mut out).await,
                }
            })?;
            Ok(out)
        }

        fn download(
            &mut self,
            name: &str,
            dest: &Path,
            options: &DownloadOptions,
            progress: OnProgress,
        ) -> Result<Downloaded, Error> {
            let rt = Arc::clone(&self.rt);
            rt.block_on(
                self.client()
                    .download(name, dest, options, move |p| progress(p)),
            )
        }

        fn record(&mut self, max_bytes: usize) {
            self.client().connection().record(max_bytes);
        }

        fn transcript(&mut self) -> Option<Transcript> {
            self.client().connection().transcript().cloned()
        }

        fn is_broken(&mut self) -> bool {
            self.client().connection().is_broken()
        }

        fn quit(mut self: Box<Self>) -> Result<(), Error> {
            let client = self.client.take().expect("the client is there until quit");
            let rt = Arc::clone(&self.rt);
            rt.block_on(client.quit())
        }
    }
}
