//! The client library over real loopback sockets, against small
//! purpose-built servers that answer with prepared bytes.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;
use std::time::Duration;

use hftp_client::{Client, Error, Timeouts};
use hftp_proto::ResponseError;

/// A server that reads `requests` request lines, answering each with the
/// matching prepared bytes, then closes. Returns its port and the lines
/// it received.
fn scripted(answers: Vec<Vec<u8>>) -> (u16, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        let mut seen = Vec::new();
        for answer in answers {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 {
                break;
            }
            seen.push(line);
            writer.write_all(&answer).unwrap();
        }
        seen
    });
    (port, handle)
}

fn connect(port: u16) -> Client {
    Client::connect_with(
        ("127.0.0.1", port),
        Timeouts::uniform(Some(Duration::from_secs(5))),
    )
    .unwrap()
}

#[test]
fn listing_metadata_and_slices() {
    let (port, server) = scripted(vec![
        b"0 OK\r\nnotes.txt\r\nphoto.jpg\r\n\r\n".to_vec(),
        b"0 OK\r\n41\r\n".to_vec(),
        b"0 OK\r\nY2Fsb3IgcXVlIGhhY2UgaG95LCA=\r\n".to_vec(),
        // The same slice split over two lines, as some servers send it.
        b"0 OK\r\nY2Fsb3Ig\r\ncXVlIGhhY2UgaG95LCA=\r\n".to_vec(),
        b"0 OK\r\nContent-Length: 3\r\n\r\n\r\n\0".to_vec(),
        b"0 OK\r\n".to_vec(),
    ]);
    let mut c = connect(port);
    assert_eq!(c.list().unwrap(), ["notes.txt", "photo.jpg"]);
    assert_eq!(c.metadata("notes.txt").unwrap(), 41);
    for _ in 0..2 {
        let mut buf = Vec::new();
        c.slice_to("notes.txt", 5, 20, &mut buf).unwrap();
        assert_eq!(buf, b"calor que hace hoy, ");
    }
    let mut buf = Vec::new();
    c.raw_slice_to("photo.jpg", 0, 3, &mut buf).unwrap();
    assert_eq!(buf, b"\r\n\0");
    c.quit().unwrap();
    assert_eq!(
        server.join().unwrap(),
        [
            "get_file_listing\r\n",
            "get_metadata notes.txt\r\n",
            "get_slice notes.txt 5 20\r\n",
            "get_slice notes.txt 5 20\r\n",
            "get_slice photo.jpg 0 3 raw\r\n",
            "quit\r\n"
        ]
    );
}

#[test]
fn refusals_keep_the_connection_usable() {
    let (port, server) = scripted(vec![
        b"202 FILE NOT FOUND\r\n".to_vec(),
        b"0 OK\r\n7\r\n".to_vec(),
    ]);
    let mut c = connect(port);
    let err = c.metadata("nope").unwrap_err();
    assert!(matches!(&err, Error::Server { code: 202, text } if text == "FILE NOT FOUND"));
    assert_eq!(err.to_string(), "file not found on server (202)");
    assert_eq!(c.metadata("yes").unwrap(), 7);
    drop(c);
    server.join().unwrap();
}

#[test]
fn a_close_mid_slice_is_an_error() {
    let (port, server) = scripted(vec![b"0 OK\r\nY2Fsb3Ig".to_vec()]);
    let mut c = connect(port);
    let mut buf = Vec::new();
    assert!(matches!(
        c.slice_to("notes.txt", 5, 20, &mut buf),
        Err(Error::Closed)
    ));
    server.join().unwrap();
}

#[test]
fn garbage_is_a_protocol_error() {
    let (port, server) = scripted(vec![b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec()]);
    let mut c = connect(port);
    assert!(matches!(
        c.list(),
        Err(Error::Protocol(ResponseError::BadStatusLine))
    ));
    server.join().unwrap();
}

#[test]
fn a_stalled_server_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut c = Client::connect_with(
        ("127.0.0.1", port),
        Timeouts::uniform(Some(Duration::from_millis(200))),
    )
    .unwrap();
    let started = std::time::Instant::now();
    assert!(matches!(c.list(), Err(Error::Io(_))));
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(listener);
}

#[test]
fn invalid_names_are_refused_before_sending() {
    let (port, server) = scripted(vec![]);
    let mut c = connect(port);
    assert!(matches!(
        c.metadata("../etc/passwd"),
        Err(Error::InvalidName(_))
    ));
    drop(c);
    assert!(server.join().unwrap().is_empty());
}
