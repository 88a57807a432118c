//! One client connection, in three parts, as Kafka's processor and request
//! channel split the work:
//!
//! - a reader task reads frames ahead (librdkafka pipelines up to 5
//!   requests);
//! - requests are handled in order and answered in request order, and
//!   produce batches from one connection are appended in the order sent.
//!   Kafka handles a connection's requests strictly one at a time; Weir
//!   does too except for produce requests, which are appended as soon as
//!   they are read while earlier ones wait for their followers, so that an
//!   acks=all producer's pipelined requests do not each wait a whole
//!   replication round in the queue (the latency tail of issue 12). Any
//!   other request still waits for every earlier answer;
//! - a writer task sends each response as soon as it is handled. It
//!   flushes whenever it has nothing more queued, so a response never
//!   waits for a later request's handling (an ApiVersions answer does not
//!   sit behind a long-polling Fetch pipelined after it); under load,
//!   responses already queued still leave in one write. (Responses used
//!   to be flushed only when no further request had been read ahead, which
//!   held a ready answer back until every request pipelined after it was
//!   handled.)
//!
//! The connection is closed when it has done no I/O for longer than
//! `connections.max.idle.ms` (Kafka's Selector idle expiry: a request
//! waiting in the broker is not I/O either), or when the connection quotas
//! close it to make room on the inter-broker listener (KIP-402). A close
//! shuts the socket at once; a request already being handled finishes,
//! its response is dropped, and queued requests are not handled.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::stream::{FuturesOrdered, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufWriter, ReadBuf};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::broker::Broker;
use crate::handlers::context::RequestContext;
use crate::util::clock::monotonic_ns;
use crate::wire::response::ResponseFrame;
use crate::wire::{frame, WireError};

use super::dispatch::{self, ProduceCompletion, Started};
use super::quotas::{Activity, ConnectionSlot};

/// Frames read ahead of the handler, per connection; each is bounded by
/// `socket.request.max.bytes`, so memory is bounded by count as Kafka's
/// `queued.max.requests` bounds it.
const READ_AHEAD: usize = 64;
/// Produce requests appended and waiting for their acks, per connection.
/// The Java client and idempotent producers keep at most 5 in flight, but
/// librdkafka without idempotence keeps up to 1,000,000: with a pipeline
/// of 8, a burst stopped the reader, the client's TCP window closed, and
/// the sender waited for the kernel's window probes (200-500 ms stalls at
/// 50 MB/s on 3 nodes, issue 12). 64 keeps reading through such bursts.
const PRODUCE_PIPELINE: usize = 64;
/// Responses handled but not yet written: bounded, so a client that stops
/// reading stops the handling of its requests (Kafka mutes such a channel).
const WRITE_QUEUE: usize = 8;

