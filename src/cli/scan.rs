//! `hbx-sa scan [PATH...]`: finds leaked tokens in files, directories (read
//! recursively, `.git` left out, links not followed) or standard input
//! (`-`). Every string of this server's token form with a valid checksum is
//! reported, one JSON line each on stdout (its path, line, column, prefix,
//! public id and last 4 characters: never the secret) and a readable line on
//! stderr. Exit status: 1 if any was found, 2 if something could not be read
//! (and nothing was found), 0 otherwise; so a pre-commit hook can refuse a
//! commit that holds a token.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;

use super::args::ScanArgs;
use super::error::CliError;
use super::output::print_object;
use crate::token::TokenPrefix;
use crate::token::scan::find_tokens;

/// Where standard input is read from, among the paths.
const STDIN: &str = "-";
/// Directories never searched: git's own store (compressed objects, no
/// plaintext worth the time).
const SKIPPED_DIRECTORIES: [&str; 1] = [".git"];

/// One token found, as printed.
#[derive(Debug, Serialize)]
pub struct Finding {
    /// `path:line`, as editors and CI logs link it.
    pub location: String,
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub token_prefix: String,
    pub token_public_id: String,
    pub token_last4: String,
}

/// What a scan found, and what it could not read.
#[derive(Debug, Default)]
pub struct Scan {
    pub findings: Vec<Finding>,
    pub unreadable: Vec<(String, std::io::Error)>,
    pub files: usize,
}

impl Scan {
    /// The exit status: 1 found, 2 unreadable (and nothing found), 0 clean.
    pub fn status(&self) -> ExitCode {
        if !self.findings.is_empty() {
            ExitCode::from(1)
        } else if !self.unreadable.is_empty() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        }
    }

    fn search(&mut self, shown: &str, bytes: &[u8], prefix: &TokenPrefix) {
        self.files += 1;
        for found in find_tokens(bytes, prefix) {
            self.findings.push(Finding {
                location: format!("{shown}:{}", found.line),
                path: shown.to_owned(),
                line: found.line,
                column: found.column,
                token_prefix: prefix.as_str().to_owned(),
                token_public_id: found.public_id.clone(),
                token_last4: found.last4.clone(),
            });
        }
    }

    fn walk(&mut self, path: &Path, prefix: &TokenPrefix) {
        let shown = path.display().to_string();
        let metadata = match std::fs::symlink_metadata(path) {
            Ok(metadata) => metadata,
            Err(error) => return self.unreadable.push((shown, error)),
        };
        if metadata.is_dir() {
            let entries = match std::fs::read_dir(path) {
                Ok(entries) => entries,
                Err(error) => return self.unreadable.push((shown, error)),
            };
            let mut children: Vec<PathBuf> = Vec::new();
            for entry in entries {
                match entry {
                    Ok(entry) => children.push(entry.path()),
                    Err(error) => self.unreadable.push((shown.clone(), error)),
                }
            }
            children.sort();
            for child in children {
                let skipped = child
                    .file_name()
                    .is_some_and(|name| SKIPPED_DIRECTORIES.iter().any(|skip| name == *skip));
                if !(skipped && child.is_dir()) {
                    self.walk(&child, prefix);
                }
            }
        } else if metadata.is_file() {
            match std::fs::read(path) {
                Ok(bytes) => self.search(&shown, &bytes, prefix),
                Err(error) => self.unreadable.push((shown, error)),
            }
        }
        // Links are not followed, and devices, sockets and pipes not read.
    }
}

/// Scans `paths` (the current directory when there are none).
pub fn scan(args: &ScanArgs) -> Scan {
    let mut scan = Scan::default();
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    for path in &paths {
        if path.as_os_str() == STDIN {
            let mut bytes = Vec::new();
            match std::io::stdin().read_to_end(&mut bytes) {
                Ok(_) => scan.search("(stdin)", &bytes, &args.token_prefix),
                Err(error) => scan.unreadable.push(("(stdin)".to_owned(), error)),
            }
        } else {
            scan.walk(path, &args.token_prefix);
        }
    }
    scan
}

/// Runs the scan and prints what it found; the exit status.
pub fn run(args: ScanArgs) -> Result<ExitCode, CliError> {
    let scan = scan(&args);
    for finding in &scan.findings {
        print_object(finding)?;
        eprintln!(
            "{}:{}: a {} token with a valid checksum (public id {}, ending {})",
            finding.location,
            finding.column,
            finding.token_prefix,
            finding.token_public_id,
            finding.token_last4
        );
    }
    for (path, error) in &scan.unreadable {
        eprintln!("hbx-sa scan: cannot read {path}: {error}");
    }
    eprintln!(
        "hbx-sa scan: {} token{} found in {} file{}",
        scan.findings.len(),
        if scan.findings.len() == 1 { "" } else { "s" },
        scan.files,
        if scan.files == 1 { "" } else { "s" }
    );
    Ok(scan.status())
}
