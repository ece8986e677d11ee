//! mex2fa: parse → checked configuration → run → exit code (contract §6).

fn main() -> std::process::ExitCode {
    mex2fa::main()
}
