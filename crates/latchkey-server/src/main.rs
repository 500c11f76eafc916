use clap::Parser;
use latchkey_server::admin_client;
use latchkey_server::bootstrap::{self, RootKeyInput};
use latchkey_server::config::{AccountCommand, Cli, Command};
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
                },
                root_key_from_env(),
            )
            .await?;
            let listener = tokio::net::TcpListener::bind(&cfg.listen).await?;
            tracing::info!(listen = %listener.local_addr()?, data_dir = %cfg.data_dir.display(), region = %cfg.region, "latchkey is serving");
            latchkey_server::server::run(listener, state, shutdown_signal()).await?;
            tracing::info!("stopped");
            Ok(())
        }
        Command::Account(cmd) => account_command(cmd).await,
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
