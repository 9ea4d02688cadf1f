//! Mapping a request path to a script: percent-decoding, dot-segment normalisation, and the
//! split into SCRIPT_NAME and PATH_INFO.

use crate::error::GatewayError;
use crate::grammar::hex_value;

/// How the decoded, normalised request path is split into SCRIPT_NAME and PATH_INFO.
///
/// Every mapping works on the path after percent-decoding, merging of repeated slashes and
/// removal of `.` and `..` segments, which is what nginx matches its `location`s and
/// `fastcgi_split_path_info` against. A `..` that climbs above `/` is an error, so no
/// mapping can reach outside the document root.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ScriptMapping {
    /// The whole path is the script and PATH_INFO is empty (nginx without
    /// `fastcgi_split_path_info`).
    #[default]
    WholePath,
    /// WSGI style: the application is mounted at a prefix. SCRIPT_NAME is the prefix
    /// (empty for `/`), PATH_INFO the rest of the path. A path outside the prefix is an
    /// error. The prefix matches whole segments only, so `/app` does not cover `/apple`.
    Mount(String),
    /// Split after the first path segment ending in this extension (e.g. `.php`) when a
    /// `/` follows it: `/a/x.php/b/c` gives SCRIPT_NAME `/a/x.php` and PATH_INFO `/b/c`.
    /// Without such a segment the whole path is the script, as with nginx's
    /// `fastcgi_split_path_info ^(.+?\.php)(/.*)$` when the regex does not match.
    SplitAtExtension(String),
}

/// The result of mapping a request path: all three are decoded bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScriptPath {
    /// The decoded, normalised path (nginx's `$uri` and `$document_uri`).
    pub uri: Vec<u8>,
    /// SCRIPT_NAME: the part of the path naming the script.
    pub script_name: Vec<u8>,
    /// PATH_INFO: the rest, empty or starting with `/`.
    pub path_info: Vec<u8>,
}

/// Whether `%2F` in a path is refused or decoded to `/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncodedSlash {
    /// Refuse the request ([`GatewayError::EncodedSlash`]), as RFC 3875 §4.1.5 allows:
    /// after decoding, an encoded slash could not be told apart from a separator.
    #[default]
    Reject,
    /// Decode it to `/` and treat it as a separator, as nginx does.
    Decode,
}

impl ScriptMapping {
    /// Decodes and normalises `raw_path` (the path of the request target, still
    /// percent-encoded, without the query) and splits it.
    ///
    /// # Example
    /// ```
    /// use cgi_env::{EncodedSlash, ScriptMapping};
    ///
    /// let php = ScriptMapping::SplitAtExtension(".php".into());
    /// let mapped = php.map("/blog/./index.php/2024/%7Enews", EncodedSlash::Reject)?;
    /// assert_eq!(mapped.script_name, b"/blog/index.php");
    /// assert_eq!(mapped.path_info, b"/2024/~news");
    ///
    /// let wsgi = ScriptMapping::Mount("/app".into());
    /// let mapped = wsgi.map("/app/users//7", EncodedSlash::Reject)?;
    /// assert_eq!((&mapped.script_name[..], &mapped.path_info[..]), (&b"/app"[..], &b"/users/7"[..]));
    ///
    /// assert!(php.map("/../etc/passwd", EncodedSlash::Reject).is_err());
    /// assert!(php.map("/x.php%0a/y.php", EncodedSlash::Reject).is_err());
    /// # Ok::<(), cgi_env::GatewayError>(())
    /// ```
    pub fn map(
        &self,
        raw_path: &str,
        encoded_slash: EncodedSlash,
    ) -> Result<ScriptPath, GatewayError> {
        let mapped = self.map_split(raw_path, encoded_slash)?;
        Ok(ScriptPath {
            script_name: mapped.script_name().to_vec(),
            path_info: mapped.path_info().to_vec(),
            uri: mapped.uri,
        })
    }

    /// As [`ScriptMapping::map`], with SCRIPT_NAME and PATH_INFO left in place in the
    /// path: every mapping splits the path in two.
    pub(crate) fn map_split(
        &self,
        raw_path: &str,
        encoded_slash: EncodedSlash,
    ) -> Result<SplitPath, GatewayError> {
        let uri = normalise_owned(decode_path(raw_path, encoded_slash)?)?;
        let split = match self {
            ScriptMapping::WholePath => uri.len(),
            ScriptMapping::Mount(mount) => split_at_mount(&uri, mount)?,
            ScriptMapping::SplitAtExtension(extension) => {
                split_at_extension(&uri, extension.as_bytes())
            }
        };
        Ok(SplitPath { uri, split })
    }
}

/// A mapped path: the decoded, normalised path, SCRIPT_NAME before `split` and PATH_INFO
/// from it.
#[derive(Debug)]
pub(crate) struct SplitPath {
    pub(crate) uri: Vec<u8>,
    split: usize,
}

impl SplitPath {
    pub(crate) fn script_name(&self) -> &[u8] {
        self.uri.get(..self.split).unwrap_or_default()
    }

