//! `restapi-control-plane dev`: the whole stack on one machine, in one process.
//!
//! The control plane runs on the embedded SQLite default in `./data` (or whatever the
//! settings say), and a data plane for region `eu` follows it through the same node API and
//! push protocol as in production, over loopback. Plain HTTP, hosts under `localhost`:
//! `eu.localhost` for the regional endpoint and `<api>.restapi.localhost` for app hosts, both
//! of which browsers and curl resolve to this machine.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::Serialized;
use restapi_control_plane::config::Settings;
use restapi_control_plane::{ControlPlane, DEV_REGION, load_or_create_dev_master_key, serve};
use restapi_data_plane::DataPlane;
use restapi_shared::Clock;
use restapi_shared::settings::layered;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The app domain dev mode serves unless configured otherwise.
const DEV_APP_DOMAIN: &str = "restapi.localhost";
/// Where dev mode keeps the operator token it generated, for scripts and the quickstart.
const ADMIN_TOKEN_FILE: &str = "admin-token";

/// Runs both planes until Ctrl-C or SIGTERM.
pub async fn run(config: Option<PathBuf>) -> Result<(), String> {
    let known = merged(
        restapi_control_plane::config::KEYS,
        restapi_data_plane::settings::KEYS,
    );
    let secrets = merged(
        restapi_control_plane::config::SECRET_KEYS,
        restapi_data_plane::settings::SECRET_KEYS,
    );
    let figment = layered(config.as_deref(), &known, &secrets).map_err(|e| e.to_string())?;
    // Both planes read the app domain and scheme (the control plane for callback URLs), so
    // dev mode's defaults go under the user's settings once, for both: plain HTTP, or HTTPS
    // when the user gave the data plane an HTTPS listener.
    let https_listen: Option<SocketAddr> = figment.extract_inner("data_plane_https_listen").ok();
    let scheme = if https_listen.is_some() {
        "https"
    } else {
        "http"
    };
    let figment = Figment::new()
        .merge(Serialized::defaults(
            json!({ "app_domain": DEV_APP_DOMAIN, "public_scheme": scheme }),
        ))
        .merge(figment);
    let mut settings = Settings::from_figment(&figment).map_err(|e| e.to_string())?;
    // The data plane's listener is bound first, so that the callback URLs the control plane
    // shows name the port browsers will use.
    let data_listen = figment
        .extract_inner("data_plane_listen")
        .unwrap_or(restapi_data_plane::Settings::default().data_plane_listen);
    let data_listener = bind(data_listen).await?;
    let data_address = data_listener.local_addr().map_err(|e| e.to_string())?;
    // Browsers use the HTTPS listener when there is one; the plain one then redirects there.
    let port = https_listen.map_or(data_address.port(), |address| address.port());
    settings.public_port = settings.public_port.or(Some(port));
    restapi_shared::telemetry::init(settings.log_format);
    if settings.master_key.is_none() {
        let key = load_or_create_dev_master_key(&settings.data_dir).map_err(|e| e.to_string())?;
        settings.master_key = Some(key);
    }

    let control_plane = ControlPlane::start(&settings, Clock::System)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(token) = control_plane.generated_admin_token() {
        keep_admin_token(&settings.data_dir, token.expose())?;
        crate::print_generated_token(token.expose());
    }
    let control_listener = bind(settings.control_plane_listen).await?;
    let control_address = control_listener.local_addr().map_err(|e| e.to_string())?;
    let node_token = control_plane
        .ensure_dev_region()
        .await
        .map_err(|e| e.to_string())?;

    // The data plane takes the user's settings where given, dev defaults otherwise, and always
    // this control plane, region and credential.
    let data_settings: restapi_data_plane::Settings = figment
        .merge(Serialized::globals(json!({
            "control_plane_url": format!("http://{control_address}"),
            "region": DEV_REGION,
            "node_token": node_token.expose(),
        })))
        .extract()
        .map_err(|error| format!("invalid setting: {error}"))?;
    let app_domain = data_settings.app_domain.clone();
    let data_plane =
        DataPlane::start(data_settings.clone(), Clock::System).map_err(|e| e.to_string())?;

    let scheme = data_settings.public_scheme.as_str();
    tracing::info!(
        admin_api = %format!("http://{control_address}/v1 (docs: http://{control_address}/docs)"),
        regional_endpoint = %format!("{scheme}://{DEV_REGION}.localhost:{port}/<api>/"),
        app_host = %format!("{scheme}://<api>.{app_domain}:{port}/api/"),
        "dev stack running; Ctrl-C stops it"
    );

    let (stop, stopped) = watch::channel(false);
    let control = serve(
        control_listener,
        control_plane.router(),
        until(stopped.clone()),
    );
    // With `data_plane_https_listen` and the certificate files set, HTTPS as in production.
    let data =
        restapi_data_plane::serve_all(&data_plane, &data_settings, data_listener, until(stopped));
    tokio::spawn(async move {
        restapi_data_plane::shutdown_signal().await;
        let _ = stop.send(true);
    });
    let (control, data) = tokio::join!(control, data);
    control
        .map_err(|error| format!("server failed: {error}"))
        .and(data)?;
    // The control plane's background tasks stop with it.
    drop(control_plane);
    tracing::info!("dev stack stopped");
    Ok(())
}

fn merged<'a>(first: &[&'a str], second: &[&'a str]) -> Vec<&'a str> {
    let mut keys: Vec<&str> = first.iter().chain(second).copied().collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

async fn bind(address: std::net::SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(address)
        .await
        .map_err(|error| format!("cannot listen on {address}: {error}"))
}

async fn until(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// Writes the generated operator token to `<data_dir>/admin-token`, readable by its owner only.
fn keep_admin_token(data_dir: &Path, token: &str) -> Result<(), String> {
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    std::io::Write::write_all(&mut file, format!("{token}\n").as_bytes())
        .map_err(|error| format!("cannot write {}: {error}", path.display()))
}
