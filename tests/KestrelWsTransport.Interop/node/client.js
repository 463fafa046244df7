'use strict';
// Interop client on Node.js's `ws` package: runs one scenario against an echo endpoint and prints ONE line of JSON
// (the Observation the NUnit test asserts on). Usage:
//   node client.js <ws://host:port/echo | wss://...> <scenario> [--ca cert.pem]
// The scenario constants match Scenarios.cs in the test project.
const fs = require('node:fs');
const crypto = require('node:crypto');
const WebSocket = require('ws');
const wsVersion = require('ws/package.json').version;

const TEXT = 'KestrelWsTransport interop: héllo wörld ✓ € 𝄞';
const FRAGMENTED_TEXT = 'fragment-one|€|fragment-three ✓';
const FRAGMENTED_TEXT_SPLITS = [14, 20];
const FRAGMENTED_BINARY_LENGTH = 200000;
const FRAGMENTED_BINARY_SPLITS = [1, 100000];
const PING_PAYLOAD = 'kestrel-interop-ping';
const CLOSE_REASONS = { 1000: 'normal bye', 4000: 'app-defined ✓' };
const BINARY_LENGTHS = { 'binary-0B': 0, 'binary-125B': 125, 'binary-64KiB': 65536, 'binary-16MiB': 16 * 1024 * 1024 };
const SCENARIO_TIMEOUT_MS = 20000;

function pattern(length) {
  const bytes = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + 7) & 0xff;
  return bytes;
}

function split(bytes, points) {
  const parts = [];
  let start = 0;
  for (const point of points) { parts.push(bytes.subarray(start, point)); start = point; }
  parts.push(bytes.subarray(start));
  return parts;
}

const describe = (type, bytes) => ({ type, length: bytes.length, sha256: crypto.createHash('sha256').update(bytes).digest('hex') });

async function run(url, scenario, ca) {
  const started = process.hrtime.bigint();
  const result = {
    client: `node-ws ${wsVersion} (node ${process.version})`, scenario, url, opened: false, handshake: null, extensions: null,
    received: [], echoMatches: null, pongReceived: null, pongPayload: null,
    closeCode: null, closeReason: null, wasClean: null, error: null, note: null, elapsedMs: 0,
  };

  // Defaults on purpose (permessage-deflate offered, as every ws user does); a larger maxPayload than the 16 MiB echo.
  const ws = new WebSocket(url, { ca, maxPayload: 64 * 1024 * 1024, handshakeTimeout: 10000 });
  const inbox = [];
  const waiters = [];
  const deliver = item => { const waiter = waiters.shift(); if (waiter) waiter(item); else inbox.push(item); };
  const nextEvent = () => inbox.length ? Promise.resolve(inbox.shift()) : new Promise(resolve => waiters.push(resolve));

  const closed = new Promise(resolve => ws.on('close', (code, reason) => {
    result.closeCode = code;
    result.closeReason = reason.toString('utf8');
    result.wasClean = code !== 1006;
    deliver({ kind: 'close', code });
    resolve();
  }));
  ws.on('upgrade', res => { result.handshake = `HTTP/${res.httpVersion} ${res.statusCode}`; });
  ws.on('message', (data, isBinary) => deliver({ kind: 'message', data, isBinary }));
  ws.on('pong', data => deliver({ kind: 'pong', data }));
  ws.on('error', err => { result.error = result.error ?? String(err && err.message || err); });
  ws.on('unexpected-response', (req, res) => {
    result.error = `unexpected HTTP response ${res.statusCode} ${res.statusMessage}`;
    req.destroy();
  });

  await new Promise(resolve => { ws.once('open', resolve); closed.then(resolve); });
  if (ws.readyState !== WebSocket.OPEN) return finish();
  result.opened = true;
  result.extensions = ws.extensions;

  const receiveMessage = async () => {
    const event = await nextEvent();
    if (event.kind !== 'message') throw new Error(`expected a message, got ${event.kind}${event.code ? ' ' + event.code : ''}`);
    return event;
  };
  const echo = async (sent, type) => {
    const { data, isBinary } = await receiveMessage();
    const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data);
    result.received.push(describe(isBinary ? 'binary' : 'text', bytes));
    result.echoMatches = (isBinary === (type === 'binary')) && bytes.equals(sent);
  };
  const send = (data, options) => new Promise((resolve, reject) => ws.send(data, options, err => err ? reject(err) : resolve()));

  let closeCode = 1000;
  let closeReason = 'done';
  try {
    if (scenario === 'text') {
      const bytes = Buffer.from(TEXT, 'utf8');
      await send(TEXT, { binary: false });
      await echo(bytes, 'text');
    } else if (scenario in BINARY_LENGTHS) {
      const bytes = pattern(BINARY_LENGTHS[scenario]);
      await send(bytes, { binary: true });
      await echo(bytes, 'binary');
    } else if (scenario === 'fragmented-text' || scenario === 'fragmented-binary') {
      const binary = scenario === 'fragmented-binary';
      const bytes = binary ? pattern(FRAGMENTED_BINARY_LENGTH) : Buffer.from(FRAGMENTED_TEXT, 'utf8');
      const parts = split(bytes, binary ? FRAGMENTED_BINARY_SPLITS : FRAGMENTED_TEXT_SPLITS);
      // ws sends the first part with the message's opcode and the rest as continuation frames.
      for (let i = 0; i < parts.length; i++) await send(parts[i], { binary, fin: i === parts.length - 1 });
      await echo(bytes, binary ? 'binary' : 'text');
    } else if (scenario === 'ping-pong') {
      ws.ping(Buffer.from(PING_PAYLOAD, 'utf8'));
      const event = await nextEvent();
      if (event.kind !== 'pong') throw new Error(`expected a pong, got ${event.kind}`);
      result.pongReceived = true;
      result.pongPayload = event.data.toString('utf8');
    } else if (scenario === 'close-1000' || scenario === 'close-4000') {
      closeCode = Number(scenario.slice('close-'.length));
      closeReason = CLOSE_REASONS[closeCode];
    } else {
      throw new Error(`unknown scenario ${scenario}`);
    }
  } catch (err) {
    result.error = result.error ?? String(err && err.message || err);
  }

  if (ws.readyState === WebSocket.OPEN) ws.close(closeCode, closeReason);
  await closed;
  return finish();

  function finish() {
    result.elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
    return result;
  }
}

function main() {
  const args = process.argv.slice(2);
  const caIndex = args.indexOf('--ca');
  const ca = caIndex >= 0 ? fs.readFileSync(args[caIndex + 1]) : undefined;
  if (caIndex >= 0) args.splice(caIndex, 2);
  const [url, scenario] = args;
  if (!url || !scenario) {
    console.error('usage: node client.js <ws-url> <scenario> [--ca cert.pem]');
    process.exit(64);
  }

  const timeout = setTimeout(() => {
    console.log(JSON.stringify({ client: `node-ws ${wsVersion}`, scenario, url, error: `scenario timed out after ${SCENARIO_TIMEOUT_MS} ms` }));
    process.exit(2);
  }, SCENARIO_TIMEOUT_MS);

  run(url, scenario, ca).then(result => {
    clearTimeout(timeout);
    console.log(JSON.stringify(result));
  }, err => {
    clearTimeout(timeout);
    console.log(JSON.stringify({ client: `node-ws ${wsVersion}`, scenario, url, error: String(err && err.stack || err) }));
    process.exitCode = 1;
  });
}

main();
