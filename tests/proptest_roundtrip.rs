//! Generated datasets survive a LIBSVM write + read bit for bit, whatever
//! the chunking, and gzip-compressed too.

use proptest::prelude::*;
use wildsgd::data::{read_libsvm_bytes, write_libsvm, CsrDataset, LibsvmOptions};

/// Any finite f32, the awkward ones (±0, subnormals, extremes) included.
fn finite() -> impl Strategy<Value = f32> {
    prop_oneof![
        any::<f32>().prop_filter("finite", |v| v.is_finite()),
        Just(0.0f32),
        Just(-0.0f32),
        Just(f32::MIN_POSITIVE / 3.0),
        Just(f32::MAX),
        Just(f32::MIN),
        (-1000i32..1000).prop_map(|i| i as f32 / 8.0),
    ]
}

fn row(width: u32) -> impl Strategy<Value = (Vec<u32>, Vec<f32>, f32)> {
    (proptest::collection::btree_set(0..width, 0..12), finite()).prop_flat_map(|(idx, label)| {
        let n = idx.len();
        (
            Just(idx.into_iter().collect::<Vec<u32>>()),
            proptest::collection::vec(finite(), n),
            Just(label),
        )
    })
}

fn dataset() -> impl Strategy<Value = CsrDataset> {
    prop_oneof![Just(20u32), Just(1000u32), Just(u32::MAX)]
        .prop_flat_map(|width| (Just(width), proptest::collection::vec(row(width), 1..25)))
        .prop_map(|(width, rows)| {
            let mut d = CsrDataset::new(width as usize);
            for (i, v, y) in rows {
                d.push(&i, &v, y).expect("generated rows are valid");
            }
            d
        })
}

fn same_bits(a: &CsrDataset, b: &CsrDataset) -> bool {
    a.len() == b.len()
        && a.n_features() == b.n_features()
        && (0..a.len()).all(|i| {
            let (x, y) = (a.row(i), b.row(i));
            x.indices == y.indices
                && x.label.to_bits() == y.label.to_bits()
                && x.values.iter().zip(y.values).all(|(p, q)| p.to_bits() == q.to_bits())
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn write_then_read_is_identity(d in dataset(), chunk in prop_oneof![Just(0usize), 1usize..64]) {
        let mut text = Vec::new();
        write_libsvm(&mut text, &d).unwrap();
        let opts = LibsvmOptions { n_features: Some(d.n_features()), chunk_bytes: chunk, ..LibsvmOptions::default() };
        let back = read_libsvm_bytes("gen", &text, &opts).unwrap().data;
        prop_assert!(same_bits(&d, &back), "{}", String::from_utf8_lossy(&text));
    }

    #[test]
    fn gzip_round_trip(d in dataset()) {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        write_libsvm(&mut gz, &d).unwrap();
        let bytes = gz.finish().unwrap();
        let opts = LibsvmOptions { n_features: Some(d.n_features()), chunk_bytes: 0, ..LibsvmOptions::default() };
        let back = read_libsvm_bytes("gen.gz", &bytes, &opts).unwrap().data;
        prop_assert!(same_bits(&d, &back));
    }

    /// Arbitrary text never panics the reader: it parses or gives a typed error.
    #[test]
    fn arbitrary_text_never_panics(text in "[0-9a-z:#. +\\-\\r\\n\\t]{0,200}") {
        match read_libsvm_bytes("any", text.as_bytes(), &LibsvmOptions { n_features: None, chunk_bytes: 7, ..LibsvmOptions::default() }) {
            Ok(_) | Err(wildsgd::Error::Parse { .. }) | Err(wildsgd::Error::EmptyFile { .. }) => {}
            Err(e) => prop_assert!(false, "unexpected error {e:?}"),
        }
    }
}
