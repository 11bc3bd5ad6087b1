//! `leadscore model check FILE`.

use std::path::Path;

use anyhow::Result;
use leadscore::model::Model;

/// Validates a model file and prints its version and a short inventory.
pub fn check(file: &Path) -> Result<()> {
    let m = Model::from_file(file)?;
    println!("{}: ok", file.display());
    println!("model_version = {}", m.version);
    println!(
        "{} categories, {} rules, {} SQL signals, {} fit rules",
        m.categories.len(),
        m.rules.len(),
        m.signals.len(),
        m.fit.len()
    );
    let s = &m.stages;
    println!(
        "stages: mql >= {}, sql >= {} with fit >= {}; recycle mql < {}, sql < {}",
        s.mql_at, s.sql_at, s.sql_min_fit, s.mql_recycle_below, s.sql_recycle_below
    );
    Ok(())
}
