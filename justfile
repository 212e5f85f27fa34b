# extmatrix tasks. `just --list` shows them.

# The default matrix's fixtures crash and hang on purpose, so exit status 1
# (cells that crash, hang or fail to import) is its expected verdict; the
# run recipes fail only on 2 (bad matrix or command line) or worse.

# Run matrices/default.yaml (every fixture on cp311, cp312, cp313); JSON in target/.
run-matrix *ARGS:
    cargo run --release -q -p extmatrix -- run matrices/default.yaml --json target/extmatrix-report.json {{ARGS}} || [ $? -eq 1 ]

# Run matrices/full.yaml (seven builds: cp311 cp311d cp312 cp313 cp313d cp313t cp313td).
run-full *ARGS: setup
    cargo run --release -q -p extmatrix -- run matrices/full.yaml --json target/extmatrix-full-report.json {{ARGS}} || [ $? -eq 1 ]

# Install what the full matrix and the tests need (Debian packages, CPython source, the JUnit XSD, actionlint, four builds; ~25 min the first time).
setup:
    scripts/install-deps
    scripts/fetch-cpython-source cache/cpython
    scripts/fetch-junit-xsd cache/junit
    scripts/setup-browser-tests
    scripts/install-actionlint
    cargo run --release -q -p extmatrix -- pythons build --matrix matrices/full.yaml
    cargo run --release -q -p extmatrix -- pythons build --matrix matrices/tsan.yaml

# The whole test suite, on the real interpreters of this machine (runs `setup` first).
test: setup
    cargo nextest run --workspace --no-fail-fast

# The crates whose every test needs only Rust, `sh` and coreutils: no
# Python, no C compiler, no network, no `just setup`.
unit_crates := "-p extmatrix-core -p extmatrix-protocol -p extmatrix-schema -p extmatrix-judge -p extmatrix-verdict -p extmatrix-spec -p extmatrix-report -p extmatrix-init -p extmatrix-cache -p extmatrix-plan -p extmatrix-process"

# Discovery's own tests ask fake interpreters (shell scripts) and run here;
# its tests/ ask the machine's real ones and are left to `just test` (built
# here, never run: one build for both is faster than a second cargo call).

# The tests that need no interpreter and no network, for contributors (well under a minute; docs/benchmarks.md).
unit:
    cargo nextest run --no-fail-fast {{unit_crates}} -p extmatrix-pythons -E 'not (package(extmatrix-pythons) and kind(test))'

# Interpreters extmatrix can use here, found and built.
pythons:
    cargo run --release -q -p extmatrix -- pythons

# Build the wheel (maturin, target/wheels/) and run it from a fresh venv outside the checkout (scripts/check-wheel).
wheel:
    scripts/check-wheel

# extmatrix beside its anchors (bare init/finalize loop, naive subprocess battery, ideal wall), as ratios; ~3 min (docs/benchmarks.md). EXTMATRIX_BIN=path: measure that binary, no build.
bench:
    scripts/bench

# How often each race of matrices/stress.yaml shows (k of RUNS) and what a stress cell costs, on the seven builds (docs/benchmarks.md).
bench-stress RUNS="20": setup
    scripts/bench-stress {{RUNS}}

# Formatting and clippy, warnings as errors.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings
