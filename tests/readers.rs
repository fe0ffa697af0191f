//! The text readers on hostile input: size limits, memory, gzip bombs and
//! binary data, the ratings and edge-list field rules, METIS symmetry, and
//! the skip-gram bounds. Whatever the input, a reader returns a typed error
//! naming the place, never a panic, an abort, a hang or unbounded memory.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use wildsgd::data::{
    read_corpus_bytes, read_corpus_with, read_edge_list_bytes, read_edge_list_with, read_libsvm, read_libsvm_bytes,
    read_metis_bytes, read_metis_with, read_ratings_bytes, read_ratings_with, read_text, Corpus, LibsvmOptions,
    ParseIssue, ReadOptions, SkipGram, DEFAULT_MAX_INPUT_BYTES,
};
use wildsgd::{limits, Error};

/// Tests that set the process-wide memory budget hold this, and so do the
/// tests that allocate through `check_memory`, so that neither sees the
/// other's budget.
static BUDGET: Mutex<()> = Mutex::new(());

fn budget_lock() -> MutexGuard<'static, ()> {
    BUDGET.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sets a memory budget for as long as the guard lives.
struct Budget(#[allow(dead_code)] MutexGuard<'static, ()>);

impl Budget {
    fn set(bytes: u64) -> Budget {
        let g = budget_lock();
        limits::set_memory_limit(Some(bytes));
        Budget(g)
    }
}

impl Drop for Budget {
    fn drop(&mut self) {
        limits::set_memory_limit(None);
    }
}

fn tmp(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wildsgd-readers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

fn limit(max_bytes: u64) -> ReadOptions {
    ReadOptions { max_bytes }
}

/// (line, column, issue) of a parse error, or a panic naming what came instead.
fn place(e: &Error) -> (usize, usize, &ParseIssue) {
    match e {
        Error::Parse { line, column, what, .. } => (*line, *column, what),
        other => panic!("expected a parse error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Input size, memory, gzip.

#[test]
fn default_limit_is_sixteen_gib() {
    assert_eq!(DEFAULT_MAX_INPUT_BYTES, 16 << 30);
    assert_eq!(ReadOptions::default().max_bytes, DEFAULT_MAX_INPUT_BYTES);
    assert_eq!(LibsvmOptions::default().read, ReadOptions::default());
}

#[test]
fn the_limit_counts_text_bytes_exactly() {
    let p = tmp("ten.txt", b"0123456789");
    assert_eq!(read_text(&p, &limit(10)).unwrap(), b"0123456789");
    let e = read_text(&p, &limit(9)).unwrap_err();
    assert!(matches!(e, Error::InputTooLarge { limit: 9, .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with(&format!("{}: more than 9 bytes", p.display())),
        "{e}"
    );
    // Decompressed bytes count, not the file's.
    let gz = tmp("ten.gz", &gzip(b"0123456789"));
    assert_eq!(read_text(&gz, &limit(10)).unwrap(), b"0123456789");
    assert!(matches!(read_text(&gz, &limit(9)), Err(Error::InputTooLarge { .. })));
    assert_eq!(read_text(tmp("empty", b""), &limit(0)).unwrap(), b"");
}

/// A FIFO its own thread fills with `byte` until the reader goes away: an
/// endless input made here (never a `/dev` node).
fn endless(name: &str, byte: u8) -> (PathBuf, std::thread::JoinHandle<()>) {
    let p = std::env::temp_dir().join(format!("wildsgd-readers-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    assert!(std::process::Command::new("mkfifo").arg(&p).status().unwrap().success());
    let q = p.clone();
    let feeder = std::thread::spawn(move || {
        if let Ok(mut w) = std::fs::OpenOptions::new().write(true).open(&q) {
            let block = vec![byte; 1 << 16];
            while w.write_all(&block).is_ok() {}
        }
    });
    (p, feeder)
}

#[test]
fn an_endless_input_stops_at_the_limit() {
    let _g = budget_lock();
    let (p, feeder) = endless("zeros-a", 0);
    let e = read_text(&p, &limit(3 << 20)).unwrap_err();
    assert!(
        matches!(e, Error::InputTooLarge { limit, .. } if limit == 3 << 20),
        "{e:?}"
    );
    feeder.join().unwrap();
    // A reader sees binary data in the first 64 KiB, and stops there.
    let (p, feeder) = endless("zeros-b", 0);
    let e = read_libsvm(&p, &LibsvmOptions::default()).unwrap_err();
    assert_eq!(place(&e), (1, 1, &ParseIssue::NulByte));
    assert_eq!(
        e.to_string(),
        format!(
            "{}: line 1, column 1: a NUL byte: this is binary data, not text",
            p.display()
        )
    );
    feeder.join().unwrap();
    let _ = std::fs::remove_file(&p);
}

#[test]
fn every_reader_applies_its_limit() {
    let text = "1 2 3\n".repeat(100);
    let gz = gzip(text.as_bytes());
    let small = limit(100);
    for (name, bytes) in [("plain", text.as_bytes()), ("gz", &gz[..])] {
        let p = tmp(&format!("limit-{name}"), bytes);
        let too_large =
            |r: Result<(), Error>| assert!(matches!(r, Err(Error::InputTooLarge { limit: 100, .. })), "{r:?}");
        too_large(read_ratings_with(&p, &small).map(drop));
        too_large(read_edge_list_with(&p, &small).map(drop));
        too_large(read_metis_with(&p, &small).map(drop));
        too_large(read_corpus_with(&p, 1, &small).map(drop));
        let opts = LibsvmOptions {
            read: small,
            ..LibsvmOptions::default()
        };
        too_large(read_libsvm(&p, &opts).map(drop));
        too_large(read_libsvm_bytes("b", bytes, &opts).map(drop));
        // Within the limit, they read.
        assert_eq!(read_ratings_with(&p, &limit(600)).unwrap().len(), 100);
        assert_eq!(
            read_edge_list_with(&p, &ReadOptions::default()).unwrap().edges.len(),
            100
        );
        assert_eq!(
            read_corpus_with(&p, 1, &ReadOptions::default()).unwrap().n_tokens(),
            300
        );
    }
}

#[test]
fn a_gzip_bomb_is_out_of_memory_naming_the_file_not_corrupt() {
    let text = "1 1:1\n".repeat(8 << 20); // 48 MiB of valid LIBSVM
    let p = tmp("bomb.svm.gz", &gzip(text.as_bytes()));
    {
        let _b = Budget::set(limits::used_memory().unwrap_or(0) + (16 << 20));
        let e = read_libsvm(&p, &LibsvmOptions::default()).unwrap_err();
        assert!(matches!(e, Error::OutOfMemory { budget: true, .. }), "{e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains(&p.display().to_string()) && msg.contains("would need"),
            "{msg}"
        );
        assert!(!msg.contains("truncated or corrupt"), "{msg}");
        let e = read_text(&p, &ReadOptions::default()).unwrap_err();
        assert!(matches!(e, Error::OutOfMemory { .. }), "{e:?}");
    }
    // With a limit instead, it is too large, not corrupt either.
    let e = read_libsvm(
        &p,
        &LibsvmOptions {
            read: limit(1 << 20),
            ..LibsvmOptions::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, Error::InputTooLarge { .. }), "{e:?}");
    let gz = gzip(text.as_bytes());
    let e = read_libsvm_bytes(
        "mem.gz",
        &gz,
        &LibsvmOptions {
            read: limit(1 << 20),
            ..LibsvmOptions::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, Error::InputTooLarge { .. }), "{e:?}");
}

#[test]
fn gzipped_zeros_fail_fast_on_the_first_block() {
    // 64 MiB of zeros in 64 KiB of gzip. Under a 16 MiB budget, a reader that
    // decompressed it all before parsing would run out of memory; each one
    // instead stops at the NUL byte in the first 64 KiB.
    let p = tmp("zeros.gz", &gzip(&vec![0u8; 64 << 20]));
    let _b = Budget::set(limits::used_memory().unwrap_or(0) + (16 << 20));
    let opts = ReadOptions::default();
    let results = [
        read_libsvm(&p, &LibsvmOptions::default()).map(drop),
        read_ratings_with(&p, &opts).map(drop),
        read_edge_list_with(&p, &opts).map(drop),
        read_metis_with(&p, &opts).map(drop),
        read_corpus_with(&p, 1, &opts).map(drop),
    ];
    for r in results {
        assert_eq!(place(&r.unwrap_err()), (1, 1, &ParseIssue::NulByte));
    }
}

#[test]
fn a_bad_first_line_fails_before_the_rest_is_read() {
    // 48 MiB of good text after one bad line: under a 16 MiB budget, only an
    // early check reports the bad line rather than running out of memory.
    let rest = "1 1:1\n".repeat(8 << 20);
    let p = tmp("bad-first.svm.gz", &gzip(format!("x 1:1\n{rest}").as_bytes()));
    let q = tmp(
        "bad-ratings.gz",
        &gzip(format!("1 2 3\n4 5 x\n{}", "1 1 1\n".repeat(8 << 20)).as_bytes()),
    );
    let _b = Budget::set(limits::used_memory().unwrap_or(0) + (16 << 20));
    let e = read_libsvm(&p, &LibsvmOptions::default()).unwrap_err();
    assert_eq!(place(&e), (1, 1, &ParseIssue::BadLabel { text: "x".into() }));
    let e = read_ratings_with(&q, &ReadOptions::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}: line 2, column 5: rating \"x\" is not a number", q.display())
    );
}

#[test]
fn binary_data_is_refused_but_earlier_errors_come_first() {
    let e = read_libsvm_bytes("b", b"1 1:1\n1 1:1 # \0\n", &LibsvmOptions::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "b: line 2, column 9: a NUL byte: this is binary data, not text"
    );
    let e = read_libsvm_bytes("b", b"1 x:1\n\0", &LibsvmOptions::default()).unwrap_err();
    assert_eq!(place(&e), (1, 3, &ParseIssue::BadIndex { text: "x".into() }));
    let e = read_ratings_bytes("r", b"1 2 3\nab\0c 2 3\n").unwrap_err();
    assert_eq!(place(&e), (2, 3, &ParseIssue::NulByte));
    let e = read_corpus_bytes("c", b"fine words\nand \0 then\n", 1).unwrap_err();
    assert_eq!(place(&e), (2, 5, &ParseIssue::NulByte));
    let e = read_metis_bytes("g", b"2 1\n2\n1 \0\n").unwrap_err();
    assert_eq!(place(&e), (3, 3, &ParseIssue::NulByte));
}

#[test]
fn corrupt_gzip_stays_a_gzip_error() {
    let text = "1 1:0.5 2:1\n".repeat(2000);
    let mut gz = gzip(text.as_bytes());
    let mid = gz.len() / 2;
    gz[mid] ^= 0xff;
    gz[mid + 1] ^= 0x55;
    let p = tmp("corrupt.svm.gz", &gz);
    let e = read_libsvm(&p, &LibsvmOptions::default()).unwrap_err();
    assert!(matches!(place(&e).2, ParseIssue::Gzip { .. }), "{e:?}");
    assert!(e.to_string().contains("gzip data is truncated or corrupt"), "{e}");
    let e = read_ratings_bytes("mem.gz", &gz[..gz.len() - 3]).unwrap_err();
    assert!(matches!(place(&e).2, ParseIssue::Gzip { .. }), "{e:?}");
}

// ---------------------------------------------------------------------------
// Ratings.

#[test]
fn ratings_tabs_keep_spaces_in_ids() {
    let r = read_ratings_bytes("t", b"u1\tApollo 13 (1995)\t5\n u2 \t Heat (1995) \t 4.5 \r\n").unwrap();
    assert_eq!(r.item_ids, vec!["Apollo 13 (1995)", "Heat (1995)"]);
    assert_eq!(r.user_ids, vec!["u1", "u2"]);
    assert_eq!(r.ratings, vec![5.0, 4.5]);
    // A tab file's line without tabs is one field: an error, not a guess.
    let e = read_ratings_bytes("t", b"u1\tm1\t5\nu2 m2 4\n").unwrap_err();
    assert_eq!(e.to_string(), "t: line 2, column 8: the item field is missing");
    let e = read_ratings_bytes("t", b"u1\t\t5\n").unwrap_err();
    assert_eq!(e.to_string(), "t: line 1, column 4: the item field is empty");
}

#[test]
fn ratings_csv_and_blanks() {
    let r = read_ratings_bytes("c", b"userId,movieId,rating,timestamp\n1, Heat (1995) ,4,9\n").unwrap();
    assert_eq!(
        (r.item_ids[0].as_str(), r.header.as_deref()),
        ("Heat (1995)", Some("userId,movieId,rating,timestamp"))
    );
    let e = read_ratings_bytes("c", b"1,\"Apollo 13, the film\",5\n").unwrap_err();
    assert_eq!(place(&e), (1, 3, &ParseIssue::QuotedField));
    assert!(e.to_string().contains("quoted CSV is not supported"), "{e}");
    let r = read_ratings_bytes("s", b"196  242 3 881250949\n186 302\t3\n").unwrap();
    assert_eq!(r.ratings, vec![3.0, 3.0]);
}

#[test]
fn ratings_header_only_by_the_rule() {
    let e = read_ratings_bytes("r.csv", b"1,2,x\n3,4,5\n").unwrap_err();
    assert_eq!(e.to_string(), "r.csv: line 1, column 5: rating \"x\" is not a number");
    let e = read_ratings_bytes("r", b"# comment\nuser item 4.x\nu i 3\n").unwrap_err();
    assert_eq!(e.to_string(), "r: line 2, column 11: rating \"4.x\" is not a number");
    let r = read_ratings_bytes("r", b"# comment\nuser_id:token item_id:token rating:float\nu i 3\n").unwrap();
    assert!(r.had_header);
    assert_eq!(r.header.as_deref(), Some("user_id:token item_id:token rating:float"));
    let r = read_ratings_bytes("r", b"1 2 3\n").unwrap();
    assert!(!r.had_header && r.header.is_none());
}

#[test]
fn ratings_ids_must_be_utf8() {
    let e = read_ratings_bytes("r", b"a\xff 1 5\na\xfe 1 4\n").unwrap_err();
    assert_eq!(place(&e), (1, 2, &ParseIssue::InvalidUtf8 { field: "user id" }));
    assert_eq!(e.to_string(), "r: line 1, column 2: the user id is not valid UTF-8");
    let e = read_ratings_bytes("r", b"u \xe9t\xe9 5\n").unwrap_err();
    assert_eq!(place(&e), (1, 3, &ParseIssue::InvalidUtf8 { field: "item id" }));
    // UTF-8 ids are fine.
    let r = read_ratings_bytes("r", "zoë\tété\t5\n".as_bytes()).unwrap();
    assert_eq!((r.user_ids[0].as_str(), r.item_ids[0].as_str()), ("zoë", "été"));
}

// ---------------------------------------------------------------------------
// Edge lists.

#[test]
fn edge_lists_use_the_separator_rule() {
    let g = read_edge_list_bytes(
        "e",
        b"# people\nAda Lovelace\tCharles Babbage\t2\nCharles Babbage\tMary Somerville\t1\n",
    )
    .unwrap();
    assert_eq!(g.names, vec!["Ada Lovelace", "Charles Babbage", "Mary Somerville"]);
    assert_eq!(
        (g.edges.clone(), g.weights.clone()),
        (vec![(0, 1), (1, 2)], Some(vec![2.0, 1.0]))
    );
    let g = read_edge_list_bytes("e", b"a,b\nb , c\n").unwrap();
    assert_eq!((g.n_nodes, g.weights), (3, None));
    let e = read_edge_list_bytes("e", b"a,\"b,c\"\n").unwrap_err();
    assert_eq!(place(&e), (1, 3, &ParseIssue::QuotedField));
    let e = read_edge_list_bytes("e", b"a b\n\xc3\x28 b\n").unwrap_err();
    assert_eq!(e.to_string(), "e: line 2, column 1: the from node is not valid UTF-8");
    let e = read_edge_list_bytes("e", b"a\tb\t1\nc\td\n").unwrap_err();
    assert_eq!(e.to_string(), "e: line 2, column 4: the weight field is missing");
}

// ---------------------------------------------------------------------------
// METIS.

fn metis(text: &str) -> Result<wildsgd::data::Graph, Error> {
    read_metis_bytes("g", text.as_bytes())
}

#[test]
fn metis_must_be_symmetric() {
    // Vertex 1 lists 2, which does not list 1 (yet 2 entries for m = 1).
    let e = metis("3 1\n2\n\n1\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "g: line 2, column 1: vertex 1 lists 2 as a neighbour, but vertex 2 does not list 1"
    );
    // The first offending entry in file order, with its column.
    let e = metis("% c\n4 3\n2 3\n1 4 3\n1 2\n\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "g: line 4, column 3: vertex 2 lists 4 as a neighbour, but vertex 4 does not list 2"
    );
    let e = metis("3 2\n2 2\n1 1\n\n").unwrap_err();
    assert_eq!(e.to_string(), "g: line 2, column 3: vertex 1 lists 2 twice");
    // Weights must agree.
    let e = metis("3 2 1\n2 5 3 1\n1 6\n1 1\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "g: line 3, column 1: the edge 1-2 has weight 6 here but 5 on vertex 1's line"
    );
    // Sizes and vertex weights come first on a line; the column skips them.
    let e = metis("2 1 111 2\n9 1 1 2 3\n9 1 1 1 4\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "g: line 3, column 7: the edge 1-2 has weight 4 here but 3 on vertex 1's line"
    );
    let g = metis("2 1 111 2\n9 1 1 2 3\n9 1 1 1 3\n").unwrap();
    assert_eq!((g.edges.clone(), g.weights.clone()), (vec![(0, 1)], Some(vec![3.0])));
}

#[test]
fn metis_header_fields_are_checked() {
    for (text, col) in [
        ("3 2 111 18446744073709551615\n1 2\n1 1 3\n1 2\n", 9),
        ("3 2 011 18446744073709551615\n1 2\n1 1 3\n1 2\n", 9),
        ("3 2 010 0\n2\n1 3\n2\n", 9),
        ("3 2 010 1025\n2\n1 3\n2\n", 9),
        ("3 2 2\n2\n1 3\n2\n", 5),
        ("4294967296 0\n", 1),
        ("3 18446744073709551616\n", 3),
    ] {
        let e = metis(text).unwrap_err();
        assert_eq!((place(&e).0, place(&e).1), (1, col), "{text:?}: {e}");
    }
    let e = metis("3 2 010 1024\n2\n1 3\n2\n").unwrap_err();
    assert_eq!(e.to_string(), "g: line 2, column 2: the vertex weight field is missing");
    let g = metis("3 2 010 2\n5 6 2\n7 8 1 3\n9 1 2\n").unwrap();
    assert_eq!(g.edges, vec![(0, 1), (1, 2)]);
    // The edge count is compared without overflow.
    let e = metis("2 9223372036854775808\n2\n1\n").unwrap_err();
    assert!(
        e.to_string().contains("the header says 9223372036854775808 edges"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------
// Corpus and skip-gram pairs.

#[test]
fn skip_gram_windows_are_bounded() {
    let c = Corpus::from_text("a b c d e\n", 1).unwrap();
    for window in [0, limits::MAX_WINDOW + 1, 1_000_000_000_000, usize::MAX] {
        let sg = SkipGram {
            window,
            subsample: 0.0,
            seed: 1,
        };
        let e = sg.check(&c).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter { name: "window", .. }), "{e:?}");
        assert!(e.to_string().contains("1..=1000"), "{e}");
        // `pairs` itself never overflows: the window is capped by the sentence.
        assert_eq!(sg.pairs(&c, 0).as_slice().len(), if window == 0 { 8 } else { 20 });
    }
    for subsample in [f64::NAN, -1.0, f64::INFINITY] {
        let sg = SkipGram {
            window: 2,
            subsample,
            seed: 1,
        };
        let e = sg.check(&c).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter { name: "subsample", .. }), "{e:?}");
    }
}

#[test]
fn skip_gram_bound_is_exact_and_checked() {
    let _g = budget_lock();
    let c = Corpus::from_text("a b c d e f g\nh i\nj\nk l m\n", 1).unwrap();
    for window in [1, 2, 3, 6, 1000] {
        let sg = SkipGram {
            window,
            subsample: 0.0,
            seed: 3,
        };
        let bound = sg.check(&c).unwrap();
        let expect: u64 = [7u64, 2, 3].iter().map(|&l| l * (2 * window as u64).min(l - 1)).sum();
        assert_eq!(bound, expect, "window {window}");
        for epoch in 0..20 {
            assert!(sg.pairs(&c, epoch).as_slice().len() as u64 <= bound);
        }
    }
    // 2.2 million words in one sentence at window 1000: more pairs than a
    // u32 index can number.
    let big = Corpus::from_text(&"w ".repeat(2_200_000), 1).unwrap();
    let sg = SkipGram {
        window: 1000,
        subsample: 0.0,
        seed: 0,
    };
    let e = sg.check(&big).unwrap_err();
    assert!(matches!(e, Error::InvalidParameter { name: "window", .. }), "{e:?}");
    assert!(e.to_string().contains("4400000000 skip-gram pairs"), "{e}");
    assert_eq!(SkipGram { window: 1, ..sg }.check(&big).unwrap(), 2_200_000 * 2);
    // And in memory.
    limits::set_memory_limit(Some(1 << 20));
    let e = SkipGram { window: 100, ..sg }.check(&big).unwrap_err();
    limits::set_memory_limit(None);
    assert!(matches!(e, Error::OutOfMemory { .. }), "{e:?}");
    assert!(e.to_string().starts_with("the skip-gram pairs of one epoch"), "{e}");
}

#[test]
fn empty_pairs_say_why() {
    let sg = SkipGram {
        window: 5,
        subsample: 0.0,
        seed: 1,
    };
    let singles = Corpus::from_text("a\nb\nc a\n", 1).unwrap();
    assert!(sg.try_pairs(&singles, 0).is_ok());
    let singles = Corpus::from_text("a\nb\na\n", 1).unwrap();
    let e = sg.try_pairs(&singles, 0).unwrap_err();
    assert!(matches!(e, Error::InvalidParameter { name: "corpus", .. }), "{e:?}");
    assert!(e.to_string().contains("no sentence has two in-vocabulary words"), "{e}");
    let c = Corpus::from_text(&"x y\n".repeat(50), 1).unwrap();
    let e = SkipGram { subsample: 1e-12, ..sg }.try_pairs(&c, 0).unwrap_err();
    assert!(matches!(e, Error::InvalidParameter { name: "subsample", .. }), "{e:?}");
    assert!(e.to_string().contains("sub-sampling with threshold"), "{e}");
    assert_eq!(sg.try_pairs(&c, 0).unwrap().as_slice().len(), 100);
}

#[test]
fn corpus_text_must_be_utf8_without_nul() {
    let e = read_corpus_bytes("c", b"good\nbad \xff word\n", 1).unwrap_err();
    assert_eq!(e.to_string(), "c: line 2, column 5: the text is not valid UTF-8");
    let c = read_corpus_bytes("c.gz", &gzip(b"a b\nb c\n"), 1).unwrap();
    assert_eq!((c.n_sentences(), c.vocab().len()), (2, 3));
}

// ---------------------------------------------------------------------------
// Arbitrary bytes: never a panic.

#[test]
fn arbitrary_bytes_never_panic_any_reader() {
    let seeds: [&[u8]; 6] = [
        b"user_id:token\titem_id:token\trating:float\n1\t2\t3\n2\t3\t4.5\n",
        b"a,b,1\nb,c,2\n",
        b"3 2 001\n2 1\n1 1 3 2\n2 2\n",
        b"4 3 011 2\n1 1 2 1 3 1\n1 1 1 1\n1 1 1 1 4 1\n1 1 3 1\n",
        b"the cat sat\non the mat\n",
        b"1 1:0.5 3:1\n-1 2:2\n",
    ];
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b" \t\n\r,:#%\"0123456789-+.eEnaifx\xff\xc3\0";
    for round in 0..3000 {
        let mut bytes = seeds[round % seeds.len()].to_vec();
        for _ in 0..(next() % 6) {
            let at = (next() as usize) % (bytes.len() + 1);
            let b = alphabet[(next() as usize) % alphabet.len()];
            match next() % 3 {
                0 if at < bytes.len() => bytes[at] = b,
                1 if at < bytes.len() => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, b),
            }
        }
        let _ = read_ratings_bytes("f", &bytes);
        let _ = read_edge_list_bytes("f", &bytes);
        let _ = read_corpus_bytes("f", &bytes, 1 + round as u64 % 2);
        if let Ok(g) = read_metis_bytes("f", &bytes) {
            assert!(g.edges.iter().all(|&(a, b)| a < b && (b as usize) < g.n_nodes));
        }
        let _ = read_libsvm_bytes("f", &bytes, &LibsvmOptions::default());
    }
}
