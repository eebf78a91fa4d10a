//! Directory listings (`--autoindex`): a plain HTML page naming what a
//! directory without index.html holds.

use super::paths::DotFiles;
use std::fmt::Write as _;
use std::io;
use std::path::Path;

/// Directory entries read for one `--autoindex` listing, at most.
const MAX_LISTED: usize = 1000;

/// A plain HTML listing of a directory; names are escaped and links
/// percent-encoded. Names that would not be served are left out: those
/// starting with a dot, unless `dots` allows them (`.well-known` at the
/// root, every one with --dotfiles); `at_root` says the directory is the
/// root itself.
pub(super) fn listing(dir: &Path, path: &str, dots: DotFiles, at_root: bool) -> io::Result<String> {
    let depth = usize::from(!at_root);
    // Bounded: reading a directory is a blocking call on the loop thread,
    // and a listing is built whole in memory. Past the bound the listing
    // says it was cut (architecture.md §12).
    let mut entries = std::fs::read_dir(dir)?.filter_map(Result::ok);
    let mut names: Vec<(String, bool)> = entries
        .by_ref()
        .take(MAX_LISTED)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let is_dir = entry.file_type().ok()?.is_dir();
            dots.allows(&name, depth).then_some((name, is_dir))
        })
        .collect();
    let cut = entries.next().is_some();
    names.sort();
    let title = escape_html(path);
    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of {title}</title></head>\n<body><h1>Index of {title}</h1>\n<ul>\n<li><a href=\"../\">../</a></li>\n"
    );
    for (name, is_dir) in names {
        let slash = if is_dir { "/" } else { "" };
        let href = percent_encoding::utf8_percent_encode(&name, percent_encoding::NON_ALPHANUMERIC);
        let _ = writeln!(
            html,
            "<li><a href=\"{href}{slash}\">{}{slash}</a></li>",
            escape_html(&name)
        );
    }
    if cut {
        let _ = writeln!(
            html,
            "<li>(only the first {MAX_LISTED} entries are listed)</li>"
        );
    }
    html.push_str("</ul></body></html>\n");
    Ok(html)
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_reads_a_bounded_number_of_entries_and_says_it_was_cut() {
        let dir = std::env::temp_dir().join(format!("reactord-listing-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..MAX_LISTED + 5 {
            std::fs::write(dir.join(format!("f{i}")), "").unwrap();
        }
        let html = listing(&dir, "/big/", DotFiles::WellKnownOnly, false).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        // Every entry's link plus the parent's.
        assert_eq!(html.matches("<li><a href=").count(), MAX_LISTED + 1);
        assert!(html.contains("only the first 1000 entries are listed"));
    }

    #[test]
    fn names_in_a_listing_are_escaped() {
        assert_eq!(
            escape_html("<a href='x'>&\""),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;"
        );
    }
}
