//! `OTEL_EXPORTER_OTLP_HEADERS`: `key1=value1,key2=value2`, values percent-encoded.

/// Pairs with an empty key or value are skipped; a value that does not percent-decode to
/// UTF-8 is kept as written.
pub fn parse(list: &str) -> Vec<(String, String)> {
    list.split_terminator(',')
        .filter_map(|pair| pair.trim().split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
        .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        .map(|(k, v)| (k.to_owned(), percent_decode(v).unwrap_or_else(|| v.to_owned())))
        .collect()
}

fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn pairs_are_trimmed_decoded_and_filtered() {
        let h = parse(" a = 1 ,b=x%2Cy,=nokey,novalue=,junk, c=%zz");
        let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(h, [("a", "1"), ("b", "x,y"), ("c", "%zz")]);
    }
}
