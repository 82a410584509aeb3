//! The crate's own shape, checked so that it stays the way
//! `docs/development.md` describes it: no file under `src/` over 500 lines
//! (its tests aside), no two files that import each other, one store file per
//! resource with a driver trait that names no row, and no operation id written
//! a second time as a string in `src/server/` (the frame reads it from
//! Dropshot).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The most lines a file under `src/` may have before its tests.
const MAX_LINES: usize = 500;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every Rust file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// A file's code before its unit tests (`#[cfg(test)]` at the start of a
/// line), as the 500-line rule counts it.
fn before_tests(text: &str) -> &str {
    match text.find("\n#[cfg(test)]") {
        Some(at) => &text[..at + 1],
        None => text,
    }
}

/// The code without comments and with string and character literals emptied,
/// so that neither is read as a path.
fn code_only(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            b'"' => {
                // Raw strings (r"...", r#"..."#) hold no escapes.
                let raw_hashes = raw_string_hashes(&bytes[..i]);
                i += 1;
                while i < bytes.len() {
                    if raw_hashes.is_none() && bytes[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if bytes[i] == b'"' {
                        let hashes = raw_hashes.unwrap_or(0);
                        if bytes[i + 1..].iter().take(hashes).all(|b| *b == b'#') {
                            i += 1 + hashes;
                            break;
                        }
                    }
                    i += 1;
                }
                out.push_str("\"\"");
            }
            b'\'' if bytes.get(i + 2) == Some(&b'\'') || bytes.get(i + 1) == Some(&b'\\') => {
                // A character literal ('a', '\n'); a lifetime has no closing quote.
                let end = text[i + 1..]
                    .find('\'')
                    .map_or(bytes.len(), |at| i + 2 + at);
                i = end;
                out.push_str("' '");
            }
            _ => {
                let c = text[i..].chars().next().unwrap();
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    out
}

/// For a `"` at the end of `before`: the number of `#` of a raw string
/// (`r"` is 0), or none for an ordinary string.
fn raw_string_hashes(before: &[u8]) -> Option<usize> {
    let hashes = before.iter().rev().take_while(|b| **b == b'#').count();
    let rest = &before[..before.len() - hashes];
    let is_raw = rest.last() == Some(&b'r')
        && !rest[..rest.len() - 1]
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
    is_raw.then_some(hashes)
}

/// The module a file under `src/` is (`src/store/mod.rs` is `store`).
fn module_of(file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src()).unwrap();
    let mut parts: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_owned());
    }
    parts
}

/// The paths a `use` tree names, braces expanded (`a::{b, c::d}` is `a::b`
/// and `a::c::d`; `self` in braces is the prefix itself).
fn expand_use(tree: &str) -> Vec<Vec<String>> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap().trim();
        let segments: Vec<String> = path
            .split("::")
            .map(str::trim)
            .filter(|s| !s.is_empty() && *s != "*" && *s != "self")
            .map(str::to_owned)
            .collect();
        return vec![segments];
    };
    let head: Vec<String> = tree[..open]
        .split("::")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let inner = &tree[open + 1..tree.rfind('}').unwrap()];
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    items
        .into_iter()
        .filter(|item| !item.trim().is_empty())
        .flat_map(expand_use)
        .map(|tail| head.iter().cloned().chain(tail).collect())
        .collect()
}

/// Every path a file's code names that may reach another file: its `use`
/// trees, and paths starting with `crate::`, `super::`, `self::` or one of
/// the modules it declares.
fn paths_in(code: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    // The `use` trees first, then the rest of the code without them.
    let mut rest = code;
    let mut without_uses = String::with_capacity(code.len());
    while let Some(at) = find_word(rest, "use") {
        let after = &rest[at + 3..];
        let end = after.find(';').unwrap_or(after.len());
        paths.extend(expand_use(&after[..end]));
        without_uses.push_str(&rest[..at]);
        rest = &after[end..];
    }
    without_uses.push_str(rest);
    let code = without_uses.as_str();
    let declared: BTreeSet<String> = code
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let line = line.strip_prefix("pub ").unwrap_or(line);
            let line = line
                .strip_prefix("pub(crate) ")
                .or_else(|| line.strip_prefix("pub(super) "))
                .unwrap_or(line);
            let name = line.strip_prefix("mod ")?.strip_suffix(';')?;
            Some(name.trim().to_owned())
        })
        .collect();
    let bytes = code.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i < bytes.len() {
        if is_ident(bytes[i]) && (i == 0 || !is_ident(bytes[i - 1]) && bytes[i - 1] != b':') {
            let mut segments = Vec::new();
            loop {
                let word_start = i;
                while i < bytes.len() && is_ident(bytes[i]) {
                    i += 1;
                }
                segments.push(code[word_start..i].to_owned());
                if code[i..].starts_with("::") && bytes.get(i + 2).copied().is_some_and(is_ident) {
                    i += 2;
                } else {
                    break;
                }
            }
            let first = segments[0].as_str();
            if segments.len() > 1
                && (matches!(first, "crate" | "super" | "self") || declared.contains(first))
            {
                paths.push(segments);
            }
        } else {
            i += 1;
        }
    }
    paths
}

