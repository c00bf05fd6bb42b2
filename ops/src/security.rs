//! Who may talk to the coordinator: mutual TLS on the link, and a shared token on every call.
//!
//! The two answer different questions. TLS with client certificates says the peer holds a key
//! the cluster's CA signed (and encrypts the shards' URLs, the configs and the metrics on the
//! wire); the token says the caller was given the cluster's secret, which is what a CronJob
//! or a person submitting a job has, and is cheap to rotate through a Kubernetes Secret.
//! Either can be used alone; production uses both.
//!
//! The token travels as `authorization: Bearer <token>` and is compared in constant time. It
//! is read from a file (`--token-file`, a mounted Secret) or from `ARCHETYPE_TOKEN`, never
//! from a flag, which `ps` would show; nothing here prints it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use subtle::ConstantTimeEq;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{
    Certificate, Channel, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig,
};
use tonic::{Code, Request, Status};

/// The environment variable that may hold the token itself.
pub const TOKEN_ENV: &str = "ARCHETYPE_TOKEN";

#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("cannot read {what} from {path}: {source}")]
    Read {
        what: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the token {origin} is empty")]
    EmptyToken { origin: String },
    #[error(
        "the token {origin} holds characters a gRPC header cannot carry (use printable ASCII)"
    )]
    BadToken { origin: String },
    #[error("{0}")]
    Config(String),
    #[error("cannot connect to the coordinator at {url}: {message}")]
    Connect { url: String, message: String },
}

/// A shared secret. `Debug` does not show it.
#[derive(Clone)]
pub struct Token(Arc<str>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token(<{} bytes, redacted>)", self.0.len())
    }
}

impl Token {
    /// Checks that it can travel in a header; leading and trailing white space (a file's final
    /// newline) is dropped.
    pub fn new(text: &str, origin: &str) -> Result<Token, SecurityError> {
        let t = text.trim();
        if t.is_empty() {
            return Err(SecurityError::EmptyToken {
                origin: origin.to_string(),
            });
        }
        if !t.bytes().all(|b| (0x21..0x7f).contains(&b)) {
            return Err(SecurityError::BadToken {
                origin: origin.to_string(),
            });
        }
        Ok(Token(Arc::from(t)))
    }

    /// The token from `file` if given, else from `ARCHETYPE_TOKEN`, else none.
    pub fn load(file: Option<&Path>) -> Result<Option<Token>, SecurityError> {
        if let Some(p) = file {
            let text = std::fs::read_to_string(p).map_err(|source| SecurityError::Read {
                what: "the token",
                path: p.display().to_string(),
                source,
            })?;
            return Token::new(&text, &format!("in {}", p.display())).map(Some);
        }
        match std::env::var(TOKEN_ENV) {
            Ok(v) => Token::new(&v, &format!("in ${TOKEN_ENV}")).map(Some),
            Err(_) => Ok(None),
        }
    }

    fn matches(&self, presented: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(presented).into()
    }
}

fn read(what: &'static str, p: &Path) -> Result<Vec<u8>, SecurityError> {
    std::fs::read(p).map_err(|source| SecurityError::Read {
        what,
        path: p.display().to_string(),
        source,
    })
}

/// The server's flags (`archetype serve`).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ServerSecurityArgs {
    /// PEM certificate (chain) the coordinator presents; turns TLS on.
    #[arg(long, env = "ARCHETYPE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "ARCHETYPE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA that client certificates must chain to; clients without one are refused
    /// (mutual TLS). Needs --tls-cert.
    #[arg(long, env = "ARCHETYPE_TLS_CA", requires = "tls_cert")]
    pub tls_ca: Option<PathBuf>,
    /// File holding the token every call must carry (else $ARCHETYPE_TOKEN; neither: no token).
    #[arg(long, env = "ARCHETYPE_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
}

/// The flags of every client of the coordinator (workers, `submit`, `jobs`).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ClientSecurityArgs {
    /// PEM CA that signed the coordinator's certificate; turns TLS on (use an https:// URL).
    #[arg(long, env = "ARCHETYPE_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// PEM client certificate for mutual TLS.
    #[arg(long, env = "ARCHETYPE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "ARCHETYPE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Name to check the coordinator's certificate against (default: the URL's host).
    #[arg(long, env = "ARCHETYPE_TLS_SERVER_NAME")]
    pub tls_server_name: Option<String>,
    /// File holding the cluster token (else $ARCHETYPE_TOKEN; neither: no token).
    #[arg(long, env = "ARCHETYPE_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
}

