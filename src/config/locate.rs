//! Where a key is in a config file, so an error can name its line: from a
//! byte offset (parse errors) or from the key's path (checks done after
//! parsing).

/// The 1-based line of byte `offset` in `text`.
pub fn line_of_offset(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The `[section]` and key written on the line that holds byte `offset`:
/// what a reader needs to find the value an error is about.
pub fn key_at_offset(text: &str, offset: usize) -> Option<String> {
    let line_no = line_of_offset(text, offset);
    let mut section = String::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(h) = header(t) {
            section = h.to_string();
        }
        if i + 1 == line_no {
            let key = t.split('=').next()?.trim().trim_matches('"');
            if key.is_empty() || t.starts_with('[') {
                return (!section.is_empty()).then(|| format!("[{section}]"));
            }
            return Some(if section.is_empty() {
                key.to_string()
            } else {
                format!("[{section}] {key}")
            });
        }
    }
    None
}

/// The 1-based line where `key` is set in `[section]`, if the file sets it.
pub fn line_of_key(text: &str, section: &str, key: &str) -> Option<usize> {
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(h) = header(t) {
            current = h.to_string();
            continue;
        }
        if current == section {
            let k = t.split('=').next().unwrap_or("").trim().trim_matches('"');
            if k == key && t.contains('=') {
                return Some(i + 1);
            }
        }
    }
    None
}

/// The name of a `[section]` header line.
fn header(t: &str) -> Option<&str> {
    let inner = t.strip_prefix('[')?.split(']').next()?;
    (!inner.starts_with('[')).then(|| inner.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str =
        "[kafka]\n\"group.id\" = \"g\"\n\n[limits]\nmax_record_bytes = \"big\"\n# x\nkeep = 0\n";

    #[test]
    fn offsets_and_keys_map_to_lines() {
        let off = TEXT.find("\"big\"").unwrap();
        assert_eq!(line_of_offset(TEXT, off), 5);
        assert_eq!(
            key_at_offset(TEXT, off).as_deref(),
            Some("[limits] max_record_bytes")
        );
        assert_eq!(line_of_key(TEXT, "limits", "keep"), Some(7));
        assert_eq!(line_of_key(TEXT, "kafka", "group.id"), Some(2));
        assert_eq!(line_of_key(TEXT, "snapshots", "keep"), None);
    }
}
