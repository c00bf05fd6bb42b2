fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A vendored protoc keeps fresh machines and CI free of a system protobuf install.
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    std::env::set_var("PROTOC", protoc);
    tonic_prost_build::configure()
        .compile_protos(&["proto/archetype/v1/cluster.proto"], &["proto"])?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
