//! `hbx-sa scan`: finds tokens with a valid checksum in a directory tree and
//! on standard input, reports where (never the secret), ignores look-alikes
//! (every single-character change of a real token), and says by its exit
//! status whether it found any (1), none (0), or could not read (2).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use hbx_service_accounts::token::{self, TokenPrefix};
use serde_json::Value;

use crate::common::process::BIN;
use crate::common::{public_id_of, secret_of};

fn new_token() -> String {
    token::generate(&TokenPrefix::default())
        .plaintext
        .into_exposed()
}

fn scan(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .arg("scan")
        .args(args)
        .current_dir(dir)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn findings(output: &Output) -> Vec<Value> {
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

/// Neither the tokens nor their secrets appear in anything the scan printed.
fn assert_no_secret_printed(output: &Output, tokens: &[&str]) {
    for stream in [&output.stdout, &output.stderr] {
        let text = String::from_utf8_lossy(stream);
        for token in tokens {
            assert!(!text.contains(token), "a token was printed: {text}");
            assert!(
                !text.contains(secret_of(token)),
                "a secret was printed: {text}"
            );
        }
    }
}

#[test]
fn tokens_in_a_tree_and_on_stdin_are_found_without_their_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c, hidden) = (new_token(), new_token(), new_token(), new_token());
    let root = dir.path().join("repo");
    std::fs::create_dir_all(root.join("deploy/prod")).unwrap();
    std::fs::create_dir_all(root.join(".git")).unwrap();
    std::fs::write(
        root.join("deploy/.env"),
        format!("# settings\nNAME=ci\nHBX_TOKEN={a}\n"),
    )
    .unwrap();
    std::fs::write(
        root.join("deploy/prod/values.yaml"),
        format!("token: \"{b}\"\nother: {c}\n"),
    )
    .unwrap();
    // Git's own store is not searched.
    std::fs::write(root.join(".git/config"), format!("{hidden}\n")).unwrap();
    // Binary files are searched too.
    let mut binary = vec![0u8, 159, 146, 150];
    binary.extend_from_slice(a.as_bytes());
    std::fs::write(root.join("blob.bin"), binary).unwrap();
    let output = scan(dir.path(), &["repo"], None);
    assert_eq!(output.status.code(), Some(1), "found: exit 1");
    let found = findings(&output);
    let locations: Vec<&str> = found
        .iter()
        .map(|f| f["location"].as_str().unwrap())
        .collect();
    assert_eq!(
        locations,
        [
            "repo/blob.bin:1",
            "repo/deploy/.env:3",
            "repo/deploy/prod/values.yaml:1",
            "repo/deploy/prod/values.yaml:2",
        ]
    );
    assert_eq!(found[1]["column"], 11);
    assert_eq!(found[1]["token_prefix"], "hbxsa");
    assert_eq!(found[1]["token_public_id"], public_id_of(&a));
    assert_eq!(found[1]["token_last4"], &a[a.len() - 4..]);
    assert_no_secret_printed(&output, &[&a, &b, &c, &hidden]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("repo/deploy/.env:3:11"), "{stderr}");

    // Standard input, beside a file.
    let output = scan(
        dir.path(),
        &["-", "repo/deploy/.env"],
        Some(&format!("pasted {c} here\n")),
    );
    assert_eq!(output.status.code(), Some(1));
    let found = findings(&output);
    assert_eq!(found[0]["location"], "(stdin):1");
    assert_eq!(found[0]["token_public_id"], public_id_of(&c));
    assert_eq!(found.len(), 2);
    assert_no_secret_printed(&output, &[&a, &c]);

    // Nothing there: exit 0; something unreadable: exit 2.
    std::fs::create_dir_all(dir.path().join("clean")).unwrap();
    std::fs::write(dir.path().join("clean/readme"), "no tokens here\n").unwrap();
    assert_eq!(scan(dir.path(), &["clean"], None).status.code(), Some(0));
    assert_eq!(scan(dir.path(), &["-"], Some("")).status.code(), Some(0));
    let missing = scan(dir.path(), &["does-not-exist"], None);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("does-not-exist"));
}

/// Every single-character change of a real token (each position, each
/// base62 digit and a few other characters), one per line: none is
/// reported; the real token, once added, is.
#[test]
fn look_alikes_are_never_reported() {
    let dir = tempfile::tempdir().unwrap();
    let real = new_token();
    let alphabet: Vec<char> = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-."
        .chars()
        .collect();
    let chars: Vec<char> = real.chars().collect();
    let mut variants = String::new();
    let mut count = 0;
    for position in 0..chars.len() {
        for &replacement in &alphabet {
            if replacement == chars[position] {
                continue;
            }
            let mut changed = chars.clone();
            changed[position] = replacement;
            variants.extend(changed);
            variants.push('\n');
            count += 1;
        }
    }
    assert!(count > 61 * 60);
    std::fs::write(dir.path().join("variants.txt"), &variants).unwrap();
    let output = scan(dir.path(), &["variants.txt"], None);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(findings(&output).is_empty());
    variants.push_str(&real);
    variants.push('\n');
    std::fs::write(dir.path().join("variants.txt"), &variants).unwrap();
    let output = scan(dir.path(), &["variants.txt"], None);
    assert_eq!(output.status.code(), Some(1));
    let found = findings(&output);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["line"], count + 1);
}

/// In a large tree (2,000 files of look-alikes), the one real token is
/// found, once, and only it. (How fast: `cargo bench --bench scan`.)
#[test]
fn one_token_in_a_large_tree_is_found_once() {
    let dir = tempfile::tempdir().unwrap();
    let filler = "lorem ipsum hbxsa_ not a token, dolor sit amet 0123456789\n".repeat(170);
    for i in 0..2000 {
        let sub = dir.path().join(format!("d{}", i % 20));
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join(format!("f{i}.txt")), &filler).unwrap();
    }
    let leaked = new_token();
    std::fs::write(dir.path().join("d7/leak.txt"), &leaked).unwrap();
    let output = scan(dir.path(), &["."], None);
    assert_eq!(output.status.code(), Some(1));
    let found = findings(&output);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["path"], "./d7/leak.txt");
    assert_eq!(found[0]["token_public_id"], public_id_of(&leaked));
}
