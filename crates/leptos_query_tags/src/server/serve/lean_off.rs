//! Without the `lean-streams` feature: every connection is hyper's alone. The same names as
//! `lean.rs`, none of which can be reached.

use super::Shared;
use crate::server::hub::Hub;
use axum::body::Body;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::ReadBuf;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

pub(crate) struct Config;

impl Config {
    pub(crate) fn new(_: &Hub) -> Config {
        Config
    }
}

pub(crate) enum ConnState {}

impl ConnState {
    pub(crate) fn request_started(self: &Arc<Self>) -> InFlight {
        match **self {}
    }
}

pub(crate) enum InFlight {}

pub(crate) fn count(_: Body, in_flight: InFlight) -> Body {
    match in_flight {}
}

pub(crate) enum Follow {}

impl Follow {
    pub(crate) fn new(_: &Arc<Shared>, _: SocketAddr, _: mpsc::Sender<()>) -> Option<Box<Follow>> {
        None
    }

    pub(crate) fn state(&self) -> Arc<ConnState> {
        match *self {}
    }

    pub(crate) fn is_taken(&self) -> bool {
        match *self {}
    }

    pub(crate) fn on_write(&mut self) -> io::Result<()> {
        match *self {}
    }

    pub(crate) fn on_flush(&mut self) {
        match *self {}
    }

    pub(crate) fn poll_read(
        &mut self,
        _: &mut TcpStream,
        _: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match *self {}
    }

    pub(crate) fn released(self, _: TcpStream) {
        match self {}
    }
}
