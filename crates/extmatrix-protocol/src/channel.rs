//! Reading the observation channel as it arrives, in bounded memory.
//!
//! The runner feeds every chunk it reads from the channel's pipe into a
//! [`ChannelReader`]; complete lines are judged at once and only what is
//! kept stays in memory: events, the first few protocol errors and foreign
//! lines (each cut to 200 characters), counts of the rest. A line longer
//! than [`MAX_LINE`] is kept only up to that length, so a flood without a
//! newline costs at most that much. (How many bytes the runner reads at all
//! is its own cap.)
//!
//! Every line the harness writes for the runner starts with the run's
//! token, `{"token":"<hex>",` (the token is in the prefix only, never
//! inside an event). A line without it was written by someone else — the
//! target, a library that took the descriptor for its own — and is
//! *foreign*: counted, sampled, never parsed into an event.

use crate::Event;

/// At most this much of the observation channel is read in one run; past
/// it the reader closes the pipe ([`crate::Streams::channel_cut`]).
pub const CHANNEL_CAP: u64 = 16 << 20;
/// At most this much of stdout, and as much of stderr, is read in one run
/// ([`crate::Streams::stdout_cut`]).
pub const OUTPUT_CAP: u64 = 64 << 20;
/// The longest line kept (the harness's lines are at most 64 KiB).
pub const MAX_LINE: usize = 128 * 1024;
/// Protocol errors kept per run; the rest are counted.
pub const PROTOCOL_ERRORS_KEPT: usize = 20;
/// Foreign lines kept (as samples) per run; the rest are counted.
pub const FOREIGN_SAMPLES: usize = 5;
/// Characters of a bad or foreign line shown in a note.
const SAMPLE_CHARS: usize = 200;

/// What the channel held, sorted: trusted events and everything else.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Channel {
    pub events: Vec<Event>,
    /// Token-carrying lines that are not valid events (the first
    /// [`PROTOCOL_ERRORS_KEPT`]), each with the parser's reason.
    pub protocol_errors: Vec<String>,
    pub protocol_errors_dropped: u64,
    /// Lines without the token.
    pub foreign_lines: u64,
    /// The first [`FOREIGN_SAMPLES`] foreign lines.
    pub foreign_samples: Vec<String>,
    /// Bytes fed.
    pub bytes: u64,
}

/// Splits the channel into lines as bytes arrive and sorts each line.
#[derive(Debug)]
pub struct ChannelReader {
    /// `{"token":"<hex>",`; `None` trusts every line (a harness run by hand
    /// without `--token`).
    prefix: Option<Vec<u8>>,
    /// The line being read, at most [`MAX_LINE`] bytes of it.
    line: Vec<u8>,
    /// The line being read is longer than [`MAX_LINE`]: the rest of it is
    /// skipped.
    overlong: bool,
    out: Channel,
}

impl ChannelReader {
    /// A reader that trusts only lines starting with `token`'s prefix.
    pub fn new(token: Option<&str>) -> ChannelReader {
        ChannelReader {
            prefix: token.map(|t| format!("{{\"token\":\"{t}\",").into_bytes()),
            line: Vec::new(),
            overlong: false,
            out: Channel::default(),
        }
    }

    /// Take the next bytes of the channel.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        self.out.bytes += bytes.len() as u64;
        while let Some(end) = bytes.iter().position(|&b| b == b'\n') {
            self.push(&bytes[..end]);
            self.end_line();
            bytes = &bytes[end + 1..];
        }
        self.push(bytes);
    }

    /// The events read so far.
    pub fn events(&self) -> &[Event] {
        &self.out.events
    }

    /// Everything read; a last line without its newline (cut short by a
    /// crash, most often) is sorted like the others.
    pub fn finish(mut self) -> Channel {
        if !self.line.is_empty() || self.overlong {
            self.end_line();
        }
        self.out
    }

    fn push(&mut self, part: &[u8]) {
        let room = MAX_LINE - self.line.len();
        if part.len() > room {
            self.line.extend_from_slice(&part[..room]);
            self.overlong = true;
        } else {
            self.line.extend_from_slice(part);
        }
    }

    fn end_line(&mut self) {
        let line = std::mem::take(&mut self.line);
        let overlong = std::mem::replace(&mut self.overlong, false);
        self.sort(&line, overlong);
        // Keep the allocation for the next line, but not a huge one.
        if line.capacity() <= 64 * 1024 {
            self.line = line;
            self.line.clear();
        }
    }

    fn sort(&mut self, line: &[u8], overlong: bool) {
        if !overlong && line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let json: std::borrow::Cow<[u8]> = match &self.prefix {
            None => line.into(),
            Some(prefix) => match line.strip_prefix(prefix.as_slice()) {
                Some(rest) => [b"{".as_slice(), rest].concat().into(),
                None => return self.foreign(line, overlong),
            },
        };
        if overlong {
            return self.protocol_error(format!(
                "a line longer than {} KiB: {}",
                MAX_LINE / 1024,
                sample(&json)
            ));
        }
        match serde_json::from_slice::<Event>(&json) {
            Ok(event) => self.out.events.push(event),
            Err(e) => self.protocol_error(format!("{e}: {}", sample(&json))),
        }
    }

    fn foreign(&mut self, line: &[u8], overlong: bool) {
        self.out.foreign_lines += 1;
        if self.out.foreign_samples.len() < FOREIGN_SAMPLES {
            let more = if overlong { " (and more)" } else { "" };
            self.out
                .foreign_samples
                .push(format!("{}{more}", sample(line)));
        }
    }

    fn protocol_error(&mut self, message: String) {
        if self.out.protocol_errors.len() < PROTOCOL_ERRORS_KEPT {
            self.out.protocol_errors.push(message);
        } else {
            self.out.protocol_errors_dropped += 1;
        }
    }
}

