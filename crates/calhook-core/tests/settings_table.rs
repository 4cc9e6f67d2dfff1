//! docs/CONFIGURATION.md's table and the core's settings table
//! (`calhook_core::settings::SETTINGS`) say the same: every setting a worker
//! reads is documented, with the workers that read it, whether it is a secret
//! and its default; nothing documented is unread.

use calhook_core::settings::SETTINGS;
use std::path::Path;

/// `(name, workers, kind, default)` of each var or secret row.
fn readme_rows() -> Vec<(String, String, String, String)> {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/CONFIGURATION.md");
    let text = std::fs::read_to_string(readme).unwrap();
    text.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split(" | ").map(str::trim).collect();
            let name = cells.first()?.strip_prefix("| `")?.strip_suffix('`')?;
            let kind = *cells.get(2)?;
            (cells.len() >= 5 && (kind == "var" || kind == "secret")).then(|| {
                (
                    name.to_owned(),
                    cells[1].to_owned(),
                    kind.to_owned(),
                    cells[3].to_owned(),
                )
            })
        })
        .collect()
}

#[test]
fn every_setting_is_documented_with_its_workers_kind_and_default() {
    let rows = readme_rows();
    for s in SETTINGS {
        let Some((_, workers, kind, default)) = rows.iter().find(|r| r.0 == s.name) else {
            panic!(
                "{} is read but not in docs/CONFIGURATION.md's table",
                s.name
            );
        };
        let expected: Vec<&str> = s.workers.iter().map(|w| w.as_str()).collect();
        assert_eq!(workers, &expected.join(", "), "{}: workers", s.name);
        let expected_kind = if s.secret { "secret" } else { "var" };
        assert_eq!(kind, expected_kind, "{}: kind", s.name);
        if let Some(d) = s.default {
            assert!(
                default.starts_with(&format!("`{d}`")),
                "{}: docs/CONFIGURATION.md's default {default:?}, the table's {d:?}",
                s.name
            );
        }
    }
}

#[test]
fn nothing_documented_is_unread() {
    for (name, ..) in readme_rows() {
        assert!(
            SETTINGS.iter().any(|s| s.name == name),
            "docs/CONFIGURATION.md documents {name}, which no worker reads"
        );
    }
}
