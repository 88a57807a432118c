//! One client connection. A reader task reads frames ahead (librdkafka
//! pipelines up to 5 requests); requests are handled one at a time, in
//! order, as Kafka does, so responses leave in request order and produce
//! batches from one connection are appended in the order sent. Responses
//! are buffered and flushed when no further request is waiting.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::broker::Broker;
use crate::wire::{frame, WireError};

use super::dispatch::{self, RequestContext};

const READ_AHEAD: usize = 8;

pub async fn serve(broker: Arc<Broker>, stream: TcpStream, peer: SocketAddr, listener: String) {
    let _ = stream.set_nodelay(true);
    let (mut reader, writer) = stream.into_split();
    let max = broker.config.socket_request_max_bytes;
    let (tx, mut rx) = mpsc::channel::<Result<Bytes, WireError>>(READ_AHEAD);
    let shutdown = broker.shutdown.clone();
    let read_task = tokio::spawn(async move {
        let mut buf = BytesMut::with_capacity(64 * 1024);
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => break,
                f = frame::read_frame(&mut reader, &mut buf, max) => f,
            };
            match next {
                Ok(Some(f)) => {
                    if tx.send(Ok(f)).await.is_err() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    break;
                }
            }
        }
    });
    let ctx = RequestContext { peer, listener };
    let mut writer = BufWriter::with_capacity(256 * 1024, writer);
    while let Some(item) = rx.recv().await {
        let frame = match item {
            Ok(f) => f,
            Err(e) => {
                log_close(&peer, &e);
                break;
            }
        };
        match dispatch::handle(&broker, &ctx, frame).await {
            Ok(Some(response)) => {
                // Small chunks gather in the buffer; large record sets go
                // to the socket directly (BufWriter passes them through).
                let mut failed = None;
                for chunk in &response.chunks {
                    if let Err(e) = writer.write_all(chunk).await {
                        failed = Some(e);
                        break;
                    }
                }
                if let Some(e) = failed {
                    tracing::debug!(%peer, error = %e, "write failed");
                    break;
                }
            }
            Ok(None) => {}
            Err(e) => {
                log_close(&peer, &e);
                break;
            }
        }
        if rx.is_empty() {
            if let Err(e) = writer.flush().await {
                tracing::debug!(%peer, error = %e, "flush failed");
                break;
            }
        }
    }
    let _ = writer.flush().await;
    let _ = writer.shutdown().await;
    read_task.abort();
}

fn log_close(peer: &SocketAddr, e: &WireError) {
    match e {
        WireError::Io(_) | WireError::UnexpectedEof => {
            tracing::debug!(%peer, error = %e, "connection closed")
        }
        _ => tracing::warn!(%peer, error = %e, "closing connection after invalid request"),
    }
}