pub async fn serve(broker: Arc<Broker>, stream: TcpStream, peer: SocketAddr, listener: String, slot: ConnectionSlot) {
    let _ = stream.set_nodelay(true);
    let activity = slot.activity().clone();
    activity.touch();
    let close = slot.close_token().clone();
    let (reader, writer) = stream.into_split();
    let mut reader = Tracked { inner: reader, activity: activity.clone() };
    let writer = Tracked { inner: writer, activity: activity.clone() };
    let max = broker.config.socket_request_max_bytes;
    let (tx, mut rx) = mpsc::channel::<Result<(Bytes, u64), WireError>>(READ_AHEAD);
    let shutdown = broker.shutdown.clone();
    let read_close = close.clone();
    let read_task = tokio::spawn(async move {
        let mut buf = BytesMut::with_capacity(64 * 1024);
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = read_close.cancelled() => break,
                f = frame::read_frame(&mut reader, &mut buf, max) => f,
            };
            match next {
                Ok(Some(f)) => {
                    let sent = tokio::select! {
                        _ = read_close.cancelled() => break,
                        r = tx.send(Ok((f, monotonic_ns()))) => r,
                    };
                    if sent.is_err() {
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
    let (resp_tx, resp_rx) = mpsc::channel::<ResponseFrame>(WRITE_QUEUE);
    let write_task = tokio::spawn(write_responses(resp_rx, writer, peer, close.clone()));
    // Part of this task (not spawned), so it ends with the connection. It
    // only cancels `close`: the request being handled is never dropped
    // halfway.
    let idle = broker.config.connections_max_idle;
    let idle_watch = async {
        if let Some(idle) = idle {
            close_when_idle(activity, idle, close.clone(), peer).await;
        }
        std::future::pending::<()>().await
    };
    tokio::select! {
        _ = handle_requests(&broker, RequestContext { peer, listener }, &mut rx, &resp_tx, &close) => {}
        _ = idle_watch => {}
    }
    // The writer sends what is queued (unless closing), then shuts the
    // socket's write side.
    drop(resp_tx);
    let _ = write_task.await;
    read_task.abort();
    drop(slot);
}

/// Handles requests in order until the reader stops, a request is
/// invalid, or the connection is closed. A produce request is appended as
/// soon as it is read, even while earlier produce requests still wait for
/// their followers (up to [`PRODUCE_PIPELINE`] of them); any other request
/// waits until every earlier one is answered, so it sees their effects as
/// with Kafka, which handles a connection's requests one at a time.
/// Answers go out in request order.
async fn handle_requests(
    broker: &Broker,
    ctx: RequestContext,
    rx: &mut mpsc::Receiver<Result<(Bytes, u64), WireError>>,
    resp_tx: &mpsc::Sender<ResponseFrame>,
    close: &CancellationToken,
) {
    let peer = ctx.peer;
    let mut produces: FuturesOrdered<ProduceCompletion> = FuturesOrdered::new();
    // Why the loop ended: a request to refuse (after answering the earlier
    // ones), or nothing.
    let mut failure = None;
    loop {
        let item = tokio::select! {
            biased;
            _ = close.cancelled() => return,
            Some(done) = produces.next() => {
                if !send(done, resp_tx, &peer).await {
                    return;
                }
                continue;
            }
            item = rx.recv(), if produces.len() < PRODUCE_PIPELINE => match item { Some(i) => i, None => break },
        };
        let (frame, received_ns) = match item {
            Ok(f) => f,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        let frame = match dispatch::start(broker, frame, received_ns) {
            Ok(Started::Produce(completion)) => {
                produces.push_back(completion);
                continue;
            }
            Ok(Started::Other(frame)) => frame,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        if !answer_all(&mut produces, resp_tx, &peer, close).await {
            return;
        }
        if !send(dispatch::handle(broker, &ctx, frame, received_ns).await, resp_tx, &peer).await {
            return;
        }
    }
    // The reader stopped or a request was refused: the requests before it
    // are still answered, then the connection closes.
    if answer_all(&mut produces, resp_tx, &peer, close).await {
        if let Some(e) = failure {
            log_close(&peer, &e);
        }
    }
}

/// Answers every started produce request, in order; false if the
/// connection is done.
async fn answer_all(
    produces: &mut FuturesOrdered<ProduceCompletion>,
    resp_tx: &mpsc::Sender<ResponseFrame>,
    peer: &SocketAddr,
    close: &CancellationToken,
) -> bool {
    loop {
        let done = tokio::select! {
            biased;
            _ = close.cancelled() => return false,
            done = produces.next() => match done { Some(d) => d, None => return true },
        };
        if !send(done, resp_tx, peer).await {
            return false;
        }
    }
}

/// Queues one handled request's answer for the writer; false if the
/// connection is done (the writer stopped, or the request was refused).
async fn send(
    handled: Result<Option<ResponseFrame>, WireError>,
    resp_tx: &mpsc::Sender<ResponseFrame>,
    peer: &SocketAddr,
) -> bool {
    match handled {
        // A failed send means the writer stopped: write failure or close.
        Ok(Some(response)) => resp_tx.send(response).await.is_ok(),
        Ok(None) => true,
        Err(e) => {
            log_close(peer, &e);
            false
        }
    }
}

/// Writes responses in order; flushes whenever nothing more is queued.
async fn write_responses(
    mut rx: mpsc::Receiver<ResponseFrame>,
    writer: Tracked<OwnedWriteHalf>,
    peer: SocketAddr,
    close: CancellationToken,
) {
    let mut writer = BufWriter::with_capacity(256 * 1024, writer);
    let write_all = async {
        while let Some(response) = rx.recv().await {
            // Small chunks gather in the buffer; large record sets go to
            // the socket directly (BufWriter passes them through).
            for chunk in &response.chunks {
                writer.write_all(chunk).await?;
            }
            if rx.is_empty() {
                writer.flush().await?;
            }
        }
        writer.flush().await?;
        writer.shutdown().await
    };
    tokio::select! {
        // Closing drops the write half with whatever was not yet sent.
        _ = close.cancelled() => {}
        r = write_all => if let Err(e) = r {
            tracing::debug!(%peer, error = %e, "write failed");
            // Stop the reader and the handling of queued requests too.
            close.cancel();
        },
    }
}

/// Closes the connection once it has done no I/O for `idle`.
async fn close_when_idle(activity: Arc<Activity>, idle: Duration, close: CancellationToken, peer: SocketAddr) {
    loop {
        let deadline = activity.last() + idle;
        if std::time::Instant::now() > deadline {
            tracing::debug!(%peer, idle_ms = idle.as_millis() as u64, "closing idle connection");
            close.cancel();
            return;
        }
        tokio::select! {
            _ = close.cancelled() => return,
            _ = tokio::time::sleep_until(deadline.into()) => {}
        }
    }
}

/// A socket half that records each read or write that moved bytes as
/// activity (what Kafka's Selector counts for idle expiry and LRU).
struct Tracked<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

fn log_close(peer: &SocketAddr, e: &WireError) {
    match e {
        WireError::Io(_) | WireError::UnexpectedEof => {
            tracing::debug!(%peer, error = %e, "connection closed")
        }
        _ => tracing::warn!(%peer, error = %e, "closing connection after invalid request"),
    }
}
