//! The configuration file (`--config PATH` or `HBX_SA_CONFIG`): TOML whose keys
//! are the settings' flag names in snake case (`bind`, `data_dir`,
//! `database_url`, `oauth_issuer`, ...). Its values become the defaults of the
//! matching flags before the command line is parsed, so the precedence is
//! exactly: built-in default < file < environment variable < flag. A key that
//! names no setting is an error that names it; a key that the command at hand
//! does not take (`bind` for `grants add`) is left alone.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::Command;

/// The variable that names the file when `--config` does not.
pub const CONFIG_VARIABLE: &str = "HBX_SA_CONFIG";

/// Flags that are not settings, and so are never read from the file.
const NOT_SETTINGS: [&str; 3] = ["config", "check_config", "help"];

#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("cannot read the configuration file {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the configuration file {path} is not valid TOML")]
    Parse {
        path: String,
        #[source]
        source: toml::de::Error,
    },
    #[error(
        "the configuration file {path} has an unknown key `{key}`: the keys are the flags of \
         `hbx-sa serve` in snake case ({known})"
    )]
    UnknownKey {
        path: String,
        key: String,
        known: String,
    },
    #[error(
        "the configuration file {path} gives `{key}` a value that is not a string, number, \
         boolean or list of them"
    )]
    Shape { path: String, key: String },
}

/// The settings a file gives, as the text a flag would take.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub values: BTreeMap<String, Vec<String>>,
}

/// The file named by `--config PATH` / `--config=PATH` in `argv`, or by
/// [`CONFIG_VARIABLE`].
pub fn config_path(argv: &[OsString]) -> Option<PathBuf> {
    let mut args = argv.iter().skip(1);
    while let Some(arg) = args.next() {
        let arg = arg.to_string_lossy();
        if arg == "--" {
            break;
        }
        if arg == "--config" {
            return args.next().map(PathBuf::from);
        }
        if let Some(path) = arg.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os(CONFIG_VARIABLE).map(PathBuf::from)
}

/// The setting keys a file may use: the flags of `serve` (which include every
/// storage command's).
pub fn known_keys(cli: &Command) -> Vec<String> {
    cli.get_subcommands()
        .find(|command| command.get_name() == "serve")
        .expect("the command line has `serve`")
        .get_arguments()
        .map(|arg| arg.get_id().as_str().to_owned())
        .filter(|id| !NOT_SETTINGS.contains(&id.as_str()))
        .collect()
}

impl ConfigFile {
    /// Reads and checks the file at `path` against the keys `cli` knows.
    pub fn load(path: &Path, cli: &Command) -> Result<Self, ConfigFileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigFileError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::parse(&text, path, cli)
    }

    pub fn parse(text: &str, path: &Path, cli: &Command) -> Result<Self, ConfigFileError> {
        let shown = path.display().to_string();
        let table: toml::Table = text.parse().map_err(|source| ConfigFileError::Parse {
            path: shown.clone(),
            source,
        })?;
        let known = known_keys(cli);
        let mut values = BTreeMap::new();
        for (key, value) in table {
            if !known.contains(&key) {
                return Err(ConfigFileError::UnknownKey {
                    path: shown,
                    key,
                    known: known.join(", "),
                });
            }
            let shape = || ConfigFileError::Shape {
                path: shown.clone(),
                key: key.clone(),
            };
            let texts = match &value {
                toml::Value::Array(items) => items
                    .iter()
                    .map(|item| scalar(item).ok_or_else(shape))
                    .collect::<Result<Vec<_>, _>>()?,
                other => vec![scalar(other).ok_or_else(shape)?],
            };
            values.insert(key, texts);
        }
        Ok(Self {
            path: path.to_owned(),
            values,
        })
    }

    /// `cli` with the file's values as the defaults of the flags they name, in
    /// every command that takes them.
    pub fn apply(&self, cli: Command) -> Command {
        let values = self.values.clone();
        apply_to(cli, &values)
    }
}

fn apply_to(command: Command, values: &BTreeMap<String, Vec<String>>) -> Command {
    command
        .mut_args(|arg| match values.get(arg.get_id().as_str()) {
            Some(texts) if texts.len() == 1 => arg.default_value(texts[0].clone()),
            Some(texts) => arg.default_values(texts.clone()),
            None => arg,
        })
        .mut_subcommands(|subcommand| apply_to(subcommand, values))
}

fn scalar(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(text) => Some(text.clone()),
        toml::Value::Integer(number) => Some(number.to_string()),
        toml::Value::Float(number) => Some(number.to_string()),
        toml::Value::Boolean(flag) => Some(flag.to_string()),
        toml::Value::Datetime(_) | toml::Value::Array(_) | toml::Value::Table(_) => None,
    }
}

/// How the command line was given: for showing the effective configuration.
#[derive(Clone, Copy)]
pub struct Invocation<'a> {
    pub matches: &'a clap::ArgMatches,
    pub file: Option<&'a ConfigFile>,
    /// Every setting `serve` takes (what the file may hold).
    pub known_keys: &'a [String],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_comes_from_the_flag_first() {
        let argv = |args: &[&str]| args.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            config_path(&argv(&["hbx-sa", "serve", "--config", "a.toml"])),
            Some(PathBuf::from("a.toml"))
        );
        assert_eq!(
            config_path(&argv(&["hbx-sa", "--config=b.toml", "serve"])),
            Some(PathBuf::from("b.toml"))
        );
    }
}
