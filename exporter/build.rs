//! Builds the kernel programs (C, CO-RE) with clang-19 and generates the Rust mirror of
//! `exporter-ebpf/include/spanwire.h` with bindgen, so kernel<->user records are defined once.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

const CLANG_CANDIDATES: &[&str] = &["clang-19", "clang"];

fn main() -> Result<()> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let ebpf_dir = manifest.join("../exporter-ebpf");
    let include = ebpf_dir.join("include");
    let out = PathBuf::from(std::env::var("OUT_DIR")?);

    for f in ["src/spanwire.bpf.c", "src/net.bpf.c", "include/spanwire.h", "include/net.h", "include/kernel_types.h"] {
        println!("cargo:rerun-if-changed={}", ebpf_dir.join(f).display());
    }
    println!("cargo:rerun-if-env-changed=SPANWIRE_CLANG");

    let clang = find_clang()?;
    // Two objects loaded independently: the request capture and the network metrics.
    for name in ["spanwire", "net"] {
        let source = ebpf_dir.join(format!("src/{name}.bpf.c"));
        let object = out.join(format!("{name}.bpf.o"));
        let status = Command::new(&clang)
            .args(["-O2", "-g", "-target", "bpf", "-D__TARGET_ARCH_x86", "-Wall", "-Werror"])
            .arg("-I")
            .arg(&include)
            .args(["-I", "/usr/include/x86_64-linux-gnu"])
            .arg("-c")
            .arg(&source)
            .arg("-o")
            .arg(&object)
            .status()
            .with_context(|| format!("running {clang}"))?;
        if !status.success() {
            bail!("{clang} failed to compile {}", source.display());
        }
    }

    for (header, generated) in [("spanwire.h", "spanwire_types.rs"), ("net.h", "net_types.rs")] {
        let bindings = bindgen::Builder::default()
            .header(include.join(header).to_string_lossy())
            .clang_arg("-I/usr/include/x86_64-linux-gnu")
            .allowlist_type("sw_.*")
            .allowlist_var("SW_.*")
            .derive_default(true)
            .derive_debug(false)
            .layout_tests(true)
            .generate()
            .with_context(|| {
                format!("bindgen failed on {header} (is libclang-19 installed? run integration/setup.sh)")
            })?;
        bindings.write_to_file(out.join(generated))?;
    }
    Ok(())
}

fn find_clang() -> Result<String> {
    if let Ok(c) = std::env::var("SPANWIRE_CLANG") {
        return Ok(c);
    }
    for c in CLANG_CANDIDATES {
        if Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()) {
            return Ok((*c).to_string());
        }
    }
    bail!("clang-19 not found: the kernel programs are C built with clang-19; run `sudo bash integration/setup.sh` (installs clang-19, libbpf-dev) or set SPANWIRE_CLANG")
}
