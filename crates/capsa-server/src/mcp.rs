//! The MCP server (Model Context Protocol): capsa's sandboxes as tools an AI agent calls, over stdio
//! (`capsa mcp`) and streamable HTTP (`/mcp` on the gateway), both through this one tool layer.
//!
//! The tools run code once (`run_code`) or in a session (`create_session`, `exec`, `write_file`,
//! `read_file`, `list_files`, `snapshot`, `fork`, `close_session`). What the guest does is a tool
//! result: the receipt as structured content (`outcome`, `error`, `stdout`, `stderr`, `result`,
//! `stats`, …) and a readable text block, with `isError: true` when the guest failed (an exception,
//! a limit, code that does not compile). Arguments that are not what a tool takes are protocol
//! errors (`-32602 invalid params`) naming what is wrong.
//!
//! Every call has an owner. Over stdio it is the one local user; over HTTP it is the bearer token
//! the request carried (checked before the request reaches the MCP service), so a token sees only
//! the sessions it made.

use std::sync::Arc;

use axum::http::request::Parts;
use capsa::{ByteSize, ErrorCode, HumanDuration, Language, LimitOverrides, Receipt};
use rmcp::handler::server::common::FromContextPart;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject};
use rmcp::service::RequestContext;
use rmcp::{
    ErrorData, RoleServer, ServerHandler, ServiceExt as _, tool, tool_handler, tool_router,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::function::{Function, GrantSpec, Programs, Trust};
use crate::gateway::{Gateway, Input};
use crate::sessions::{CreateSession, ForkSession, SessionInfo};

/// Who makes a call over HTTP: put into the request's extensions by the gateway once the token is
/// checked, read back by every tool.
#[derive(Debug, Clone)]
pub(crate) struct Caller(pub(crate) Arc<str>);

/// The owner of every call over stdio: the one user at the other end of the pipe.
pub const LOCAL_OWNER: &str = "local";

/// capsa's MCP tools over a [`Gateway`]: its engine, limits, admission and metrics for `run_code`,
/// its sessions for the rest.
#[derive(Clone)]
pub struct Mcp {
    gateway: Arc<Gateway>,
    /// The owner when the transport names none (stdio); `None` over HTTP, where a call without a
    /// checked token is refused rather than given a shared owner.
    local_owner: Option<Arc<str>>,
}

/// A language the tools run.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Lang {
    /// JavaScript (QuickJS): the value of the last expression is the result.
    Js,
    /// TypeScript: types stripped, then as JavaScript.
    Ts,
    /// Python 3.14: the value of a final expression statement is the result.
    Py,
}

impl From<Lang> for Language {
    fn from(lang: Lang) -> Language {
        match lang {
            Lang::Js => Language::JavaScript,
            Lang::Ts => Language::TypeScript,
            Lang::Py => Language::Python,
        }
    }
}

/// A file put into the sandbox's `/work` directory before the code runs.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct FileArg {
    /// Path relative to `/work`, e.g. `data/input.csv`.
    path: String,
    /// The contents as UTF-8 text (give this or `content_base64`).
    #[serde(default)]
    content: Option<String>,
    /// The contents as base64, for bytes that are not text.
    #[serde(default)]
    content_base64: Option<String>,
}

/// `run_code`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RunCode {
    /// `js`, `ts` or `py`.
    language: Lang,
    /// The source to run.
    code: String,
    /// Files to put into `/work` first.
    #[serde(default)]
    files: Vec<FileArg>,
    /// Wall-clock deadline, e.g. `1500ms` or `2s`; at most the server's own (the default).
    #[serde(default)]
    timeout: Option<String>,
}

/// A tool's arguments, read as rmcp's `Parameters` reads them, except that arguments that do not
/// fit are a protocol error (`-32602`, as this server's contract says) rather than a tool result.
struct Args<T>(T);

