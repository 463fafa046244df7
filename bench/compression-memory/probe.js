// Opens N WebSockets to URL, sends one 2 KiB JSON-like message on each (so compressors exist), waits for the echoes,
// then holds them open while the caller reads the server's memory.
const WebSocket = require(process.argv[4] + "/node_modules/ws");
const url = process.argv[2], n = parseInt(process.argv[3], 10);
const payload = JSON.stringify(Array.from({ length: 60 }, (_, i) => ({ id: i, price: i * 7.25, side: i % 2 ? 'buy' : 'sell' })));
let done = 0; const sockets = [];
for (let i = 0; i < n; i++) {
  const ws = new WebSocket(url, { perMessageDeflate: process.env.NOCTX ? { serverNoContextTakeover: true, clientNoContextTakeover: true } : true });
  sockets.push(ws);
  ws.on('open', () => ws.send(payload));
  ws.on('message', () => { if (++done === n) { console.log(`ready ${n} ext=${ws.extensions}`); } });
  ws.on('error', e => { console.error('error', e.message); process.exit(1); });
}
setTimeout(() => process.exit(0), 60000);
