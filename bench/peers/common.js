'use strict';

// The HTTP side shared by both peers: command line, /readyz and
// POST /api/v1/broadcasts. Only the WebSocket layer differs between them,
// so both are measured on the same request handling.

const { randomUUID } = require('node:crypto');

const HOST = '127.0.0.1';
const MAX_BODY = 1024 * 1024; // 1 MiB

// `--port N`, `--port=N`, then $PORT, then the given default.
function parsePort(defaultPort) {
  const args = process.argv.slice(2);
  let value;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--port') value = args[++i];
    else if (args[i].startsWith('--port=')) value = args[i].slice('--port='.length);
  }
  if (value === undefined) value = process.env.PORT;
  if (value === undefined || value === '') return defaultPort;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`invalid port: ${value}`);
    process.exit(2);
  }
  return port;
}

function sendJson(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

function sendText(res, status, text, headers = {}) {
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

// Returns a `request` listener. `deliver(message)` is called once per accepted
// broadcast with the message object every client must receive.
function createApi(deliver) {
  let seq = 0;

  function postBroadcast(req, res) {
    const chunks = [];
    let size = 0;
    let tooLarge = false;

    req.on('data', (chunk) => {
      if (tooLarge) return;
      size += chunk.length;
      if (size > MAX_BODY) {
        tooLarge = true;
        chunks.length = 0;
        sendText(res, 413, 'payload too large\n', { Connection: 'close' });
        return;
      }
      chunks.push(chunk);
    });

    req.on('error', (err) => console.error('request error:', err.message));

    req.on('end', () => {
      if (tooLarge) return;
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks, size).toString('utf8'));
      } catch {
        sendText(res, 400, 'invalid JSON\n');
        return;
      }
      if (body === null || typeof body !== 'object' || Array.isArray(body)) {
        sendText(res, 400, 'body must be a JSON object\n');
        return;
      }

      seq += 1;
      const id = randomUUID();
      const sent = new Date().toISOString();
      sendJson(res, 201, { id, seq, sent });

      deliver({
        type: 'broadcast',
        sub: 'b',
        seq,
        broadcast: { ...body, id, seq, sent },
      });
    });
  }

  return function onRequest(req, res) {
    const path = req.url.split('?', 1)[0];
    if (path === '/readyz') {
      if (req.method === 'GET' || req.method === 'HEAD') sendText(res, 200, 'ready');
      else sendText(res, 405, 'method not allowed\n', { Allow: 'GET, HEAD' });
    } else if (path === '/api/v1/broadcasts') {
      if (req.method === 'POST') postBroadcast(req, res);
      else sendText(res, 405, 'method not allowed\n', { Allow: 'POST' });
    } else {
      sendText(res, 404, 'not found\n');
    }
  };
}

// Campanile-style replies to a client's JSON message; null means no answer.
function replyTo(msg) {
  if (msg === null || typeof msg !== 'object') return null;
  if (msg.type === 'subscribe') {
    return { type: 'subscribed', sub: msg.channel === 'broadcasts' ? 'b' : 'x', channel: msg.channel };
  }
  if (msg.type === 'ping') return { type: 'pong' };
  return null;
}

function listen(server, port, onListening) {
  server.on('error', (err) => {
    console.error('server error:', err.message);
    process.exit(1);
  });
  server.listen(port, HOST, () => {
    const addr = server.address();
    console.log(`listening on http://${HOST}:${addr.port}`);
    if (onListening) onListening();
  });
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => process.exit(0));
  }
}

module.exports = { parsePort, createApi, replyTo, listen };
