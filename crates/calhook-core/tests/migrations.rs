//! D1 records each applied migration by file name in `d1_migrations`, and
//! `wrangler d1 migrations apply` runs every file of `migrations/` whose name
//! is not recorded yet, in name order. A released migration therefore keeps
//! its name and its text for good: `0002_dead_letters.sql` and
//! `0002_ledger_fencing.sql` share a number because renaming either would make
//! deployed databases apply it a second time.
//!
//! A fresh database runs every file in name order; a deployed one ran them
//! release by release. These tests are how we know both end with the same
//! schema, and that no file is applied twice.

use rusqlite::{types::Value, Connection};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::Path;

/// Every migration, grouped by the release that shipped it, oldest first.
/// Append only: deployed databases recorded these names and ran this SQL
/// (the fingerprint, see `fingerprint`), and D1 never runs a recorded name again.
const RELEASES: &[&[(&str, &str)]] = &[
    &[("0001_create_tables.sql", "53cf914e4c46e1fc")],
    &[("0002_dead_letters.sql", "886833d0b3bdb2b0")],
    &[("0002_ledger_fencing.sql", "79f446afb9896d04")],
    &[("0003_outbox.sql", "c27fde6bbce55ba7")],
    &[("0004_event_identity.sql", "4524e0253ebe85de")],
    &[("0005_bookings.sql", "c814f6915cb6fe17")],
    &[("0006_delivery_recipients.sql", "26fe1f9c6d30137f")],
    &[("0007_tenants.sql", "b4f11a45b27a09bd")],
    &[("0008_reminder_dropped.sql", "94ffe3921d595937")],
    &[("0009_tenant_quota.sql", "05fd380e8241ca41")],
    &[("0010_payload_versions.sql", "6059ec5f6f7889f6")],
    &[("0011_console_sessions.sql", "d37ecfc1e4c0651d")],
    &[("0012_alerts.sql", "0254efffb7946407")],
    &[("0013_outbox_due_order.sql", "4c3d57e9e4350fd3")],
    &[("0014_reconcile.sql", "83448865fcbaaa52")],
];

#[test]
fn a_fresh_database_and_one_upgraded_release_by_release_have_the_same_schema() {
    let releases = releases();
    let mut fresh = Connection::open_in_memory().unwrap();
    apply(&mut fresh, &releases.concat()).unwrap_or_else(|e| panic!("fresh database: {e}"));

    let (fresh, upgraded) = (schema(&fresh), schema(&upgraded(&releases)));
    assert!(
        fresh == upgraded,
        "a fresh database and an upgraded one differ (- fresh only, + upgraded only):\n{}",
        diff(&fresh, &upgraded)
    );
}

#[test]
fn no_migration_file_name_is_recorded_twice_and_each_applies_once() {
    let mut db = upgraded(&releases());
    let files = directory();

    let again = apply(&mut db, &files).unwrap();
    assert!(again.is_empty(), "applied a second time: {again:?}");
    let recorded: Vec<String> = db
        .prepare("SELECT name FROM d1_migrations ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let names: Vec<String> = files.into_iter().map(|f| f.name).collect();
    assert_eq!(recorded, names, "d1_migrations has one row per file");
}

#[derive(Clone)]
struct Migration {
    name: String,
    sql: String,
}

/// The `*.sql` files of `migrations/` in name order: what CI's clean clone has.
fn directory() -> Vec<Migration> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    let mut files: Vec<Migration> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .map(|p| Migration {
            name: p.file_name().unwrap().to_string_lossy().into_owned(),
            sql: std::fs::read_to_string(&p).unwrap(),
        })
        .collect();
    files.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(files.len() >= 2, "migrations found in {}", dir.display());
    files
}

/// The files of `migrations/` grouped as `RELEASES` says, once it is checked
/// to list every file, once, with the SQL it was released with.
fn releases() -> Vec<Vec<Migration>> {
    let files = directory();
    let listed: Vec<&str> = RELEASES
        .iter()
        .flat_map(|r| r.iter().map(|f| f.0))
        .collect();
    let unique: BTreeSet<&str> = listed.iter().copied().collect();
    assert_eq!(unique.len(), listed.len(), "RELEASES lists a file twice");
    for f in &files {
        assert!(
            unique.contains(f.name.as_str()),
            "migrations/{0} is not in RELEASES (tests/migrations.rs): append \
             `&[(\"{0}\", \"{1}\")],` as the newest release",
            f.name,
            fingerprint(&f.sql)
        );
    }
    let file = |name: &str, print: &str| {
        let f = files.iter().find(|f| f.name == name).unwrap_or_else(|| {
            panic!("RELEASES lists {name}, which is not in migrations/: never remove or rename a released migration")
        });
        assert_eq!(
            fingerprint(&f.sql),
            print,
            "migrations/{name} changed after its release: deployed databases ran the \
             old SQL and will not run it again; put the change in a new migration"
        );
        f.clone()
    };
    let group = |release: &[(&str, &str)]| release.iter().map(|(n, p)| file(n, p)).collect();
    RELEASES.iter().map(|release| group(release)).collect()
}

