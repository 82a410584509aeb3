//! The readable (`--log-format text`) log: slog-term's format, with every
//! control character in a message or a value written as an escape. A value
//! can come from a request (an unknown JSON field name, a path), and a raw
//! newline in it would let the request forge a line of its own. (The JSON
//! format escapes them already.)

use std::fmt::{self, Write as _};

use slog::{Drain, KV, Key, OwnedKVList, Record, Serializer};

/// `text` with each control character (C0, DEL, C1, and the Unicode line and
/// paragraph separators) written as `\n`, `\r`, `\t` or `\u{…}`; everything
/// else as it is. Borrowed when there is nothing to escape.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    let needs = |c: char| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}');
    if !text.chars().any(needs) {
        return text.into();
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push_str("\\t"),
            c if needs(c) => {
                let _ = write!(escaped, "\\u{{{:x}}}", u32::from(c));
            }
            c => escaped.push(c),
        }
    }
    escaped.into()
}

/// A drain that hands `inner` each record with its message and every value
/// (the record's and its loggers') escaped by [`escape_controls`].
pub struct EscapeControls<D>(pub D);

impl<D: Drain> Drain for EscapeControls<D> {
    type Ok = D::Ok;
    type Err = D::Err;

    fn log(&self, record: &Record<'_>, values: &OwnedKVList) -> Result<D::Ok, D::Err> {
        let mut pairs = Escaped::default();
        // Serializing into memory cannot fail.
        let _ = record.kv().serialize(record, &mut pairs);
        let _ = values.serialize(record, &mut pairs);
        let message = escape_controls(&record.msg().to_string()).into_owned();
        let statics = slog::RecordStatic {
            location: record.location(),
            tag: record.tag(),
            level: record.level(),
        };
        // One statement: the formatted message lives as long as the record.
        self.0.log(
            &Record::new(
                &statics,
                &format_args!("{message}"),
                slog::BorrowedKV(&pairs),
            ),
            &OwnedKVList::from(slog::o!()),
        )
    }
}

/// Key-value pairs as escaped text, in the order they were serialized.
#[derive(Default)]
struct Escaped(Vec<(Key, String)>);

impl Serializer for Escaped {
    fn emit_arguments(&mut self, key: Key, value: &fmt::Arguments<'_>) -> slog::Result {
        let text = value.to_string();
        self.0.push((key, escape_controls(&text).into_owned()));
        Ok(())
    }
}

impl KV for Escaped {
    fn serialize(&self, _record: &Record<'_>, serializer: &mut dyn Serializer) -> slog::Result {
        // slog serializes the newest pairs first and formats them in that
        // order; handing them on as they came keeps each line as it was.
        for (key, value) in &self.0 {
            serializer.emit_str(key.clone(), value)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_controls("plain"), "plain");
        assert!(matches!(
            escape_controls("plain"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(
            escape_controls("a\nb\r\tc\u{0}\u{1b}[31m\u{85}\u{2028}"),
            "a\\nb\\r\\tc\\u{0}\\u{1b}[31m\\u{85}\\u{2028}"
        );
    }

    /// A value with a newline (as an unknown JSON field name would be) stays
    /// on its record's line, in the format the server writes.
    #[test]
    fn a_logged_value_cannot_forge_a_line() {
        let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let decorator = slog_term::PlainSyncDecorator::new(SharedBuffer(buffer.clone()));
        let drain = EscapeControls(slog_term::FullFormat::new(decorator).build()).fuse();
        let log = slog::Logger::root(drain, slog::o!("name" => "hbx-sa\nforged"));
        slog::info!(log, "request completed\nforged: yes";
            "error_message_internal" => "unknown field `x\nDec 02 INFO forged line`");
        let written = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
        assert_eq!(written.lines().count(), 1, "{written}");
        assert!(
            written.contains("unknown field `x\\nDec 02 INFO forged line`"),
            "{written}"
        );
        assert!(
            written.contains("request completed\\nforged: yes"),
            "{written}"
        );
        assert!(written.contains("hbx-sa\\nforged"), "{written}");
    }

    #[derive(Clone)]
    struct SharedBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for SharedBuffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
