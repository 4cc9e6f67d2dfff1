//! Native executors for the core's statements: SQLite (what D1 runs) with the
//! project's real `migrations/`, and a model checker that runs two actors
//! under every interleaving of their statements.

#![allow(dead_code)]

use calhook_core::store::{decode_row, Db, Param, Statement, StoreError};
use rusqlite::types::{Value as Sql, ValueRef};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// An in-memory SQLite database with every migration applied, in order.
pub struct Sqlite {
    conn: rusqlite::Connection,
    /// Statements executed (to check per-invocation budgets).
    pub statements: Cell<usize>,
}

impl Sqlite {
    pub fn migrated() -> Self {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "sql"))
            .collect();
        files.sort();
        assert!(files.len() >= 2, "migrations found in {}", dir.display());
        for f in files {
            conn.execute_batch(&std::fs::read_to_string(&f).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        }
        Self {
            conn,
            statements: Cell::new(0),
        }
    }

    /// Rows of an ad-hoc query, as JSON objects.
    pub fn rows(&self, sql: &str) -> Vec<Value> {
        self.query(&Statement::new(leak(sql), vec![])).unwrap()
    }

    /// Runs ad-hoc SQL (test setup).
    pub fn exec(&self, sql: &str) {
        self.conn.execute_batch(sql).unwrap();
    }

    fn query(&self, s: &Statement) -> Result<Vec<Value>, StoreError> {
        self.statements.set(self.statements.get() + 1);
        let mut stmt = self
            .conn
            .prepare(s.sql)
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let names: Vec<String> = stmt.column_names().iter().map(|n| n.to_string()).collect();
        let params = params(&s.params);
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params.iter()))
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let mut out = Vec::new();
        while let Some(row) = rows
            .next()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?
        {
            let mut object = Map::new();
            for (i, name) in names.iter().enumerate() {
                let v = match row.get_ref(i).unwrap() {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(n) => n.into(),
                    ValueRef::Real(f) => f.into(),
                    ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned().into(),
                    ValueRef::Blob(_) => Value::Null,
                };
                object.insert(name.clone(), v);
            }
            out.push(Value::Object(object));
        }
        Ok(out)
    }

    fn execute(&self, s: &Statement) -> Result<u64, StoreError> {
        self.statements.set(self.statements.get() + 1);
        let params = params(&s.params);
        self.conn
            .execute(s.sql, rusqlite::params_from_iter(params.iter()))
            .map(|n| n as u64)
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

fn params(p: &[Param]) -> Vec<Sql> {
    p.iter()
        .map(|p| match p {
            Param::Null => Sql::Null,
            Param::Int(n) => Sql::Integer(*n),
            Param::Text(t) => Sql::Text(t.clone()),
        })
        .collect()
}

impl Db for Sqlite {
    async fn first<T: DeserializeOwned>(&self, s: Statement) -> Result<Option<T>, StoreError> {
        self.query(&s)?
            .into_iter()
            .next()
            .map(decode_row)
            .transpose()
    }
    async fn all<T: DeserializeOwned>(&self, s: Statement) -> Result<Vec<T>, StoreError> {
        self.query(&s)?.into_iter().map(decode_row).collect()
    }
    async fn run(&self, s: Statement) -> Result<u64, StoreError> {
        // RETURNING statements are queries to SQLite.
        if s.sql.contains("RETURNING") {
            return self.query(&s).map(|r| r.len() as u64);
        }
        self.execute(&s)
    }
    async fn batch(&self, statements: Vec<Statement>) -> Result<Vec<u64>, StoreError> {
        // D1 refuses an empty batch and runs the rest as one transaction.
        assert!(!statements.is_empty(), "D1 refuses an empty batch");
        self.conn.execute_batch("BEGIN").unwrap();
        let mut changes = Vec::new();
        for s in &statements {
            match self.execute(s) {
                Ok(n) => changes.push(n),
                Err(e) => {
                    self.conn.execute_batch("ROLLBACK").unwrap();
                    return Err(e);
                }
            }
        }
        self.conn.execute_batch("COMMIT").unwrap();
        Ok(changes)
    }
    async fn batch_rows<T: DeserializeOwned>(
        &self,
        mut statements: Vec<Statement>,
    ) -> Result<Vec<T>, StoreError> {
        let last = statements.pop().expect("D1 refuses an empty batch");
        self.conn.execute_batch("BEGIN").unwrap();
        let mut rows = Ok(Vec::new());
        for s in &statements {
            if let Err(e) = self.execute(s) {
                rows = Err(e);
                break;
            }
        }
        let rows = rows.and_then(|_: Vec<Value>| self.query(&last));
        match rows {
            Ok(rows) => {
                self.conn.execute_batch("COMMIT").unwrap();
                rows.into_iter().map(decode_row).collect()
            }
            Err(e) => {
                self.conn.execute_batch("ROLLBACK").unwrap();
                Err(e)
            }
        }
    }
}

/// Blocks on a future whose executor is synchronous (SQLite).
pub fn block_on<F: Future>(f: F) -> F::Output {
    pollster::block_on(f)
}

/// A view of a database that pauses before every statement, so that the
/// model checker decides which actor's statement runs next.
pub struct Stepping<'a> {
    pub db: &'a Sqlite,
}

struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// A point where the model checker may switch to another actor (e.g. between
/// SendGrid's answer and the ledger write).
pub async fn step() {
    YieldOnce(false).await
}

impl Db for Stepping<'_> {
    async fn first<T: DeserializeOwned>(&self, s: Statement) -> Result<Option<T>, StoreError> {
        step().await;
        self.db.first(s).await
    }
    async fn all<T: DeserializeOwned>(&self, s: Statement) -> Result<Vec<T>, StoreError> {
        step().await;
        self.db.all(s).await
    }
    async fn run(&self, s: Statement) -> Result<u64, StoreError> {
        step().await;
        self.db.run(s).await
    }
    async fn batch(&self, s: Vec<Statement>) -> Result<Vec<u64>, StoreError> {
        step().await;
        self.db.batch(s).await
    }
    async fn batch_rows<T: DeserializeOwned>(
        &self,
        s: Vec<Statement>,
    ) -> Result<Vec<T>, StoreError> {
        step().await;
        self.db.batch_rows(s).await
    }
}

/// What the world saw during one run: emails sent, notes from the actors.
#[derive(Default, Debug)]
pub struct World {
    pub emails: RefCell<Vec<String>>,
    pub queued: RefCell<Vec<String>>,
    pub notes: RefCell<Vec<String>>,
}

impl World {
    pub fn email(&self, who: &str) {
        self.emails.borrow_mut().push(who.to_owned());
    }
    pub fn note(&self, note: impl Into<String>) {
        self.notes.borrow_mut().push(note.into());
    }
    pub fn email_count(&self) -> usize {
        self.emails.borrow().len()
    }
}

pub type Actor = for<'a> fn(&'a Stepping<'a>, &'a World) -> Pin<Box<dyn Future<Output = ()> + 'a>>;

/// Runs `actors` under every interleaving of their steps (stateless model
/// checking: each schedule is replayed from a fresh database), calling `check`
/// after each. Returns how many interleavings ran.
pub fn every_interleaving(
    setup: fn(&Sqlite),
    actors: &[Actor],
    check: impl Fn(&Sqlite, &World, &[usize]),
) -> usize {
    let mut pending: Vec<Vec<usize>> = vec![vec![]];
    let mut runs = 0;
    while let Some(prefix) = pending.pop() {
        let db = Sqlite::migrated();
        setup(&db);
        let world = World::default();
        let stepping = Stepping { db: &db };
        let mut futures: Vec<Option<Pin<Box<dyn Future<Output = ()> + '_>>>> =
            actors.iter().map(|a| Some(a(&stepping, &world))).collect();
        let mut cx = Context::from_waker(Waker::noop());
        let mut taken = Vec::new();
        let mut step_no = 0;
        loop {
            let runnable: Vec<usize> = (0..futures.len())
                .filter(|i| futures[*i].is_some())
                .collect();
            if runnable.is_empty() {
                break;
            }
            let choice = match prefix.get(step_no) {
                Some(c) => *c,
                None => {
                    // Default: the first runnable; schedule the others as branches.
                    for other in runnable.iter().skip(1) {
                        let mut branch = taken.clone();
                        branch.push(*other);
                        pending.push(branch);
                    }
                    runnable[0]
                }
            };
            taken.push(choice);
            step_no += 1;
            let fut = futures[choice]
                .as_mut()
                .expect("scheduled a finished actor");
            if fut.as_mut().poll(&mut cx).is_ready() {
                futures[choice] = None;
            }
        }
        drop(futures);
        check(&db, &world, &taken);
        runs += 1;
    }
    runs
}

/// A model of Workers KV's documented write limit: one write per second to a key.
#[derive(Default)]
pub struct RateLimitedKv {
    pub now_ms: Cell<i64>,
    entries: RefCell<std::collections::HashMap<String, (String, i64)>>,
    pub refused_writes: Cell<u32>,
    pub writes: Cell<u32>,
}

impl calhook_core::store::kv::Kv for RateLimitedKv {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        step().await;
        Ok(self.entries.borrow().get(key).map(|(v, _)| v.clone()))
    }
    async fn put(&self, key: &str, value: &str, _ttl: u64) -> Result<(), StoreError> {
        step().await;
        let now = self.now_ms.get();
        let mut entries = self.entries.borrow_mut();
        if entries.get(key).is_some_and(|(_, at)| now - at < 1_000) {
            self.refused_writes.set(self.refused_writes.get() + 1);
            return Err(StoreError::Unavailable(
                "429: KV PUT failed: too many requests (one write per second per key)".into(),
            ));
        }
        self.writes.set(self.writes.get() + 1);
        entries.insert(key.to_owned(), (value.to_owned(), now));
        Ok(())
    }
}

/// Polls two futures in turn, one step each, until both are done: two
/// requests in two locations at the same moment.
pub fn round_robin<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let mut a = Box::pin(a);
    let mut b = Box::pin(b);
    let (mut ra, mut rb) = (None, None);
    let mut cx = Context::from_waker(Waker::noop());
    while ra.is_none() || rb.is_none() {
        if ra.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(&mut cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(&mut cx) {
                rb = Some(v);
            }
        }
    }
    (ra.unwrap(), rb.unwrap())
}
