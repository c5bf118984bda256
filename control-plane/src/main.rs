//! `restapi-control-plane [serve] [--config FILE]` runs the control plane;
//! `restapi-control-plane dev [--config FILE]` runs the whole stack on this machine;
//! `restapi-control-plane openapi` prints its OpenAPI document.

use std::path::PathBuf;
use std::process::ExitCode;

use restapi_control_plane::config::{KEYS, SECRET_KEYS, Settings};
use restapi_control_plane::{ControlPlane, openapi, serve};
use restapi_data_plane::shutdown_signal;
use restapi_shared::Clock;
use restapi_shared::settings::layered;

mod dev;

/// What the command line asks for.
enum Command {
    Serve { config: Option<PathBuf> },
    Dev { config: Option<PathBuf> },
    OpenApi,
}

#[tokio::main]
async fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();

    let command = match parse_arguments(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(message) => {
            eprintln!(
                "{message}\nusage: restapi-control-plane [serve | dev] [--config FILE] | openapi"
            );
            return ExitCode::from(2);
        }
    };
    match command {
        Command::OpenApi => print_openapi(),
        Command::Dev { config } => match dev::run(config).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("restapi-control-plane dev: {message}");
                ExitCode::FAILURE
            }
        },
        Command::Serve { config } => match run(config).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("restapi-control-plane: {message}");
                ExitCode::FAILURE
            }
        },
    }
}

fn parse_arguments(mut arguments: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut config = None;
    let mut subcommand = None;
    while let Some(argument) = arguments.next() {
        match argument.as_str() {
            "--config" => {
                let path = arguments.next().ok_or("--config needs a file")?;
                config = Some(PathBuf::from(path));
            }
            "serve" | "dev" | "openapi" if subcommand.is_none() => subcommand = Some(argument),
            other => return Err(format!("unexpected argument '{other}'")),
        }
    }
    match subcommand.as_deref() {
        Some("openapi") => Ok(Command::OpenApi),
        Some("dev") => Ok(Command::Dev { config }),
        _ => Ok(Command::Serve { config }),
    }
}

fn print_openapi() -> ExitCode {
    match openapi().to_pretty_json() {
        Ok(json) => {
            #[expect(clippy::print_stdout, reason = "the document is the command's output")]
            {
                println!("{json}");
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("cannot serialise the OpenAPI document: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Option<PathBuf>) -> Result<(), String> {
    let figment = layered(config.as_deref(), KEYS, SECRET_KEYS).map_err(|e| e.to_string())?;
    let settings = Settings::from_figment(&figment).map_err(|e| e.to_string())?;
    restapi_shared::telemetry::init(settings.log_format);

    let control_plane = ControlPlane::start(&settings, Clock::System)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(token) = control_plane.generated_admin_token() {
        print_generated_token(token.expose());
    }

    let listener = tokio::net::TcpListener::bind(settings.control_plane_listen)
        .await
        .map_err(|error| {
            format!(
                "cannot listen on {}: {error}",
                settings.control_plane_listen
            )
        })?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%address, "control plane listening");
    serve(listener, control_plane.router(), shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!("control plane stopped");
    Ok(())
}

pub(crate) fn print_generated_token(token: &str) {
    #[expect(
        clippy::print_stdout,
        reason = "the token is shown once, to the operator"
    )]
    {
        println!();
        println!("==================================================================");
        println!(" No admin token was configured; this operator token was generated.");
        println!(" It is shown only this once. Store it now:");
        println!();
        println!("   {token}");
        println!();
        println!(" Use it as: Authorization: Bearer <token>");
        println!("==================================================================");
        println!();
    }
}
