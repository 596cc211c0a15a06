//! Embeds the bundled prompts and hold music (`assets/prompts/{en,zh}/*.wav`,
//! `assets/music/*.wav`) into the library, so that the binary needs no files beside it.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut out =
        String::from("/// (language or `music`, name, WAV bytes) of every bundled sound.\n");
    out.push_str("pub static EMBEDDED: &[(&str, &str, &[u8])] = &[\n");
    for (kind, dir) in [
        ("en", root.join("prompts/en")),
        ("zh", root.join("prompts/zh")),
        ("music", root.join("music")),
    ] {
        println!("cargo:rerun-if-changed={}", dir.display());
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "wav"))
            .collect();
        files.sort();
        for f in files {
            let name = f.file_stem().map(|s| s.to_string_lossy().into_owned());
            let Some(name) = name else { continue };
            let _ = writeln!(
                out,
                "    ({kind:?}, {name:?}, include_bytes!({:?})),",
                f.display().to_string()
            );
        }
    }
    out.push_str("];\n");
    let dest =
        Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("embedded.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}