/// What the coordinator's server requires.
#[derive(Clone, Debug, Default)]
pub struct ServerSecurity {
    tls: Option<ServerTlsConfig>,
    mutual: bool,
    token: Option<Token>,
}

impl ServerSecurity {
    /// Plain gRPC, no token: loopback clusters and tests.
    pub fn none() -> ServerSecurity {
        ServerSecurity::default()
    }

    pub fn load(args: &ServerSecurityArgs) -> Result<ServerSecurity, SecurityError> {
        let token = Token::load(args.token_file.as_deref())?;
        let mut s = ServerSecurity {
            token,
            ..ServerSecurity::default()
        };
        match (&args.tls_cert, &args.tls_key) {
            (Some(c), Some(k)) => {
                let identity =
                    Identity::from_pem(read("the TLS certificate", c)?, read("the TLS key", k)?);
                // A handshake that stalls is closed instead of holding a descriptor.
                let mut cfg = ServerTlsConfig::new()
                    .identity(identity)
                    .timeout(std::time::Duration::from_secs(10));
                if let Some(ca) = &args.tls_ca {
                    cfg = cfg.client_ca_root(Certificate::from_pem(read("the client CA", ca)?));
                    s.mutual = true;
                }
                s.tls = Some(cfg);
            }
            (None, None) if args.tls_ca.is_some() => {
                return Err(SecurityError::Config(
                    "--tls-ca on the server needs --tls-cert and --tls-key".into(),
                ))
            }
            (None, None) => {}
            _ => {
                return Err(SecurityError::Config(
                    "--tls-cert and --tls-key go together".into(),
                ))
            }
        }
        Ok(s)
    }

    /// With a token, for tests and embedding.
    pub fn with_token(mut self, token: Option<Token>) -> ServerSecurity {
        self.token = token;
        self
    }

    pub fn tls(&self) -> bool {
        self.tls.is_some()
    }

    pub fn mutual_tls(&self) -> bool {
        self.mutual
    }

    pub fn token_required(&self) -> bool {
        self.token.is_some()
    }

    /// A server builder with TLS set up as configured.
    pub fn server_builder(&self) -> Result<tonic::transport::Server, SecurityError> {
        let b = tonic::transport::Server::builder();
        match &self.tls {
            Some(cfg) => b
                .tls_config(cfg.clone())
                .map_err(|e| SecurityError::Config(format!("TLS: {}", crate::error_chain(&e)))),
            None => Ok(b),
        }
    }

    /// The interceptor that refuses calls without the token.
    pub fn token_check(&self) -> TokenCheck {
        TokenCheck {
            expected: self.token.clone(),
        }
    }

    /// One line for the start-up log.
    pub fn describe(&self) -> String {
        format!(
            "{}, {}",
            match (self.tls.is_some(), self.mutual) {
                (false, _) => "plaintext gRPC",
                (true, false) => "TLS (no client certificates asked)",
                (true, true) => "mutual TLS (client certificates required)",
            },
            if self.token.is_some() {
                "token required"
            } else {
                "no token"
            }
        )
    }
}

/// Server-side token check (a tonic interceptor).
#[derive(Clone, Debug)]
pub struct TokenCheck {
    expected: Option<Token>,
}

impl tonic::service::Interceptor for TokenCheck {
    fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
        let Some(expected) = &self.expected else {
            return Ok(req);
        };
        let presented = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let peer = req
            .remote_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|| "an unknown peer".into());
        match presented {
            Some(t) if expected.matches(t.as_bytes()) => Ok(req),
            Some(_) => {
                tracing::warn!(%peer, "refused a call with a wrong token");
                Err(Status::unauthenticated(
                    "wrong cluster token: the coordinator refuses worker registration and job \
                     submission without the token it was started with (check the \
                     ARCHETYPE_TOKEN / --token-file given to this process)",
                ))
            }
            None => {
                tracing::warn!(%peer, "refused a call without a token");
                Err(Status::unauthenticated(
                    "no cluster token: this coordinator requires `authorization: Bearer <token>` \
                     on every call (set ARCHETYPE_TOKEN or --token-file)",
                ))
            }
        }
    }
}

/// Client-side: adds the token to every call (a tonic interceptor).
#[derive(Clone, Debug, Default)]
pub struct BearerToken {
    header: Option<MetadataValue<Ascii>>,
}

impl tonic::service::Interceptor for BearerToken {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        if let Some(h) = &self.header {
            req.metadata_mut().insert("authorization", h.clone());
        }
        Ok(req)
    }
}

