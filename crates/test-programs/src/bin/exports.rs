//! Exported functions for `capsa call`: numbers in and out, and strings through `alloc`/`dealloc`.

capsa_guest::export_alloc!();

#[unsafe(no_mangle)]
pub extern "C" fn add(a: i32, b: i32) -> i32 {
    a.wrapping_add(b)
}

#[unsafe(no_mangle)]
pub extern "C" fn mul64(a: i64, b: i64) -> i64 {
    a.wrapping_mul(b)
}

#[unsafe(no_mangle)]
pub extern "C" fn hypot(a: f64, b: f64) -> f64 {
    (a * a + b * b).sqrt()
}

#[unsafe(no_mangle)]
pub extern "C" fn divmod(a: i32, b: i32) -> i64 {
    // Traps (integer division by zero) when b == 0, as wasm does.
    ((a / b) as i64) << 32 | (a % b) as u32 as i64
}

/// # Safety
/// Called by the host with a string it wrote through `alloc`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn greet(ptr: *const u8, len: u32) -> i64 {
    // SAFETY: the host passes a pair from `alloc`.
    let name = unsafe { capsa_guest::read_str(ptr, len) };
    capsa_guest::return_string(format!("hello, {name}!"))
}

/// # Safety
/// Called by the host with strings it wrote through `alloc`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn concat(a: *const u8, a_len: u32, b: *const u8, b_len: u32) -> i64 {
    // SAFETY: the host passes pairs from `alloc`.
    let (a, b) = unsafe {
        (
            capsa_guest::read_str(a, a_len),
            capsa_guest::read_str(b, b_len),
        )
    };
    capsa_guest::return_string(a + &b)
}

fn main() {
    println!("call an export: add, mul64, hypot, divmod, greet, concat");
}
