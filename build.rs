//! Compiles the wire schema in `proto/` with protox (pure Rust), so building
//! leadscore never needs a `protoc` binary on the machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/leadscore/v1/event.proto",
        "proto/leadscore/v1/stage_change.proto",
        "proto/leadscore/v1/snapshot.proto",
        "proto/leadscore/v1/changelog.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    let descriptors = protox::compile(files, ["proto"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
