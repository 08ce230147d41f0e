//! `--insecure` against a real TLS server on 127.0.0.1. Without the flag, a self-signed
//! certificate is refused (a `tls` error, exit 1) and no request reaches the server; with it,
//! the request is served. The certificate and key in `tests/fixtures/` are for this test only:
//! self-signed for `localhost` and `127.0.0.1`, made once with
//! `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 36500 ...`.

mod common;
use common::fetch_jsonl;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::oneshot;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

/// An HTTPS server on its own thread and runtime, answering every request with `ok`; it counts
/// the requests it answered, and stops (joined) when dropped.
struct TlsServer {
    addr: SocketAddr,
    served: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TlsServer {
    fn start() -> Self {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let certs = CertificateDer::pem_file_iter(fixtures.join("tls-cert.pem"))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(fixtures.join("tls-key.pem")).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let served = Arc::new(AtomicUsize::new(0));
        let counter = served.clone();
        let (stop, mut stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                loop {
                    let tcp = tokio::select! {
                        _ = &mut stopped => return,
                        accepted = listener.accept() => match accepted {
                            Ok((tcp, _)) => tcp,
                            Err(_) => continue,
                        },
                    };
                    let (acceptor, counter) = (acceptor.clone(), counter.clone());
                    tokio::spawn(async move {
                        // A refused handshake ends here: the client hung up.
                        let Ok(tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let answer = service_fn(move |_req| {
                            counter.fetch_add(1, Ordering::SeqCst);
                            async { Ok::<_, Infallible>(hyper::Response::new("ok".to_string())) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(tls), answer)
                            .await;
                    });
                }
            });
        });
        TlsServer {
            addr,
            served,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn url(&self, host: &str) -> String {
        format!("https://{host}:{}/", self.addr.port())
    }

    fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.thread.take().unwrap().join().unwrap();
    }
}

#[test]
fn a_self_signed_certificate_is_refused_unless_insecure() {
    let srv = TlsServer::start();
    for host in ["127.0.0.1", "localhost"] {
        let url = srv.url(host);
        let refused = fetch_jsonl(&[url.as_str()], "");
        assert_eq!(refused.code, 1, "{host}: {}", refused.stderr);
        assert_eq!(refused.kinds(), ["tls"], "{host}: {:?}", refused.records);
        assert_eq!(
            srv.served(),
            0,
            "{host}: a refused certificate sends no request"
        );
    }

    let before = srv.served();
    let fetched = fetch_jsonl(&["--insecure", srv.url("127.0.0.1").as_str()], "");
    assert_eq!(fetched.code, 0, "{}", fetched.stderr);
    assert_eq!(fetched.kinds(), ["ok"], "{:?}", fetched.records);
    assert_eq!(fetched.records[0]["status"], 200);
    assert_eq!(fetched.records[0]["bytes"], 2);
    assert_eq!(srv.served(), before + 1);
}
