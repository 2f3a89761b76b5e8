//! `hftp-server`: serves the regular files of one directory over HFTP.
//!
//! The command line over the `hftp_server` library: `args` (the flags),
//! `startup` (the directory and the address, checked before serving),
//! `activation` (listening sockets inherited from systemd),
//! `signals` (graceful shutdown, and a second signal to exit at once);
//! logging is set up here. Serving lives in the library (`src/lib.rs`
//! lists its modules).

#![warn(missing_docs)]

mod activation;
mod args;
mod signals;
mod startup;

use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches};
use hftp_server::{ProxyOptions, Server, ServerError, ServerOptions, TlsOptions};

use args::{Args, LogFormat};

/// Exit code: the command line is wrong (as in hftp-client).
const USAGE: u8 = 1;
/// Exit code: the server cannot serve (directory, address, threads).
const FAILED: u8 = 3;

fn main() -> ExitCode {
    let parsed = Args::command()
        .try_get_matches()
        .and_then(|matches| Ok((Args::from_arg_matches(&matches)?, matches)));
    let (args, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("hftp-server: {} (see --help)", first_line(&e));
            return ExitCode::from(USAGE);
        }
    };
    init_logging(&args);
    // -a and -p as the user gave them (or HFTP_ADDRESS, HFTP_PORT), not
    // their defaults: ignored, with a warning, under socket activation.
    let placed: Vec<&str> = [("address", "-a"), ("port", "-p")]
        .into_iter()
        .filter(|(id, _)| {
            matches!(
                matches.value_source(id),
                Some(
                    clap::parser::ValueSource::CommandLine | clap::parser::ValueSource::EnvVariable
                )
            )
        })
        .map(|(_, flag)| flag)
        .collect();
    match run(args, &placed) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("hftp-server: {message}");
            ExitCode::from(FAILED)
        }
    }
}

/// The first line of a command-line error, without clap's `error: ` prefix.
fn first_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let mut lines = text.lines();
    let line = lines.next().unwrap_or_default();
    let line = line.strip_prefix("error: ").unwrap_or(line);
    // "the following required arguments were not provided:" names them
    // on the next line.
    match line.ends_with(':') {
        true => match lines.map(str::trim).find(|l| !l.is_empty()) {
            Some(next) => format!("{line} {next}"),
            None => line.to_owned(),
        },
        false => line.to_owned(),
    }
}

fn init_logging(args: &Args) {
    use std::io::IsTerminal;
    let level = match (args.verbose, args.quiet) {
        (0, 0) => "info",
        (1, _) => "debug",
        (v, _) if v > 1 => "trace",
        (_, 1) => "warn",
        _ => "error",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // The metrics endpoint's HTTP server logs each connection at debug.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{level},tiny_http=warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .fmt_fields(text_fields())
            .init(),
        LogFormat::Json => builder.json().with_ansi(false).init(),
    }
}

/// The text format's fields: as tracing-subscriber's, without `peer`
/// (which the messages show already).
fn text_fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> {
    // The message comes first; each other field after a space.
    tracing_subscriber::fmt::format::debug_fn(|w, field, value| match field.name() {
        "message" => write!(w, "{value:?}"),
        "peer" | "tls" => Ok(()),
        name => write!(w, " {name}={value:?}"),
    })
}

fn run(args: Args, placed: &[&str]) -> Result<(), String> {
    let inherited = activation::take().map_err(|e| e.to_string())?;
    let asked = args.directory.is_some();
    let directory = startup::directory(args.directory)?;
    let grace = Duration::from_secs_f64(args.shutdown_grace);
    let certificate = args.tls_cert.zip(args.tls_key);
    if let Some(inherited) = &inherited {
        if inherited.tls.is_some() && certificate.is_none() {
            return Err(format!(
                "the inherited socket '{}' needs --tls-cert and --tls-key",
                activation::TLS_NAME
            ));
        }
        if inherited.tls.is_none() && certificate.is_some() {
            return Err(format!(
                "--tls-cert: systemd passed no socket named '{}' (add one with \
                 FileDescriptorName={} to the socket unit)",
                activation::TLS_NAME,
                activation::TLS_NAME
            ));
        }
        if !placed.is_empty() {
            tracing::warn!(
                "{} ignored: serving the socket systemd passed",
                placed.join(" and ")
            );
        }
    }
    let address = match inherited {
        Some(_) => ServerOptions::default().address,
        None => startup::address(&args.address, args.port)?,
    };
    let tls = certificate.map(|(cert, key)| TlsOptions {
        address: std::net::SocketAddr::new(address.ip(), args.tls_port),
        cert,
        key,
    });
    // Before binding: the connection limit is budgeted from it.
    hftp_server::raise_open_files_limit();
    let options = ServerOptions {
        address,
        directory: directory.clone(),
        max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
        idle_timeout: Duration::from_secs_f64(args.idle_timeout),
        request_timeout: Duration::from_secs_f64(args.request_timeout),
        max_request_bytes: args
            .max_request_bytes
            .unwrap_or(hftp_proto::RequestDecoder::DEFAULT_MAX_LINE),
        threads: args.threads.map_or(0, |n| n as usize),
        fs_timeout: Duration::from_secs_f64(args.fs_timeout),
        shutdown_grace: grace,
        max_connections_per_ip: args
            .max_connections_per_ip
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        plain: !args.no_plain,
        tls,
        metrics_address: args.metrics_address,
        proxy_protocol: args.proxy_protocol.then(|| ProxyOptions {
            from: args.proxy_from.clone(),
        }),
        ..ServerOptions::default()
    };
    let from_systemd = inherited.is_some();
    let server = match inherited {
        Some(sockets) => Server::from_listeners(sockets.plain, sockets.tls, options),
        None => Server::bind(options),
    }
    .map_err(|e| match e {
        ServerError::Directory { .. } => {
            format!("{e}{}", startup::directory_advice(asked, &directory))
        }
        e => e.to_string(),
    })?;
    signals::watch(
        server.shutdown_flag(),
        server.open_connections(),
        grace,
        server.tls_reloader(),
    )
    .map_err(|e| format!("cannot install a signal handler: {e}"))?;
    let plain = (server.tls_addr() != Some(server.local_addr())).then(|| server.local_addr());
    let on = match (plain, server.tls_addr()) {
        (Some(plain), Some(tls)) => format!("{plain} and on {tls} (TLS)"),
        (None, Some(tls)) => format!("{tls} (TLS)"),
        (_, None) => server.local_addr().to_string(),
    };
    println!(
        "hftp-server: serving {} on {on}{}",
        server.root().display(),
        if from_systemd {
            " (socket from systemd)"
        } else {
            ""
        }
    );
    if let Some(line) = startup::exposure(server.local_addr()) {
        println!("{line}");
    }
    if let Some(metrics) = server.metrics_addr() {
        println!("hftp-server: metrics on http://{metrics}/metrics");
    }
    server.run().map_err(|e| e.to_string())
}