    pub(crate) fn path_info(&self) -> &[u8] {
        self.uri.get(self.split..).unwrap_or_default()
    }
}

/// Percent-decodes a request path. The result may hold any byte; NUL, CR and LF are refused
/// because no file name or CGI variable may safely carry them.
pub fn decode_path(raw_path: &str, encoded_slash: EncodedSlash) -> Result<Vec<u8>, GatewayError> {
    let raw = raw_path.as_bytes();
    if raw.first() != Some(&b'/') {
        return Err(GatewayError::PathNotAbsolute {
            path: raw_path.to_owned(),
        });
    }
    let mut decoded = Vec::with_capacity(raw.len());
    let mut index = 0;
    while let Some(&byte) = raw.get(index) {
        let (value, width) = if byte == b'%' {
            let high = raw.get(index + 1).and_then(|&b| hex_value(b));
            let low = raw.get(index + 2).and_then(|&b| hex_value(b));
            match (high, low) {
                (Some(high), Some(low)) => (high << 4 | low, 3),
                _ => return Err(GatewayError::BadPercentEncoding { offset: index }),
            }
        } else {
            (byte, 1)
        };
        if byte == b'%' && value == b'/' && encoded_slash == EncodedSlash::Reject {
            return Err(GatewayError::EncodedSlash { offset: index });
        }
        if matches!(value, 0 | b'\r' | b'\n') {
            return Err(GatewayError::ControlByteInPath {
                byte: value,
                offset: decoded.len(),
            });
        }
        decoded.push(value);
        index += width;
    }
    Ok(decoded)
}

/// Merges repeated slashes and resolves `.` and `..` segments of a decoded absolute path.
/// A path ending in `/`, `/.` or `/..` keeps a trailing slash (it names a directory).
pub fn normalise(path: &[u8]) -> Result<Vec<u8>, GatewayError> {
    let mut segments: Vec<&[u8]> = Vec::new();
    let mut trailing_slash = false;
    for segment in path.split(|&b| b == b'/') {
        trailing_slash = matches!(segment, b"" | b"." | b"..");
        match segment {
            b"" | b"." => {}
            b".." => {
                if segments.pop().is_none() {
                    return Err(GatewayError::PathEscapesRoot);
                }
            }
            _ => segments.push(segment),
        }
    }
    let mut normalised = Vec::with_capacity(path.len());
    for segment in &segments {
        normalised.push(b'/');
        normalised.extend_from_slice(segment);
    }
    if trailing_slash || segments.is_empty() {
        normalised.push(b'/');
    }
    Ok(normalised)
}

/// As [`normalise`], returning `path` itself when it is normal already (most are): no
/// second allocation.
fn normalise_owned(path: Vec<u8>) -> Result<Vec<u8>, GatewayError> {
    if is_normal(&path) {
        Ok(path)
    } else {
        normalise(&path)
    }
}

/// Whether `path` is what [`normalise`] makes of it: absolute, with no empty, `.` or `..`
/// segment but for an empty last one (a trailing slash).
fn is_normal(path: &[u8]) -> bool {
    let Some(rest) = path.strip_prefix(b"/") else {
        return false;
    };
    let mut segments = rest.split(|&b| b == b'/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        match segment {
            b"." | b".." => return false,
            b"" if !last => return false,
            _ => {}
        }
    }
    true
}

/// Where SCRIPT_NAME (the mount point, without a trailing slash) ends in `uri`.
fn split_at_mount(uri: &[u8], mount: &str) -> Result<usize, GatewayError> {
    let prefix = mount.trim_end_matches('/').as_bytes();
    uri.strip_prefix(prefix)
        .filter(|rest| rest.is_empty() || rest.first() == Some(&b'/'))
        .map(|_| prefix.len())
        .ok_or_else(|| GatewayError::OutsideMount {
            mount: mount.to_owned(),
        })
}

