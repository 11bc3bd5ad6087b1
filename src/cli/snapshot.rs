//! `leadscore snapshot inspect FILE`.

use std::path::Path;

use anyhow::{bail, Result};

/// Prints what a snapshot holds and whether its checksum is intact. The
/// report is printed even for a damaged file (that is when an operator
/// wants it), but the exit status is non-zero then, so scripts notice: a
/// checksum mismatch, or a file that does not decode, is an error naming
/// the file.
pub fn inspect(file: &Path) -> Result<()> {
    let report = leadscore::snapshot::inspect(file)?;
    print!("{report}");
    if !report.checksum.is_ok() {
        bail!("{}: checksum {}", file.display(), report.checksum);
    }
    Ok(())
}
