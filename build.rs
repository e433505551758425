//! Generates `include/gort.h` from the `extern "C"` items in `src/ffi/` with cbindgen.
//!
//! The header is checked in: C users read it, and CI fails when the checked-in copy differs
//! from what this script generates (`.ci/run` runs `git diff --exit-code include/gort.h`
//! after a build). The file is only rewritten when its content changes, so an unchanged
//! header never triggers a rebuild of the C side.
//!
//! The header's `GORT_VERSION_*` macros come from Cargo.toml's version, the one place it
//! is written (CMakeLists.txt reads it from there too). The major version also names the
//! shared library: its SONAME is `libgort.so.MAJOR`.

use std::{env, fs, path::PathBuf};

fn main() {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=Cargo.toml");
    println!("cargo:rerun-if-env-changed=GORT_SKIP_HEADER");
    let version = |part: &str| env::var(format!("CARGO_PKG_VERSION_{part}")).expect("cargo sets CARGO_PKG_VERSION_*");
    let (major, minor, patch) = (version("MAJOR"), version("MINOR"), version("PATCH"));
    // Programs linked with libgort.so record this name and load whichever libgort.so.MAJOR
    // is installed, so the major version names the ABI. Emitted before the GORT_SKIP_HEADER
    // return: every build of the shared library carries it.
    // No version script of our own: rustc already links a cdylib with one it writes
    // ("global:" the #[no_mangle] exports, "local: *"), so only gort_* symbols are exported,
    // and GNU ld (used by the aarch64 cross build, and on x86_64 by Rust before 1.90)
    // refuses a second one: "anonymous version tag cannot be combined with other version
    // tags". The ctest test lib-exports checks the exported symbols instead.
    if env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libgort.so.{major}");
    }
    if env::var_os("GORT_SKIP_HEADER").is_some() {
        return;
    }
    let mut config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml is valid");
    // Before cbindgen.toml's own after_includes (the sync initialisers).
    config.after_includes = Some(format!(
        "\n/* The version of gort this header declares (Cargo.toml's). gort_version() returns the\n \
         * version of the library actually linked, which may differ: compare them at start-up. */\n\
         #define GORT_VERSION_MAJOR {major}\n\
         #define GORT_VERSION_MINOR {minor}\n\
         #define GORT_VERSION_PATCH {patch}\n{}",
        config.after_includes.as_deref().unwrap_or("")
    ));
    // Only the FFI layer is the C API: parse src/ffi/*.rs, never the core's items.
    let mut builder = cbindgen::Builder::new().with_config(config);
    let mut files: Vec<PathBuf> = fs::read_dir(root.join("src/ffi"))
        .expect("src/ffi exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rs") && !p.ends_with("mod.rs"))
        .collect();
    files.sort();
    // The header's sections in the README's order; anything else after them.
    const ORDER: [&str; 8] = ["error", "runtime", "chan", "select", "sync", "time", "net", "panic"];
    files.sort_by_key(|p| {
        let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        ORDER.iter().position(|o| *o == stem).unwrap_or(ORDER.len())
    });
    for f in &files {
        builder = builder.with_src(f);
    }
    let bindings = match builder.generate() {
        Ok(b) => b,
        Err(e) => {
            // A parse error in src/ is reported by rustc with a better message; keep the old header.
            println!("cargo:warning=cbindgen could not generate include/gort.h: {e}");
            return;
        }
    };
    let mut out = Vec::new();
    bindings.write(&mut out);
    // cbindgen spells every `usize` `size_t` (`usize_is_size_t`); API.md spells the words
    // of `gort_syncmap_*` and `gort_caller`'s `pc` `uintptr_t` (the same `unsigned long` on
    // every target gort supports, so this changes the spelling only).
    let out = String::from_utf8(word_types(out))
        .expect("cbindgen writes UTF-8")
        .replace("int gort_caller(int skip, size_t *pc,", "int gort_caller(int skip, uintptr_t *pc,")
        .into_bytes();
    let path = root.join("include").join("gort.h");
    if fs::read(&path).ok().as_deref() != Some(out.as_slice()) {
        fs::create_dir_all(path.parent().unwrap()).expect("create include/");
        fs::write(&path, &out).expect("write include/gort.h");
    }
}

/// cbindgen spells every `usize` `size_t` (`usize_is_size_t`); the map functions take
/// words that may be pointers, declared `uintptr_t` by the API (the same type on every
/// target gort supports). Rewrites `size_t` in the prototypes of `gort_syncmap_*`.
fn word_types(out: Vec<u8>) -> Vec<u8> {
    let text = String::from_utf8(out).expect("cbindgen writes UTF-8");
    let mut result = String::with_capacity(text.len());
    let mut in_proto = false;
    for line in text.split_inclusive('\n') {
        if !line.starts_with("//") && line.contains("gort_syncmap_") && line.contains('(') {
            in_proto = true;
        }
        if in_proto {
            result.push_str(&line.replace("size_t", "uintptr_t"));
            if line.trim_end().ends_with(';') || line.trim_end().ends_with('{') {
                in_proto = false;
            }
        } else {
            result.push_str(line);
        }
    }
    result.into_bytes()
}
