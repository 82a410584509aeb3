//! The README is the front door and docs/ holds the rest: the README stays
//! short with the two set-up commands first, and every relative link in
//! either (to a file, or to a heading of one) leads somewhere.

use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The README, BENCHMARKS.md and every page under docs/.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![root().join("README.md"), root().join("BENCHMARKS.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/ exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    assert!(docs.len() >= 5, "docs/ holds the manual: {docs:?}");
    pages.extend(docs);
    pages
}

/// GitHub's anchor for a heading: lower case, spaces to hyphens, and
/// punctuation other than hyphens and underscores dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a Markdown page's headings (outside code blocks).
fn anchors(text: &str) -> Vec<String> {
    let mut fenced = false;
    text.lines()
        .filter(|line| {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced && line.starts_with('#')
        })
        .map(|line| anchor(line.trim_start_matches('#')))
        .collect()
}

/// The targets of the inline links `[text](target)` of a page, outside code.
fn links(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut found = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let end = after.find(')').unwrap_or(after.len());
            found.push(after[..end].trim().to_owned());
            rest = &after[end..];
        }
    }
    found
}

#[test]
fn every_relative_link_resolves() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for target in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (file, fragment) = match target.split_once('#') {
                Some((file, fragment)) => (file, Some(fragment)),
                None => (target.as_str(), None),
            };
            let resolved = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            let shown = format!("{}: {target}", page.strip_prefix(root()).unwrap().display());
            if !resolved.exists() {
                broken.push(format!("{shown} (no such file)"));
                continue;
            }
            if let Some(fragment) = fragment {
                let target_text = std::fs::read_to_string(&resolved).unwrap_or_default();
                if !anchors(&target_text).iter().any(|a| a == fragment) {
                    broken.push(format!("{shown} (no such heading)"));
                }
            }
        }
    }
    assert!(checked > 20, "only {checked} relative links found");
    assert!(broken.is_empty(), "{broken:#?}");
}

/// The checker finds what it should: a link to a missing file and one to a
/// missing heading are both broken, a link to an existing heading is not.
#[test]
fn the_link_checker_tells_good_links_from_broken_ones() {
    assert_eq!(anchor("Scale-out (PostgreSQL)"), "scale-out-postgresql");
    assert_eq!(anchor("The API: `whoami`"), "the-api-whoami");
    let page =
        "# Title\n\n```\n# not a heading\n```\n## Part two\n[a](x.md) [b](#part-two) [c](#nope)";
    assert_eq!(anchors(page), ["title", "part-two"]);
    assert_eq!(links(page), ["x.md", "#part-two", "#nope"]);
}

/// The contents of a page's fenced code blocks, in order.
fn code_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            match current.take() {
                Some(block) => blocks.push(block),
                None => current = Some(String::new()),
            }
        } else if let Some(block) = &mut current {
            block.push_str(line);
            block.push('\n');
        }
    }
    blocks
}

#[test]
fn the_readme_is_short_and_starts_with_the_two_commands() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(lines < 350, "README.md has {lines} lines");
    let blocks = code_blocks(&readme);
    assert_eq!(
        blocks.first().map(|b| b.trim()),
        Some("cargo run --release --locked -- serve"),
        "the first example runs the server"
    );
    assert_eq!(
        blocks.get(1).map(|b| b.trim()),
        Some("scripts/test-all"),
        "the second runs every test"
    );
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    assert!(
        ci.lines()
            .any(|line| line.trim() == "exec scripts/test-all"),
        ".ci/run runs the README's test command"
    );
}
