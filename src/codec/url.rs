//! Taking the path out of a page URL, so rules match `/pricing` whether the
//! producer sent `path` or a full `url`.

use std::borrow::Cow;

/// A `url` value with no usable path; carries the value back for the error
/// message, so the happy path never copies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NotAUrl<'a>(pub Cow<'a, str>);

/// The empty-path case of [`path_range`] is a failure to find a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NoPath;

/// The path component of `url`: everything after the authority up to the
/// first `?` or `#`, or `/` when that is empty. Accepts absolute URLs
/// (`https://host/p`), scheme-relative ones (`//host/p`) and bare paths
/// (`/p?q`). The path is returned as sent (no percent-decoding, no case
/// folding). Borrows from the input when the input is borrowed.
pub(crate) fn path_of_url(url: Cow<'_, str>) -> Result<Cow<'_, str>, NotAUrl<'_>> {
    let Ok((start, end)) = path_range(&url) else {
        return Err(NotAUrl(url));
    };
    if start == end {
        return Ok(Cow::Borrowed("/"));
    }
    Ok(match url {
        Cow::Borrowed(s) => Cow::Borrowed(&s[start..end]),
        Cow::Owned(s) => Cow::Owned(s[start..end].to_owned()),
    })
}

/// Byte range of the path in `s` (all delimiters are ASCII, so both ends are
/// char boundaries).
fn path_range(s: &str) -> Result<(usize, usize), NoPath> {
    let b = s.as_bytes();
    let start = if b.starts_with(b"//") {
        authority_end(b, 2)
    } else if b.first() == Some(&b'/') {
        0
    } else {
        let colon = scheme_end(b).ok_or(NoPath)?;
        if !b[colon + 1..].starts_with(b"//") {
            return Err(NoPath);
        }
        authority_end(b, colon + 3)
    };
    let end = b[start..]
        .iter()
        .position(|&c| c == b'?' || c == b'#')
        .map_or(b.len(), |p| start + p);
    Ok((start, end))
}

/// Index of the `:` that ends a URL scheme (`[A-Za-z][A-Za-z0-9+.-]*:`).
fn scheme_end(b: &[u8]) -> Option<usize> {
    if !b.first()?.is_ascii_alphabetic() {
        return None;
    }
    let colon = b.iter().position(|&c| c == b':')?;
    b[..colon]
        .iter()
        .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'.' | b'-'))
        .then_some(colon)
}

/// Where the authority that starts at `from` ends: the first `/`, `?` or `#`.
fn authority_end(b: &[u8], from: usize) -> usize {
    b[from..]
        .iter()
        .position(|&c| matches!(c, b'/' | b'?' | b'#'))
        .map_or(b.len(), |p| from + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(u: &str) -> Result<String, NoPath> {
        path_of_url(Cow::Borrowed(u))
            .map(Cow::into_owned)
            .map_err(|e| {
                assert_eq!(e.0, u, "the value comes back unchanged");
                NoPath
            })
    }

    #[test]
    fn takes_the_path_of_absolute_urls() {
        assert_eq!(path("https://x.com/pricing?a=1").unwrap(), "/pricing");
        assert_eq!(
            path("https://x.com/blog/mql-vs-sql?utm_source=nl#top").unwrap(),
            "/blog/mql-vs-sql"
        );
        assert_eq!(path("http://user:pw@x.com:8080/a/b/").unwrap(), "/a/b/");
        assert_eq!(path("https://x.com").unwrap(), "/");
        assert_eq!(path("https://x.com?a=1").unwrap(), "/");
        assert_eq!(path("https://x.com#frag").unwrap(), "/");
        assert_eq!(path("HTTPS://X.COM/Careers").unwrap(), "/Careers");
        assert_eq!(path("//cdn.x.com/careers/eng").unwrap(), "/careers/eng");
    }

    #[test]
    fn keeps_bare_paths_without_query() {
        assert_eq!(path("/pricing").unwrap(), "/pricing");
        assert_eq!(path("/pricing?plan=pro").unwrap(), "/pricing");
        assert_eq!(path("/a%20b#x").unwrap(), "/a%20b");
    }

    #[test]
    fn refuses_what_has_no_path() {
        for u in [
            "",
            "x.com/pricing",
            "pricing",
            "mailto:a@b.c",
            "1http://x.com/",
            "ht tp://x.com/",
            "://x.com/",
        ] {
            assert_eq!(path(u), Err(NoPath), "{u:?}");
        }
    }

    #[test]
    fn borrows_when_it_can() {
        assert!(matches!(
            path_of_url(Cow::Borrowed("https://x.com/p")),
            Ok(Cow::Borrowed("/p"))
        ));
        let owned = path_of_url(Cow::Owned("https://x.com/é?q".to_string())).unwrap();
        assert_eq!(owned, "/é");
    }
}
