# extmatrix tasks. `just --list` shows them.

# The default matrix's fixtures crash and hang on purpose, so exit status 1
# (cells that crash, hang or fail to import) is its expected verdict; the
# recipe fails only on 2 (bad matrix or command line) or worse.

# Run matrices/default.yaml (every fixture on cp311, cp312, cp313); JSON in target/.
run-matrix *ARGS:
    cargo run --release -q -p extmatrix -- run matrices/default.yaml --json target/extmatrix-report.json {{ARGS}} || [ $? -eq 1 ]

# The whole test suite, on the real interpreters of this machine.
test:
    cargo nextest run --workspace --no-fail-fast

# Interpreters extmatrix can use here.
pythons:
    cargo run --release -q -p extmatrix -- pythons

# Wall time of the default matrix and the per-cycle cost of `reinit` (docs/benchmarks.md).
bench:
    scripts/bench

lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings
