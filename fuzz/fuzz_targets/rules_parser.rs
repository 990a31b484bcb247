//! Any bytes as a rules file, and any text stripped by it (or by a fixed rule set):
//! no panic, removed ranges are in order, on character boundaries, inside the text.
#![no_main]

use dupstrip::boilerplate::{Rules, Stripper};
use libfuzzer_sys::fuzz_target;

const FIXED: &str = r#"{"format": "dupstrip-rules", "version": 1,
  "lines": [{"line": "Advertisement"}, {"line": "إعلان"}],
  "templates": [{"kind": "label", "pattern": "المصدر"}, {"kind": "label", "pattern": "Source"},
                {"kind": "masked", "pattern": "updated # #"}],
  "markers": [{"line": "Read also:"}, {"line": "إقرأ أيضاً:"}]}"#;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut stripers = Vec::new();
    if let Ok(rules) = Rules::parse(data, "fuzz") {
        stripers.push(Stripper::new(rules));
    }
    if let Ok(rules) = Rules::parse(FIXED.as_bytes(), "fixed") {
        stripers.push(Stripper::new(rules));
    }
    let mut buf = String::new();
    for s in &stripers {
        let st = s.strip(&text, &mut buf);
        let mut last = 0;
        for &(a, b) in &st.ranges {
            assert!(a >= last && a <= b && b <= text.len());
            assert!(text.is_char_boundary(a) && text.is_char_boundary(b));
            last = b;
        }
        let _ = st.apply(&text);
    }
});
