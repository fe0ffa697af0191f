//! Readers on the real datasets `bash scripts/fetch-data` puts in
//! `data-cache/`. Each test is `#[ignore]`d, naming its data: `bash scripts/test`
//! runs it (`--ignored`) when that data is present, and says it skipped it
//! when not; run by hand without its data, it fails naming the missing file.

#[path = "common/cache.rs"]
mod cache;
use cache::cached;

use wildsgd::data::{read_edge_list, read_libsvm, read_metis, read_ratings, LibsvmOptions};

#[test]
#[ignore = "needs data-cache/ml-100k.inter; run scripts/fetch-data"]
fn movielens_100k() {
    let p = cached("ml-100k.inter");
    let r = read_ratings(&p).unwrap();
    assert!(r.had_header);
    assert_eq!(r.len(), 100_000);
    assert_eq!((r.user_ids.len(), r.item_ids.len()), (943, 1682));
    assert!(r.ratings.iter().all(|&x| (1.0..=5.0).contains(&x)));
}

#[test]
#[ignore = "needs data-cache/fashion-mnist/test.svm.gz; run scripts/fetch-data"]
fn fashion_mnist_test_split() {
    let p = cached("fashion-mnist/test.svm.gz");
    let d = read_libsvm(&p, &LibsvmOptions::default()).unwrap().data;
    assert_eq!(d.len(), 10_000);
    assert!(d.n_features() <= 784 && d.n_features() > 700);
    let mut counts = [0usize; 10];
    for &y in d.labels() {
        counts[y as usize] += 1;
    }
    assert_eq!(counts, [1000; 10]);
    assert!((0..d.len()).all(|i| d.row(i).values.iter().all(|&v| v > 0.0 && v <= 1.0)));
}

#[test]
#[ignore = "needs data-cache/metis/{mdual,copter2}.graph; run scripts/fetch-data"]
fn metis_graphs() {
    let dir = cached("metis");
    for (name, n, m) in [("mdual.graph", 258_569, 513_132), ("copter2.graph", 55_476, 352_238)] {
        let p = cached(&format!("metis/{name}"));
        let g = read_metis(&p).unwrap();
        assert_eq!((g.n_nodes, g.edges.len()), (n, m), "{name}");
    }
    // Every graph in the package reads (the reader checks the header's counts).
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "graph") {
            let g = read_metis(&p).unwrap_or_else(|e| panic!("{e}"));
            eprintln!("{}: {} vertices, {} edges", p.display(), g.n_nodes, g.edges.len());
        }
    }
}

#[test]
#[ignore = "needs data-cache/wormnet.tsv; run scripts/fetch-data"]
fn wormnet_edge_list() {
    let p = cached("wormnet.tsv");
    let g = read_edge_list(&p).unwrap();
    assert_eq!(g.edges.len(), 78_736);
    assert_eq!(g.n_nodes, 2_445);
}

#[test]
#[ignore = "needs data-cache/brown/tokens.txt; run scripts/fetch-data"]
fn brown_corpus() {
    let p = cached("brown/tokens.txt");
    let text = std::fs::read_to_string(&p).unwrap();
    let tokens = text.split_whitespace().count();
    assert_eq!(tokens, 1_161_192);
    let files = std::fs::read_dir(p.parent().unwrap()).unwrap().count();
    assert_eq!(files, 501, "500 corpus files and tokens.txt");
}

#[test]
#[ignore = "needs data-cache/heart_scale; run scripts/fetch-data"]
fn heart_scale() {
    let p = cached("heart_scale");
    let d = read_libsvm(&p, &LibsvmOptions::default()).unwrap().data;
    assert_eq!((d.len(), d.n_features()), (270, 13));
}