impl<T: DeserializeOwned> FromContextPart<ToolCallContext<'_, Mcp>> for Args<T> {
    fn from_context_part(context: &mut ToolCallContext<'_, Mcp>) -> Result<Self, ErrorData> {
        let arguments = context.arguments.take().unwrap_or_default();
        serde_json::from_value(Value::Object(arguments))
            .map(Args)
            .map_err(|e| invalid_params(ErrorCode::InvalidInput, format!("invalid arguments: {e}")))
    }
}

/// The input schema of a tool taking `T`.
fn schema<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    // Every argument type is a struct, so its schema is an object: the tests list each tool's.
    rmcp::handler::server::common::schema_for_input::<T>().unwrap_or_default()
}

/// `create_session`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CreateSessionArgs {
    /// `js`, `ts` or `py`.
    language: Lang,
    /// How long the session lives after its last use, e.g. `10m`; at most the server's maximum.
    #[serde(default)]
    ttl: Option<String>,
    /// Wall-clock deadline of each `exec`, e.g. `5s`; at most the server's own (the default).
    #[serde(default)]
    timeout: Option<String>,
    /// The session's memory, e.g. `128MiB`; at most the server's own (the default).
    #[serde(default)]
    memory: Option<String>,
    /// Bytes of the session's files in /work, e.g. `16MiB`; at most the server's own (the default).
    #[serde(default)]
    max_files: Option<String>,
}

/// `exec`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ExecArgs {
    /// The session's id, from `create_session` or `fork`.
    session: String,
    /// The code to evaluate in the session's state.
    code: String,
}

/// `write_file`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct WriteFileArgs {
    /// The session's id.
    session: String,
    /// Path relative to `/work`, e.g. `data/input.csv`; directories are made as needed.
    path: String,
    /// The contents as UTF-8 text (give this or `content_base64`).
    #[serde(default)]
    content: Option<String>,
    /// The contents as base64, for bytes that are not text.
    #[serde(default)]
    content_base64: Option<String>,
}

/// `read_file`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ReadFileArgs {
    /// The session's id.
    session: String,
    /// Path relative to `/work`.
    path: String,
}

/// The arguments of the tools that take only a session.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SessionArgs {
    /// The session's id.
    session: String,
}

/// `fork`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ForkArgs {
    /// The snapshot's id, from `snapshot`.
    snapshot: String,
}

#[tool_router]
impl Mcp {
    /// Tools for the local user of `capsa mcp` (stdio): every call is [`LOCAL_OWNER`]'s.
    pub fn local(gateway: Arc<Gateway>) -> Mcp {
        Mcp {
            gateway,
            local_owner: Some(Arc::from(LOCAL_OWNER)),
        }
    }

    /// Tools for HTTP callers: each call is owned by the token of its request.
    pub(crate) fn http(gateway: Arc<Gateway>) -> Mcp {
        Mcp {
            gateway,
            local_owner: None,
        }
    }

    /// Runs one code cell in a fresh sandbox.
    #[tool(
        input_schema = schema::<RunCode>(),
        description = "Run JavaScript (js), TypeScript (ts) or Python (py) once in a fresh, isolated sandbox with no network and no host files. The result is the value of the last expression (JSON); print/console.log go to stdout. Returns outcome (`ok` or an error code such as `guest_exception`, `timeout`, `memory_limit_exceeded`), stdout, stderr, result and stats."
    )]
    async fn run_code(
        &self,
        Args(args): Args<RunCode>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let owner = self.owner(&context)?;
        let language = Language::from(args.language);
        let limits = LimitOverrides {
            timeout: args
                .timeout
                .as_deref()
                .map(|t| parse_duration("timeout", t))
                .transpose()?,
            ..LimitOverrides::default()
        };
        limits
            .check_within(&self.gateway.base_limits)
            .map_err(|e| invalid_params(e.code(), e.message()))?;
        if !args.files.is_empty() {
            let files = args
                .files
                .iter()
                .map(|f| {
                    Ok((
                        f.path.as_str(),
                        contents(f.content.as_deref(), f.content_base64.as_deref())?,
                    ))
                })
                .collect::<Result<Vec<_>, ErrorData>>()?;
            return self
                .run_with_files(&owner, language, limits, &files, &args.code)
                .await;
        }
        let gateway = &self.gateway;
        let program = match Programs::compile(
            &gateway.engine,
            language,
            "cell",
            Arc::from(args.code.as_bytes()),
        )
        .await
        {
            Ok(program) => program,
            Err(e) => return refused(e),
        };
        let function = Function {
            label: "mcp:run_code".to_owned(),
            version: None,
            program,
            limits: limits.apply(&gateway.base_limits),
            grants: GrantSpec::default()
                .grants(Trust::Api, None)
                .map_err(internal)?,
        };
        let ticket = match gateway.admit(&function).await {
            Ok(ticket) => ticket,
            Err(e) => return refused(e),
        };
        match gateway
            .run(
                ticket,
                &function,
                Input::Stdin(Default::default()),
                None,
                None,
            )
            .await
        {
            Ok(receipt) => Ok(receipt_result(&receipt)),
            Err(e) => refused(e),
        }
    }
    /// Opens a session.
    #[tool(
        input_schema = schema::<CreateSessionArgs>(),
        description = "Open a stateful session in JavaScript (js), TypeScript (ts) or Python (py): variables and functions persist from one `exec` to the next, and the session has a private /work directory (see write_file/read_file; Python code reads it with open('/work/...')). Returns the session's `id`. Optional limits: `timeout` of each exec, `memory`, `max_files` (at most the server's). Sessions expire when idle; close them with close_session."
    )]
    async fn create_session(
        &self,
        Args(args): Args<CreateSessionArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let owner = self.owner(&context)?;
        let request = CreateSession {
            language: Language::from(args.language).to_string(),
            ttl: args
                .ttl
                .as_deref()
                .map(|t| parse_duration("ttl", t))
                .transpose()?,
            limits: LimitOverrides {
                timeout: args
                    .timeout
                    .as_deref()
                    .map(|t| parse_duration("timeout", t))
                    .transpose()?,
                memory: args
                    .memory
                    .as_deref()
                    .map(|m| parse_size("memory", m))
                    .transpose()?,
                max_files: args
                    .max_files
                    .as_deref()
                    .map(|m| parse_size("max_files", m))
                    .transpose()?,
                ..LimitOverrides::default()
            },
            ..CreateSession::default()
        };
        request
            .limits
            .check_within(&self.gateway.base_limits)
            .map_err(|e| invalid_params(e.code(), e.message()))?;
        match self.gateway.sessions.create(&owner, request).await {
            Ok(info) => Ok(session_result("opened", &info)),
            Err(e) => refused(e),
        }
    }

    /// Evaluates code in a session.
    #[tool(
        input_schema = schema::<ExecArgs>(),
        description = "Evaluate code in a session's state. The result is the value of the last expression; print/console.log go to stdout. A limit (timeout, memory) resets the session's state; an exception keeps it. Returns outcome, stdout, stderr, result and stats."
    )]
    async fn exec(
        &self,
        Args(args): Args<ExecArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let owner = self.owner(&context)?;
        match self
            .gateway
            .sessions
            .exec(&owner, &args.session, &args.code, None)
            .await
        {
            Ok(receipt) => Ok(receipt_result(&receipt)),
            Err(e) => refused(e),
        }
    }

    /// Writes a file into a session's `/work`.
    #[tool(
        input_schema = schema::<WriteFileArgs>(),
        description = "Write a file into a session's /work directory (text in `content`, or bytes in `content_base64`), replacing what was there. The files count against the session's file limit."
    )]
    async fn write_file(
        &self,
        Args(args): Args<WriteFileArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let owner = self.owner(&context)?;
        let bytes = contents(args.content.as_deref(), args.content_base64.as_deref())?;
        let sessions = &self.gateway.sessions;
        match sessions
            .write_file(&owner, &args.session, &args.path, &bytes)
            .await
        {
            Ok(()) => Ok(structured(
                format!("wrote {} bytes to /work/{}", bytes.len(), args.path),
                json!({ "path": args.path, "size": bytes.len() }),
            )),
            Err(e) => refused(e),
        }
    }

    /// Reads a file out of a session's `/work`.
    #[tool(
        input_schema = schema::<ReadFileArgs>(),
        description = "Read a file from a session's /work directory: `content` when it is UTF-8 text, `content_base64` otherwise."
    )]
    async fn read_file(
        &self,
        Args(args): Args<ReadFileArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let owner = self.owner(&context)?;
        let sessions = &self.gateway.sessions;
        let bytes = match sessions.read_file(&owner, &args.session, &args.path).await {
            Ok(bytes) => bytes,
            Err(e) => return refused(e),
        };
        let size = bytes.len();
        let mut value = serde_json::Map::new();
        value.insert("path".into(), args.path.clone().into());
        value.insert("size".into(), size.into());
        let (field, content) = capsa_wire::bytes::encode("content", bytes);
        let text = match (&content, field.as_str()) {
            (Value::String(text), "content") => text.clone(),
            _ => format!(
                "/work/{} is {size} bytes that are not UTF-8: see `content_base64`",
                args.path
            ),
        };
        value.insert(field, content);
        Ok(structured(text, Value::Object(value)))
    }

    /// Lists a session's files.
    #[tool(
        input_schema = schema::<SessionArgs>(),
        description = "List the files in a session's /work directory, with their sizes in bytes."
    )]
    async fn list_files(
        &self,
        Args(args): Args<SessionArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let owner = self.owner(&context)?;
        match self
            .gateway
            .sessions
            .list_files(&owner, &args.session)
            .await
        {
            Ok(files) => {
                let text = if files.is_empty() {
                    "no files in /work".to_owned()
                } else {
                    files
                        .iter()
                        .map(|f| format!("{} ({} bytes)", f.path, f.size))
                        .collect::<Vec<_>>()
                        .join("\n")
                };
                Ok(structured(text, json!({ "files": files })))
            }
            Err(e) => refused(e),
        }
    }

    /// Takes a snapshot of a session.
    #[tool(
        input_schema = schema::<SessionArgs>(),
        description = "Snapshot a session: its whole state (variables, functions, /work files) is kept under a new snapshot id, from which `fork` starts any number of independent sessions. A session that hit a limit since its last reset cannot be snapshotted; Python sessions cannot be snapshotted yet."
    )]
    async fn snapshot(
        &self,
        Args(args): Args<SessionArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let owner = self.owner(&context)?;
        match self.gateway.sessions.snapshot(&owner, &args.session).await {
            Ok(info) => Ok(structured(
                format!(
                    "snapshot `{}` of session `{}` ({} bytes)",
                    info.snapshot, args.session, info.size_bytes
                ),
                to_value(&info),
            )),
            Err(e) => refused(e),
        }
    }

    /// Starts a session from a snapshot.
    #[tool(
        input_schema = schema::<ForkArgs>(),
        description = "Start a new session from a snapshot: it begins with the snapshot's state and files, and never sees what other sessions (the original, other forks) do afterwards. Returns the new session's `id`."
    )]
    async fn fork(
        &self,
        Args(args): Args<ForkArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let owner = self.owner(&context)?;
        match self
            .gateway
            .sessions
            .fork(&owner, &args.snapshot, ForkSession::default())
            .await
        {
            Ok(info) => Ok(session_result("forked", &info)),
            Err(e) => refused(e),
        }
    }

    /// Closes a session.
    #[tool(
        input_schema = schema::<SessionArgs>(),
        description = "Close a session and free it. Its snapshots stay."
    )]
    async fn close_session(
        &self,
        Args(args): Args<SessionArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let owner = self.owner(&context)?;
        match self.gateway.sessions.delete(&owner, &args.session).await {
            Ok(()) => Ok(structured(
                format!("closed session `{}`", args.session),
                json!({ "closed": args.session }),
            )),
            Err(e) => refused(e),
        }
    }
}

