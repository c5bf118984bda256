//! The `restapi-data-plane` binary.
//!
//! ```text
//! restapi-data-plane [serve] [--config FILE]   serve the region's APIs (default)
//! restapi-data-plane openapi                   print the OpenAPI document
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use restapi_data_plane::settings::{KEYS, SECRET_KEYS};
use restapi_data_plane::{DataPlane, Settings};
use restapi_shared::Clock;

const USAGE: &str =
    "usage: restapi-data-plane [serve] [--config FILE] | restapi-data-plane openapi";

enum Command {
    Serve { config: Option<PathBuf> },
    OpenApi,
}

#[tokio::main]
async fn main() -> ExitCode {
    // reqwest is built without a crypto provider; ring is the one the platform ships.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let command = match parse_arguments(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(message) => return fail(&message),
    };
    match command {
        Command::OpenApi => print_openapi(),
        Command::Serve { config } => match run(config).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => fail(&message),
        },
    }
}

fn parse_arguments(mut arguments: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut config = std::env::var_os("RESTAPI_CONFIG").map(PathBuf::from);
    let mut command = None;
    while let Some(argument) = arguments.next() {
        match argument.as_str() {
            "serve" | "openapi" if command.is_none() => command = Some(argument),
            "--config" => {
                let file = arguments
                    .next()
                    .ok_or_else(|| format!("--config needs a file\n{USAGE}"))?;
                config = Some(PathBuf::from(file));
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unexpected argument '{other}'\n{USAGE}")),
        }
    }
    match command.as_deref() {
        Some("openapi") => Ok(Command::OpenApi),
        _ => Ok(Command::Serve { config }),
    }
}

fn print_openapi() -> ExitCode {
    let document = match restapi_data_plane::openapi().to_pretty_json() {
        Ok(document) => document,
        Err(error) => return fail(&format!("cannot serialise the OpenAPI document: {error}")),
    };
    match writeln!(std::io::stdout(), "{document}") {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&format!("cannot write the OpenAPI document: {error}")),
    }
}

async fn run(config: Option<PathBuf>) -> Result<(), String> {
    let settings: Settings =
        restapi_shared::settings::layered(config.as_deref(), KEYS, SECRET_KEYS)
            .map_err(|error| error.to_string())?
            .extract()
            .map_err(|error| format!("invalid setting: {error}"))?;
    restapi_shared::telemetry::init(settings.log_format);

    let listen = settings.data_plane_listen;
    let data_plane =
        DataPlane::start(settings.clone(), Clock::System).map_err(|error| error.to_string())?;
    let listener = bind(listen).await?;
    tracing::info!(address = %listen, "data plane listening");

    restapi_data_plane::serve_all(
        &data_plane,
        &settings,
        listener,
        restapi_data_plane::shutdown_signal(),
    )
    .await?;
    tracing::info!("data plane stopped");
    Ok(())
}

async fn bind(address: std::net::SocketAddr) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind(address)
        .await
        .map_err(|error| format!("cannot listen on {address}: {error}"))
}

fn fail(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "restapi-data-plane: {message}");
    ExitCode::FAILURE
}
