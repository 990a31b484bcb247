//! Any bytes as a JSON Lines chunk (and as a text file): splitting into records and
//! parsing each must never panic, and a parsed text span must point at the record.
#![no_main]

use dupstrip::corpus::{self, Chunk, Format, ReadOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = ReadOptions {
        max_record_bytes: 1 << 16,
        ..ReadOptions::default()
    };
    for format in [Format::Jsonl, Format::Text] {
        // Not counted: read as the first read of an input is.
        let chunk = Chunk::uncounted(0, format, data);
        for rec in chunk.records() {
            if let Ok(doc) = corpus::parse(&rec, format, &opts)
                && let Some(span) = doc.text_span
            {
                assert!(span.end <= rec.bytes.len());
                assert_eq!(rec.bytes[span.start], b'"');
            }
        }
    }
});