/// The first 200 characters of a line, for a note.
fn sample(line: &[u8]) -> String {
    let head = &line[..line.len().min(SAMPLE_CHARS * 4)];
    String::from_utf8_lossy(head)
        .chars()
        .take(SAMPLE_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    fn line(body: &str) -> String {
        format!("{{\"token\":\"{TOKEN}\",{}\n", &body[1..])
    }

    fn read(chunks: &[&[u8]]) -> Channel {
        let mut reader = ChannelReader::new(Some(TOKEN));
        for chunk in chunks {
            reader.feed(chunk);
        }
        reader.finish()
    }

    #[test]
    fn the_caps_are_what_the_docs_say() {
        assert_eq!(CHANNEL_CAP, 16 * 1024 * 1024);
        assert_eq!(OUTPUT_CAP, 64 * 1024 * 1024);
        assert_eq!(MAX_LINE, 128 * 1024);
    }

    #[test]
    fn blank_lines_are_nothing_and_a_line_of_exactly_the_cap_is_not_overlong() {
        let channel = read(&[b"\n  \n\t\n"]);
        assert!(
            channel.events.is_empty()
                && channel.protocol_errors.is_empty()
                && channel.foreign_lines == 0,
            "{channel:?}"
        );
        let exact = format!("{}\n", "x".repeat(MAX_LINE));
        let channel = ChannelReader::new(None).tap_feed(exact.as_bytes());
        assert_eq!(channel.protocol_errors.len(), 1);
        assert!(
            !channel.protocol_errors[0].contains("longer than"),
            "{:?}",
            channel.protocol_errors
        );
        let over = format!("{}\n", "x".repeat(MAX_LINE + 1));
        let channel = ChannelReader::new(None).tap_feed(over.as_bytes());
        assert!(channel.protocol_errors[0].contains("longer than 128 KiB"));
    }

    #[test]
    fn a_sample_is_the_first_200_characters_whatever_their_width() {
        let wide = "é".repeat(1000);
        assert_eq!(sample(wide.as_bytes()).chars().count(), 200);
        assert_eq!(sample(b"short"), "short");
    }

    impl ChannelReader {
        fn tap_feed(mut self, bytes: &[u8]) -> Channel {
            self.feed(bytes);
            self.finish()
        }
    }

    #[test]
    fn only_lines_with_the_token_are_events() {
        let text = [
            line(r#"{"ev":"step","step":"import"}"#),
            "{\"ev\":\"done\"}\n".to_owned(),
            "{\"token\":\"ffffffffffffffffffffffffffffffff\",\"ev\":\"done\"}\n".to_owned(),
            format!("{{\"ev\":\"done\",\"token\":\"{TOKEN}\"}}\n"),
            line(r#"{"ev":"done"}"#),
        ]
        .concat();
        let channel = read(&[text.as_bytes()]);
        assert_eq!(channel.events.len(), 2, "{channel:?}");
        assert_eq!(channel.events[1], Event::Done);
        assert_eq!(channel.foreign_lines, 3);
        assert_eq!(channel.foreign_samples[0], "{\"ev\":\"done\"}");
        assert!(channel.protocol_errors.is_empty());
        assert_eq!(channel.bytes, text.len() as u64);
    }

    #[test]
    fn lines_split_across_chunks_are_joined_and_a_cut_last_line_is_an_error() {
        let text = line(r#"{"ev":"step","step":"cycle 2: import"}"#) + &line(r#"{"ev":"st"#);
        let text = text.trim_end().as_bytes();
        let chunks: Vec<&[u8]> = text.chunks(7).collect();
        let channel = read(&chunks);
        assert_eq!(channel.events.len(), 1);
        assert_eq!(channel.protocol_errors.len(), 1, "{channel:?}");
        assert!(
            !channel.protocol_errors[0].contains(TOKEN),
            "the token is not repeated in notes: {:?}",
            channel.protocol_errors
        );
    }

    #[test]
    fn a_flood_costs_at_most_one_line_and_counts() {
        let mut reader = ChannelReader::new(Some(TOKEN));
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..8 {
            reader.feed(&chunk);
            assert!(reader.line.len() <= MAX_LINE);
        }
        reader.feed(b"\n");
        reader.feed(line(r#"{"ev":"done"}"#).as_bytes());
        let channel = reader.finish();
        assert_eq!(channel.events, [Event::Done]);
        assert_eq!(channel.foreign_lines, 1);
        assert!(channel.foreign_samples[0].ends_with("(and more)"));
        assert!(channel.foreign_samples[0].len() < 300);
    }

    #[test]
    fn protocol_errors_and_foreign_samples_are_bounded() {
        let mut reader = ChannelReader::new(Some(TOKEN));
        for _ in 0..100 {
            reader.feed(line(r#"{"ev":"nonsense"}"#).as_bytes());
            reader.feed(b"garbage\n");
        }
        let channel = reader.finish();
        assert_eq!(channel.protocol_errors.len(), PROTOCOL_ERRORS_KEPT);
        assert_eq!(
            channel.protocol_errors_dropped,
            100 - PROTOCOL_ERRORS_KEPT as u64
        );
        assert_eq!(channel.foreign_lines, 100);
        assert_eq!(channel.foreign_samples.len(), FOREIGN_SAMPLES);
    }

    #[test]
    fn without_a_token_every_line_is_trusted() {
        let mut reader = ChannelReader::new(None);
        reader.feed(b"{\"ev\":\"done\"}\n\n  \n");
        let channel = reader.finish();
        assert_eq!(channel.events, [Event::Done]);
        assert_eq!(channel.foreign_lines, 0);
    }
}
