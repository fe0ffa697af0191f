//! Source-level rules the compiler cannot state: the crate denies
//! `unsafe_code`, and exactly one file, the audited prefetch wrapper, may
//! allow it (lib.rs uses `deny`, not `forbid`, so that one file can).

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn unsafe_code_lives_only_in_the_prefetch_wrapper() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    assert!(
        lib.contains("#![deny(unsafe_code)]"),
        "src/lib.rs must deny unsafe_code"
    );
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    assert!(files.len() > 20, "found only {} source files", files.len());
    let mut allowed = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let code: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        if code.contains("allow(unsafe_code)") || code.contains("unsafe {") || code.contains("unsafe fn") {
            allowed.push(f.strip_prefix(root).unwrap().display().to_string());
        }
    }
    assert_eq!(
        allowed,
        vec!["src/prefetch.rs".to_string()],
        "unsafe code outside the audited wrapper"
    );
    let prefetch = std::fs::read_to_string(root.join("src/prefetch.rs")).unwrap();
    assert_eq!(
        prefetch.matches("unsafe {").count(),
        1,
        "one unsafe block in src/prefetch.rs"
    );
    assert!(
        prefetch.contains("// SAFETY:"),
        "the unsafe block states why it is sound"
    );
}
