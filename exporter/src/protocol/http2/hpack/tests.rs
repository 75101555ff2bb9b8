#![allow(clippy::unwrap_used)]

//! RFC 7541 Appendix C examples, error cases, and the partial-knowledge rules.

use super::encode::{BlockBuilder, Indexing};
use super::*;
use proptest::prelude::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

type Fields = Vec<Option<(String, String)>>;

fn decode(d: &mut Decoder, block: &[u8]) -> Fields {
    try_decode(d, block, true).unwrap().0
}

fn try_decode(d: &mut Decoder, block: &[u8], complete: bool) -> Result<(Fields, BlockOutcome), HpackError> {
    let mut fields = Vec::new();
    let outcome = d.decode(block, complete, |f| {
        fields.push(match f {
            FieldRef::Known { name, value } => {
                Some((String::from_utf8_lossy(name).into_owned(), String::from_utf8_lossy(value).into_owned()))
            }
            FieldRef::Unknown => None,
        })
    })?;
    Ok((fields, outcome))
}

fn known(pairs: &[(&str, &str)]) -> Fields {
    pairs.iter().map(|(n, v)| Some((n.to_string(), v.to_string()))).collect()
}

/// Dynamic table as (name, value) newest first, and its size.
fn table(d: &Decoder) -> (Vec<(String, String)>, usize) {
    let entries = d
        .table()
        .entries()
        .map(|e| {
            let (n, v) = e.unwrap();
            (String::from_utf8_lossy(n).into_owned(), String::from_utf8_lossy(v).into_owned())
        })
        .collect();
    (entries, d.table().size())
}

fn entries(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
}

#[test]
fn c1_integers() {
    // C.1.1: 10 with a 5-bit prefix; C.1.2: 1337 with a 5-bit prefix; C.1.3: 42 at an octet boundary.
    for (bytes, prefix, value) in [(vec![0x0a], 5, 10), (vec![0x1f, 0x9a, 0x0a], 5, 1337), (vec![0x2a], 8, 42)] {
        let mut pos = 0;
        assert_eq!(decode_integer(&bytes, &mut pos, prefix).unwrap(), value);
        assert_eq!(pos, bytes.len());
        let mut enc = Vec::new();
        encode::integer(&mut enc, 0, prefix, value);
        assert_eq!(enc, bytes);
    }
}

#[test]
fn c2_1_literal_with_indexing() {
    let mut d = Decoder::new(4096);
    let block = hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
    assert_eq!(decode(&mut d, &block), known(&[("custom-key", "custom-header")]));
    assert_eq!(table(&d), (entries(&[("custom-key", "custom-header")]), 55));
}

#[test]
fn c2_2_literal_without_indexing() {
    let mut d = Decoder::new(4096);
    let block = hex("040c 2f73 616d 706c 652f 7061 7468");
    assert_eq!(decode(&mut d, &block), known(&[(":path", "/sample/path")]));
    assert_eq!(table(&d), (vec![], 0));
}

#[test]
fn c2_3_literal_never_indexed() {
    let mut d = Decoder::new(4096);
    let block = hex("1008 7061 7373 776f 7264 0673 6563 7265 74");
    assert_eq!(decode(&mut d, &block), known(&[("password", "secret")]));
    assert_eq!(table(&d), (vec![], 0));
}

#[test]
fn c2_4_indexed() {
    let mut d = Decoder::new(4096);
    assert_eq!(decode(&mut d, &hex("82")), known(&[(":method", "GET")]));
    assert_eq!(table(&d), (vec![], 0));
}

