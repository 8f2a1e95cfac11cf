//! Accounts kept in the store (`cairn user add|list|remove|rotate`), beside the configuration
//! file's `[[user]]` tables: each is a configuration document of the root account
//! (`users/<name>`: its keys and email), as durable as the buckets it owns. The server reads
//! them at start; a name or access key that two accounts share stops the start.

use cairn_engine::Engine;
use serde::{Deserialize, Serialize};

use crate::config::{Config, ConfigError, User};

/// Where the accounts are kept among the root account's configuration documents.
const CONFIG_PREFIX: &str = "users/";

/// What is stored of an account.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    access_key: String,
    secret_key: String,
    #[serde(default)]
    email: Option<String>,
}

fn store_account() -> String {
    crate::account::account_id(crate::account::ROOT_ACCOUNT)
}

/// Why an account could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("there is already an account named {0:?}")]
    Exists(String),
    #[error("there is no account named {0:?} in the store")]
    Missing(String),
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    #[error(transparent)]
    Engine(#[from] cairn_engine::Error),
}

/// The accounts kept in the store, by name.
pub fn stored(engine: &Engine) -> Vec<User> {
    let mut users: Vec<User> = engine
        .account_configs(&store_account(), CONFIG_PREFIX)
        .into_iter()
        .filter_map(|(config, value)| {
            let name = config.strip_prefix(CONFIG_PREFIX)?.to_owned();
            let stored: Stored = serde_json::from_slice(&value).ok()?;
            Some(User {
                name,
                access_key: stored.access_key,
                secret_key: stored.secret_key,
                email: stored.email,
                public_access_block: Default::default(),
            })
        })
        .collect();
    users.sort_by(|a, b| a.name.cmp(&b.name));
    users
}

/// `config` with the store's accounts added, checked as the file's are.
pub fn with_stored(mut config: Config, engine: &Engine) -> Result<Config, ConfigError> {
    config.users.extend(stored(engine));
    crate::config::validate_accounts(&config.root, &config.users)?;
    Ok(config)
}

fn put(engine: &Engine, user: &User) -> Result<(), UserError> {
    let stored =
        Stored { access_key: user.access_key.clone(), secret_key: user.secret_key.clone(), email: user.email.clone() };
    let value = serde_json::to_vec(&stored).expect("keys serialize");
    engine.put_account_config(&store_account(), &format!("{CONFIG_PREFIX}{}", user.name), &value)?;
    Ok(())
}

/// Checks `user` against the root credentials and every other stored account, as the server
/// would at start.
fn check(engine: &Engine, root: &crate::Credentials, user: &User) -> Result<(), UserError> {
    let users: Vec<User> = stored(engine).into_iter().filter(|u| u.name != user.name).chain([user.clone()]).collect();
    crate::config::validate_accounts(root, &users)?;
    Ok(())
}

/// Makes an account with new keys.
pub fn add(engine: &Engine, root: &crate::Credentials, name: &str, email: Option<String>) -> Result<User, UserError> {
    if name == crate::account::ROOT_ACCOUNT || stored(engine).iter().any(|u| u.name == name) {
        return Err(UserError::Exists(name.to_owned()));
    }
    let keys = crate::config::generate();
    let user = User {
        name: name.to_owned(),
        access_key: keys.access_key,
        secret_key: keys.secret_key,
        email,
        public_access_block: Default::default(),
    };
    check(engine, root, &user)?;
    put(engine, &user)?;
    Ok(user)
}

/// Gives an account new keys: the old ones stop working when the server next starts.
pub fn rotate(engine: &Engine, root: &crate::Credentials, name: &str) -> Result<User, UserError> {
    let mut user =
        stored(engine).into_iter().find(|u| u.name == name).ok_or_else(|| UserError::Missing(name.to_owned()))?;
    let keys = crate::config::generate();
    (user.access_key, user.secret_key) = (keys.access_key, keys.secret_key);
    check(engine, root, &user)?;
    put(engine, &user)?;
    Ok(user)
}

/// Removes an account (its buckets stay, owned by its canonical id).
pub fn remove(engine: &Engine, name: &str) -> Result<(), UserError> {
    let config = format!("{CONFIG_PREFIX}{name}");
    if engine.get_account_config(&store_account(), &config).is_none() {
        return Err(UserError::Missing(name.to_owned()));
    }
    engine.delete_account_config(&store_account(), &config)?;
    Ok(())
}
