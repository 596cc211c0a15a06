//! `GET /api/v1/flows` (supervisors and administrators): every contact flow of the running
//! centre as a graph (its steps and the labelled ways between them, see
//! [`hotline_flow::graph`]) with the numbers that lead to it. The administration page draws
//! them.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use hotline_config::Role;
use hotline_flow::graph::FlowGraph;
use serde::Serialize;

use crate::ApiError;
use crate::v1::V1;

pub fn routes() -> Router<V1> {
    Router::new().route("/api/v1/flows", get(flows))
}

/// One flow as the API shows it.
#[derive(Serialize)]
struct FlowOut {
    #[serde(flatten)]
    graph: FlowGraph,
    /// The service numbers that lead to this flow.
    numbers: Vec<String>,
    /// No service number is configured, so every number that is no agent's leads here
    /// (`main` only).
    any_number: bool,
}

#[derive(Serialize)]
struct FlowsOut {
    flows: Vec<FlowOut>,
}

async fn flows(State(v1): State<V1>, headers: HeaderMap) -> Result<Json<FlowsOut>, ApiError> {
    let who = v1.auth.principal(&headers)?;
    if who.role == Role::Agent {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the contact flows are for supervisors and administrators",
        ));
    }
    let routes = v1.centre.routes();
    let mut by_flow = routes.numbers.by_flow();
    let open = routes.numbers.is_open();
    let flows = hotline_flow::graph::graphs(&routes.flows)
        .into_iter()
        .map(|graph| FlowOut {
            numbers: by_flow.remove(&graph.name).unwrap_or_default(),
            any_number: open && graph.name == "main",
            graph,
        })
        .collect();
    Ok(Json(FlowsOut { flows }))
}