/// C.3 / C.4: three requests on one connection.
fn request_sequence(blocks: [&str; 3]) {
    let mut d = Decoder::new(4096);
    assert_eq!(
        decode(&mut d, &hex(blocks[0])),
        known(&[(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com")])
    );
    assert_eq!(table(&d), (entries(&[(":authority", "www.example.com")]), 57));
    assert_eq!(
        decode(&mut d, &hex(blocks[1])),
        known(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            (":authority", "www.example.com"),
            ("cache-control", "no-cache"),
        ])
    );
    assert_eq!(table(&d), (entries(&[("cache-control", "no-cache"), (":authority", "www.example.com")]), 110));
    assert_eq!(
        decode(&mut d, &hex(blocks[2])),
        known(&[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/index.html"),
            (":authority", "www.example.com"),
            ("custom-key", "custom-value"),
        ])
    );
    assert_eq!(
        table(&d),
        (
            entries(&[
                ("custom-key", "custom-value"),
                ("cache-control", "no-cache"),
                (":authority", "www.example.com")
            ]),
            164
        )
    );
    assert!(d.is_synced());
}

#[test]
fn c3_requests_without_huffman() {
    request_sequence([
        "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        "8286 84be 5808 6e6f 2d63 6163 6865",
        "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
    ]);
}

#[test]
fn c4_requests_with_huffman() {
    request_sequence([
        "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
        "8286 84be 5886 a8eb 1064 9cbf",
        "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
    ]);
}

const DATE1: &str = "Mon, 21 Oct 2013 20:13:21 GMT";
const DATE2: &str = "Mon, 21 Oct 2013 20:13:22 GMT";
const LOCATION: &str = "https://www.example.com";
const COOKIE: &str = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";

/// C.5 / C.6: three responses, SETTINGS_HEADER_TABLE_SIZE 256, with evictions.
fn response_sequence(blocks: [&str; 3]) {
    let mut d = Decoder::new(4096);
    d.set_limit(Some(256));
    d.table.set_max_size(256);
    assert_eq!(
        decode(&mut d, &hex(blocks[0])),
        known(&[(":status", "302"), ("cache-control", "private"), ("date", DATE1), ("location", LOCATION)])
    );
    assert_eq!(
        table(&d),
        (entries(&[("location", LOCATION), ("date", DATE1), ("cache-control", "private"), (":status", "302")]), 222)
    );
    assert_eq!(
        decode(&mut d, &hex(blocks[1])),
        known(&[(":status", "307"), ("cache-control", "private"), ("date", DATE1), ("location", LOCATION)])
    );
    assert_eq!(
        table(&d),
        (entries(&[(":status", "307"), ("location", LOCATION), ("date", DATE1), ("cache-control", "private")]), 222)
    );
    assert_eq!(
        decode(&mut d, &hex(blocks[2])),
        known(&[
            (":status", "200"),
            ("cache-control", "private"),
            ("date", DATE2),
            ("location", LOCATION),
            ("content-encoding", "gzip"),
            ("set-cookie", COOKIE),
        ])
    );
    assert_eq!(table(&d), (entries(&[("set-cookie", COOKIE), ("content-encoding", "gzip"), ("date", DATE2)]), 215));
    assert!(d.is_synced());
}

#[test]
fn c5_responses_without_huffman() {
    response_sequence([
        "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 \
         474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        "4803 3330 37c1 c0bf",
        "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 \
         666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 \
         3630 303b 2076 6572 7369 6f6e 3d31",
    ]);
}

#[test]
fn c6_responses_with_huffman() {
    response_sequence([
        "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 \
         63c7 8f0b 97c8 e9ae 82ae 43d3",
        "4883 640e ffc1 c0bf",
        "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 \
         b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
    ]);
}

#[test]
fn huffman_table_is_canonical_and_complete() {
    // Kraft equality: a complete prefix code has sum(2^-len) == 1.
    let kraft: u64 = huffman::CODES.iter().map(|&(_, len)| 1u64 << (30 - len)).sum();
    assert_eq!(kraft, 1 << 30);
    let mut order: Vec<usize> = (0..257).collect();
    order.sort_by_key(|&s| (huffman::CODES[s].1, s));
    let mut code = 0u32;
    for (i, &s) in order.iter().enumerate() {
        if i > 0 {
            code = (code + 1) << (huffman::CODES[s].1 - huffman::CODES[order[i - 1]].1);
        }
        assert_eq!(code, huffman::CODES[s].0, "symbol {s}");
    }
}

#[test]
fn huffman_errors() {
    let mut out = Vec::new();
    // EOS (30 ones) encoded explicitly.
    assert_eq!(huffman::decode(&[0xff, 0xff, 0xff, 0xff], &mut out), Err(HuffmanError::Eos));
    // 'a' (00011) followed by 11 padding ones.
    out.clear();
    assert_eq!(huffman::decode(&[0x1f, 0xff], &mut out), Err(HuffmanError::BadPadding));
    // Padding not all ones: '0' is 00000, then 000 padding.
    out.clear();
    assert_eq!(huffman::decode(&[0x00], &mut out), Err(HuffmanError::BadPadding));
}

#[test]
fn errors_forget_the_table() {
    let cases: [(&[u8], HpackError); 6] = [
        (&[0x80], HpackError::InvalidIndex { index: 0 }),
        (&[0xbf], HpackError::InvalidIndex { index: 63 }),
        (&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], HpackError::IntegerOverflow),
        (&[0x40, 0x05, b'a'], HpackError::Truncated),
        (&[0x82, 0x20], HpackError::SizeUpdateAfterField),
        (&[0x3f, 0xe2, 0x1f], HpackError::SizeUpdateTooLarge { requested: 4097, limit: 4096 }),
    ];
    for (block, err) in cases {
        let mut d = Decoder::new(4096);
        decode(&mut d, &hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"));
        assert_eq!(try_decode(&mut d, block, true).unwrap_err(), err, "{block:02x?}");
        assert!(!d.is_synced(), "{block:02x?}");
        assert_eq!(d.table().len(), 0);
    }
}

#[test]
fn size_update_within_limit_and_settings() {
    let mut d = Decoder::new(64 * 1024);
    d.set_limit(Some(8192));
    let b = BlockBuilder::new(false).size_update(8192).indexed(2).build();
    assert_eq!(decode(&mut d, &b), known(&[(":method", "GET")]));
    assert_eq!(d.table().max_size(), Some(8192));
    let too_big = BlockBuilder::new(false).size_update(8193).build();
    assert!(matches!(try_decode(&mut d, &too_big, true), Err(HpackError::SizeUpdateTooLarge { .. })));
}

#[test]
fn truncated_block_keeps_whole_fields_then_forgets() {
    let mut d = Decoder::new(4096);
    let block = hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d");
    let (fields, outcome) = try_decode(&mut d, &block[..8], false).unwrap();
    assert_eq!(fields, known(&[(":method", "GET"), (":scheme", "http"), (":path", "/")]));
    assert!(outcome.truncated);
    assert!(!d.is_synced());
    // Afterwards an index into the dynamic table is unknown, not an error.
    let (fields, outcome) = try_decode(&mut d, &hex("82be"), true).unwrap();
    assert_eq!(fields, vec![Some((":method".into(), "GET".into())), None]);
    assert_eq!(outcome.unknown_fields, 1);
}

#[test]
fn unknown_table_static_and_literal_fields_are_exact() {
    let mut d = Decoder::unknown(4096);
    assert!(!d.is_synced());
    // Only static references and literals: every field is known.
    let b = BlockBuilder::new(true)
        .indexed(3)
        .literal_indexed_name(Indexing::Without, 4, "/pkg.Svc/Call")
        .literal(Indexing::Never, "grpc-timeout", "1S")
        .build();
    assert_eq!(decode(&mut d, &b), known(&[(":method", "POST"), (":path", "/pkg.Svc/Call"), ("grpc-timeout", "1S")]));
    assert!(!d.is_synced());
}

#[test]
fn entries_inserted_after_desync_are_known() {
    let mut d = Decoder::unknown(4096);
    let b = BlockBuilder::new(false).literal(Indexing::Incremental, "content-type", "application/grpc").build();
    decode(&mut d, &b);
    // 62 is the entry we saw inserted; 63 is older and unknown.
    let (fields, outcome) = try_decode(&mut d, &[0xbe, 0xbf], true).unwrap();
    assert_eq!(fields, vec![Some(("content-type".into(), "application/grpc".into())), None]);
    assert_eq!(outcome.unknown_fields, 1);
    // A literal whose *name* is unknown inserts an unknown entry; indices shift.
    let b =
        BlockBuilder::new(false).literal_indexed_name(Indexing::Incremental, 70, "v").indexed(62).indexed(63).build();
    let (fields, _) = try_decode(&mut d, &b, true).unwrap();
    assert_eq!(fields, vec![None, None, Some(("content-type".into(), "application/grpc".into()))]);
}

#[test]
fn resync_on_size_update_to_zero() {
    let mut d = Decoder::unknown(4096);
    let b = BlockBuilder::new(false).size_update(0).size_update(4096).indexed(2).build();
    decode(&mut d, &b);
    assert!(d.is_synced());
    assert_eq!(d.table().max_size(), Some(4096));
    // Now an index beyond the (empty) table is an error again.
    assert!(try_decode(&mut d, &[0xbe], true).is_err());
}

#[test]
fn resync_when_eviction_cuts_into_known_entries() {
    let mut d = Decoder::unknown(4096);
    // Size update to 200 (max now known), then two 50-byte entries: an older
    // entry of up to 100 bytes could still be there.
    let b = BlockBuilder::new(false)
        .size_update(200)
        .literal(Indexing::Incremental, "aaaaaaaa", "bbbbbbbbbb")
        .literal(Indexing::Incremental, "cccccccc", "dddddddddd")
        .build();
    decode(&mut d, &b);
    assert!(!d.is_synced());
    // A 113-byte entry must evict the oldest of ours: nothing older is left.
    let name = "e".repeat(80);
    decode(&mut d, &BlockBuilder::new(false).literal(Indexing::Incremental, &name, "f").build());
    assert!(d.is_synced());
    assert_eq!(table(&d).0, entries(&[(&name, "f"), ("cccccccc", "dddddddddd")]));
}

#[test]
fn resync_when_known_entries_fill_the_table() {
    let mut d = Decoder::unknown(4096);
    let b = BlockBuilder::new(false)
        .size_update(100)
        .literal(Indexing::Incremental, "aaaaaaaa", "bbbbbbbbbb")
        .literal(Indexing::Incremental, "cccccccc", "dddddddddd")
        .build();
    decode(&mut d, &b);
    assert!(d.is_synced(), "100 of 100 bytes are known entries");
}

#[test]
fn memory_cap_bounds_the_table() {
    let mut d = Decoder::new(1024);
    d.set_limit(Some(1 << 20));
    let b = BlockBuilder::new(false).size_update(1 << 20).build();
    decode(&mut d, &b);
    for i in 0..100 {
        let v = format!("{i:0100}");
        decode(&mut d, &BlockBuilder::new(false).literal(Indexing::Incremental, "x-big", &v).build());
        assert!(d.table().size() <= 1024);
    }
    // The encoder still holds entries we evicted: references beyond ours are unknown.
    assert!(!d.is_synced());
    let (fields, _) = try_decode(&mut d, &[0xff, 0x40], true).unwrap();
    assert_eq!(fields, vec![None]);
}

proptest! {
    #[test]
    fn random_blocks_never_panic_and_stay_bounded(
        blocks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 1..16),
        cap in 0usize..2048,
    ) {
        let mut d = Decoder::new(cap);
        for b in &blocks {
            let _ = try_decode(&mut d, b, b.len() % 2 == 0);
            prop_assert!(d.table().size() <= cap.max(ENTRY_OVERHEAD));
        }
    }

    #[test]
    fn literal_roundtrip(name in "[a-z-]{1,20}", value in "[ -~]{0,40}", huffman in any::<bool>()) {
        let mut d = Decoder::new(4096);
        let b = BlockBuilder::new(huffman).literal(Indexing::Incremental, &name, &value).indexed(62).build();
        let fields = decode(&mut d, &b);
        prop_assert_eq!(fields.len(), 2);
        prop_assert_eq!(&fields[0], &Some((name.clone(), value.clone())));
        prop_assert_eq!(&fields[1], &fields[0]);
    }
}

/// One representation of a generated block.
#[derive(Debug, Clone)]
enum Op {
    Indexed(usize),
    Literal { indexing: u8, name_index: usize, name: String, value: String },
}

fn op() -> impl Strategy<Value = Op> {
    let name = prop::sample::select(vec!["content-type", ":path", "x-a", "x-bb", "grpc-status"]);
    prop_oneof![
        (1usize..80).prop_map(Op::Indexed),
        (0u8..3, prop::option::of(1usize..80), name, "[a-z0-9/]{0,24}").prop_map(|(indexing, idx, name, value)| {
            Op::Literal { indexing, name_index: idx.unwrap_or(0), name: name.to_string(), value }
        }),
    ]
}

fn build(size_update: Option<usize>, ops: &[Op], huffman: bool) -> Vec<u8> {
    let mut b = BlockBuilder::new(huffman);
    if let Some(s) = size_update {
        b = b.size_update(s);
    }
    for op in ops {
        b = match op {
            Op::Indexed(i) => b.indexed(*i),
            Op::Literal { indexing, name_index, name, value } => {
                let how = [Indexing::Incremental, Indexing::Without, Indexing::Never][usize::from(*indexing)];
                if *name_index == 0 {
                    b.literal(how, name, value)
                } else {
                    b.literal_indexed_name(how, *name_index, value)
                }
            }
        };
    }
    b.build()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// A decoder that joins mid-connection (unknown state, small memory cap,
    /// some blocks cut) never reports a field that differs from what a
    /// decoder that saw everything reports, and fails only where it does.
    #[test]
    fn late_observer_never_disagrees_with_the_truth(
        blocks in prop::collection::vec(
            (prop::option::of(0usize..400), prop::collection::vec(op(), 0..8), any::<bool>(), 0u8..4),
            1..24,
        ),
        join_at in 0usize..6,
        cap in 32usize..600,
    ) {
        let mut truth = Decoder::new(1 << 20);
        let mut observer: Option<Decoder> = None;
        let mut agreed = 0;
        for (i, (size, ops, huffman, cut)) in blocks.iter().enumerate() {
            let block = build(*size, ops, *huffman);
            let Ok((want, _)) = try_decode(&mut truth, &block, true) else {
                break; // The truth is no longer known.
            };
            if i == join_at {
                observer = Some(Decoder::unknown(cap));
            }
            let Some(obs) = observer.as_mut() else { continue };
            let keep = if *cut == 0 { block.len() / 2 } else { block.len() };
            let got = try_decode(obs, &block[..keep], keep == block.len());
            prop_assert!(obs.table().size() <= cap.max(ENTRY_OVERHEAD));
            let Ok((got, _)) = got else {
                prop_assert!(keep < block.len(), "observer failed on a block the truth decoded");
                continue;
            };
            prop_assert!(got.len() <= want.len());
            for (g, w) in got.iter().zip(&want) {
                prop_assert!(g.is_none() || g == w, "observer {:?} != truth {:?}", g, w);
                agreed += usize::from(g.is_some());
            }
        }
        let _ = agreed;
    }
}