/// A channel to the coordinator that carries the token.
pub type AuthChannel = InterceptedService<Channel, BearerToken>;

/// How a client reaches the coordinator.
#[derive(Clone, Debug, Default)]
pub struct ClientSecurity {
    tls: Option<ClientTlsConfig>,
    client_cert: bool,
    token: Option<Token>,
}

impl ClientSecurity {
    pub fn none() -> ClientSecurity {
        ClientSecurity::default()
    }

    pub fn load(args: &ClientSecurityArgs) -> Result<ClientSecurity, SecurityError> {
        let token = Token::load(args.token_file.as_deref())?;
        let mut s = ClientSecurity {
            token,
            ..ClientSecurity::default()
        };
        if let Some(ca) = &args.tls_ca {
            let mut cfg =
                ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read("the CA", ca)?));
            if let (Some(c), Some(k)) = (&args.tls_cert, &args.tls_key) {
                cfg = cfg.identity(Identity::from_pem(
                    read("the TLS certificate", c)?,
                    read("the TLS key", k)?,
                ));
                s.client_cert = true;
            }
            if let Some(n) = &args.tls_server_name {
                cfg = cfg.domain_name(n.clone());
            }
            s.tls = Some(cfg);
        } else if args.tls_cert.is_some() || args.tls_server_name.is_some() {
            return Err(SecurityError::Config(
                "--tls-cert and --tls-server-name need --tls-ca (the CA that signed the \
                 coordinator's certificate)"
                    .into(),
            ));
        }
        Ok(s)
    }

    pub fn with_token(mut self, token: Option<Token>) -> ClientSecurity {
        self.token = token;
        self
    }

    /// Connects (the TLS handshake included) and returns a channel that adds the token.
    pub async fn connect(&self, url: &str) -> Result<AuthChannel, SecurityError> {
        let fail = |message: String| SecurityError::Connect {
            url: url.to_string(),
            message,
        };
        let https = url.starts_with("https://");
        let mut ep = Endpoint::from_shared(url.to_string())
            .map_err(|e| fail(format!("not a URL: {e}")))?
            .connect_timeout(Duration::from_secs(10));
        match (&self.tls, https) {
            (Some(cfg), true) => {
                ep = ep
                    .tls_config(cfg.clone())
                    .map_err(|e| fail(crate::error_chain(&e)))?;
            }
            (Some(_), false) => {
                return Err(fail(
                    "TLS is configured (--tls-ca) but the URL is not https://".into(),
                ))
            }
            (None, true) => {
                return Err(fail(
                    "an https:// URL needs --tls-ca, the CA that signed the coordinator's \
                     certificate"
                        .into(),
                ))
            }
            (None, false) => {}
        }
        let channel = match ep.connect().await {
            Ok(c) => c,
            Err(_) if self.tls.is_none() && speaks_tls(url).await => {
                return Err(fail(tls_port_hint(url)));
            }
            Err(e) => return Err(fail(self.explain_transport(&crate::error_chain(&e)))),
        };
        let header = match &self.token {
            Some(t) => Some(
                format!("Bearer {}", t.0)
                    .parse()
                    .map_err(|_| fail("the token cannot travel in a header".into()))?,
            ),
            None => None,
        };
        Ok(InterceptedService::new(channel, BearerToken { header }))
    }

    /// [`ClientSecurity::explain`], and for a plaintext client whose call failed in
    /// transport, a probe of `url`: a plaintext client at a TLS port sees only an HTTP/2
    /// protocol error, which says nothing of why.
    pub async fn explain_at(&self, url: &str, call: &str, status: &Status) -> String {
        let transport = matches!(
            status.code(),
            Code::Unavailable | Code::Unknown | Code::Internal | Code::Cancelled
        );
        if self.tls.is_none() && transport && speaks_tls(url).await {
            return format!("the coordinator refused {call}: {}", tls_port_hint(url));
        }
        self.explain(call, status)
    }

    /// A refused call, said so that the operator knows what to check. Token refusals come back
    /// as UNAUTHENTICATED with the server's explanation; TLS refusals surface as transport
    /// errors (the server's alert arrives on the first call under TLS 1.3).
    pub fn explain(&self, call: &str, status: &Status) -> String {
        match status.code() {
            Code::Unauthenticated => format!(
                "the coordinator refused {call}: {} ({})",
                status.message(),
                if self.token.is_some() {
                    "a token was sent"
                } else {
                    "no token was sent"
                }
            ),
            Code::Unavailable | Code::Unknown | Code::Internal | Code::Cancelled => {
                let detail = match std::error::Error::source(status) {
                    Some(s) => format!("{}: {}", status.message(), crate::error_chain(s)),
                    None => status.message().to_string(),
                };
                format!(
                    "the coordinator refused {call}: {}",
                    self.explain_transport(&detail)
                )
            }
            _ => format!("{call} failed: {}: {}", status.code(), status.message()),
        }
    }

    fn explain_transport(&self, detail: &str) -> String {
        let lower = detail.to_ascii_lowercase();
        let tls_words = [
            "certificate",
            "unknownca",
            "unknown_ca",
            "unknownissuer",
            "alert",
            "tls",
            "handshake",
            "decrypterror",
        ];
        let tls_failure = tls_words.iter().any(|w| lower.contains(w));
        // A server that wants a client certificate and gets none closes the stream right
        // after the handshake: the client sees a broken pipe or a reset, not an alert.
        let dropped = ["broken pipe", "connection reset", "stream closed", "cancel"]
            .iter()
            .any(|w| lower.contains(w));
        if self.tls.is_none() {
            if tls_failure || dropped {
                return format!(
                    "{detail}; if the coordinator runs with TLS, give --tls-ca (and \
                     --tls-cert/--tls-key for mutual TLS) and an https:// URL"
                );
            }
            return detail.to_string();
        }
        if !tls_failure && !dropped {
            return detail.to_string();
        }
        let hint = if lower.contains("invalid peer certificate") || lower.contains("unknownissuer")
        {
            "the coordinator's certificate is not signed by --tls-ca, or does not name the host \
             (see --tls-server-name)"
        } else if !self.client_cert {
            "the coordinator requires a client certificate (mutual TLS): give --tls-cert and \
             --tls-key"
        } else {
            "the coordinator did not accept this client certificate: it must be signed by the \
             CA the coordinator trusts (its --tls-ca)"
        };
        format!("TLS handshake failed ({detail}); {hint}")
    }
}

