//! What a command prints: one JSON object on stdout, or one per line for a
//! log. Messages for people go to stderr.

use serde::Serialize;

use super::error::CliError;

/// A command's result: one JSON object on stdout.
pub(crate) fn print_object(value: &impl Serialize) -> Result<(), CliError> {
    println!(
        "{}",
        serde_json::to_string(value).map_err(CliError::Output)?
    );
    Ok(())
}

/// A log: one JSON object per line on stdout.
pub(crate) fn print_lines<T: Serialize>(values: &[T]) -> Result<(), CliError> {
    for value in values {
        print_object(value)?;
    }
    Ok(())
}
