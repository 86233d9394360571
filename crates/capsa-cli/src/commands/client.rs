//! The HTTP client of `capsa deploy`, `functions` and `invoke`: talks to a running gateway.

use capsa::{Error, ErrorCode};
use clap::Args;
use serde_json::Value;

/// Where the gateway is and how to authenticate.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Gateway")]
pub struct ServerArgs {
    /// The gateway's URL
    #[arg(
        long,
        global = true,
        env = "CAPSA_SERVER",
        default_value = "http://127.0.0.1:8080",
        value_name = "URL"
    )]
    pub server: String,
    /// Bearer token [default: the first of CAPSA_TOKEN]
    #[arg(long, global = true, value_name = "TOKEN")]
    pub token: Option<String>,
}

/// A connection to one gateway.
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl Client {
    pub fn new(args: &ServerArgs) -> Result<Client, Error> {
        let token = args.token.clone().or_else(|| {
            std::env::var("CAPSA_TOKEN").ok().and_then(|t| {
                t.split(',')
                    .map(str::trim)
                    .find(|t| !t.is_empty())
                    .map(str::to_owned)
            })
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::new(ErrorCode::Internal, format!("cannot start a runtime: {e}")))?;
        // reqwest's TLS has no built-in crypto provider here: install ring's (a no-op when set).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder().build().map_err(|e| {
            Error::new(
                ErrorCode::Internal,
                format!("cannot make an HTTP client: {e}"),
            )
        })?;
        Ok(Client {
            base: args.server.trim_end_matches('/').to_owned(),
            token,
            http,
            runtime,
        })
    }

    /// A request to `path` on the gateway, with the token.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request
    }

    /// Sends a request and returns the response if it succeeded (2xx).
    pub fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, Error> {
        self.runtime.block_on(async {
            let response = request.send().await.map_err(|e| self.unreachable(e))?;
            if response.status().is_success() {
                Ok(response)
            } else {
                Err(error_of(response).await)
            }
        })
    }

    /// Sends a request and parses a JSON answer.
    pub fn json(&self, request: reqwest::RequestBuilder) -> Result<Value, Error> {
        let response = self.send(request)?;
        self.runtime.block_on(async {
            let bytes = response.bytes().await.map_err(|e| self.unreachable(e))?;
            if bytes.is_empty() {
                return Ok(Value::Null);
            }
            serde_json::from_slice(&bytes).map_err(|e| {
                Error::new(
                    ErrorCode::Internal,
                    format!("the gateway answered with invalid JSON: {e}"),
                )
            })
        })
    }

    /// Runs `future` on the client's runtime.
    pub fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        self.runtime.block_on(future)
    }

    pub fn unreachable(&self, e: reqwest::Error) -> Error {
        Error::new(
            ErrorCode::HostError,
            format!("cannot reach the gateway at {}: {e}", self.base),
        )
    }
}

/// The error of a failed answer: the gateway's `{"error": {"code", "message"}}`, else the status.
pub async fn error_of(response: reqwest::Response) -> Error {
    let status = response.status();
    let body = response.bytes().await.unwrap_or_default();
    let parsed: Option<(ErrorCode, String)> =
        serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
            let code = ErrorCode::from_name(v.pointer("/error/code")?.as_str()?)?;
            let message = v.pointer("/error/message")?.as_str()?.to_owned();
            Some((code, message))
        });
    match parsed {
        Some((code, message)) => Error::new(code, message),
        None => Error::new(
            ErrorCode::Internal,
            format!(
                "the gateway answered {status}: {}",
                String::from_utf8_lossy(&body).trim()
            ),
        ),
    }
}
