//! The `knowngood` command, run as a user would: the built binary in a
//! temporary directory with a real git repository, shell scripts for
//! deploys, health and builds, and the journal in a file, in `SQLite`, or in
//! `PostgreSQL` (where `KNOWNGOOD_POSTGRES_URL` is set).

mod fixture;
mod front;
mod story;