#[tool_handler(
    name = "capsa",
    instructions = "capsa runs untrusted JavaScript, TypeScript and Python in fresh WebAssembly sandboxes with hard limits. `run_code` runs code once; `create_session` opens a stateful session for `exec`, with files in /work (`write_file`, `read_file`, `list_files`); `snapshot` keeps a session's state and `fork` starts new sessions from it; `close_session` when done."
)]
impl ServerHandler for Mcp {}

impl Mcp {
    /// Serves these tools over stdin/stdout until the client closes the pipe.
    ///
    /// # Errors
    ///
    /// `internal` when the MCP handshake fails or the service ends abnormally.
    pub async fn serve_stdio(self) -> Result<(), ApiError> {
        let running = self
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| ApiError::internal(format!("the MCP handshake failed: {e}")))?;
        running
            .waiting()
            .await
            .map_err(|e| ApiError::internal(format!("the MCP service ended abnormally: {e}")))?;
        Ok(())
    }

    /// `run_code` with files: a session for the one call, the files written, the code evaluated,
    /// the session closed whatever happened.
    async fn run_with_files(
        &self,
        owner: &str,
        language: Language,
        limits: LimitOverrides,
        files: &[(&str, Vec<u8>)],
        code: &str,
    ) -> Result<CallToolResult, ErrorData> {
        let sessions = &self.gateway.sessions;
        let request = CreateSession {
            language: language.to_string(),
            limits,
            ..CreateSession::default()
        };
        let info = match sessions.create(owner, request).await {
            Ok(info) => info,
            Err(e) => return refused(e),
        };
        let ran = async {
            for (path, bytes) in files {
                sessions.write_file(owner, &info.id, path, bytes).await?;
            }
            sessions.exec(owner, &info.id, code, None).await
        }
        .await;
        if let Err(e) = sessions.delete(owner, &info.id).await {
            tracing::warn!(session = %info.id, error = %e.message, "closing run_code's session failed");
        }
        match ran {
            Ok(receipt) => Ok(receipt_result(&receipt)),
            Err(e) => refused(e),
        }
    }

    /// The owner of a call: the checked token's (HTTP) or the local user (stdio).
    fn owner(&self, context: &RequestContext<RoleServer>) -> Result<Arc<str>, ErrorData> {
        let caller = context
            .extensions
            .get::<Parts>()
            .and_then(|parts| parts.extensions.get::<Caller>());
        match (caller, &self.local_owner) {
            (Some(Caller(owner)), _) => Ok(owner.clone()),
            (None, Some(local)) => Ok(local.clone()),
            (None, None) => Err(ErrorData::internal_error(
                "an HTTP call reached the MCP tools without a checked token",
                None,
            )),
        }
    }
}

