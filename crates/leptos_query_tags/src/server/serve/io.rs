//! [`ConnIo`]: one accepted socket as hyper sees it, with the write timeout, and followed by
//! the lean listener when it is on.

use super::lean::Follow;
use crate::server::hub::Hub;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

pub(super) struct ConnIo {
    /// Always `Some` until dropped (a taken-over socket leaves in `Drop`).
    socket: Option<TcpStream>,
    write_timeout: Duration,
    /// Told about write timeouts, for its stats.
    hub: Hub,
    /// Armed while a write waits for the client to read; allocated only then.
    stalled: Option<Pin<Box<Sleep>>>,
    follow: Option<Box<Follow>>,
}

impl ConnIo {
    pub(super) fn new(
        socket: TcpStream,
        write_timeout: Duration,
        hub: Hub,
        follow: Option<Box<Follow>>,
    ) -> ConnIo {
        ConnIo {
            socket: Some(socket),
            write_timeout,
            hub,
            stalled: None,
            follow,
        }
    }

    fn socket(&mut self) -> io::Result<&mut TcpStream> {
        self.socket
            .as_mut()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "connection released"))
    }

    /// Runs a write; fails it once it has waited `write_timeout` for the client to read.
    fn poll_timed_write(
        &mut self,
        cx: &mut Context<'_>,
        write: impl FnOnce(Pin<&mut TcpStream>, &mut Context<'_>) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        if let Some(follow) = &mut self.follow {
            follow.on_write()?;
        }
        match write(Pin::new(self.socket()?), cx) {
            Poll::Ready(result) => {
                self.stalled = None;
                Poll::Ready(result)
            }
            Poll::Pending => {
                let timeout = self.write_timeout;
                let stalled = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match stalled.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        self.stalled = None;
                        self.hub.count_write_timeout();
                        Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "the client did not read within the write timeout",
                        )))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let socket = this
            .socket
            .as_mut()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "connection released"))?;
        match &mut this.follow {
            Some(follow) => follow.poll_read(socket, cx, buf),
            None => Pin::new(socket).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_timed_write(cx, |socket, cx| socket.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_timed_write(cx, |socket, cx| socket.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // hyper flushes only once its own write buffer is empty: everything it wrote is in
        // the socket. A TCP socket itself has nothing to flush.
        if let Some(follow) = &mut self.follow {
            follow.on_flush();
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.follow.as_ref().is_some_and(|f| f.is_taken()) {
            // hyper closes its side; the socket goes on to the event stream.
            return Poll::Ready(Ok(()));
        }
        Pin::new(self.socket()?).poll_shutdown(cx)
    }
}

impl Drop for ConnIo {
    fn drop(&mut self) {
        // hyper has let go: a taken-over stream request gets the socket now. No reference is
        // left behind and nothing polls for it.
        if let (Some(follow), Some(socket)) = (self.follow.take(), self.socket.take()) {
            (*follow).released(socket);
        }
    }
}
