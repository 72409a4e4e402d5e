//! A client for the agent's local API, used by the CLI and the tests.

use std::path::{Path, PathBuf};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use scry_model::EventEnvelope;
use scry_model::filter::EventFilter;
use scry_model::flow::FlowResponse;
use scry_model::flow::filter::FlowsRequest;
use scry_model::status::{AgentStatus, PolicyInfo};
use scry_query::wire::{QueryResponse, ScriptRequest, SqlRequest, TableInfo};
use tokio::net::UnixStream;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "cannot reach the scry agent at {}: {source}. Is it running? Start it with `sudo scry agent` (or pass --socket PATH)",
        .path.display()
    )]
    Connect { path: PathBuf, source: std::io::Error },
    #[error("the agent refused the request ({status}): {message}")]
    Refused { status: StatusCode, message: String },
    #[error("talking to the agent failed: {0}")]
    Http(#[from] hyper::Error),
    #[error("the agent sent something unreadable: {0}")]
    Decode(#[from] serde_json::Error),
}

pub struct Client {
    socket: PathBuf,
}

/// What `scry policy` asks of a loaded policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyCommand {
    Delete,
    Enable,
    Disable,
}

impl PolicyCommand {
    pub fn name(self) -> &'static str {
        match self {
            PolicyCommand::Delete => "delete",
            PolicyCommand::Enable => "enable",
            PolicyCommand::Disable => "disable",
        }
    }
}

type Body = hyper::body::Incoming;

impl Client {
    pub fn new(socket: impl AsRef<Path>) -> Client {
        Client { socket: socket.as_ref().to_owned() }
    }

    async fn request(&self, req: Request<Full<Bytes>>) -> Result<hyper::Response<Body>, ClientError> {
        let stream = UnixStream::connect(&self.socket)
            .await
            .map_err(|source| ClientError::Connect { path: self.socket.clone(), source })?;
        let (mut sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        let resp = sender.send_request(req).await?;
        if !resp.status().is_success() {
            let status = resp.status();
            let body = resp.into_body().collect().await?.to_bytes();
            return Err(ClientError::Refused { status, message: String::from_utf8_lossy(&body).into_owned() });
        }
        Ok(resp)
    }

    fn build(method: &str, path: &str, body: Vec<u8>) -> Request<Full<Bytes>> {
        Request::builder()
            .method(method)
            .uri(path)
            .header("host", "scry")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .expect("static request parts are valid")
    }

    pub async fn status(&self) -> Result<AgentStatus, ClientError> {
        let resp = self.request(Self::build("GET", "/v1/status", Vec::new())).await?;
        let body = resp.into_body().collect().await?.to_bytes();
        Ok(serde_json::from_slice(&body)?)
    }

    /// Runs a read-only SQL query over the agent's tables.
    pub async fn policies(&self) -> Result<Vec<PolicyInfo>, ClientError> {
        let resp = self.request(Self::build("GET", "/v1/policies", Vec::new())).await?;
        Ok(serde_json::from_slice(&resp.into_body().collect().await?.to_bytes())?)
    }

    /// Sends a TracingPolicy (YAML) to be validated and installed whole.
    pub async fn add_policy(&self, yaml: &str) -> Result<PolicyInfo, ClientError> {
        let resp = self.request(Self::build("POST", "/v1/policies", yaml.as_bytes().to_vec())).await?;
        Ok(serde_json::from_slice(&resp.into_body().collect().await?.to_bytes())?)
    }

    /// `delete`, `enable` or `disable` the named policy.
    pub async fn policy_command(&self, command: PolicyCommand, name: &str) -> Result<(), ClientError> {
        let body = serde_json::to_vec(&serde_json::json!({ "name": name }))?;
        self.request(Self::build("POST", &format!("/v1/policies/{}", command.name()), body)).await?;
        Ok(())
    }

    pub async fn sql(&self, req: &SqlRequest) -> Result<QueryResponse, ClientError> {
        self.query("/v1/query/sql", serde_json::to_vec(req)?).await
    }

    /// Runs a PxL script over the agent's tables.
    pub async fn pxl(&self, req: &ScriptRequest) -> Result<QueryResponse, ClientError> {
        self.query("/v1/query/pxl", serde_json::to_vec(req)?).await
    }

    async fn query(&self, path: &str, body: Vec<u8>) -> Result<QueryResponse, ClientError> {
        let resp = self.request(Self::build("POST", path, body)).await?;
        let body = resp.into_body().collect().await?.to_bytes();
        Ok(serde_json::from_slice(&body)?)
    }

    /// The agent's tables: schemas, sizes, time span, evictions.
    pub async fn tables(&self) -> Result<Vec<TableInfo>, ClientError> {
        let resp = self.request(Self::build("GET", "/v1/tables", Vec::new())).await?;
        let body = resp.into_body().collect().await?.to_bytes();
        Ok(serde_json::from_slice(&body)?)
    }

    /// Subscribes; returns once the agent has registered the subscription, so
    /// every event after this call is delivered.
    pub async fn events(&self, filter: &EventFilter) -> Result<EventStream, ClientError> {
        let resp = self.request(Self::build("POST", "/v1/events", serde_json::to_vec(filter)?)).await?;
        Ok(EventStream { body: resp.into_body(), buf: Vec::new() })
    }

    /// Asks for flows as Hubble's `GetFlows` does; returns once the agent has
    /// accepted the request. The stream ends after the buffered flows unless
    /// the request follows.
    pub async fn flows(&self, req: &FlowsRequest) -> Result<EventStream, ClientError> {
        let resp = self.request(Self::build("POST", "/v1/flows", serde_json::to_vec(req)?)).await?;
        Ok(EventStream { body: resp.into_body(), buf: Vec::new() })
    }
}

/// Event (or flow) lines as they arrive.
pub struct EventStream {
    body: Body,
    buf: Vec<u8>,
}

impl EventStream {
    /// The next raw JSON line, or `None` when the agent closed the stream.
    pub async fn next_line(&mut self) -> Result<Option<String>, ClientError> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                return Ok(Some(String::from_utf8_lossy(&line[..pos]).into_owned()));
            }
            match self.body.frame().await {
                Some(frame) => {
                    if let Ok(data) = frame?.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
                None => return Ok(None),
            }
        }
    }

    pub async fn next_event(&mut self) -> Result<Option<EventEnvelope>, ClientError> {
        match self.next_line().await? {
            Some(line) => Ok(Some(serde_json::from_str(&line)?)),
            None => Ok(None),
        }
    }

    /// The next line of a [`Client::flows`] stream.
    pub async fn next_flow(&mut self) -> Result<Option<FlowResponse>, ClientError> {
        match self.next_line().await? {
            Some(line) => Ok(Some(serde_json::from_str(&line)?)),
            None => Ok(None),
        }
    }
}
