//! Writes a benchmark's section into BENCHMARKS.md (or `BENCH_OUT`), between
//! `<!-- NAME:start -->` and `<!-- NAME:end -->`; the rest of the file is kept.

use std::path::Path;

pub fn write_section(root: &Path, name: &str, title: &str, body: &str) {
    let target = std::env::var("BENCH_OUT").unwrap_or_else(|_| "BENCHMARKS.md".into());
    let path = root.join(&target);
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let (start, end) = (
        format!("<!-- {name}:start -->"),
        format!("<!-- {name}:end -->"),
    );
    let section = format!("{start}\n## {title}\n\n{body}{end}");
    let new = match (old.find(&start), old.find(&end)) {
        (Some(s), Some(e)) => format!("{}{}{}", &old[..s], section, &old[e + end.len()..]),
        _ => format!("{old}\n{section}\n"),
    };
    std::fs::write(&path, new).unwrap();
    eprintln!("wrote {}", path.display());
}
