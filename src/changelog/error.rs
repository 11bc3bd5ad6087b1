use thiserror::Error;

/// A changelog record that cannot be used: the topic holds something
/// leadscore did not write, or a newer format.
#[derive(Debug, Error)]
pub enum ChangelogError {
    /// The value does not decode.
    #[error("changelog record at offset {offset}: {what}; the changelog topic must only be written by leadscore (delete the topic to rebuild it from the inbound topics and snapshots)")]
    Corrupt {
        /// Offset of the record.
        offset: i64,
        /// What is wrong.
        what: String,
    },
    /// Written by a newer leadscore.
    #[error("changelog record at offset {offset} has format {found}, this build reads format {supported}; run the version that wrote it")]
    Format {
        offset: i64,
        found: u32,
        supported: u32,
    },
}
