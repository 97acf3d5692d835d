//! Changing one flag in a flag file's text, leaving every other byte as it
//! was: the file stays as its team wrote it (key order, spacing, other
//! flags), and a change in a reviewed repository shows as the flag's own lines only.

use serde_json::Value;

/// `text` with the value of `flags.<name>` replaced by `flag` (or added as
/// the last member of `flags`), or `None` when the text is not a shape
/// this can change in place (the caller writes the whole document then).
/// The result is checked to parse as `expected`, the whole new document.
pub(super) fn with_flag(text: &str, name: &str, flag: &Value, expected: &Value) -> Option<String> {
    let bytes = text.as_bytes();
    let flags = member(bytes, skip_ws(bytes, 0)?, "flags")?;
    let flags_start = skip_ws(bytes, flags)?;
    if bytes.get(flags_start) != Some(&b'{') {
        return None;
    }
    let changed = match member(bytes, flags_start, name) {
        Some(at) => {
            let start = skip_ws(bytes, at)?;
            let end = value_end(bytes, start)?;
            let pretty = indented(flag, column_of(bytes, key_start(bytes, start)?))?;
            format!("{}{pretty}{}", text.get(..start)?, text.get(end..)?)
        }
        None => {
            let close = value_end(bytes, flags_start)?.checked_sub(1)?;
            let inner = text.get(flags_start.checked_add(1)?..close)?;
            // One level in from the line the `flags` key is on.
            let outer_column = column_of(bytes, key_start(bytes, flags_start)?);
            let indent = outer_column.checked_add(2)?;
            let pad = " ".repeat(indent);
            let key = serde_json::to_string(name).ok()?;
            let pretty = indented(flag, indent)?;
            if inner.trim().is_empty() {
                let outer = " ".repeat(outer_column);
                format!(
                    "{}{{\n{pad}{key}: {pretty}\n{outer}}}{}",
                    text.get(..flags_start)?,
                    text.get(close.checked_add(1)?..)?
                )
            } else {
                let last = inner
                    .trim_end()
                    .len()
                    .checked_add(flags_start)?
                    .checked_add(1)?;
                format!(
                    "{},\n{pad}{key}: {pretty}{}",
                    text.get(..last)?,
                    text.get(last..)?
                )
            }
        }
    };
    let reread: Value = serde_json::from_str(&changed).ok()?;
    (reread == *expected).then_some(changed)
}

/// `value` as pretty JSON whose lines after the first start at `indent`.
fn indented(value: &Value, indent: usize) -> Option<String> {
    let pretty = serde_json::to_string_pretty(value).ok()?;
    let pad = " ".repeat(indent);
    Some(pretty.replace('\n', &format!("\n{pad}")))
}

/// The column (in bytes) of `at` on its line.
fn column_of(bytes: &[u8], at: usize) -> usize {
    let line_start = bytes
        .get(..at)
        .and_then(|b| b.iter().rposition(|&c| c == b'\n'))
        .map_or(0, |n| n.saturating_add(1));
    at.saturating_sub(line_start)
}

/// Where the key of the member whose value starts at `value` starts.
fn key_start(bytes: &[u8], value: usize) -> Option<usize> {
    // Back over the spaces, the colon, the spaces and the key's string.
    let mut i = value;
    while i > 0 && bytes.get(i.checked_sub(1)?)?.is_ascii_whitespace() {
        i = i.checked_sub(1)?;
    }
    i = i.checked_sub(1)?;
    if bytes.get(i) != Some(&b':') {
        return None;
    }
    while i > 0 && bytes.get(i.checked_sub(1)?)?.is_ascii_whitespace() {
        i = i.checked_sub(1)?;
    }
    // The key's closing quote is at i - 1; find its opening quote (keys
    // with escaped quotes are not changed in place).
    let close = i.checked_sub(1)?;
    let open = bytes.get(..close)?.iter().rposition(|&c| c == b'"')?;
    (bytes.get(open.checked_sub(1)?) != Some(&b'\\')).then_some(open)
}

fn skip_ws(bytes: &[u8], mut i: usize) -> Option<usize> {
    while bytes.get(i)?.is_ascii_whitespace() {
        i = i.checked_add(1)?;
    }
    Some(i)
}

/// Where the string starting at `i` (its opening quote) ends, past its
/// closing quote.
fn string_end(bytes: &[u8], i: usize) -> Option<usize> {
    let mut j = i.checked_add(1)?;
    loop {
        match bytes.get(j)? {
            b'\\' => j = j.checked_add(2)?,
            b'"' => return j.checked_add(1),
            _ => j = j.checked_add(1)?,
        }
    }
}

/// Where the JSON value starting at `i` ends.
fn value_end(bytes: &[u8], i: usize) -> Option<usize> {
    match bytes.get(i)? {
        b'"' => string_end(bytes, i),
        b'{' | b'[' => {
            let mut depth = 0_usize;
            let mut j = i;
            loop {
                match bytes.get(j)? {
                    b'"' => {
                        j = string_end(bytes, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth = depth.checked_add(1)?,
                    b'}' | b']' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return j.checked_add(1);
                        }
                    }
                    _ => {}
                }
                j = j.checked_add(1)?;
            }
        }
        _ => {
            let mut j = i;
            while let Some(c) = bytes.get(j) {
                if matches!(c, b',' | b'}' | b']') || c.is_ascii_whitespace() {
                    break;
                }
                j = j.checked_add(1)?;
            }
            Some(j)
        }
    }
}

/// Where the value of the member `name` of the object starting at `i`
/// starts (before any space), if it holds that member once.
fn member(bytes: &[u8], i: usize, name: &str) -> Option<usize> {
    if bytes.get(i) != Some(&b'{') {
        return None;
    }
    let mut j = skip_ws(bytes, i.checked_add(1)?)?;
    let mut found = None;
    while bytes.get(j)? != &b'}' {
        let key_end = string_end(bytes, j)?;
        let key: String = serde_json::from_slice(bytes.get(j..key_end)?).ok()?;
        let colon = skip_ws(bytes, key_end)?;
        if bytes.get(colon) != Some(&b':') {
            return None;
        }
        let start = skip_ws(bytes, colon.checked_add(1)?)?;
        if key == name {
            if found.is_some() {
                return None;
            }
            found = Some(colon.checked_add(1)?);
        }
        let end = skip_ws(bytes, value_end(bytes, start)?)?;
        j = match bytes.get(end)? {
            b',' => skip_ws(bytes, end.checked_add(1)?)?,
            b'}' => end,
            _ => return None,
        };
    }
    found
}
