//! What the docs say about the code can't go stale where it matters to a
//! reader:
//!
//! - The guided tour (docs/architecture.md, section 14) is a table of files
//!   and what each holds, between two markers. Every file under `src/` must
//!   be in some row (a row may name a folder, `src/protocol/http/`, for all
//!   its files), and every row must name files that exist. The words are
//!   the doc's, written by hand.
//! - A constant named with its value, "`OUTPUT_HIGH_WATER` (64 KiB)", is
//!   checked exactly against its `const` in src/ (`64 * 1024`, `1 << 20`).
//!
//! Line counts are not checked, and the docs don't quote them: they
//! changed with most commits (the tour's figures were regenerated in 17 of
//! the first 245), and a reader learns little from them that `wc -l` does
//! not tell.
//!
//! Only source text is read, so the outcome doesn't depend on the build
//! profile or the machine.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

const TOUR: &str = "docs/architecture.md";
const BEGIN: &str = "<!-- the tour, checked by tests/doc_figures.rs: begin -->";
const END: &str = "<!-- the tour, checked by tests/doc_figures.rs: end -->";
const HEADER: &str = "| File | What it holds |";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, as paths relative to the repository.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let relative = path.strip_prefix(root()).unwrap().to_path_buf();
        if path.is_dir() {
            rust_files(&relative, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(relative);
        }
    }
}

/// Every `.rs` file of the repository's src/ and examples/.
fn all_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    rust_files(Path::new("src"), &mut files);
    rust_files(Path::new("examples"), &mut files);
    files
}

/// Whether the tour's `row` (a file, or a folder ending in `/`) covers
/// `file`.
fn covers(row: &str, file: &str) -> bool {
    row == file || (row.ends_with('/') && file.starts_with(row))
}

/// The tour's problems: files in no row, rows naming no file, a missing
/// block or header.
fn tour(text: &str, files: &[PathBuf]) -> Vec<String> {
    let (Some(start), Some(end)) = (text.find(BEGIN), text.find(END)) else {
        return vec![format!("{TOUR}: no `{BEGIN}` ... `{END}` block")];
    };
    let block = &text[start + BEGIN.len()..end];
    let mut problems = Vec::new();
    if !block.contains(HEADER) {
        problems.push(format!("{TOUR}: the tour lacks the header `{HEADER}`"));
    }
    let files: Vec<&str> = files.iter().map(|f| f.to_str().unwrap()).collect();
    let mut rows = Vec::new();
    for line in block.lines() {
        let cells: Vec<&str> = line.trim().trim_matches('|').split('|').collect();
        let Some(path) = cells.first().map(|c| c.trim().trim_matches('`')) else {
            continue;
        };
        if cells.len() != 2 || !path.contains('/') {
            continue;
        }
        if !files.iter().any(|file| covers(path, file)) {
            problems.push(format!(
                "{TOUR}: the tour names `{path}`, which has no .rs file"
            ));
        }
        rows.push(path);
    }
    for file in files.iter().filter(|f| f.starts_with("src")) {
        if !rows.iter().any(|row| covers(row, file)) {
            problems.push(format!(
                "{TOUR}: `{file}` is in no row of the tour: add `| `{file}` | what it holds |`"
            ));
        }
    }
    problems
}

/// Every `const NAME: integer type = EXPR;` in src/ whose EXPR is a
/// product or shift of integer literals (and earlier such constants).
fn constants(files: &[PathBuf]) -> BTreeMap<String, u64> {
    let mut values = BTreeMap::new();
    for file in files.iter().filter(|f| f.starts_with("src")) {
        let text = fs::read_to_string(root().join(file)).unwrap();
        for line in text.lines() {
            let line = line
                .trim_start()
                .trim_start_matches("pub(crate) ")
                .trim_start_matches("pub ");
            let Some(rest) = line.strip_prefix("const ") else {
                continue;
            };
            let Some((name, rest)) = rest.split_once(':') else {
                continue;
            };
            let Some((_, expr)) = rest.split_once('=') else {
                continue;
            };
            let Some(expr) = expr.trim().strip_suffix(';') else {
                continue;
            };
            if let Some(value) = evaluate(expr, &values) {
                values.insert(name.trim().to_string(), value);
            }
        }
    }
    values
}

/// `64 * 1024`, `1 << 20`, `16`, `3 * OTHER`: enough for sizes and counts.
fn evaluate(expr: &str, known: &BTreeMap<String, u64>) -> Option<u64> {
    let term = |t: &str| {
        let t = t.trim();
        t.replace('_', "")
            .parse::<u64>()
            .ok()
            .or_else(|| known.get(t).copied())
    };
    if let Some((a, b)) = expr.split_once("<<") {
        return term(a)?.checked_shl(u32::try_from(term(b)?).ok()?);
    }
    expr.split('*')
        .try_fold(1u64, |product, t| product.checked_mul(term(t)?))
}