/// Where SCRIPT_NAME ends in `uri`: after the first segment ending in `extension` that a
/// `/` follows, else at the end.
fn split_at_extension(uri: &[u8], extension: &[u8]) -> usize {
    // Segment boundaries: each '/' after the leading one ends a segment.
    uri.iter()
        .enumerate()
        .skip(1)
        .filter(|&(_, &b)| b == b'/')
        .map(|(end, _)| end)
        .find(|&end| {
            uri.get(..end).is_some_and(|script| {
                // The segment must have a name before its extension, as `.+?\.php` needs.
                script.len() > extension.len() && script.ends_with(extension)
            })
        })
        .unwrap_or(uri.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// A path normal already is returned as it is, and any other is normalised.
        #[test]
        fn normalising_an_owned_path_agrees_with_normalise(
            tail in proptest::collection::vec(prop_oneof![Just(b'/'), Just(b'.'), Just(b'a')], 0..12)
        ) {
            let mut path = vec![b'/'];
            path.extend(tail);
            prop_assert_eq!(normalise_owned(path.clone()), normalise(&path));
        }
    }

    fn split(path: &str) -> (String, String) {
        let mapped = ScriptMapping::SplitAtExtension(".php".into())
            .map(path, EncodedSlash::Reject)
            .unwrap();
        (
            String::from_utf8(mapped.script_name).unwrap(),
            String::from_utf8(mapped.path_info).unwrap(),
        )
    }

    #[test]
    fn decoding_keeps_any_byte_but_nul_cr_lf() {
        assert_eq!(
            decode_path("/a%20b%C3%A9%ff", EncodedSlash::Reject).unwrap(),
            b"/a b\xc3\xa9\xff"
        );
        assert_eq!(decode_path("/a+b", EncodedSlash::Reject).unwrap(), b"/a+b");
        for (path, byte) in [("/x%00", 0), ("/x%0a.php/y", b'\n'), ("/x%0D", b'\r')] {
            assert_eq!(
                decode_path(path, EncodedSlash::Reject),
                Err(GatewayError::ControlByteInPath { byte, offset: 2 })
            );
        }
    }

    #[test]
    fn bad_percent_encoding_is_an_error() {
        for (path, offset) in [("/%", 1), ("/a%4", 2), ("/a%zz", 2), ("/%%41", 1)] {
            assert_eq!(
                decode_path(path, EncodedSlash::Reject),
                Err(GatewayError::BadPercentEncoding { offset }),
                "{path}"
            );
        }
    }

    #[test]
    fn encoded_slash_rejected_or_decoded() {
        assert_eq!(
            decode_path("/a%2fb", EncodedSlash::Reject),
            Err(GatewayError::EncodedSlash { offset: 2 })
        );
        assert_eq!(
            decode_path("/a%2Fb", EncodedSlash::Decode).unwrap(),
            b"/a/b"
        );
    }

    #[test]
    fn relative_targets_are_refused() {
        assert!(matches!(
            decode_path("*", EncodedSlash::Reject),
            Err(GatewayError::PathNotAbsolute { .. })
        ));
        assert!(matches!(
            decode_path("", EncodedSlash::Reject),
            Err(GatewayError::PathNotAbsolute { .. })
        ));
    }

    #[test]
    fn normalisation() {
        let cases: [(&str, &str); 9] = [
            ("/", "/"),
            ("//", "/"),
            ("/a//b/./c", "/a/b/c"),
            ("/a/b/../c", "/a/c"),
            ("/a/b/..", "/a/"),
            ("/a/.", "/a/"),
            ("/a/", "/a/"),
            ("/a/b/../..", "/"),
            ("/..a/.b", "/..a/.b"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                normalise(input.as_bytes()).unwrap(),
                expected.as_bytes(),
                "{input}"
            );
        }
    }

    #[test]
    fn dot_dot_never_escapes_the_root() {
        for path in ["/..", "/../x", "/a/../../x", "/a/%2e%2e/%2e%2e/etc/passwd"] {
            assert_eq!(
                ScriptMapping::WholePath.map(path, EncodedSlash::Reject),
                Err(GatewayError::PathEscapesRoot),
                "{path}"
            );
        }
        // Encoded dots are decoded before normalisation, so they resolve like plain ones.
        assert_eq!(
            ScriptMapping::WholePath
                .map("/a/%2e%2e/b", EncodedSlash::Reject)
                .unwrap()
                .uri,
            b"/b"
        );
    }

    #[test]
    fn split_at_first_segment_with_extension() {
        assert_eq!(
            split("/php-cap/echo.php/pi"),
            ("/php-cap/echo.php".into(), "/pi".into())
        );
        assert_eq!(
            split("/a.php/b.php/c"),
            ("/a.php".into(), "/b.php/c".into())
        );
        assert_eq!(split("/x.php"), ("/x.php".into(), String::new()));
        assert_eq!(split("/x.php/"), ("/x.php".into(), "/".into()));
        assert_eq!(split("/x.phpx/y"), ("/x.phpx/y".into(), String::new()));
        assert_eq!(
            split("/up/x.jpg/y.php"),
            ("/up/x.jpg/y.php".into(), String::new())
        );
        assert_eq!(split("/.php/a"), ("/.php".into(), "/a".into()));
        assert_eq!(split("/dir.php/../x.php/i"), ("/x.php".into(), "/i".into()));
    }

    #[test]
    fn mount_matches_whole_segments() {
        let app = ScriptMapping::Mount("/app/".into());
        let mapped = app.map("/app", EncodedSlash::Reject).unwrap();
        assert_eq!(
            (mapped.script_name, mapped.path_info),
            (b"/app".to_vec(), Vec::new())
        );
        let mapped = app.map("/app/x/", EncodedSlash::Reject).unwrap();
        assert_eq!(mapped.path_info, b"/x/");
        assert!(matches!(
            app.map("/apple", EncodedSlash::Reject),
            Err(GatewayError::OutsideMount { .. })
        ));
        let root = ScriptMapping::Mount("/".into());
        let mapped = root.map("/x", EncodedSlash::Reject).unwrap();
        assert_eq!(
            (mapped.script_name, mapped.path_info),
            (Vec::new(), b"/x".to_vec())
        );
    }
}
