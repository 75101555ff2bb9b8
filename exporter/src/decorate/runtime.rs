//! Runtimes whose OS threads say nothing about which request they work for.
//!
//! Go multiplexes goroutines onto a few OS threads and moves them at every blocking point,
//! and `net/http`'s client writes requests from its own `writeLoop` goroutine. A Go server
//! whose handlers never block can look exactly like a thread-per-request server for a long
//! while (measured: 158 requests, several concurrent), so the agent does not wait for
//! evidence: a Go executable is recognised by its `.go.buildinfo` section (written by every
//! Go toolchain since 1.13 and kept by `strip`).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::ebpf::records::Pid;

const GO_BUILDINFO: &[u8] = b".go.buildinfo";
/// Bounds on what is read from a binary: section headers and their name table.
const MAX_SECTIONS: u64 = 4096;
const MAX_NAMES_BYTES: u64 = 1 << 20;

/// Whether the process runs a Go executable (false when that cannot be read).
pub fn is_go_process(proc_root: &Path, pid: Pid) -> bool {
    is_go_executable(&proc_root.join(pid.0.to_string()).join("exe")).unwrap_or(false)
}

/// Whether the 64-bit little-endian ELF file at `path` has a `.go.buildinfo` section.
/// Other formats are not Go executables this agent can observe.
pub fn is_go_executable(path: &Path) -> io::Result<bool> {
    let f = File::open(path)?;
    let mut ehdr = [0u8; 64];
    f.read_exact_at(&mut ehdr, 0)?;
    if &ehdr[..4] != b"\x7fELF" || ehdr[4] != 2 || ehdr[5] != 1 {
        return Ok(false);
    }
    let shoff = u64_at(&ehdr, 0x28);
    let (shentsize, shnum, shstrndx) =
        (u64::from(u16_at(&ehdr, 0x3a)), u64::from(u16_at(&ehdr, 0x3c)), u64::from(u16_at(&ehdr, 0x3e)));
    if shentsize < 64 || shnum == 0 || shnum > MAX_SECTIONS || shstrndx >= shnum {
        return Ok(false);
    }
    let mut shdrs = vec![0u8; usize::try_from(shentsize * shnum).map_err(io::Error::other)?];
    f.read_exact_at(&mut shdrs, shoff)?;
    let shdr = |i: u64| &shdrs[(i * shentsize) as usize..][..64];
    let names = shdr(shstrndx);
    let (names_off, names_len) = (u64_at(names, 0x18), u64_at(names, 0x20).min(MAX_NAMES_BYTES));
    let mut names = vec![0u8; names_len as usize];
    f.read_exact_at(&mut names, names_off)?;
    Ok((0..shnum).any(|i| {
        let name = names.get(u32_at(shdr(i), 0) as usize..).unwrap_or_default();
        name.starts_with(GO_BUILDINFO) && name.get(GO_BUILDINFO.len()) == Some(&0)
    }))
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut v = [0u8; 4];
    v.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(v)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 LE file: header, a name table and sections named `sections`.
    fn elf(sections: &[&str]) -> Vec<u8> {
        let mut names = vec![0u8];
        let mut name_offs = Vec::new();
        for s in [".shstrtab"].iter().chain(sections) {
            name_offs.push(names.len() as u32);
            names.extend_from_slice(s.as_bytes());
            names.push(0);
        }
        let shoff = 64 + names.len() as u64;
        let shnum = 2 + sections.len() as u16;
        let mut f = vec![0u8; 64];
        f[..6].copy_from_slice(b"\x7fELF\x02\x01");
        f[0x28..0x30].copy_from_slice(&shoff.to_le_bytes());
        f[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        f[0x3c..0x3e].copy_from_slice(&shnum.to_le_bytes());
        f[0x3e..0x40].copy_from_slice(&1u16.to_le_bytes());
        f.extend_from_slice(&names);
        f.extend_from_slice(&[0u8; 64]); // the null section
        for name in name_offs.iter() {
            let mut sh = [0u8; 64];
            sh[..4].copy_from_slice(&name.to_le_bytes());
            sh[0x18..0x20].copy_from_slice(&64u64.to_le_bytes());
            sh[0x20..0x28].copy_from_slice(&(names.len() as u64).to_le_bytes());
            f.extend_from_slice(&sh);
        }
        f
    }

    fn check(bytes: &[u8]) -> io::Result<bool> {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("spanwire-runtime-{}-{n}", std::process::id()));
        std::fs::write(&path, bytes)?;
        let found = is_go_executable(&path);
        let _ = std::fs::remove_file(&path);
        found
    }

    #[test]
    fn finds_the_go_buildinfo_section() {
        assert!(check(&elf(&[".text", ".go.buildinfo", ".noptrdata"])).unwrap());
        assert!(!check(&elf(&[".text", ".go.buildinfox", ".go.buildid"])).unwrap());
        assert!(!check(&elf(&[".text"])).unwrap());
        assert!(!check(b"#!/bin/sh\nexit 0\n\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0").unwrap());
        assert!(check(&elf(&[".text"])[..100]).is_err(), "cut section headers");
    }

    #[test]
    fn this_test_binary_is_not_go() {
        assert!(!is_go_process(Path::new("/proc"), Pid(std::process::id())));
        assert!(!is_go_process(Path::new("/proc"), Pid(u32::MAX)), "no such process");
    }
}
