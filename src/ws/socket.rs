//! A WebSocket's own TCP socket, kept for one act: closing it first once the
//! closing handshake is done (RFC 6455 §7.1.1).
//!
//! A WebSocket's request body never ends (the frames are its body), so when
//! the session ends actix-web waits for the client to close TCP, up to its
//! client disconnect timeout (1 s), before closing it itself; a conformant
//! client waits for the server instead, and both sit idle. That timeout
//! cannot be shortened for WebSockets alone, and at zero a plain HTTP
//! client still uploading a body that was refused early (413) would be
//! reset before it reads the answer. So each connection keeps a duplicate
//! of its socket's descriptor; the session shuts its reading half, actix
//! sees the end of the input at once, writes what it still holds (the close
//! frame) and closes. The cost is one more descriptor per open connection.

use std::any::Any;
use std::sync::Arc;

use actix_web::dev::Extensions;

/// A duplicate of one connection's socket.
pub struct TcpHandle(#[cfg(unix)] std::net::TcpStream);

impl TcpHandle {
    /// Ends reading on the connection: the server's HTTP layer sees the end
    /// of the input, flushes and closes the connection without waiting.
    pub fn stop_reading(&self) {
        #[cfg(unix)]
        {
            // A connection already gone answers ENOTCONN: nothing to do.
            let _ = self.0.shutdown(std::net::Shutdown::Read);
        }
    }
}

/// `HttpServer::on_connect`: keeps a handle on every TCP connection, for
/// the WebSocket that may come on it.
pub fn on_connect(connection: &dyn Any, data: &mut Extensions) {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        if let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>()
            && let Ok(fd) = tcp.as_fd().try_clone_to_owned()
        {
            data.insert(Arc::new(TcpHandle(std::net::TcpStream::from(fd))));
        }
    }
    #[cfg(not(unix))]
    let _ = (connection, data);
}
