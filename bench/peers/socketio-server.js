'use strict';

// Fan-out peer built on Socket.IO 4: a Server attached to a plain Node http
// server (default path /socket.io/, WebSocket transport only), broadcasting
// with io.emit(). Single process, default in-memory adapter, default
// heartbeat (pingInterval 25 s, pingTimeout 20 s).
//
//   node socketio-server.js --port 18102

const http = require('node:http');
const { Server } = require('socket.io');
const { parsePort, createApi, replyTo, listen } = require('./common');

const port = parsePort(18102);

let io;

function broadcast(message) {
  io.emit('broadcast', message);
}

const server = http.createServer(createApi(broadcast));

io = new Server(server, {
  transports: ['websocket'],
  serveClient: false,
  perMessageDeflate: false, // the engine.io default, stated for fairness
});

io.on('connection', (socket) => {
  // Campanile-style JSON messages sent as a `message` event
  // (42["message",{"type":"subscribe","channel":"broadcasts"}]) get the same
  // answers as on the ws peer, as a `message` event.
  socket.on('message', (msg) => {
    if (typeof msg === 'string') {
      try {
        msg = JSON.parse(msg);
      } catch {
        return;
      }
    }
    const reply = replyTo(msg);
    if (reply) socket.emit('message', reply);
  });
  socket.on('error', (err) => console.error('socket error:', err.message));
});

io.engine.on('connection_error', (err) => {
  console.error('engine.io connection error:', err.code, err.message);
});

listen(server, port);
