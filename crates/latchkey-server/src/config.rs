//! Settings: flags, then `LATCHKEY_*` environment variables, then the TOML
//! config file, then built-in defaults.

use clap::{Args, Parser, Subcommand};
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "latchkey", version, about = "S3-compatible object store with AWS IAM and STS")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Start the server.
    Serve(Box<ServeArgs>),
    /// Manage accounts on a running server (operator only).
    #[command(subcommand)]
    Account(AccountCommand),
    /// Manage the session-token key ring in a data directory.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Role administration on a running server.
    #[command(subcommand)]
    Role(RoleCommand),
    /// Query the audit log: who did what, and why it was allowed or denied.
    Audit(Box<crate::audit_cli::AuditArgs>),
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// List the key ring (newest seals new tokens).
    List(DataDirArg),
    /// Add a key; new sessions are sealed with it, older ones stay valid.
    Rotate(DataDirArg),
    /// Remove a key: every session sealed under it stops working.
    Retire {
        id: u32,
        #[command(flatten)]
        data: DataDirArg,
    },
}

#[derive(Args, Debug)]
pub struct DataDirArg {
    #[arg(long, env = "LATCHKEY_DATA_DIR", default_value = "latchkey-data")]
    pub data_dir: PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum RoleCommand {
    /// Revoke every session of ROLE issued before now (AWS's
    /// AWSRevokeOlderSessions inline policy).
    RevokeSessions {
        role: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum AccountCommand {
    /// Create an account and print its id and root credentials.
    Create {
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List accounts.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Args, Debug)]
pub struct ClientArgs {
    /// The server [default: http://127.0.0.1:9000].
    #[arg(long, env = "AWS_ENDPOINT_URL", default_value = "http://127.0.0.1:9000")]
    pub endpoint_url: String,
    /// Output format: text or json.
    #[arg(long, default_value = "text")]
    pub output: String,
}

#[derive(Args, Debug, Default)]
pub struct ServeArgs {
    /// TOML config file (keys: data_dir, listen, region, domains, log_format; an [ldap] table).
    #[arg(long, env = "LATCHKEY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where metadata and object data live [default: ./latchkey-data].
    #[arg(long, env = "LATCHKEY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:9000].
    #[arg(long, env = "LATCHKEY_LISTEN")]
    pub listen: Option<String>,
    /// The region this server is [default: us-east-1].
    #[arg(long, env = "LATCHKEY_REGION")]
    pub region: Option<String>,
    /// Domains for virtual-hosted-style addressing (`bucket.DOMAIN`),
    /// comma-separated [default: localhost].
    #[arg(long, env = "LATCHKEY_DOMAINS", value_delimiter = ',')]
    pub domains: Option<Vec<String>>,
    /// Log format: text or json [default: text].
    #[arg(long, env = "LATCHKEY_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// LDAP sign-in (AssumeRoleWithLDAPIdentity); the file's `[ldap]` table.
    #[command(flatten)]
    pub ldap: crate::federation::ldap::LdapOptions,
    /// Audit trail and metrics; the file's `[monitoring]` table.
    #[command(flatten)]
    pub monitoring: crate::monitoring::MonitoringOptions,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    listen: Option<String>,
    region: Option<String>,
    domains: Option<Vec<String>>,
    log_format: Option<String>,
    ldap: Option<crate::federation::ldap::LdapOptions>,
    monitoring: Option<crate::monitoring::MonitoringOptions>,
}

/// The resolved settings for `serve`.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub data_dir: PathBuf,
    pub listen: String,
    pub region: String,
    pub domains: Vec<String>,
    pub log_format: String,
    pub ldap: Option<std::sync::Arc<crate::federation::ldap::LdapSettings>>,
    pub monitoring: crate::monitoring::MonitoringOptions,
}

impl ServeArgs {
    pub fn resolve(self) -> anyhow::Result<ServeConfig> {
        let file = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("reading config file {}: {e}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let log_format = self.log_format.or(file.log_format).unwrap_or_else(|| "text".into());
        if log_format != "text" && log_format != "json" {
            anyhow::bail!("log format must be text or json, not {log_format:?}");
        }
        let ldap = self.ldap.or(file.ldap.unwrap_or_default()).resolve()?.map(std::sync::Arc::new);
        Ok(ServeConfig {
            data_dir: self.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from("latchkey-data")),
            listen: self.listen.or(file.listen).unwrap_or_else(|| "127.0.0.1:9000".into()),
            region: self.region.or(file.region).unwrap_or_else(|| "us-east-1".into()),
            domains: self.domains.or(file.domains).unwrap_or_else(|| vec!["localhost".into()]),
            log_format,
            ldap,
            monitoring: self.monitoring.or(file.monitoring.unwrap_or_default()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_the_file_and_the_file_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:7000\"\nregion = \"eu-west-1\"\n").unwrap();
        let args = ServeArgs { config: Some(path), region: Some("ap-south-1".into()), ..Default::default() };
        let c = args.resolve().unwrap();
        assert_eq!(c.listen, "127.0.0.1:7000");
        assert_eq!(c.region, "ap-south-1");
        assert_eq!(c.data_dir, PathBuf::from("latchkey-data"));
    }

    #[test]
    fn the_ldap_table_configures_ldap_sign_in() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        let text = "[ldap]\nurl = \"ldap://127.0.0.1:3890\"\ninsecure_plaintext = true\n\
                    user_dn_template = \"uid=%s,ou=people,dc=example,dc=com\"\ntimeout_seconds = 3\n";
        std::fs::write(&path, text).unwrap();
        let c = ServeArgs { config: Some(path.clone()), ..Default::default() }.resolve().unwrap();
        let ldap = c.ldap.expect("LDAP is on");
        assert_eq!((ldap.url.as_str(), ldap.timeout.as_secs()), ("ldap://127.0.0.1:3890", 3));
        std::fs::write(&path, "[ldap]\nurl = \"ldap://x\"\nbogus = 1\n").unwrap();
        assert!(ServeArgs { config: Some(path), ..Default::default() }.resolve().is_err());
        assert!(ServeArgs::default().resolve().unwrap().ldap.is_none());
    }

    #[test]
    fn unknown_config_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "lisen = \"x\"\n").unwrap();
        assert!(ServeArgs { config: Some(path), ..Default::default() }.resolve().is_err());
    }
}
