//! What every reader target checks of an error: it renders, and a parse
//! error names a real place of the text (line and column from 1, within
//! the text when the input was not compressed).

use wildsgd::Error;

pub fn check_error(bytes: &[u8], e: &Error) {
    let msg = e.to_string();
    assert!(!msg.is_empty());
    if let Error::Parse { file, line, column, .. } = e {
        assert_eq!(file, "fuzz");
        assert!(*line >= 1 && *column >= 1, "{msg}");
        if !bytes.starts_with(&[0x1f, 0x8b]) {
            let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
            assert!(*line <= lines.len(), "line beyond the text: {msg}");
            assert!(*column <= lines[*line - 1].len() + 1, "column beyond the line: {msg}");
        }
    }
}
