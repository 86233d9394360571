// What every libFuzzer binary of fuzz_targets/ is (each includes this file): the binary's name
// (`cargo fuzz run config`) picks the target of `capsa_fuzz::targets`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    static TARGET: std::sync::OnceLock<capsa_fuzz::targets::Target> = std::sync::OnceLock::new();
    let target = TARGET.get_or_init(|| {
        capsa_fuzz::targets::by_name(env!("CARGO_BIN_NAME")).expect("a target of this name")
    });
    target(data);
});
