//! The async client over TLS (feature `tokio-tls`), through the same
//! in-test TLS terminator as `tls.rs`: a listing and a whole file
//! byte-exact, and a wrong host refused with the same message.

use std::time::Duration;

use hftp_client::tls::TlsConfig;
use hftp_client::tokio::{connect_tls, Client};
use hftp_client::{Error, Timeouts};
use served::Served;

#[path = "tls/certs.rs"]
mod certs;
mod served;
#[path = "tls/terminator.rs"]
mod terminator;

#[tokio::test]
async fn async_client_over_tls() {
    let ca = certs::Ca::new("test CA");
    let big = served::binary(1 << 20);
    let served = Served::new(&[("big.bin", &big)]);
    let good = terminator::terminate(ca.leaf(&["localhost"]).server_config(), served.addr());
    let wrong = terminator::terminate(ca.leaf(&["other.example"]).server_config(), served.addr());
    let config = TlsConfig::from_ca_pem(ca.pem.as_bytes()).unwrap();
    let timeouts = Timeouts::uniform(Some(Duration::from_secs(20)));

    let conn = connect_tls(&format!("localhost:{}", good.port()), &config, timeouts)
        .await
        .unwrap();
    let mut client = Client::from_connection(conn);
    assert_eq!(client.list().await.unwrap(), ["big.bin"]);
    let mut got = Vec::new();
    client
        .slice_to("big.bin", 0, big.len() as u64, &mut got)
        .await
        .unwrap();
    assert!(got == big);
    client.quit().await.unwrap();

    match connect_tls(&format!("localhost:{}", wrong.port()), &config, timeouts).await {
        Err(Error::Tls(e)) => assert_eq!(
            e.to_string(),
            "the server's certificate is not valid for localhost (it is for other.example)"
        ),
        other => panic!("expected a TLS error, got {other:?}"),
    }
}
