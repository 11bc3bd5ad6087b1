//! `leadscore snapshot inspect FILE`.

use std::path::Path;

use anyhow::Result;

/// Prints what a snapshot holds and whether its checksum is intact.
pub fn inspect(file: &Path) -> Result<()> {
    let report = leadscore::snapshot::inspect(file)?;
    print!("{report}");
    Ok(())
}