/// Where `word` starts in `text` as a whole word, if it does.
fn find_word(text: &str, word: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(found) = text[from..].find(word) {
        let at = from + found;
        let before = at.checked_sub(1).map(|i| bytes[i]);
        let after = bytes.get(at + word.len()).copied();
        let boundary = |b: Option<u8>| b.is_none_or(|b| !(b.is_ascii_alphanumeric() || b == b'_'));
        if boundary(before) && after == Some(b' ') {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// `path`, named in module `from`, as a path from the crate root.
fn absolute(from: &[String], path: &[String]) -> Option<Vec<String>> {
    let mut base: Vec<String> = from.to_vec();
    let mut segments = path.iter().peekable();
    match segments.peek().map(|s| s.as_str()) {
        Some("crate") => {
            base.clear();
            segments.next();
        }
        Some("self") => {
            segments.next();
        }
        Some("super") => {
            while segments.peek().map(|s| s.as_str()) == Some("super") {
                base.pop()?;
                segments.next();
            }
        }
        // A module this file declares, or an outside crate (`std`, `sqlx`).
        _ => {}
    }
    Some(base.into_iter().chain(segments.cloned()).collect())
}

struct Crate {
    /// Each module under `src/`, by path from the crate root.
    files: BTreeMap<Vec<String>, PathBuf>,
}

impl Crate {
    fn read() -> Self {
        let files = rust_files(&src())
            .into_iter()
            .filter(|file| file.file_name().unwrap() != "main.rs")
            .map(|file| (module_of(&file), file))
            .collect();
        Self { files }
    }

    /// The file that holds what `path` (from the crate root) names: its
    /// longest prefix that is a module.
    fn file_of(&self, path: &[String]) -> Option<&PathBuf> {
        (1..=path.len())
            .rev()
            .find_map(|len| self.files.get(&path[..len]))
    }

    /// Which other files each file imports.
    fn imports(&self) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
        let mut imports = BTreeMap::new();
        for (module, file) in &self.files {
            let text = std::fs::read_to_string(file).unwrap();
            let code = code_only(before_tests(&text));
            let mut own: BTreeSet<PathBuf> = BTreeSet::new();
            for path in paths_in(&code) {
                let declared_child = self.files.contains_key(
                    &module
                        .iter()
                        .cloned()
                        .chain(std::iter::once(path[0].clone()))
                        .collect::<Vec<_>>(),
                );
                let relative = if declared_child {
                    std::iter::once("self".to_owned())
                        .chain(path.iter().cloned())
                        .collect()
                } else {
                    path
                };
                if let Some(target) = absolute(module, &relative)
                    .filter(|target| !target.is_empty())
                    .and_then(|target| self.file_of(&target))
                    && target != file
                {
                    own.insert(target.clone());
                }
            }
            imports.insert(file.clone(), own);
        }
        imports
    }
}

fn shown(file: &Path) -> String {
    file.strip_prefix(src().parent().unwrap())
        .unwrap()
        .display()
        .to_string()
}

#[test]
fn no_file_under_src_is_over_500_lines_before_its_tests() {
    let long: Vec<String> = rust_files(&src())
        .iter()
        .filter_map(|file| {
            let text = std::fs::read_to_string(file).unwrap();
            let lines = before_tests(&text).lines().count();
            (lines > MAX_LINES).then(|| format!("{} ({lines} lines)", shown(file)))
        })
        .collect();
    assert!(long.is_empty(), "over {MAX_LINES} lines: {long:#?}");
}

#[test]
fn no_two_files_import_each_other() {
    let imports = Crate::read().imports();
    let mut cycles = Vec::new();
    for (file, targets) in &imports {
        for target in targets {
            if file < target && imports[target].contains(file) {
                cycles.push(format!("{} <-> {}", shown(file), shown(target)));
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "files that import each other: {cycles:#?}"
    );
}

/// The checker sees what it should: a `super` path, a braced `use`, and a
/// call through a declared module each count as an import, and comments and
/// strings do not.
#[test]
fn the_import_reader_reads_paths_and_only_paths() {
    let code = code_only(
        "mod child;\nuse super::{a::{b, c as d}, e};\n// use crate::commented::Out;\n\
         let s = \"crate::quoted::Out\";\nfn f() { crate::inline::call(); child::go(); }\n",
    );
    let mut found: Vec<String> = paths_in(&code).iter().map(|p| p.join("::")).collect();
    found.sort();
    assert_eq!(
        found,
        [
            "child::go",
            "crate::inline::call",
            "super::a::b",
            "super::a::c",
            "super::e"
        ]
    );
}

#[test]
fn the_store_has_a_file_per_resource_and_its_driver_names_no_row() {
    let store = src().join("store");
    for resource in [
        "accounts.rs",
        "service_accounts/mod.rs",
        "authorizations.rs",
        "role_assignments.rs",
        "holdings.rs",
        "idempotency.rs",
        "introspection_clients.rs",
        "audit_events.rs",
        "health.rs",
        "breaker.rs",
    ] {
        assert!(store.join(resource).is_file(), "src/store/{resource}");
    }
    let backend = code_only(&std::fs::read_to_string(store.join("backend.rs")).unwrap());
    let rows: BTreeSet<&str> = backend
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.len() > 3 && word.ends_with("Row"))
        .collect();
    assert!(rows.is_empty(), "backend.rs names {rows:?}");
}

/// The operation ids of the API trait: its methods.
fn operation_ids() -> BTreeSet<String> {
    let api = std::fs::read_to_string(src().join("api/mod.rs")).unwrap();
    let code = code_only(&api);
    let trait_start = code.find("pub trait ServiceAccountsApi").unwrap();
    let ids: BTreeSet<String> = code[trait_start..]
        .split("async fn ")
        .skip(1)
        .map(|rest| rest.split('(').next().unwrap().trim().to_owned())
        .collect();
    assert!(ids.contains("create_service_account") && ids.contains("create_authorization"));
    ids
}

#[test]
fn no_operation_id_is_written_again_in_the_server() {
    let ids = operation_ids();
    let mut found = Vec::new();
    for file in rust_files(&src().join("server")) {
        let text = std::fs::read_to_string(&file).unwrap();
        for id in &ids {
            if text.contains(&format!("\"{id}\"")) {
                found.push(format!("{}: \"{id}\"", shown(&file)));
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}
