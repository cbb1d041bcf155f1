//! Loopback HTTP (feature `http`): serving a router on a free port of 127.0.0.1, the base URL
//! of an application listening there, and the client tests reach it with.

use std::net::SocketAddr;

/// Serves `router` on a free port of 127.0.0.1 until the test's runtime ends; its address.
/// (Inside a tokio runtime.)
pub async fn serve(router: axum::Router) -> SocketAddr {
    serve_on(SocketAddr::from(([127, 0, 0, 1], 0)), router).await
}

/// [`serve`] on a given address (to bring a "down" receiver back up on its old port).
pub async fn serve_on(addr: SocketAddr, router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    let addr = listener.local_addr().expect("the listener's address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// `http://<addr>`, the base URL of an application listening on `addr`.
pub fn base_url(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

/// A plain reqwest client (ring installed as the rustls provider; tests use `http://` only),
/// keeping enough idle connections for the load tests.
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .expect("reqwest client")
}
