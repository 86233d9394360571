//! The host-call ABI as a hostile guest drives it, for the `host_calls` fuzz target (fuzz/): stdin
//! is a list of records `[name_len: u8][name][args_len: u16 LE][args][mode: u8]`, and each becomes a
//! `call_start` with exactly those bytes (names need not be UTF-8, args need not be JSON). Mode bit
//! 0 waits for and reads the call at once; otherwise it stays in flight, and bit 1 of the last
//! record decides whether the ones in flight are read at the end or abandoned. Prints each result's
//! status and length.

#[cfg(target_arch = "wasm32")]
fn main() {
    guest::main();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("host_calls is a wasm32-wasip1 guest: `make guests` builds it");
    std::process::exit(2);
}

#[cfg(target_arch = "wasm32")]
mod guest {
    use std::io::{Read, Write};

    #[link(wasm_import_module = "capsa")]
    unsafe extern "C" {
        fn call_start(
            name_ptr: *const u8,
            name_len: u32,
            args_ptr: *const u8,
            args_len: u32,
        ) -> u32;
        fn call_wait(handle: u32, len_out: *mut u32) -> u32;
        fn call_read(handle: u32, buf_ptr: *mut u8, buf_len: u32) -> u32;
    }

    /// Waits for `handle`, reads its result and prints its status and length.
    fn finish(handle: u32, out: &mut impl Write) {
        let mut len = 0u32;
        // SAFETY: `len` is valid for a 4-byte write; `buf` for `len` bytes.
        let status = unsafe { call_wait(handle, &mut len) };
        let mut buf = vec![0u8; len as usize];
        let read = unsafe { call_read(handle, buf.as_mut_ptr(), len) };
        let _ = writeln!(out, "{handle}: status {status}, {read} of {len} bytes");
    }

    pub fn main() {
        let mut input = Vec::new();
        std::io::stdin().read_to_end(&mut input).unwrap();
        let mut out = std::io::stdout().lock();
        let mut rest = input.as_slice();
        let mut in_flight = Vec::new();
        let mut read_at_end = true;
        while let Some((&name_len, tail)) = rest.split_first() {
            let (name, tail) = tail.split_at(usize::from(name_len).min(tail.len()));
            let (args_len, tail) = tail.split_at(2.min(tail.len()));
            let args_len = match args_len {
                [lo, hi] => usize::from(u16::from_le_bytes([*lo, *hi])),
                _ => 0,
            };
            let (args, tail) = tail.split_at(args_len.min(tail.len()));
            let (mode, tail) = match tail.split_first() {
                Some((&mode, tail)) => (mode, tail),
                None => (1, tail),
            };
            rest = tail;
            // SAFETY: both slices are valid for reads of their lengths.
            let handle = unsafe {
                call_start(
                    name.as_ptr(),
                    name.len() as u32,
                    args.as_ptr(),
                    args.len() as u32,
                )
            };
            if mode & 1 == 1 {
                finish(handle, &mut out);
            } else {
                in_flight.push(handle);
            }
            read_at_end = mode & 2 == 0;
        }
        if read_at_end {
            for handle in in_flight {
                finish(handle, &mut out);
            }
        }
    }
}
