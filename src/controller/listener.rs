//! The serving side of the CONTROLLER listener (Kafka's `ControllerServer`
//! socket server and `ControllerApis`): accepts connections from voters
//! and brokers, decodes each framed request, and answers it through a
//! [`RequestHandler`] (the [`super::QuorumController`]). The message types
//! and framing are `controller_client::rpc`, shared with the client side.

use std::sync::Arc;

use tokio::net::TcpListener;

use crate::controller_client::rpc::{read_frame, write_frame, ControllerRequest, ControllerResponse};

/// Something that answers controller requests.
pub trait RequestHandler: Send + Sync + 'static {
    fn handle(&self, req: ControllerRequest) -> futures::future::BoxFuture<'_, ControllerResponse>;
}

/// Serves the controller listener until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    handler: Arc<dyn RequestHandler>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        let Ok((mut stream, peer)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            loop {
                let frame = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    f = read_frame(&mut stream) => f,
                };
                let body = match frame {
                    Ok(Some(b)) => b,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "controller connection closed");
                        break;
                    }
                };
                let req: ControllerRequest = match serde_json::from_slice(&body) {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(%peer, error = %e, "undecodable controller request; closing");
                        break;
                    }
                };
                let resp = handler.handle(req).await;
                let Ok(out) = serde_json::to_vec(&resp) else { break };
                if write_frame(&mut stream, &out).await.is_err() {
                    break;
                }
            }
        });
    }
}
