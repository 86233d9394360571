//! `capsa mcp`: capsa's sandboxes as MCP tools over stdio, for AI agents (docs/mcp.md).

use std::path::PathBuf;

use capsa::{Error, ErrorCode};
use capsa_server::config::Config;
use capsa_server::mcp::Mcp;
use clap::Args;

use crate::opts::{CacheArgs, LimitArgs};

/// Serve capsa's sandboxes as MCP tools over stdin/stdout (the Model Context Protocol).
///
/// An agent framework starts this command and talks JSON-RPC on its stdin and stdout; logs go to
/// stderr. Tools: run_code, create_session, exec, write_file, read_file, list_files, snapshot, fork,
/// close_session. The limits below apply to every call (a tool may only lower the timeout).
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  capsa mcp\n  capsa mcp --timeout 30s --memory 512MiB --data ~/.local/share/capsa-mcp\n\nClaude Desktop / Claude Code (.mcp.json):\n  {\"mcpServers\": {\"capsa\": {\"command\": \"capsa\", \"args\": [\"mcp\"]}}}"
)]
pub struct McpArgs {
    /// Keep session snapshots in this directory (a SQLite store) [default: a temporary directory,
    /// removed at exit]
    #[arg(long = "data", value_name = "DIR")]
    data: Option<PathBuf>,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    cache: CacheArgs,
}

pub fn run(args: McpArgs) -> Result<u8, Error> {
    let internal = |what: &str, e: std::io::Error| {
        Error::new(ErrorCode::Internal, format!("cannot {what}: {e}"))
    };
    // Without --data the store lives as long as this process: a temporary directory, removed when
    // `temporary` drops at the end.
    let (data_dir, temporary) = match &args.data {
        Some(dir) => (dir.clone(), None),
        None => {
            let dir = tempfile::Builder::new()
                .prefix("capsa-mcp-")
                .tempdir()
                .map_err(|e| internal("create a temporary data directory", e))?;
            (dir.path().to_owned(), Some(dir))
        }
    };
    let config = Config {
        data_dir: Some(data_dir),
        limits: args.limits.call.clone(),
        compile: capsa::CompileLimits {
            timeout: args.limits.compile_timeout,
            ..capsa::CompileLimits::default()
        },
        ..Config::default()
    };
    let engine = args.limits.configure(args.cache.engine()).build()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("capsa-mcp")
        .build()
        .map_err(|e| internal("start the runtime", e))?;
    runtime.block_on(async {
        let gateway = capsa_server::Gateway::new(&config, engine)
            .await
            .map_err(|e| Error::new(e.code, e.message))?;
        tracing::info!("capsa mcp: serving MCP on stdio");
        Mcp::local(gateway)
            .serve_stdio()
            .await
            .map_err(|e| Error::new(e.code, e.message))
    })?;
    drop(temporary);
    Ok(0)
}
