//! The LIBSVM reader on well-formed and malformed input: every malformed
//! input is a typed error naming the line and column, never a panic.

use std::io::Write;

use wildsgd::data::{read_libsvm, read_libsvm_bytes, write_libsvm_file, LibsvmOptions, ParseIssue, ReadOptions};
use wildsgd::Error;

fn parse(text: &[u8]) -> Result<wildsgd::data::CsrDataset, Error> {
    read_libsvm_bytes("in.svm", text, &LibsvmOptions::default()).map(|d| d.data)
}

fn s(x: &str) -> String {
    x.to_string()
}

/// (input, line, column, issue): the malformed-input corpus.
fn corpus() -> Vec<(&'static str, usize, usize, ParseIssue)> {
    use ParseIssue::*;
    vec![
        ("1 3\n", 1, 3, MissingColon { token: s("3") }),
        ("+1 1:1\n-1 2:0.5 7\n", 2, 10, MissingColon { token: s("7") }),
        ("1 1:abc\n", 1, 5, BadValue { text: s("abc") }),
        ("1 1:\n", 1, 5, BadValue { text: s("") }),
        ("1 1:1.5.2\n", 1, 5, BadValue { text: s("1.5.2") }),
        ("1 1:2:3\n", 1, 5, BadValue { text: s("2:3") }),
        ("1 1:0x10\n", 1, 5, BadValue { text: s("0x10") }),
        ("1 0:1\n", 1, 3, ZeroIndex),
        ("1 00:1\n", 1, 3, ZeroIndex),
        ("1 2:1 2:3\n", 1, 7, DuplicateIndex { index: 2 }),
        ("1 5:1 3:1\n", 1, 7, DescendingIndex { index: 3, previous: 5 }),
        ("1 1:nan\n", 1, 5, NonFiniteValue { text: s("nan") }),
        ("1 1:NaN\n", 1, 5, NonFiniteValue { text: s("NaN") }),
        ("1 1:inf\n", 1, 5, NonFiniteValue { text: s("inf") }),
        ("1 1:-infinity\n", 1, 5, NonFiniteValue { text: s("-infinity") }),
        ("1 1:1e39\n", 1, 5, NonFiniteValue { text: s("1e39") }),
        ("1 4294967296:1\n", 1, 3, IndexTooLarge { text: s("4294967296") }),
        (
            "1 99999999999999999999999:1\n",
            1,
            3,
            IndexTooLarge {
                text: s("99999999999999999999999"),
            },
        ),
        ("1 -3:1\n", 1, 3, BadIndex { text: s("-3") }),
        ("1 x:1\n", 1, 3, BadIndex { text: s("x") }),
        ("1 :1\n", 1, 3, BadIndex { text: s("") }),
        ("1 3a:1\n", 1, 3, BadIndex { text: s("3a") }),
        ("spam 1:1\n", 1, 1, BadLabel { text: s("spam") }),
        ("1:1 2:1\n", 1, 1, BadLabel { text: s("1:1") }),
        ("1 1:1\n\n  # c\nnan 1:1\n", 4, 1, NonFiniteLabel { text: s("nan") }),
        ("1 1:1\r\n1 2:x\r\n", 2, 5, BadValue { text: s("x") }),
        ("  \t1\t1:1\t 2:y\n", 1, 13, BadValue { text: s("y") }),
        ("1 qid:3 2:1 1:1\n", 1, 13, DescendingIndex { index: 1, previous: 2 }),
        ("1 1:1\n2 2:2\n3 3:3\n4 4:é\n", 4, 5, BadValue { text: s("é") }),
    ]
}

