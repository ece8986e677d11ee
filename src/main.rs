//! mex2fa: parse → checked configuration → run → exit code (the README's exit-code table).

fn main() -> std::process::ExitCode {
    mex2fa::main()
}
