//! Lets a run opt out of the interop suite explicitly: with `CGI_CODECS_SKIP_INTEROP=1` the
//! interop tests are compiled as ignored (reported as such, never as passed).
fn main() {
    println!("cargo:rerun-if-env-changed=CGI_CODECS_SKIP_INTEROP");
    println!("cargo:rustc-check-cfg=cfg(skip_interop)");
    if std::env::var_os("CGI_CODECS_SKIP_INTEROP").is_some_and(|v| !v.is_empty() && v != "0") {
        println!("cargo:rustc-cfg=skip_interop");
    }
}
