// Interop client in the browser: evaluated by Playwright in the sample page (page.EvaluateAsync(script, { url, scenario })).
// Opens its own `new WebSocket(url)` (the page's own /echo socket is left alone), runs one scenario and returns the same
// Observation object node/client.js prints. The scenario constants match Scenarios.cs in the test project.
// Not here: fragmented messages and ping/pong (the browser WebSocket API cannot send fragments or pings).
async ({ url, scenario }) => {
  const TEXT = 'KestrelWsTransport interop: héllo wörld ✓ € 𝄞';
  const CLOSE_REASONS = { 1000: 'normal bye', 4000: 'app-defined ✓' };
  const BINARY_LENGTHS = { 'binary-0B': 0, 'binary-125B': 125, 'binary-64KiB': 65536, 'binary-16MiB': 16 * 1024 * 1024 };
  const SCENARIO_TIMEOUT_MS = 20000;

  const started = performance.now();
  const result = {
    client: `chromium ${navigator.userAgent.match(/Chrome\/(\S+)/)?.[1] ?? navigator.userAgent}`, scenario, url,
    opened: false, handshake: `page ${performance.getEntriesByType('navigation')[0]?.nextHopProtocol}`, extensions: null, received: [], echoMatches: null, pongReceived: null, pongPayload: null,
    closeCode: null, closeReason: null, wasClean: null, error: null,
    note: `page ${location.protocol}//${location.host}, secure context ${window.isSecureContext}`, elapsedMs: 0,
  };

  const pattern = length => {
    const bytes = new Uint8Array(length);
    for (let i = 0; i < length; i++) bytes[i] = (i * 31 + 7) & 0xff;
    return bytes;
  };
  const hex = buffer => Array.from(new Uint8Array(buffer), b => b.toString(16).padStart(2, '0')).join('');
  const describe = async (type, bytes) => ({ type, length: bytes.byteLength, sha256: hex(await crypto.subtle.digest('SHA-256', bytes)) });
  const equal = (a, b) => {
    if (a.byteLength !== b.byteLength) return false;
    for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
    return true;
  };

  const run = async () => {
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    const inbox = [];
    const waiters = [];
    const deliver = item => { const waiter = waiters.shift(); if (waiter) waiter(item); else inbox.push(item); };
    const nextEvent = () => inbox.length ? Promise.resolve(inbox.shift()) : new Promise(resolve => waiters.push(resolve));
    const closed = new Promise(resolve => ws.onclose = e => {
      result.closeCode = e.code;
      result.closeReason = e.reason;
      result.wasClean = e.wasClean;
      deliver({ kind: 'close', code: e.code });
      resolve();
    });
    ws.onerror = () => { result.error = result.error ?? 'error event (the browser gives no detail; see the server log)'; };
    ws.onmessage = e => deliver({ kind: 'message', data: e.data });

    await new Promise(resolve => { ws.onopen = resolve; closed.then(resolve); });
    if (ws.readyState !== WebSocket.OPEN) return;
    result.opened = true;
    result.extensions = ws.extensions;

    const echo = async (sent, type) => {
      const event = await nextEvent();
      if (event.kind !== 'message') throw new Error(`expected a message, got ${event.kind} ${event.code ?? ''}`);
      const isText = typeof event.data === 'string';
      const bytes = isText ? new TextEncoder().encode(event.data) : new Uint8Array(event.data);
      result.received.push(await describe(isText ? 'text' : 'binary', bytes));
      result.echoMatches = isText === (type === 'text') && equal(bytes, sent);
    };

    let closeCode = 1000;
    let closeReason = 'done';
    try {
      if (scenario === 'text') {
        ws.send(TEXT);
        await echo(new TextEncoder().encode(TEXT), 'text');
      } else if (scenario in BINARY_LENGTHS) {
        const bytes = pattern(BINARY_LENGTHS[scenario]);
        ws.send(bytes.buffer);
        await echo(bytes, 'binary');
      } else if (scenario === 'close-1000' || scenario === 'close-4000') {
        closeCode = Number(scenario.slice('close-'.length));
        closeReason = CLOSE_REASONS[closeCode];
      } else {
        throw new Error(`scenario ${scenario} is not applicable in the browser`);
      }
    } catch (err) {
      result.error = result.error ?? String(err && err.message || err);
    }

    if (ws.readyState === WebSocket.OPEN) ws.close(closeCode, closeReason);
    await closed;
  };

  let timer;
  const timeout = new Promise(resolve => timer = setTimeout(() => {
    result.error = result.error ?? `scenario timed out after ${SCENARIO_TIMEOUT_MS} ms`;
    resolve();
  }, SCENARIO_TIMEOUT_MS));
  try {
    await Promise.race([run(), timeout]);
  } catch (err) {
    result.error = result.error ?? String(err && err.stack || err);
  } finally {
    clearTimeout(timer);
  }

  result.elapsedMs = performance.now() - started;
  return result;
}
