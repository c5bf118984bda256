//! `sqlx::migrate!` embeds the SQL files at compile time; without this, editing a migration
//! alone would not rebuild the crate and the binary would carry the old schema.

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
