'use strict';

// Fan-out peer built on `ws`: a WebSocketServer on the /ws path of a plain
// Node http server, broadcasting the way the ws README shows (serialize once,
// send to every OPEN client) and with its ping/pong heartbeat.
//
//   node ws-server.js --port 18101

const http = require('node:http');
const { WebSocketServer, WebSocket } = require('ws');
const { parsePort, createApi, replyTo, listen } = require('./common');

const HEARTBEAT_MS = 30_000;

const port = parsePort(18101);

let wss;

function broadcast(message) {
  const data = JSON.stringify(message);
  wss.clients.forEach((client) => {
    if (client.readyState === WebSocket.OPEN) {
      client.send(data);
    }
  });
}

const server = http.createServer(createApi(broadcast));

wss = new WebSocketServer({
  server,
  path: '/ws',
  perMessageDeflate: false, // the ws 8 default, stated for fairness
});

function heartbeat() {
  this.isAlive = true;
}

wss.on('connection', (ws) => {
  ws.isAlive = true;
  ws.on('error', (err) => console.error('websocket error:', err.message));
  ws.on('pong', heartbeat);

  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    let msg;
    try {
      msg = JSON.parse(data.toString());
    } catch {
      return;
    }
    const reply = replyTo(msg);
    if (reply) ws.send(JSON.stringify(reply));
  });
});

const interval = setInterval(() => {
  wss.clients.forEach((ws) => {
    if (ws.isAlive === false) return ws.terminate();
    ws.isAlive = false;
    ws.ping();
  });
}, HEARTBEAT_MS);

wss.on('close', () => clearInterval(interval));
wss.on('error', (err) => console.error('websocket server error:', err.message));

listen(server, port);
