use clap::Parser;

use latchkey_server::admin_client;
use latchkey_server::bootstrap::{self, RootKeyInput};
use latchkey_server::config::{AccountCommand, Cli, Command, KeysCommand, RoleCommand};
use latchkey_server::state::ServiceConfig;

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LATCHKEY_LOG").unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn root_key_from_env() -> Option<RootKeyInput> {
    match (std::env::var("LATCHKEY_ROOT_ACCESS_KEY_ID"), std::env::var("LATCHKEY_ROOT_SECRET_ACCESS_KEY")) {
        (Ok(access_key_id), Ok(secret_access_key)) => Some(RootKeyInput { access_key_id, secret_access_key }),
        _ => None,
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("latchkey: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let cfg = args.resolve()?;
            init_logging(&cfg.log_format);
            let state = bootstrap::open(
                &cfg.data_dir,
                ServiceConfig {
                    region: cfg.region.clone(),
                    domains: cfg.domains.clone(),
                    max_object_size: 5 * 1024 * 1024 * 1024,
                    ldap: cfg.ldap.clone(),
                },
                root_key_from_env(),
                cfg.monitoring.clone(),
            )
            .await?;
            latchkey_server::s3::logging::load(&state).await.map_err(|e| anyhow::anyhow!(e.message))?;
            latchkey_server::s3::logging::spawn_delivery(state.clone());
            let listener = tokio::net::TcpListener::bind(&cfg.listen).await?;
            tracing::info!(listen = %listener.local_addr()?, data_dir = %cfg.data_dir.display(), region = %cfg.region, "latchkey is serving");
            latchkey_server::server::run(listener, state.clone(), shutdown_signal()).await?;
            latchkey_server::s3::logging::deliver(&state).await;
            state.monitoring.flush();
            tracing::info!("stopped");
            Ok(())
        }
        Command::Account(cmd) => account_command(cmd).await,
        Command::Keys(cmd) => keys_command(cmd),
        Command::Audit(args) => latchkey_server::audit_cli::run(*args),
        Command::Role(RoleCommand::RevokeSessions { role, client }) => {
            let creds = admin_client::credentials_from_environment()?;
            let now = time::OffsetDateTime::now_utc();
            let doc = latchkey_server::sessions::revoke_older_sessions_policy(now);
            admin_client::call(
                &client.endpoint_url,
                &creds,
                &[
                    ("Action", "PutRolePolicy"),
                    ("Version", "2010-05-08"),
                    ("RoleName", &role),
                    ("PolicyName", "AWSRevokeOlderSessions"),
                    ("PolicyDocument", &doc),
                ],
            )
            .await?;
            println!(
                "Sessions of role {role} issued before {} are revoked.",
                latchkey_server::iam::entities::timestamp(now)
            );
            Ok(())
        }
    }
}

async fn account_command(cmd: AccountCommand) -> anyhow::Result<()> {
    let creds = admin_client::credentials_from_environment()?;
    match cmd {
        AccountCommand::Create { name, client } => {
            let xml = admin_client::call(
                &client.endpoint_url,
                &creds,
                &[("Action", "CreateAccount"), ("Version", "2010-05-08"), ("AccountName", &name)],
            )
            .await?;
            let field = |n: &str| admin_client::xml_field(&xml, n).unwrap_or_default();
            let (id, key, secret) = (field("AccountId"), field("AccessKeyId"), field("SecretAccessKey"));
            if client.output == "json" {
                println!("{}", serde_json::json!({"AccountId": id, "AccessKeyId": key, "SecretAccessKey": secret}));
            } else {
                println!("AccountId       {id}\nAccessKeyId     {key}\nSecretAccessKey {secret}");
            }
        }
        AccountCommand::List { client } => {
            let xml = admin_client::call(
                &client.endpoint_url,
                &creds,
                &[("Action", "ListAccounts"), ("Version", "2010-05-08")],
            )
            .await?;
            let ids = admin_client::xml_fields(&xml, "AccountId");
            let names = admin_client::xml_fields(&xml, "AccountName");
            if client.output == "json" {
                let list: Vec<_> = ids
                    .iter()
                    .zip(&names)
                    .map(|(i, n)| serde_json::json!({"AccountId": i, "AccountName": n}))
                    .collect();
                println!("{}", serde_json::json!({ "Accounts": list }));
            } else {
                for (i, n) in ids.iter().zip(&names) {
                    println!("{i}  {n}");
                }
            }
        }
    }
    Ok(())
}

fn keys_command(cmd: KeysCommand) -> anyhow::Result<()> {
    use latchkey_storage::MetadataStore;
    let dir = match &cmd {
        KeysCommand::List(d) | KeysCommand::Rotate(d) => d.data_dir.clone(),
        KeysCommand::Retire { data, .. } => data.data_dir.clone(),
    };
    if !dir.join("metadata.sqlite3").exists() {
        anyhow::bail!("no latchkey data directory at {}", dir.display());
    }
    let meta = latchkey_storage::SqliteMetadata::open(&dir)?;
    match cmd {
        KeysCommand::List(_) => {
            let keys = meta.list_token_keys()?;
            for (i, (id, _)) in keys.iter().enumerate() {
                println!("{id}{}", if i + 1 == keys.len() { "  (current)" } else { "" });
            }
        }
        KeysCommand::Rotate(_) => {
            let id = latchkey_server::sessions::rotate(&meta)?;
            println!("added session key {id}; new sessions are sealed with it");
        }
        KeysCommand::Retire { id, .. } => {
            if meta.list_token_keys()?.len() <= 1 {
                anyhow::bail!("refusing to retire the only session key (rotate first)");
            }
            if !meta.retire_token_key(id)? {
                anyhow::bail!("no session key {id}");
            }
            println!("retired session key {id}; sessions sealed with it no longer work");
        }
    }
    Ok(())
}