/// The streamable HTTP transport of these tools, as the gateway mounts it at `/mcp`.
///
/// Stateless: every POST carries its whole exchange and is answered with JSON, so the gateway keeps
/// nothing per MCP client (capsa's own sessions, named in the tools' arguments, are the state). The
/// `Host` check against DNS rebinding is off because every request needs a bearer token, which a
/// rebinding page cannot send; the body cap is the gateway's deploy-body cap.
pub(crate) type HttpService = rmcp::transport::StreamableHttpService<
    Mcp,
    rmcp::transport::streamable_http_server::session::never::NeverSessionManager,
>;

/// The `/mcp` service over `gateway`.
pub(crate) fn http_service(gateway: Arc<Gateway>) -> HttpService {
    let max_body = usize::try_from(gateway.server.max_deploy_body.bytes()).unwrap_or(usize::MAX);
    let config = rmcp::transport::StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .disable_allowed_hosts()
        .with_max_request_body_bytes(max_body);
    rmcp::transport::StreamableHttpService::new(
        move || Ok(Mcp::http(gateway.clone())),
        Default::default(),
        config,
    )
}

/// The duration argument `name`.
fn parse_duration(name: &str, text: &str) -> Result<HumanDuration, ErrorData> {
    text.parse()
        .map_err(|e: capsa::Error| invalid_params(e.code(), format!("`{name}`: {}", e.message())))
}

fn parse_size(name: &str, text: &str) -> Result<ByteSize, ErrorData> {
    text.parse()
        .map_err(|e: capsa::Error| invalid_params(e.code(), format!("`{name}`: {}", e.message())))
}