#[test]
fn malformed_corpus_gives_exact_kind_line_and_column() {
    let cases = corpus();
    assert!(cases.len() >= 20);
    for (text, line, column, issue) in cases {
        for chunk in [0, 1, 3] {
            let opts = LibsvmOptions {
                chunk_bytes: chunk,
                ..LibsvmOptions::default()
            };
            let e = read_libsvm_bytes("in.svm", text.as_bytes(), &opts).unwrap_err();
            match &e {
                Error::Parse {
                    file,
                    line: l,
                    column: c,
                    what,
                } => {
                    assert_eq!(file, "in.svm");
                    assert_eq!(
                        (*l, *c, what),
                        (line, column, &issue),
                        "input {text:?} (chunk {chunk}): {e}"
                    );
                    let prefix = format!("in.svm: line {line}, column {column}: ");
                    assert!(e.to_string().starts_with(&prefix), "{e}");
                }
                other => panic!("input {text:?}: expected a parse error, got {other:?}"),
            }
        }
    }
}

#[test]
fn messages_read_as_documented() {
    let cases = [
        (
            "1 3\n",
            "in.svm: line 1, column 3: expected INDEX:VALUE, found \"3\" (missing colon)",
        ),
        (
            "1 0:1\n",
            "in.svm: line 1, column 3: feature index 0: LIBSVM indices start at 1",
        ),
        (
            "1 2:1 2:1\n",
            "in.svm: line 1, column 7: feature index 2 appears twice in the row",
        ),
        (
            "1 4294967296:1\n",
            "in.svm: line 1, column 3: feature index 4294967296 is beyond u32 (at most 4294967295)",
        ),
        (
            "1 1:nan\n",
            "in.svm: line 1, column 5: value \"nan\" is not a finite f32",
        ),
        ("yes 1:1\n", "in.svm: line 1, column 1: label \"yes\" is not a number"),
    ];
    for (text, msg) in cases {
        assert_eq!(parse(text.as_bytes()).unwrap_err().to_string(), msg);
    }
}

#[test]
fn empty_files_say_so() {
    for text in ["", "\n\n", "# only a comment\n", "   \r\n\t\n# x\n"] {
        let e = parse(text.as_bytes()).unwrap_err();
        assert!(matches!(e, Error::EmptyFile { .. }), "{text:?}: {e:?}");
        assert!(e.to_string().starts_with("in.svm: the file is empty"), "{e}");
    }
}

#[test]
fn formats_labels_comments_crlf_and_qid() {
    let text = b"# header comment\r\n+1 qid:7 1:0.5 3:-2 # trailing\r\n\r\n0 2:1e-3\n-1\n3 10:4 # multiclass\n2.5 1:1";
    let d = parse(text).unwrap();
    assert_eq!(d.len(), 5);
    assert_eq!(d.n_features(), 10);
    assert_eq!(d.labels(), &[1.0, 0.0, -1.0, 3.0, 2.5]);
    assert_eq!(d.row(0).indices, &[0, 2]);
    assert_eq!(d.row(0).values, &[0.5, -2.0]);
    assert_eq!(d.row(1).values, &[1e-3]);
    assert!(d.row(2).indices.is_empty());
    assert_eq!(d.row(3).indices, &[9]);
}