/// A figure as prose writes it: `65536` or `65,536`.
fn parse_figure(cell: &str) -> Option<usize> {
    cell.trim().replace(',', "").parse().ok()
}

/// "`NAME` (N unit" in prose, where NAME is a constant of src/.
fn constant_claims(file: &str, text: &str, constants: &BTreeMap<String, u64>) -> Vec<String> {
    let mut problems = Vec::new();
    for (number, line) in text.lines().enumerate() {
        for (name, value) in constants {
            let Some(at) = line.find(&format!("`{name}` (")) else {
                continue;
            };
            let after = &line[at + name.len() + 4..];
            let mut words = after.split(|c: char| c.is_whitespace() || c == ')' || c == ';');
            let Some(claimed) = words.next().and_then(parse_figure) else {
                continue;
            };
            let (unit, unit_name) = match words.next() {
                Some("KiB") => (1 << 10, " KiB"),
                Some("MiB") => (1 << 20, " MiB"),
                Some("GiB") => (1 << 30, " GiB"),
                _ => (1, ""),
            };
            if claimed as u64 * unit != *value {
                problems.push(format!(
                    "{file}:{}: `{name}` is said to be {claimed}{unit_name}; the code has {value}",
                    number + 1
                ));
            }
        }
    }
    problems
}

#[test]
fn the_docs_agree_with_the_code() {
    let files = all_files();
    let constants = constants(&files);
    let text = fs::read_to_string(root().join(TOUR)).unwrap();
    let mut problems = tour(&text, &files);
    let mut docs = vec![PathBuf::from("README.md")];
    let mut entries: Vec<_> = fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    entries.sort();
    docs.extend(entries);
    for doc in docs {
        let text = fs::read_to_string(root().join(&doc)).unwrap();
        let name = doc
            .strip_prefix(root())
            .unwrap_or(&doc)
            .display()
            .to_string();
        problems.extend(constant_claims(&name, &text, &constants));
    }
    assert!(
        problems.is_empty(),
        "the docs disagree with the code:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_checks_follow_their_rules() {
    let constants = constants(&all_files());
    assert_eq!(constants.get("OUTPUT_HIGH_WATER"), Some(&(64 * 1024)));
    assert_eq!(constants.get("READS_PER_TURN"), Some(&16));
    assert_eq!(constants.get("MAX_ECHO_SIZE_CEILING"), Some(&(1 << 40)));
    let files = [PathBuf::from("src/a.rs"), PathBuf::from("src/b/c.rs")];
    let tour_of = |rows: &str| format!("{BEGIN}\n{HEADER}\n|---|---|\n{rows}{END}\n");
    assert!(tour(&tour_of("| `src/a.rs` | a |\n| `src/b/` | b |\n"), &files).is_empty());
    let missing = tour(&tour_of("| `src/a.rs` | a |\n"), &files);
    assert!(
        missing[0].contains("`src/b/c.rs` is in no row"),
        "{missing:?}"
    );
    let stale = tour(
        &tour_of("| `src/a.rs` | a |\n| `src/b/` | b |\n| `src/gone.rs` | g |\n"),
        &files,
    );
    assert!(
        stale[0].contains("`src/gone.rs`, which has no .rs file"),
        "{stale:?}"
    );
}

/// docs/protocols.md's exercise ends with the expected diff (an uppercase
/// echo, wired into `--protocol`): it must still apply to the tree, or a
/// reader comparing their work with it is misled. (Applying it and running
/// the gates was done when it was written; a whole build is too heavy for
/// every `cargo test`.)
#[test]
fn the_protocols_exercise_diff_applies() {
    let text = fs::read_to_string(root().join("docs/protocols.md")).unwrap();
    let start = text
        .find("```diff\n")
        .expect("docs/protocols.md has the exercise's ```diff block")
        + "```diff\n".len();
    let length = text[start..].find("\n```").expect("the ```diff block ends");
    let patch = &text[start..start + length + 1];
    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join("upper.patch");
    fs::write(&file, patch).unwrap();
    // `git apply` works in a plain directory too (a tarball, not a clone).
    let output = std::process::Command::new("git")
        .args(["apply", "--check", "-v"])
        .arg(&file)
        .current_dir(root())
        .output()
        .expect("run git apply");
    assert!(
        output.status.success(),
        "the exercise's diff in docs/protocols.md no longer applies:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
