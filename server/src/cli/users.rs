//! `cairn user add|list|remove|rotate`: the accounts kept in the store (see `crate::users`).
//! The server reads them when it starts, so a change takes effect at the next start.

use std::path::Path;

use super::{Failure, Outcome};
use crate::users::UserError;

/// The store's root credentials, if it has been served (the check that no account takes the
/// root's access key needs them).
fn root(data_dir: &Path) -> Result<crate::Credentials, Failure> {
    // Never served: any random key stands in for the root's, which does not exist yet.
    Ok(crate::config::stored_credentials(data_dir)?.unwrap_or_else(crate::config::generate))
}

fn refused(error: UserError) -> Failure {
    match error {
        UserError::Exists(_) | UserError::Missing(_) => Failure::No(error.to_string()),
        UserError::Invalid(_) => Failure::Usage(error.to_string()),
        other => Failure::Error(Box::new(other)),
    }
}

fn show(user: &crate::User, with_secret: bool) {
    println!("name:       {}", user.name);
    println!("account id: {}", crate::account::account_id(&user.name));
    println!("access key: {}", user.access_key);
    if with_secret {
        println!("secret key: {}", user.secret_key);
    }
    if let Some(email) = &user.email {
        println!("email:      {email}");
    }
}

pub fn add(data_dir: &Path, name: &str, email: Option<String>) -> Outcome {
    let root = root(data_dir)?;
    let engine = super::open(data_dir)?;
    let user = crate::users::add(&engine, &root, name, email).map_err(refused)?;
    show(&user, true);
    Ok(())
}

/// One line per account: name, access key, email (tab-separated).
pub fn list(data_dir: &Path) -> Outcome {
    let engine = super::open(data_dir)?;
    for user in crate::users::stored(&engine) {
        println!("{}\t{}\t{}", user.name, user.access_key, user.email.as_deref().unwrap_or("-"));
    }
    Ok(())
}

pub fn remove(data_dir: &Path, name: &str) -> Outcome {
    let engine = super::open(data_dir)?;
    crate::users::remove(&engine, name).map_err(refused)?;
    println!("removed {name}");
    Ok(())
}

pub fn rotate(data_dir: &Path, name: &str) -> Outcome {
    let root = root(data_dir)?;
    let engine = super::open(data_dir)?;
    let user = crate::users::rotate(&engine, &root, name).map_err(refused)?;
    show(&user, true);
    Ok(())
}
