//! A small client of Server-Sent Events streams (feature `http`), for tests of the session
//! status stream and of the pages that use it: reads a streaming `reqwest` response and parses
//! it as the HTML Living Standard's "event stream interpretation" does (§9.2.6): lines ending in
//! LF, CRLF or CR; `field: value` with one optional space after the colon; `data` lines joined
//! with LF; a blank line dispatches the event; a line starting with `:` is a comment.
//!
//! Unlike a browser's `EventSource` it reports comments (heartbeats) too, and never reconnects:
//! a test reconnects itself, with the `Last-Event-ID` it chooses.

use std::time::Duration;

/// One dispatched event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field (`None` means the default type, `message`).
    pub event: Option<String>,
    /// The `id:` field of this event, if it had one.
    pub id: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
    /// The `retry:` field, in milliseconds.
    pub retry: Option<u64>,
}

/// What the stream carried next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseItem {
    Event(SseEvent),
    /// A comment line (`:` and what follows it, without the colon).
    Comment(String),
}

/// Reads the items of one event stream.
#[derive(Debug)]
pub struct SseReader {
    response: reqwest::Response,
    buffer: Vec<u8>,
    pending: SseEvent,
    /// Whether the pending event has any field yet (a blank line alone dispatches nothing).
    has_field: bool,
    /// The previous chunk ended in CR: a LF starting the next one belongs to it.
    after_cr: bool,
    ended: bool,
}

impl SseReader {
    /// Reads `response` (status and headers are the caller's to check first).
    pub fn new(response: reqwest::Response) -> Self {
        Self {
            response,
            buffer: Vec::new(),
            pending: SseEvent::default(),
            has_field: false,
            after_cr: false,
            ended: false,
        }
    }

    /// The next event or comment; `None` once the server ended the stream (or the connection
    /// failed, which a test sees the same way: nothing more arrives).
    pub async fn next(&mut self) -> Option<SseItem> {
        loop {
            while let Some(line) = self.take_line() {
                if let Some(item) = self.interpret(&line) {
                    return Some(item);
                }
            }
            if self.ended {
                return None;
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => self.buffer.extend_from_slice(&chunk),
                Ok(None) | Err(_) => self.ended = true,
            }
        }
    }

    /// [`SseReader::next`], failing the test if nothing arrives within `within`.
    pub async fn next_within(&mut self, within: Duration) -> Option<SseItem> {
        tokio::time::timeout(within, self.next())
            .await
            .unwrap_or_else(|_| panic!("nothing arrived on the event stream within {within:?}"))
    }

    /// The next event, skipping comments, failing the test if none arrives within `within`;
    /// `None` if the stream ended first.
    pub async fn next_event_within(&mut self, within: Duration) -> Option<SseEvent> {
        tokio::time::timeout(within, async {
            loop {
                match self.next().await? {
                    SseItem::Event(event) => return Some(event),
                    SseItem::Comment(_) => {}
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no event arrived on the event stream within {within:?}"))
    }

    /// Whether the server has ended the stream within `within` (items still unread count as
    /// "not ended").
    pub async fn ends_within(&mut self, within: Duration) -> bool {
        matches!(tokio::time::timeout(within, self.next()).await, Ok(None))
    }

    /// One complete line from the buffer, without its end.
    fn take_line(&mut self) -> Option<String> {
        if self.after_cr && self.buffer.first() == Some(&b'\n') {
            self.buffer.remove(0);
        }
        self.after_cr = false;
        let end = self.buffer.iter().position(|&b| b == b'\n' || b == b'\r')?;
        let line: Vec<u8> = self.buffer.drain(..end).collect();
        let terminator = self.buffer.remove(0);
        if terminator == b'\r' {
            if self.buffer.first() == Some(&b'\n') {
                self.buffer.remove(0);
            } else if self.buffer.is_empty() {
                self.after_cr = true;
            }
        }
        Some(String::from_utf8_lossy(&line).into_owned())
    }

    fn interpret(&mut self, line: &str) -> Option<SseItem> {
        if line.is_empty() {
            if !std::mem::take(&mut self.has_field) {
                return None;
            }
            let mut event = std::mem::take(&mut self.pending);
            if event.data.ends_with('\n') {
                event.data.pop();
            }
            return Some(SseItem::Event(event));
        }
        if let Some(comment) = line.strip_prefix(':') {
            return Some(SseItem::Comment(comment.to_owned()));
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        self.has_field = true;
        match field {
            "event" => self.pending.event = Some(value.to_owned()),
            "data" => {
                self.pending.data.push_str(value);
                self.pending.data.push('\n');
            }
            "id" if !value.contains('\0') => self.pending.id = Some(value.to_owned()),
            "retry" => self.pending.retry = value.parse().ok(),
            _ => {}
        }
        None
    }
}
