//! Connecting to PostgreSQL: TLS through rustls with libpq's `sslmode`
//! meanings, and every way a connection fails turned into one line that
//! says which (never with the password).

use std::sync::Arc;

use postgres::config::SslMode as DriverSslMode;
use postgres::{Client, NoTls};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::location::{Location, SslMode};
use crate::db::Setting;
use crate::db::causes;
use crate::error::{Error, Result};

/// Opens a session as `location` says.
pub fn connect(location: &Location) -> Result<Client> {
    let mut config = postgres::Config::new();
    config
        .user(location.user.as_deref().unwrap_or_default())
        .dbname(location.dbname.as_deref().unwrap_or_default())
        .connect_timeout(location.connect_timeout)
        .application_name(location.application_name.as_deref().unwrap_or("mex2fa"));
    if let Some(p) = location.password.get() {
        config.password(p);
    }
    match location.host.as_deref() {
        Some(h) if h.starts_with('/') => config.host_path(h),
        Some(h) => config.host(h),
        None => config.host("localhost"),
    };
    if let Some(port) = location.port {
        config.port(port);
    }
    // As libpq: no TLS over a Unix socket, whatever sslmode says.
    let mode = if location.is_socket() {
        SslMode::Disable
    } else {
        location.sslmode
    };
    let client = match mode {
        SslMode::Disable => config.ssl_mode(DriverSslMode::Disable).connect(NoTls),
        _ => {
            let tls = tls_config(location, mode)?;
            config.ssl_mode(if mode == SslMode::Prefer {
                DriverSslMode::Prefer
            } else {
                DriverSslMode::Require
            });
            config.connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls))
        }
    };
    client.map_err(|e| connect_error(location, mode, &e))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificates to trust: `sslrootcert`, else the system's.
fn roots(location: &Location) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    match &location.sslrootcert {
        Some(path) => {
            let shown = path.display();
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect())
                .map_err(|e| {
                    Error::setting(
                        Setting::Location,
                        format!("cannot read sslrootcert {shown}: {e}"),
                    )
                })?;
            if certs.is_empty() {
                return Err(Error::setting(
                    Setting::Location,
                    format!("sslrootcert {shown} holds no PEM certificate"),
                ));
            }
            for c in certs {
                roots.add(c).map_err(|e| {
                    Error::setting(
                        Setting::Location,
                        format!("sslrootcert {shown} holds a certificate rustls cannot use: {e}"),
                    )
                })?;
            }
        }
        None => {
            for c in rustls_native_certs::load_native_certs().certs {
                // A system certificate rustls cannot parse is skipped, as by other clients.
                let _ = roots.add(c);
            }
        }
    }
    Ok(roots)
}

fn tls_config(location: &Location, mode: SslMode) -> Result<rustls::ClientConfig> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::db(format!("cannot set up TLS: {e}")))?;
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        SslMode::Prefer | SslMode::Require | SslMode::Disable => {
            Arc::new(Unverified(provider.clone()))
        }
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots(location)?), provider)
                    .build()
                    .map_err(|e| {
                        Error::setting(
                            Setting::Location,
                            format!(
                                "no certificate to verify the server with ({e}); pass sslrootcert=PATH in the URL"
                            ),
                        )
                    })?;
            if mode == SslMode::VerifyFull {
                webpki
            } else {
                Arc::new(ChainOnly(webpki))
            }
        }
    };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// `sslmode=require` and `prefer`: encrypted, the certificate not checked
/// (libpq's meaning); the handshake's signatures still are.
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `sslmode=verify-ca`: the chain must lead to a trusted root; the host
/// name is not compared.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Why a connection failed, in one line that says what to check.
fn connect_error(location: &Location, mode: SslMode, e: &postgres::Error) -> Error {
    let host = location.host_shown();
    let user = location.user.as_deref().unwrap_or("");
    let dbname = location.dbname.as_deref().unwrap_or("");
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        return match code {
            "28P01" => Error::setting(
                Setting::Password,
                format!("the server at {host} refused the password of user '{user}'"),
            ),
            "28000" => Error::setting(
                Setting::Password,
                format!(
                    "the server at {host} does not let user '{user}' in: {}",
                    crate::ui::escape(db.message())
                ),
            ),
            "3D000" => Error::setting(
                Setting::Location,
                format!("there is no database '{dbname}' on the server at {host}"),
            ),
            "42501" => Error::db(format!(
                "user '{user}' may not connect to database '{dbname}' on {host}: {}",
                crate::ui::escape(db.message())
            )),
            _ => Error::db(format!(
                "the server at {host} refused the connection: {} ({code})",
                crate::ui::escape(db.message())
            )),
        };
    }
    let all = causes(e).join(": ");
    let lower = all.to_ascii_lowercase();
    let why = if lower.contains("password missing") || lower.contains("password authentication") {
        return Error::setting(
            Setting::Password,
            format!(
                "the server at {host} asks for a password for user '{user}' and none was given"
            ),
        );
    } else if lower.contains("server does not support tls")
        || lower.contains("server does not support ssl")
    {
        format!(
            "the server at {host} does not offer TLS, which sslmode={} requires",
            mode.name()
        )
    } else if lower.contains("notvalidforname") || lower.contains("not valid for name") {
        format!(
            "the TLS certificate of the server at {host} is not valid for that host name (sslmode=verify-full); connect by a name the certificate holds, or use sslmode=verify-ca"
        )
    } else if lower.contains("unknownissuer")
        || lower.contains("unknown issuer")
        || lower.contains("invalid peer certificate")
    {
        format!(
            "the TLS certificate of the server at {host} is not signed by a trusted authority (sslmode={}); pass the CA as sslrootcert=PATH in the URL",
            mode.name()
        )
    } else if lower.contains("connection refused") {
        format!(
            "nothing accepts connections at {host} (connection refused); is the server running there?"
        )
    } else if lower.contains("failed to lookup address")
        || lower.contains("name or service not known")
        || lower.contains("no address associated")
        || lower.contains("temporary failure in name resolution")
    {
        format!("the host of {host} cannot be resolved; check its spelling")
    } else if lower.contains("timed out") || lower.contains("timeout") {
        format!("connecting to {host} timed out")
    } else if lower.contains("no such file or directory") && location.is_socket() {
        format!("no PostgreSQL socket at {host}; check the host= directory and the port")
    } else {
        format!(
            "cannot connect to the server at {host}: {}",
            crate::ui::escape(&all)
        )
    };
    Error::setting(Setting::Location, why)
}
