//! The example settings in `deploy/` are what an operator copies first: they must load.

use std::path::{Path, PathBuf};

fn example(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(file)
}

#[test]
fn control_plane_example_loads() {
    let figment = restapi_shared::settings::layered(
        Some(&example("control-plane.toml")),
        restapi_control_plane::config::KEYS,
        restapi_control_plane::config::SECRET_KEYS,
    )
    .expect("known keys only");
    let settings =
        restapi_control_plane::config::Settings::from_figment(&figment).expect("valid values");
    assert_eq!(settings.control_plane_listen.port(), 8090);
}

#[test]
fn data_plane_example_loads() {
    let figment = restapi_shared::settings::layered(
        Some(&example("data-plane.toml")),
        restapi_data_plane::settings::KEYS,
        restapi_data_plane::settings::SECRET_KEYS,
    )
    .expect("known keys only");
    let settings: restapi_data_plane::Settings = figment.extract().expect("valid values");
    assert_eq!(settings.region.as_deref(), Some("eu"));
    assert_eq!(settings.app_domain, "restapi.cloud");
}
