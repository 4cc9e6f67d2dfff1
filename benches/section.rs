//! Writes standard input into BENCHMARKS.md's section NAME (or `BENCH_OUT`'s)
//! under the heading TITLE, with the writer every bench uses, for benches
//! that are scripts (`scripts/bench-isolate`).
//! Usage: `cargo bench -p calhook --bench section -- NAME TITLE < body`

use std::io::Read;
use std::path::Path;

mod report;

fn main() {
    // cargo bench passes `--bench` to every bench binary.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [name, title] = args.as_slice() else {
        eprintln!("usage: cargo bench -p calhook --bench section -- NAME TITLE < body");
        std::process::exit(2);
    };
    let mut body = String::new();
    std::io::stdin()
        .read_to_string(&mut body)
        .expect("the section's body on standard input");
    report::write_section(Path::new(env!("CARGO_MANIFEST_DIR")), name, title, &body);
}
