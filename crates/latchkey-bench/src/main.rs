//! `latchkey-bench`: a load generator for S3 endpoints (and the IAM/STS
//! Query API where the endpoint has one). Loopback only, bounded in time and
//! count; it prints a table and can write the rows as JSON.

mod client;
mod procfs;
mod report;
mod runner;
mod setup;
mod sign;
mod workload;

use clap::{Parser, Subcommand, ValueEnum};
use client::{AuthStyle, PayloadSigning, S3Client};
use runner::Bounds;
use std::sync::Arc;
use std::time::Duration;
use workload::{Bench, Op, Spec, Who};

#[derive(Parser)]
#[command(name = "latchkey-bench", about = "SigV4-signing S3/IAM/STS load generator (loopback only)")]
struct Cli {
    /// The endpoint, e.g. http://127.0.0.1:9000 (loopback only).
    #[arg(long, global = true, default_value = "http://127.0.0.1:9000")]
    endpoint: String,
    #[arg(long, global = true, env = "AWS_ACCESS_KEY_ID", default_value = "")]
    access_key: String,
    #[arg(long, global = true, env = "AWS_SECRET_ACCESS_KEY", default_value = "", hide_env_values = true)]
    secret_key: String,
    #[arg(long, global = true, default_value = "us-east-1")]
    region: String,
    /// The server's pid: adds its CPU time per operation, and memory for the memory row.
    #[arg(long, global = true)]
    server_pid: Option<u32>,
    /// Payload protection for PUTs: the body's SHA-256 (the aws CLI's choice over http) or UNSIGNED-PAYLOAD.
    #[arg(long, global = true, value_enum, default_value = "sha256")]
    payload: PayloadSigning,
    /// Authenticate with an Authorization header or with pre-signed URLs.
    #[arg(long, global = true, value_enum, default_value = "header")]
    auth: AuthStyle,
    /// Also write the rows as JSON to this file.
    #[arg(long, global = true)]
    json: Option<std::path::PathBuf>,
    /// A name for the server under test, written into the JSON.
    #[arg(long, global = true, default_value = "endpoint")]
    label: String,
    /// Keys in the ListObjectsV2 bucket.
    #[arg(long, global = true, default_value_t = 100_000)]
    list_keys: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Workload {
    Put,
    Get,
    Head,
    Delete,
    List,
    Mixed,
    AssumeRole,
    /// GET with an IAM user's long-term key.
    GetUser,
    /// GET with temporary credentials (session token).
    GetSession,
    /// GET let in by a 20-statement bucket policy.
    GetPolicy,
    /// Concurrent 64 MiB PUTs while sampling the server's RSS (needs --server-pid).
    Memory,
}

#[derive(Subcommand)]
enum Command {
    /// One workload.
    Run {
        #[arg(long, value_enum)]
        workload: Workload,
        /// Object size: 4KiB, 1MiB, 64MiB or a number of bytes.
        #[arg(long, default_value = "4KiB", value_parser = parse_size)]
        size: u64,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Seconds to run.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Stop after this many operations.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Every workload in turn, with the sizes and concurrencies of the comparison.
    Suite {
        /// Short runs and a 10,000-key LIST bucket.
        #[arg(long)]
        quick: bool,
        /// Seconds per row (default 6, or 2 with --quick).
        #[arg(long)]
        duration: Option<f64>,
        /// Row ids to leave out (e.g. memory).
        #[arg(long, value_delimiter = ',')]
        skip: Vec<String>,
    },
}

fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase().replace(' ', "");
    let (num, mul) = if let Some(n) = t.strip_suffix("gib") {
        (n, 1 << 30)
    } else if let Some(n) = t.strip_suffix("mib") {
        (n, 1 << 20)
    } else if let Some(n) = t.strip_suffix("kib") {
        (n, 1 << 10)
    } else {
        (t.trim_end_matches('b'), 1)
    };
    let n: u64 = num.parse().map_err(|_| format!("not a size: {s}"))?;
    let v = n * mul;
    if v > workload::MAX_SIZE {
        return Err(format!("at most {} bytes", workload::MAX_SIZE));
    }
    Ok(v)
}

fn spec(id: &str, label: &str, op: Op, size: u64, concurrency: usize, secs: f64, count: Option<u64>) -> Spec {
    Spec {
        id: id.into(),
        label: label.into(),
        op,
        size,
        concurrency,
        bounds: Bounds { duration: Duration::from_secs_f64(secs), count },
    }
}

/// The comparison's rows, in order.
fn suite(secs: f64, quick: bool, presigned_default: bool) -> Vec<Spec> {
    const K4: u64 = 4 << 10;
    const M1: u64 = 1 << 20;
    const M64: u64 = 64 << 20;
    let get = |who| Op::Get { who, presigned: presigned_default };
    let put = Op::Put { unsigned: false };
    let deletes = if quick { 3_000 } else { 20_000 };
    vec![
        spec("memory", "PUT 64 MiB ×64 at once (server memory)", Op::Memory, M64, 64, 600.0, Some(64)),
        spec("put-4k", "PUT", put, K4, 16, secs, None),
        spec("get-4k", "GET", get(Who::Root), K4, 16, secs, None),
        spec("put-1m", "PUT", put, M1, 8, secs, None),
        spec("get-1m", "GET", get(Who::Root), M1, 8, secs, None),
        spec("put-64m", "PUT", put, M64, 4, secs, None),
        spec("put-64m-unsigned", "PUT (UNSIGNED-PAYLOAD)", Op::Put { unsigned: true }, M64, 4, secs, None),
        spec("get-64m", "GET", get(Who::Root), M64, 4, secs, None),
        spec("head", "HEAD", Op::Head, 0, 16, secs, None),
        spec("delete", "DELETE", Op::Delete, K4, 16, secs, Some(deletes)),
        spec("list", "ListObjectsV2", Op::List, 0, 4, secs, None),
        spec("mixed", "mixed", Op::Mixed, K4, 16, secs, None),
        spec("get-4k-presigned", "GET pre-signed URL", Op::Get { who: Who::Root, presigned: true }, K4, 16, secs, None),
        spec("assume-role", "AssumeRole", Op::AssumeRole, 0, 8, secs, None),
        // The cost of authentication and authorization: the same GET by each
        // kind of caller, back to back so the server is in the same state.
        spec("get-4k-auth-root", "GET, account root", get(Who::Root), K4, 16, secs, None),
        spec("get-4k-user", "GET, IAM user key", get(Who::User), K4, 16, secs, None),
        spec("get-4k-session", "GET, session token", get(Who::Session), K4, 16, secs, None),
        spec("get-4k-policy", "GET via 20-stmt bucket policy", get(Who::PolicyUser), K4, 16, secs, None),
        spec("get-4k-c1-root", "GET, account root, 1 client", get(Who::Root), K4, 1, secs, None),
        spec("get-4k-c1-user", "GET, IAM user key, 1 client", get(Who::User), K4, 1, secs, None),
        spec("get-4k-c1-session", "GET, session token, 1 client", get(Who::Session), K4, 1, secs, None),
        spec("get-4k-c1-policy", "GET via 20-stmt bucket policy, 1 client", get(Who::PolicyUser), K4, 1, secs, None),
    ]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut client = S3Client::new(&cli.endpoint, &cli.region, 128)?;
    client.payload_signing = cli.payload;
    client.auth = cli.auth;
    let root = sign::Credentials {
        access_key: cli.access_key.clone(),
        secret_key: cli.secret_key.clone(),
        session_token: None,
    };
    let (specs, quick) = match &cli.command {
        Command::Run { workload, size, concurrency, duration, count } => {
            let (op, size) = match workload {
                Workload::Put => (Op::Put { unsigned: cli.payload == PayloadSigning::UnsignedPayload }, *size),
                Workload::Get => (Op::Get { who: Who::Root, presigned: cli.auth == AuthStyle::Presigned }, *size),
                Workload::GetUser => (Op::Get { who: Who::User, presigned: cli.auth == AuthStyle::Presigned }, *size),
                Workload::GetSession => {
                    (Op::Get { who: Who::Session, presigned: cli.auth == AuthStyle::Presigned }, *size)
                }
                Workload::GetPolicy => {
                    (Op::Get { who: Who::PolicyUser, presigned: cli.auth == AuthStyle::Presigned }, *size)
                }
                Workload::Head => (Op::Head, 0),
                Workload::Delete => (Op::Delete, 4096),
                Workload::List => (Op::List, 0),
                Workload::Mixed => (Op::Mixed, 4096),
                Workload::AssumeRole => (Op::AssumeRole, 0),
                Workload::Memory => (Op::Memory, 64 << 20),
            };
            let name = format!("{workload:?}").to_lowercase();
            let count = if op == Op::Delete { Some(count.unwrap_or(10_000)) } else { *count };
            (vec![spec(&name, &name, op, size, *concurrency, *duration, count)], false)
        }
        Command::Suite { quick, duration, skip } => {
            let secs = duration.unwrap_or(if *quick { 2.0 } else { 6.0 });
            let specs: Vec<Spec> = suite(secs, *quick, cli.auth == AuthStyle::Presigned)
                .into_iter()
                .filter(|s| !skip.iter().any(|k| k == &s.id))
                .collect();
            (specs, *quick)
        }
    };
    let list_keys = if quick { cli.list_keys.min(10_000) } else { cli.list_keys };
    let max_size = specs.iter().map(|s| s.size).max().unwrap_or(0).max(4096);
    let mut bench = Bench::new(client.clone(), root.clone(), cli.server_pid, list_keys, max_size);
    let needs_iam = specs
        .iter()
        .any(|s| matches!(s.op, Op::AssumeRole | Op::Get { who: Who::User | Who::Session | Who::PolicyUser, .. }));
    if needs_iam {
        match setup::account_id(&client, &root).await {
            Some(account) => {
                for b in [setup::BUCKET, setup::LIST_BUCKET, setup::POLICY_BUCKET] {
                    setup::create_bucket(&client, &root, b).await?;
                }
                bench.prepare_pool(setup::POLICY_BUCKET, 4096).await?;
                let tag = format!("{}", std::process::id());
                bench.ids = Some(setup::identities(&client, &root, &account, &tag).await?);
            }
            None => eprintln!("note: {} answers no STS GetCallerIdentity; IAM/STS rows are n/a", cli.endpoint),
        }
    }
    let bench = Arc::new(bench);
    let mut rows = Vec::new();
    println!("{}", report::HEADER);
    for s in specs {
        eprintln!("running {} ({} {}, concurrency {})", s.id, s.label, report::human_size(s.size), s.concurrency);
        for r in bench.run(s).await? {
            println!("{}", report::markdown_line(&r));
            rows.push(r);
        }
    }
    if let Some(path) = &cli.json {
        let doc = serde_json::json!({
            "label": cli.label,
            "endpoint": cli.endpoint,
            "payload_signing": cli.payload,
            "auth": cli.auth,
            "list_keys": list_keys,
            "rows": rows,
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)?;
    }
    Ok(())
}