/// The bytes of `content` or `content_base64`, exactly one of them.
fn contents(text: Option<&str>, base64: Option<&str>) -> Result<Vec<u8>, ErrorData> {
    match (text, base64) {
        (Some(text), None) => Ok(text.as_bytes().to_vec()),
        (None, Some(encoded)) => {
            capsa_wire::bytes::base64_decode(encoded.trim()).ok_or_else(|| {
                invalid_params(ErrorCode::InvalidInput, "`content_base64` is not base64")
            })
        }
        _ => Err(invalid_params(
            ErrorCode::InvalidInput,
            "give exactly one of `content` and `content_base64`",
        )),
    }
}

/// A successful tool result: `text` for the reader, `value` as structured content.
fn structured(text: String, value: Value) -> CallToolResult {
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = Some(value);
    result
}

/// A session the tools opened or forked, as a tool result.
fn session_result(verb: &str, info: &SessionInfo) -> CallToolResult {
    structured(
        format!(
            "{verb} {} session `{}` (idle timeout {})",
            info.language,
            info.id,
            HumanDuration(std::time::Duration::from_millis(info.ttl_ms))
        ),
        to_value(info),
    )
}

/// `value` as JSON (the server's own types always serialise).
fn to_value(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// A protocol error for arguments a tool does not take, with capsa's error code as its data.
fn invalid_params(code: ErrorCode, message: impl Into<String>) -> ErrorData {
    ErrorData::invalid_params(message.into(), Some(json!({ "code": code })))
}

/// A protocol error for a failure of the server's own.
fn internal(e: ApiError) -> ErrorData {
    ErrorData::internal_error(e.message, Some(json!({ "code": e.code })))
}

/// A call the server refused or could not start, as the tool result an agent reads: its code did
/// not compile, a limit of the session was reached, the server is busy. The server's own failures
/// stay protocol errors.
fn refused(e: ApiError) -> Result<CallToolResult, ErrorData> {
    if e.code == ErrorCode::Internal {
        return Err(internal(e));
    }
    let value = json!({
        "outcome": e.code,
        "error": { "code": e.code, "message": e.message },
    });
    let mut result = CallToolResult::error(vec![ContentBlock::text(format!(
        "error[{}]: {}",
        e.code, e.message
    ))]);
    result.structured_content = Some(value);
    Ok(result)
}

/// A receipt as a tool result: the receipt's JSON as structured content, a readable summary as
/// text, and `isError` when the guest failed.
fn receipt_result(receipt: &Receipt) -> CallToolResult {
    let value = serde_json::to_value(receipt).unwrap_or_else(|e| {
        json!({ "outcome": "internal", "error": { "code": "internal", "message": e.to_string() } })
    });
    let content = vec![ContentBlock::text(receipt_text(receipt))];
    let mut result = if receipt.is_ok() {
        CallToolResult::success(content)
    } else {
        CallToolResult::error(content)
    };
    result.structured_content = Some(value);
    result
}

/// The receipt for a reader: how it ended, the result, then the output.
fn receipt_text(receipt: &Receipt) -> String {
    let mut text = match &receipt.error {
        None => "outcome: ok".to_owned(),
        Some(failure) => format!("error[{}]: {}", failure.code, failure.message),
    };
    if let Some(stack) = receipt
        .error
        .as_ref()
        .and_then(|f| f.exception.as_ref())
        .map(|e| e.stack.as_str())
        .filter(|s| !s.is_empty())
    {
        text.push('\n');
        text.push_str(stack.trim_end());
    }
    if let Some(result) = &receipt.result {
        text.push_str(&format!("\nresult: {}", render(result)));
    }
    for (name, bytes, cut) in [
        ("stdout", &receipt.stdout, receipt.truncated.stdout),
        ("stderr", &receipt.stderr, receipt.truncated.stderr),
    ] {
        if bytes.is_empty() {
            continue;
        }
        text.push_str(&format!("\n--- {name}\n"));
        text.push_str(String::from_utf8_lossy(bytes).trim_end());
        if cut {
            text.push_str("\n[truncated at the output limit]");
        }
    }
    text
}

/// A JSON value on one line.
fn render(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}