/// The first 16 hex digits of the SHA-256 of a migration's SQL without its
/// `--` comments or layout: editing a comment is harmless, editing a statement
/// is not. (Naive about `--` inside a string literal: no migration has one.)
fn fingerprint(sql: &str) -> String {
    let code = sql
        .lines()
        .flat_map(|l| l.split("--").next().unwrap().split_whitespace());
    hex::encode(Sha256::digest(code.collect::<Vec<_>>().join(" ")))[..16].to_owned()
}

/// What `wrangler d1 migrations apply` does given `files`: runs each one whose
/// name `d1_migrations` does not record, in name order, and records it in the
/// same transaction. Returns the names it ran.
fn apply(db: &mut Connection, files: &[Migration]) -> Result<Vec<String>, String> {
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS d1_migrations(
           id INTEGER PRIMARY KEY AUTOINCREMENT,
           name TEXT UNIQUE,
           applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL)",
    )
    .unwrap();
    let mut files = files.to_vec();
    files.sort_by(|a, b| a.name.cmp(&b.name));
    let mut ran = Vec::new();
    for f in files {
        let recorded: bool = db
            .query_row(
                "SELECT count(*) > 0 FROM d1_migrations WHERE name = ?1",
                [&f.name],
                |r| r.get(0),
            )
            .unwrap();
        if recorded {
            continue;
        }
        let tx = db.transaction().unwrap();
        tx.execute_batch(&f.sql)
            .map_err(|e| format!("{} does not apply: {e}", f.name))?;
        tx.execute("INSERT INTO d1_migrations (name) VALUES (?1)", [&f.name])
            .unwrap();
        tx.commit().unwrap();
        ran.push(f.name);
    }
    Ok(ran)
}

/// A database deployed with the first release and upgraded with each of the
/// others in turn: at each one, D1 sees the files shipped so far.
fn upgraded(releases: &[Vec<Migration>]) -> Connection {
    let mut db = Connection::open_in_memory().unwrap();
    for k in 1..=releases.len() {
        apply(&mut db, &releases[..k].concat())
            .unwrap_or_else(|e| panic!("upgrading to release {k} of RELEASES: {e}"));
    }
    db
}

/// Per table: its columns, its indexes' columns, its foreign keys.
const TABLE_DETAILS: [(&str, &str); 3] = [
    (
        "column",
        "SELECT cid, name, type, \"notnull\", dflt_value AS \"default\", pk
         FROM pragma_table_info(?1) ORDER BY cid",
    ),
    (
        "index",
        "SELECT l.name, l.\"unique\", l.origin, l.partial, i.seqno, i.name AS \"column\"
         FROM pragma_index_list(?1) AS l, pragma_index_info(l.name) AS i
         ORDER BY l.name, i.seqno",
    ),
    (
        "foreign key",
        "SELECT * FROM pragma_foreign_key_list(?1) ORDER BY id, seq",
    ),
];

/// A schema as lines, one per table, index, trigger and view (D1's own table
/// aside) and one per detail of each table, as SQLite reports them: tables
/// compare by structure, not by their SQL text, which ALTER TABLE rewrites.
/// Indexes, triggers and views compare by their SQL with layout removed.
fn schema(db: &Connection) -> Vec<String> {
    let objects: Vec<(String, String, String, Option<String>)> = db
        .prepare(
            "SELECT type, name, tbl_name, sql FROM sqlite_master
             WHERE name NOT LIKE 'sqlite_%' AND name <> 'd1_migrations' ORDER BY type, name",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut lines = Vec::new();
    for (kind, name, table, sql) in objects {
        if kind == "table" {
            lines.push(format!("table {name}"));
            for (what, query) in TABLE_DETAILS {
                let details = describe(db, query, &name).into_iter();
                lines.extend(details.map(|d| format!("table {name} {what}: {d}")));
            }
        } else {
            let sql = sql.unwrap_or_default();
            let sql = sql.split_whitespace().collect::<Vec<_>>().join(" ");
            lines.push(format!("{kind} {name} on {table}: {sql}"));
        }
    }
    lines
}

/// The rows of a pragma query about `table`, each as `column=value ...`.
fn describe(db: &Connection, query: &str, table: &str) -> Vec<String> {
    let mut stmt = db.prepare(query).unwrap();
    let columns: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
    let row = |r: &rusqlite::Row| {
        let field = |(i, c)| Ok(format!("{c}={}", show(r.get(i)?)));
        columns
            .iter()
            .enumerate()
            .map(field)
            .collect::<rusqlite::Result<Vec<_>>>()
    };
    let rows = stmt.query_map([table], row).unwrap();
    rows.map(|r| r.unwrap().join(" ")).collect()
}

fn show(v: Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Integer(n) => n.to_string(),
        Value::Real(x) => x.to_string(),
        Value::Text(t) => t,
        Value::Blob(b) => format!("{b:?}"),
    }
}

/// The lines only in `fresh` (`-`) and only in `upgraded` (`+`).
fn diff(fresh: &[String], upgraded: &[String]) -> String {
    let only = |a: &[String], b: &[String], mark| {
        let lines = a.iter().filter(|l| !b.contains(l));
        lines.map(|l| format!("{mark} {l}\n")).collect::<String>()
    };
    only(fresh, upgraded, '-') + &only(upgraded, fresh, '+')
}
