//! Downloads of what builds are made from (a CPython tarball, a released
//! sdist): one HTTP client configuration for all of them.

use std::time::Duration;

/// An HTTP agent that trusts the system's certificates (and
/// `$SSL_CERT_FILE`), as pip and curl do — a download through a proxy with
/// its own CA works for extmatrix when it works for them — and gives up on
/// a connection after 20 s and on a whole request after `timeout`, if any.
pub fn agent(timeout: Option<Duration>) -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::PlatformVerifier)
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_connect(Some(Duration::from_secs(20)))
        .timeout_global(timeout)
        .build()
        .into()
}
