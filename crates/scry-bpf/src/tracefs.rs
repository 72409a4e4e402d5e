//! Tracepoint record layouts, from tracefs `format` files: Tetragon's
//! tracepoint hooks name a field by its position in that file (the four
//! `common_*` fields count), and the engine reads it at its offset.
//! Parsed by hand: the format is a few `field:TYPE NAME; offset:N; size:N;
//! signed:N;` lines, and no crate reads it.

/// One field of a tracepoint's record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The C declaration's type (`const char *`, `__data_loc char[]`, `int`).
    pub ty: String,
    pub name: String,
    pub offset: u16,
    pub size: u8,
    pub signed: bool,
}

impl Field {
    /// A variable-length field: the record holds its offset and length.
    pub fn is_data_loc(&self) -> bool {
        self.ty.starts_with("__data_loc")
    }

    pub fn is_pointer(&self) -> bool {
        self.ty.contains('*')
    }
}

const TRACEFS: [&str; 2] = ["/sys/kernel/tracing/events", "/sys/kernel/debug/tracing/events"];

/// The fields of `subsystem`/`event`, in their order in its format file.
pub fn format(subsystem: &str, event: &str) -> Result<Vec<Field>, String> {
    let name_ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !name_ok(subsystem) || !name_ok(event) {
        return Err(format!("{subsystem:?}/{event:?} is not a tracepoint name"));
    }
    let mut last = String::new();
    for root in TRACEFS {
        match std::fs::read_to_string(format!("{root}/{subsystem}/{event}/format")) {
            Ok(text) => return parse(&text),
            Err(e) => last = format!("{root}/{subsystem}/{event}/format: {e}"),
        }
    }
    Err(format!("no tracepoint {subsystem}/{event} on this kernel ({last})"))
}

/// The `field:` lines of a format file.
pub fn parse(text: &str) -> Result<Vec<Field>, String> {
    let mut fields = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| l.starts_with("field:")) {
        let mut decl = None;
        let (mut offset, mut size, mut signed) = (None, None, None);
        for part in line.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once(':').ok_or_else(|| format!("unreadable format line {line:?}"))?;
            match key {
                "field" => decl = Some(value.trim()),
                "offset" => offset = value.parse::<u16>().ok(),
                "size" => size = value.parse::<u8>().ok(),
                "signed" => signed = Some(value == "1"),
                _ => {}
            }
        }
        let (Some(decl), Some(offset), Some(size), Some(signed)) = (decl, offset, size, signed) else {
            return Err(format!("unreadable format line {line:?}"));
        };
        // `TYPE NAME` or `TYPE NAME[N]`: the name is the last word.
        let (ty, name) = decl.rsplit_once(' ').ok_or_else(|| format!("unreadable field {decl:?}"))?;
        let name = name.split('[').next().unwrap_or(name);
        fields.push(Field { ty: ty.trim().to_owned(), name: name.to_owned(), offset, size, signed });
    }
    if fields.is_empty() {
        return Err("the format file lists no fields".into());
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_in_order_with_offsets_sizes_and_types() {
        let text = "name: sched_process_exec\nID: 312\nformat:\n\
            \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
            \tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n\
            \tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n\
            \tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n\
            \tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;\n\
            \tfield:pid_t pid;\toffset:12;\tsize:4;\tsigned:1;\n\
            \tfield:const char * name;\toffset:16;\tsize:8;\tsigned:0;\n\
            \tfield:char comm[16];\toffset:24;\tsize:16;\tsigned:0;\n\nprint fmt: \"x\"\n";
        let f = parse(text).unwrap();
        assert_eq!(f.len(), 8);
        assert_eq!((f[4].name.as_str(), f[4].offset, f[4].size, f[4].is_data_loc()), ("filename", 8, 4, true));
        assert_eq!((f[5].ty.as_str(), f[5].signed), ("pid_t", true));
        assert!(f[6].is_pointer());
        assert_eq!(f[7].name, "comm");
        assert!(parse("format:\n\tfield:int x;\toffset:zero;\n").unwrap_err().starts_with("unreadable format line"));
    }

    #[test]
    fn names_that_would_leave_tracefs_are_refused() {
        assert_eq!(format("..", "x").unwrap_err(), "\"..\"/\"x\" is not a tracepoint name");
    }
}