fn tls_port_hint(url: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    format!(
        "{url} speaks TLS on this port: use https://{rest} and --tls-ca (with --tls-cert and \
         --tls-key where the coordinator asks for client certificates)"
    )
}

/// A ClientHello's record as far as a TLS server needs to answer it with a TLS record (a
/// ServerHello, or an alert when it likes nothing offered): TLS 1.2 framing, two AEAD suites,
/// no extensions.
const CLIENT_HELLO: [u8; 52] = [
    0x16, 0x03, 0x01, 0x00, 0x2f, // handshake record, 47 bytes
    0x01, 0x00, 0x00, 0x2b, // ClientHello, 43 bytes
    0x03, 0x03, // TLS 1.2
    0x61, 0x72, 0x63, 0x68, 0x65, 0x74, 0x79, 0x70, 0x65, 0x2d, 0x74, 0x6c, 0x73, 0x2d, 0x70, 0x72,
    0x6f, 0x62, 0x65, 0x2d, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x61,
    0x62, // 32 bytes of client random
    0x00, // no session id
    0x00, 0x04, 0x13, 0x01, 0xc0, 0x2f, // TLS_AES_128_GCM_SHA256, ECDHE_RSA_AES_128_GCM
    0x01, 0x00, // null compression
];

/// Whether the server behind `url` (host and port; scheme ignored) answers a ClientHello with
/// a TLS record. An HTTP/2 server answers with a frame, or nothing; either way, false.
pub async fn speaks_tls(url: &str) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(uri) = url.parse::<tonic::codegen::http::Uri>() else {
        return false;
    };
    let Some(host) = uri.host() else {
        return false;
    };
    let port = uri.port_u16().unwrap_or(80);
    let probe = async {
        let mut s = tokio::net::TcpStream::connect((host, port)).await.ok()?;
        s.write_all(&CLIENT_HELLO).await.ok()?;
        let mut head = [0u8; 2];
        s.read_exact(&mut head).await.ok()?;
        Some(matches!(head, [0x15 | 0x16, 0x03]))
    };
    tokio::time::timeout(Duration::from_secs(2), probe)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::service::Interceptor;

    fn call(check: &mut TokenCheck, header: Option<&str>) -> Result<(), Status> {
        let mut req = Request::new(());
        if let Some(h) = header {
            req.metadata_mut()
                .insert("authorization", h.parse().unwrap());
        }
        check.call(req).map(|_| ())
    }

    #[test]
    fn tokens_are_trimmed_checked_and_never_printed() {
        let t = Token::new("  abc-123\n", "in a test").unwrap();
        assert!(t.matches(b"abc-123"));
        assert!(!t.matches(b"abc-124") && !t.matches(b"abc-12"));
        assert!(!format!("{t:?}").contains("abc"));
        assert!(matches!(
            Token::new(" \n", "in f"),
            Err(SecurityError::EmptyToken { .. })
        ));
        assert!(matches!(
            Token::new("a b", "in f"),
            Err(SecurityError::BadToken { .. })
        ));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("token");
        std::fs::write(&p, "from-file\n").unwrap();
        assert!(Token::load(Some(&p))
            .unwrap()
            .unwrap()
            .matches(b"from-file"));
        let e = Token::load(Some(&dir.path().join("missing"))).unwrap_err();
        assert!(e.to_string().contains("missing"), "{e}");
    }

    #[test]
    fn the_server_refuses_calls_without_the_right_bearer_token() {
        let sec = ServerSecurity::none().with_token(Some(Token::new("s3cret", "t").unwrap()));
        let mut check = sec.token_check();
        assert!(call(&mut check, Some("Bearer s3cret")).is_ok());
        let wrong = call(&mut check, Some("Bearer s3creT")).unwrap_err();
        assert_eq!(wrong.code(), Code::Unauthenticated);
        assert!(wrong.message().contains("wrong cluster token"));
        let none = call(&mut check, None).unwrap_err();
        assert!(none.message().contains("no cluster token"));
        let basic = call(&mut check, Some("Basic s3cret")).unwrap_err();
        assert_eq!(basic.code(), Code::Unauthenticated);
        // No token configured: everything passes.
        assert!(call(&mut ServerSecurity::none().token_check(), None).is_ok());
    }

    #[test]
    fn the_client_sends_the_token_it_was_given() {
        let mut b = BearerToken {
            header: Some("Bearer xyz".parse().unwrap()),
        };
        let req = b.call(Request::new(())).unwrap();
        assert_eq!(
            req.metadata()
                .get("authorization")
                .unwrap()
                .to_str()
                .unwrap(),
            "Bearer xyz"
        );
    }

    #[test]
    fn inconsistent_tls_flags_are_refused_by_name() {
        let e = ServerSecurity::load(&ServerSecurityArgs {
            tls_ca: Some("ca.crt".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e
            .to_string()
            .contains("--tls-ca on the server needs --tls-cert"));
        let e = ClientSecurity::load(&ClientSecurityArgs {
            tls_cert: Some("c.crt".into()),
            tls_key: Some("c.key".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("need --tls-ca"));
        let e = ServerSecurity::load(&ServerSecurityArgs {
            tls_cert: Some("/nonexistent/server.crt".into()),
            tls_key: Some("/nonexistent/server.key".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/server.crt"), "{e}");
    }

    #[tokio::test]
    async fn an_https_url_without_a_ca_and_tls_over_http_are_explained() {
        let e = ClientSecurity::none()
            .connect("https://127.0.0.1:1")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("needs --tls-ca"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let pki = crate::certs::write_dev_pki(dir.path(), &["localhost".into()], "c").unwrap();
        let c = ClientSecurity::load(&ClientSecurityArgs {
            tls_ca: Some(pki.ca),
            ..Default::default()
        })
        .unwrap();
        let e = c.connect("http://127.0.0.1:1").await.unwrap_err();
        assert!(e.to_string().contains("not https://"), "{e}");
    }

    /// A fake server that answers whatever it reads with `reply` (or hangs up).
    async fn answering(reply: &'static [u8]) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = l.local_addr().unwrap_or_else(|e| panic!("{e}"));
        tokio::spawn(async move {
            if let Ok((mut s, _)) = l.accept().await {
                let mut b = [0u8; 64];
                let _ = s.read(&mut b).await;
                let _ = s.write_all(reply).await;
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn a_tls_record_in_answer_says_the_port_speaks_tls_and_nothing_else_does() {
        // A TLS alert (handshake_failure) and a ServerHello's record header.
        assert!(speaks_tls(&answering(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]).await).await);
        assert!(speaks_tls(&answering(&[0x16, 0x03, 0x03, 0x00, 0x40]).await).await);
        // An HTTP/2 server's GOAWAY, and a hang-up.
        assert!(!speaks_tls(&answering(&[0x00, 0x00, 0x08, 0x07, 0x00]).await).await);
        assert!(!speaks_tls(&answering(&[]).await).await);
        assert!(!speaks_tls("http://127.0.0.1:1").await);
    }
}
