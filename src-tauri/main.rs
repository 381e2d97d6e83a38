//! The desktop binary: everything lives in the library so tests can reach it.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    // `--version` and `--help` answer on stdout without opening a window.
    if let Some(answer) = eventscope_app::answer(std::env::args().skip(1)) {
        println!("{answer}");
        return;
    }
    eventscope_app::run()
}
