//! HPACK decoder on arbitrary header blocks, with an oracle: a decoder that
//! joins mid-way (state unknown, small memory cap, sometimes cut blocks) must
//! never report a field that differs from what a decoder that saw every
//! block from the start reports.
//!
//! Input layout: one config byte, then blocks of `[length, length bytes]`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use spanwire::protocol::http2::hpack::{Decoder, FieldRef, ENTRY_OVERHEAD};

type Fields = Vec<Option<(Vec<u8>, Vec<u8>)>>;

fn decode(d: &mut Decoder, block: &[u8], complete: bool) -> Option<Fields> {
    let mut fields = Vec::new();
    let res = d.decode(block, complete, |f| {
        fields.push(match f {
            FieldRef::Known { name, value } => Some((name.to_vec(), value.to_vec())),
            FieldRef::Unknown => None,
        })
    });
    res.ok().map(|_| fields)
}

fuzz_target!(|input: &[u8]| {
    let Some((&config, mut rest)) = input.split_first() else {
        return;
    };
    let cap = 32usize << (config & 0x7);
    let join_at = usize::from(config >> 3 & 0x7);
    let cut_blocks = config & 0x40 != 0;
    // Ground truth: never loses entries to a cap.
    let mut truth = Decoder::new(1 << 20);
    let mut observer: Option<Decoder> = None;
    let mut truth_valid = true;
    let mut i = 0;
    while let [len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (block, next) = tail.split_at(n);
        rest = next;
        let want = decode(&mut truth, block, true);
        truth_valid &= want.is_some();
        if i == join_at {
            observer = Some(Decoder::unknown(cap));
        }
        i += 1;
        let Some(obs) = observer.as_mut() else {
            continue;
        };
        // Sometimes only a prefix of the block is seen.
        let cut = if cut_blocks && n % 3 == 0 { n / 2 } else { n };
        let got = decode(obs, &block[..cut], cut == n);
        assert!(obs.table().size() <= cap.max(ENTRY_OVERHEAD));
        if !truth_valid {
            continue;
        }
        let want = want.unwrap_or_default();
        match got {
            Some(got) => {
                assert!(got.len() <= want.len());
                if cut == n {
                    assert_eq!(got.len(), want.len());
                }
                for (g, w) in got.iter().zip(&want) {
                    assert!(g.is_none() || g == w, "observer {g:?} != truth {w:?}");
                }
            }
            // The observer may only fail where the truth did, or on a cut block.
            None => assert!(cut < n, "observer failed on a block the truth decoded"),
        }
    }
});
