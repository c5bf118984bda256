//! The committed OpenAPI documents are what the code generates: SDK generators read the
//! committed files, so drift between them and the server is a bug.

use std::path::Path;

fn assert_committed(file: &str, generated: utoipa::openapi::OpenApi) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../openapi")
        .join(file);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = format!(
        "{}\n",
        generated.to_pretty_json().expect("OpenAPI serialises")
    );
    assert!(
        committed == generated,
        "openapi/{file} differs from what the code generates; regenerate it with \
         `cargo run -q -p restapi-{} -- openapi > openapi/{file}`",
        file.trim_end_matches(".json")
    );
}

#[test]
fn control_plane_document_is_committed() {
    assert_committed("control-plane.json", restapi_control_plane::openapi());
}

#[test]
fn data_plane_document_is_committed() {
    assert_committed("data-plane.json", restapi_data_plane::openapi());
}
