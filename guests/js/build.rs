// QuickJS cannot check its stack depth on WASI (QuickJS-ng disables the check there), so deep recursion
// must end on the wasm stack limit the host sets (a clean `stack_overflow`) before the C shadow stack in
// linear memory runs out (which would corrupt memory). 8 MiB of shadow stack is far more than the
// deepest recursion a 1 MiB wasm stack allows; its pages cost nothing until used.
//
// The shadow-stack pointer is exported so the host can capture and restore it with the rest of a
// session's state (snapshots and forks, `crates/capsa/src/sandbox/snapshot.rs`): it is the module's only
// mutable global, and an unexported one could not be captured.
fn main() {
    println!("cargo:rustc-link-arg=-zstack-size=8388608");
    println!("cargo:rustc-link-arg=--export=__stack_pointer");
}
