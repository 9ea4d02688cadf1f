//! Reading what the test applications answer about a request.

use std::collections::BTreeMap;

/// What the WSGI test application (and the in-process test servers) report about a request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppAnswer {
    /// Bytes of body received.
    pub body_len: u64,
    /// CRC-32 of the body.
    pub body_crc32: u32,
    /// `wsgi.url_scheme` (empty where there is none).
    pub url_scheme: String,
    /// The environ, as bytes.
    pub environ: BTreeMap<String, Vec<u8>>,
}

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .map(|i| {
            u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                .unwrap_or_else(|e| panic!("bad hex {hex:?}: {e}"))
        })
        .collect()
}

impl AppAnswer {
    /// Parses the `key<TAB>value` lines (`env<TAB>NAME<TAB>hex` for variables).
    ///
    /// # Panics
    /// When the text is not in that form.
    pub fn parse(body: &[u8]) -> AppAnswer {
        let text = std::str::from_utf8(body).unwrap_or_else(|e| panic!("answer is not text: {e}"));
        let mut answer = AppAnswer::default();
        for line in text.lines() {
            let mut fields = line.split('\t');
            match (fields.next(), fields.next(), fields.next()) {
                (Some("body_len"), Some(n), None) => {
                    answer.body_len = n.parse().unwrap_or_else(|e| panic!("{line}: {e}"));
                }
                (Some("body_crc32"), Some(n), None) => {
                    answer.body_crc32 = n.parse().unwrap_or_else(|e| panic!("{line}: {e}"));
                }
                (Some("url_scheme"), Some(s), None) => s.clone_into(&mut answer.url_scheme),
                (Some("env"), Some(name), Some(hex)) => {
                    answer.environ.insert(name.to_owned(), unhex(hex));
                }
                _ => panic!("unexpected answer line {line:?}"),
            }
        }
        answer
    }

    /// Writes an answer in the same form (for the in-process servers).
    pub fn render<'a>(
        body_len: u64,
        body_crc32: u32,
        environ: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
    ) -> Vec<u8> {
        use std::fmt::Write as _;
        let mut out = format!("body_len\t{body_len}\nbody_crc32\t{body_crc32}\nurl_scheme\t\n");
        for (name, value) in environ {
            let _ = write!(out, "env\t{}\t", String::from_utf8_lossy(name));
            for byte in value {
                let _ = write!(out, "{byte:02x}");
            }
            out.push('\n');
        }
        out.into_bytes()
    }
}