#[test]
fn n_features_option_widens() {
    let opts = LibsvmOptions {
        n_features: Some(100),
        ..LibsvmOptions::default()
    };
    let d = read_libsvm_bytes("x", b"1 3:1\n", &opts).unwrap().data;
    assert_eq!(d.n_features(), 100);
}

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("wildsgd-libsvm-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn gzip_files_read_and_truncated_gzip_is_an_error() {
    let mut text = String::new();
    for i in 0..2000 {
        text.push_str(&format!(
            "{} {}:{} {}:0.25\n",
            if i % 2 == 0 { 1 } else { -1 },
            i % 50 + 1,
            i,
            60 + i % 9
        ));
    }
    let plain = parse(text.as_bytes()).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    let path = tmp("d.svm.gz");
    std::fs::write(&path, &gz).unwrap();
    assert_eq!(read_libsvm(&path, &LibsvmOptions::default()).unwrap().data, plain);
    // Content, not the name, decides.
    let path2 = tmp("d-no-suffix");
    std::fs::write(&path2, &gz).unwrap();
    assert_eq!(read_libsvm(&path2, &LibsvmOptions::default()).unwrap().data, plain);

    for cut in [2, 10, gz.len() / 2, gz.len() - 4] {
        std::fs::write(&path, &gz[..cut]).unwrap();
        let e = read_libsvm(&path, &LibsvmOptions::default()).unwrap_err();
        match &e {
            Error::Parse {
                line,
                column,
                what: ParseIssue::Gzip { .. },
                ..
            } => {
                assert!(*line >= 1 && *column >= 1);
                assert!(e.to_string().contains("gzip data is truncated or corrupt"), "{e}");
            }
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
    // Write .gz via the writer and read back.
    write_libsvm_file(&path, &plain).unwrap();
    assert_eq!(read_libsvm(&path, &LibsvmOptions::default()).unwrap().data, plain);
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let e = read_libsvm("/nonexistent/x.svm", &LibsvmOptions::default()).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e:?}");
    assert!(e.to_string().starts_with("/nonexistent/x.svm: "), "{e}");
}

#[test]
#[ignore = "needs data-cache/heart_scale; run scripts/fetch-data"]
fn heart_scale_when_fetched() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data-cache/heart_scale");
    assert!(
        path.exists(),
        "{} is absent; run `bash scripts/fetch-data` to fetch it",
        path.display()
    );
    let d = read_libsvm(&path, &LibsvmOptions::default()).unwrap().data;
    assert_eq!((d.len(), d.n_features()), (270, 13));
}

#[test]
fn widest_names_the_largest_index_in_every_chunking() {
    // Rows of growing width, with the widest (index 4294967295) on line 7,
    // column 8, then equal and smaller ones after it: the first one counts.
    let text = "1 1:1\n\n# c\n0 2:1 3:1\n1 qid:2 5:1\n0\n-1 3:1 4294967295:2\n1 4294967295:1\n1 7:1\n";
    for chunk in [0, 1, 3, 7, 16, 64] {
        let opts = LibsvmOptions {
            chunk_bytes: chunk,
            ..LibsvmOptions::default()
        };
        let d = read_libsvm_bytes("w.svm", text.as_bytes(), &opts).unwrap();
        assert_eq!(d.widest, Some((7, 8)), "chunk {chunk}");
        assert_eq!(d.data.n_features(), 4294967295);
    }
    let d = read_libsvm_bytes("w", b"1\n-1 # no features\n", &LibsvmOptions::default()).unwrap();
    assert_eq!((d.widest, d.data.n_features()), (None, 0));
    // n_features widens the data, not where the widest token is.
    let opts = LibsvmOptions {
        n_features: Some(100),
        ..LibsvmOptions::default()
    };
    let d = read_libsvm_bytes("w", b"1 1:1\n1  \t 2:1 3:1\r\n", &opts).unwrap();
    assert_eq!((d.widest, d.data.n_features()), (Some((2, 10)), 100));
}

#[test]
fn read_options_limit_the_text() {
    let text = b"1 1:1\n-1 2:1\n";
    let opts = |max_bytes| LibsvmOptions {
        read: ReadOptions { max_bytes },
        ..LibsvmOptions::default()
    };
    assert_eq!(read_libsvm_bytes("x", text, &opts(13)).unwrap().data.len(), 2);
    let e = read_libsvm_bytes("x", text, &opts(12)).unwrap_err();
    assert!(matches!(e, Error::InputTooLarge { limit: 12, .. }), "{e:?}");
    let path = tmp("limited.svm");
    std::fs::write(&path, text).unwrap();
    assert!(read_libsvm(&path, &opts(13)).is_ok());
    let e = read_libsvm(&path, &opts(12)).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: more than 12 bytes of input (after decompression), the reading limit",
            path.display()
        )
    );
}
